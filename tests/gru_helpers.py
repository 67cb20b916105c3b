"""Helpers shared by the GRU tests (not a test module): GRU cells whose every parameter is random."""

import torch

from reprolib import gru as G

D = torch.float64


def randomize_(module, gen, scale=0.7):
    """Give every parameter (biases too) random values, so that no test relies on the init."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def cell_with_biases(gen, m=3, n=5):
    return randomize_(G.GRUCell(m, n, generator=gen, bias=True, dtype=D), gen)
