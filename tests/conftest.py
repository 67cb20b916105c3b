import os

import pytest
import torch

from reprolib.pipeline import reference_skip_reason
from reprolib.profiles import KERNEL_ENV

torch.set_num_threads(1)
# the nbval kernels are started from this process: they compute on the same code branch as the pipeline's
os.environ.update(KERNEL_ENV)


@pytest.fixture
def gen():
    """A fresh, seeded generator for each test."""
    return torch.Generator().manual_seed(1234)


def pytest_collection_modifyitems(config, items):
    """nbval: a chapter's reference recorded with other data files than this machine has is skipped,
    with the reason (the files it lacks), instead of failing on outputs the data decide."""
    reasons = {}
    for item in items:
        path = item.path
        if path.suffix == ".ipynb":
            if path not in reasons:
                reasons[path] = reference_skip_reason(path)
            if reasons[path]:
                item.add_marker(pytest.mark.skip(reason=reasons[path]))
