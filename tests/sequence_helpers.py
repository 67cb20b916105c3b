"""Helpers shared by the sequence tests (not a test module): a small corpus that a network can learn."""

import torch


def cycle_pieces(n, frames, seed):
    """Pieces that cycle through four chords: predictable from the previous frame."""
    chords = torch.zeros(4, 88)
    for k, notes in enumerate(((0, 4, 7), (5, 9, 12), (7, 11, 14), (2, 5, 9))):
        chords[k, [40 + i for i in notes]] = 1
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(4, (n,), generator=g).tolist()
    return [chords[[(s + t) % 4 for t in range(frames)]].double() for s in starts]
