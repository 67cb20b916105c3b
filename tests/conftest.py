import os

import pytest
import torch

from reprolib.profiles import KERNEL_ENV

torch.set_num_threads(1)
# the nbval kernels are started from this process: they compute on the same code branch as the pipeline's
os.environ.update(KERNEL_ENV)


@pytest.fixture
def gen():
    """A fresh, seeded generator for each test."""
    return torch.Generator().manual_seed(1234)
