import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def gen():
    """A fresh, seeded generator for each test."""
    return torch.Generator().manual_seed(1234)
