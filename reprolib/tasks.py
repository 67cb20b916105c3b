"""The six pathological tasks of Pascanu et al. (2013), supplementary §3.1, and their
success criteria.

Every generator draws a fresh minibatch from an explicit ``torch.Generator`` (supp. §3.1:
"we always generate data on the fly"). Sequences are time-major, like
:mod:`reprolib.rnn`: inputs ``u`` have shape ``[T, B, M]``; one length ``T`` is used for the
whole minibatch, as in the original code.

Where the supplement's text and the original code disagree, ``variant="paper"`` (the
default) follows the text and ``variant="code"`` the code; the book's Deviations page
lists each case (rows T1–T7).

* **Position intervals.** The text gives closed intervals of real numbers such as
  ``[T/10, 2T/10]``. The book reads an interval ``[a·T, b·T]`` (a, b in tenths) as the
  0-based step indices ``⌊aT⌋ ≤ p < ⌊bT⌋`` (:func:`position_range`); the code uses
  ``⌊aL⌋ ≤ p < ⌊aL⌋ + ⌊(b−a)L⌋``. The two agree when T is a multiple of 10.
* **Length ranges.** ``length=(lo, hi)`` draws one T per call: uniform on ``lo..hi`` in
  the paper ("uniformly sampled from [50, 200]"), on ``lo..hi−1`` in the code
  (``min + randint(max − min)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from . import _checks

#: ``"paper"``: the supplement's text; ``"code"``: the original code.
VARIANTS = ("paper", "code")

#: Output heads, with the original code's name for each (its ``classifType``).
HEADS = {"last_softmax": "lastSoftmax", "every_softmax": "softmax", "last_linear": "lastLinear"}

#: A regression output counts as wrong when its squared error exceeds this (supp. §3.1).
REGRESSION_TOLERANCE = 0.04

#: Size of every test set (supp. §3.1: "10000 sequences", fresh at every evaluation).
N_TEST = 10_000

#: Success criteria for :func:`solved`: the paper's "< 1 % errors" and the code's "0 errors".
CRITERIA = ("paper", "code")

#: Shortest T for the tasks with position intervals: every interval of width T/10 then
#: holds at least one step (and the code's ``randint(int(0.1 L))`` is defined).
MIN_LENGTH = 10

# Relevant positions, as intervals [a T, b T) with a, b in tenths of T.
TEMPORAL_ORDER_POSITIONS = {"paper": ((1, 2), (4, 5)), "code": ((1, 2), (5, 6))}
TEMPORAL_ORDER_3BIT_POSITIONS = ((1, 2), (3, 4), (6, 7))
ADDITION_POSITIONS = ((0, 1), (1, 5))  # "[1, T'/10]" (1-based) and "[T'/10, T'/2]"


# ----------------------------------------------------------------- arguments
def _check_variant(variant) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return variant


def _check_common(batch_size, generator, variant, dtype, device) -> torch.device:
    _checks.positive_int("batch_size", batch_size)
    _checks.generator("generator", generator)
    _check_variant(variant)
    return _checks.dtype_device(dtype, device)


def sample_length(length, generator: torch.Generator, variant: str = "paper", minimum: int = 1) -> int:
    """The length T of one minibatch (supp. §3.1: "all 20 sequences in a training minibatch
    had the same length T uniformly sampled from [50, 200]").

    Args:
        length: an int T, or a range ``(lo, hi)`` of ints.
        generator: the random source (used only for a range with ``lo < hi``).
        variant: ``"paper"`` draws T uniformly from ``lo..hi``; ``"code"`` from ``lo..hi−1``
            (the code's ``min + randint(max − min)``), and gives ``lo`` when ``lo == hi``.
        minimum: the shortest allowed T.
    """
    _check_variant(variant)
    if _checks.is_integer(length):
        if length < minimum:
            raise ValueError(f"length must be >= {minimum}, got {length}")
        return length
    if not (isinstance(length, (tuple, list)) and len(length) == 2 and all(map(_checks.is_integer, length))):
        raise TypeError(f"length must be an int or a (min, max) pair of ints, got {length!r}")
    lo, hi = length
    if lo < minimum:
        raise ValueError(f"length range must start at >= {minimum}, got {tuple(length)}")
    if hi < lo:
        raise ValueError(f"length range (min, max) must have min <= max, got {tuple(length)}")
    _checks.generator("generator", generator)
    if variant == "code":
        hi = max(lo, hi - 1)
    if hi == lo:
        return lo
    return lo + int(torch.randint(hi - lo + 1, (), generator=generator, device=generator.device))


def position_range(T: int, a: int, b: int, variant: str = "paper") -> tuple[int, int]:
    """The 0-based steps ``lo ≤ p < hi`` from which a relevant position is drawn, for the
    interval ``[a·T/10, b·T/10]`` of the supplement (a, b in tenths).

    ``"paper"``: ``(⌊aT/10⌋, ⌊bT/10⌋)``. ``"code"``: ``(⌊aT/10⌋, ⌊aT/10⌋ + ⌊(b−a)T/10⌋)``,
    which is the original code's ``randint(int(L*w)) + int(L*a)``.
    """
    _check_variant(variant)
    lo = a * T // 10
    hi = b * T // 10 if variant == "paper" else lo + (b - a) * T // 10
    return lo, hi


def _draw_positions(T, a, b, variant, batch_size, generator) -> torch.Tensor:
    lo, hi = position_range(T, a, b, variant)
    return torch.randint(lo, hi, (batch_size,), generator=generator, device=generator.device)


# ---------------------------------------------------------------- the tasks
def one_hot(symbols: torch.Tensor, n: int, dtype: torch.dtype, device) -> torch.Tensor:
    """``symbols [...]`` as one-hot vectors ``[..., n]`` of ``dtype`` on ``device``, built in that dtype
    (``torch.nn.functional.one_hot`` would first build an int64 tensor, twice the size of a float32 result)."""
    out = torch.zeros(*symbols.shape, n, dtype=dtype, device=device)
    return out.scatter_(-1, symbols.to(device).unsqueeze(-1), 1)


def _order_task(batch_size, length, generator, variant, dtype, device, intervals):
    """Temporal order with len(intervals) relevant symbols; see :func:`temporal_order`."""
    device = _check_common(batch_size, generator, variant, dtype, device)
    T = sample_length(length, generator, variant, MIN_LENGTH)
    g = generator.device
    batch = torch.arange(batch_size, device=g)
    symbols = torch.randint(2, 6, (T, batch_size), generator=generator, device=g)  # distractors c, d, e, f
    target = torch.zeros(batch_size, dtype=torch.long, device=g)
    for k, (a, b) in enumerate(intervals):
        p = _draw_positions(T, a, b, variant, batch_size, generator)
        v = torch.randint(0, 2, (batch_size,), generator=generator, device=g)  # A = 0, B = 1
        symbols[p, batch] = v
        target += v << k
    u = one_hot(symbols, 6, dtype, device)
    return u, target.to(device)


def temporal_order(batch_size: int, length, generator: torch.Generator, *, variant: str = "paper",
                   dtype: torch.dtype = torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal order task (supp. §3.1.1).

    Six one-hot channels: A, B (channels 0, 1) and the distractors c, d, e, f (2–5). Every
    step holds a uniform distractor except two positions holding A or B, the first drawn
    from ``[T/10, 2T/10]``, the second from ``[4T/10, 5T/10]`` (``variant="paper"``) or
    ``[5T/10, 6T/10]`` (``variant="code"``); see :func:`position_range`. The class is the
    order of the two symbols, ``v_1 + 2 v_2`` with A = 0, B = 1 (AA = 0, BA = 1, AB = 2,
    BB = 3, the code's coding), predicted at the last step.

    Args:
        batch_size: B >= 1.
        length: T >= 10, or a range ``(lo, hi)`` (:func:`sample_length`).
        generator: the random source.

    Returns:
        ``(u [T, B, 6] float, targets [B] long)``.
    """
    return _order_task(batch_size, length, generator, variant, dtype, device, TEMPORAL_ORDER_POSITIONS.get(variant))


def temporal_order_3bit(batch_size: int, length, generator: torch.Generator, *, variant: str = "paper",
                        dtype: torch.dtype = torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The 3-bit temporal order task (supp. §3.1.4).

    As :func:`temporal_order` with three relevant positions, drawn from ``[T/10, 2T/10]``,
    ``[3T/10, 4T/10]`` and ``[6T/10, 7T/10]`` (text and code agree up to rounding). Eight
    classes ``v_1 + 2 v_2 + 4 v_3``.

    Returns:
        ``(u [T, B, 6] float, targets [B] long)``.
    """
    return _order_task(batch_size, length, generator, variant, dtype, device, TEMPORAL_ORDER_3BIT_POSITIONS)


def _marked_pair(batch_size, length, generator, variant, dtype, device, combine):
    """Addition and multiplication; see :func:`addition`."""
    device = _check_common(batch_size, generator, variant, dtype, device)
    T = sample_length(length, generator, variant, MIN_LENGTH)
    g = generator.device
    # T' in [T, 11T/10] (paper, both ends included) or T + randint(int(0.1 T)) (code)
    extra = T // 10 + 1 if variant == "paper" else T // 10
    T_prime = T + int(torch.randint(extra, (), generator=generator, device=g))
    batch = torch.arange(batch_size, device=g)
    u = torch.zeros(T_prime, batch_size, 2, dtype=dtype, device=g)
    u[:, :, 1] = torch.rand(T_prime, batch_size, generator=generator, dtype=dtype, device=g)  # U[0, 1)
    (a0, b0), (a1, b1) = ADDITION_POSITIONS
    p0 = _draw_positions(T_prime, a0, b0, variant, batch_size, generator)
    p1 = _draw_positions(T_prime, a1, b1, variant, batch_size, generator)
    u[p0, batch, 0] = 1.0  # the marker channel
    u[p1, batch, 0] = 1.0
    y = combine(u[p0, batch, 1], u[p1, batch, 1])
    return u.to(device), y.to(device)


def addition(batch_size: int, length, generator: torch.Generator, *, variant: str = "paper",
             dtype: torch.dtype = torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The addition task (supp. §3.1.2).

    The length T' is drawn from ``[T, 11T/10]``, once per minibatch (the text draws it per
    sequence). Channel 1 holds values from U[0, 1); channel 0 is a marker, 1 at two
    positions, the first from ``[0, T'/10)``, the second from ``[T'/10, T'/2)`` (the text's
    ``[1, T'/10]`` counts steps from 1). The target, read at the last step, is the mean of
    the two marked values.

    Args:
        length: T >= 10, or a range ``(lo, hi)``.

    Returns:
        ``(u [T', B, 2] float, targets [B] float)``.
    """
    return _marked_pair(batch_size, length, generator, variant, dtype, device, lambda x, y: (x + y) / 2)


def multiplication(batch_size: int, length, generator: torch.Generator, *, variant: str = "paper",
                   dtype: torch.dtype = torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The multiplication task (supp. §3.1.3): as :func:`addition`, the target being the
    product of the two marked values.

    Returns:
        ``(u [T', B, 2] float, targets [B] float)``.
    """
    return _marked_pair(batch_size, length, generator, variant, dtype, device, lambda x, y: x * y)


def random_permutation(batch_size: int, length, generator: torch.Generator, *, variant: str = "paper",
                       dtype: torch.dtype = torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The random permutation task (supp. §3.1.5).

    A sequence of T + 1 symbols out of 100 whose first and last symbols are equal and drawn
    from {0, 1} (the text's {1, 2}), the others uniform on 2..99 (the text's [3, 100]). The
    first T symbols are the one-hot inputs; the task is next-symbol prediction, scored only
    at the last step, whose target is the (T+1)-th symbol, i.e. the first one.

    Args:
        length: T >= 2, or a range ``(lo, hi)``.

    Returns:
        ``(u [T, B, 100] float, targets [B] long)``.
    """
    device = _check_common(batch_size, generator, variant, dtype, device)
    T = sample_length(length, generator, variant, 2)
    g = generator.device
    symbols = torch.randint(2, 100, (T, batch_size), generator=generator, device=g)
    first = torch.randint(0, 2, (batch_size,), generator=generator, device=g)
    symbols[0] = first
    return one_hot(symbols, 100, dtype, device), first.to(device)


def memorization(batch_size: int, length, generator: torch.Generator, *, n_values: int = 2, n_pos: int = 5,
                 variant: str = "paper", dtype: torch.dtype = torch.float32,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The noiseless memorization task (supp. §3.1.6).

    A pattern of ``n_pos`` symbols out of ``n_values``, then T blank steps, then the pattern
    must be reproduced. The original task is ``n_values=2, n_pos=5``; the extended one
    (Martens and Sutskever, 2011, the code's default) ``n_values=5, n_pos=10``. Layout of the
    original code (the text does not give one), with T' = T + 2·n_pos steps:

    * inputs, ``n_values + 2`` one-hot channels: the pattern symbols (channels
      ``0..n_values−1``) at steps ``0..n_pos−1``; the blank (channel ``n_values``) at every
      later step except step ``T + n_pos``, which holds the "go" flag (channel
      ``n_values + 1``);
    * targets, ``n_values + 1`` classes: the blank class ``n_values`` at steps
      ``0..T+n_pos−1``, the pattern at the last ``n_pos`` steps (from the "go" step on).

    The head is every-step softmax: all T' steps count in the loss and in the error, and a
    sequence is wrong if any step is wrong (the code's ``report='all'``).

    Returns:
        ``(u [T', B, n_values+2] float, targets [T', B] long)``.
    """
    device = _check_common(batch_size, generator, variant, dtype, device)
    _checks.positive_int("n_values", n_values, minimum=2)
    _checks.positive_int("n_pos", n_pos)
    T = sample_length(length, generator, variant, 1)
    g = generator.device
    blank, go = n_values, n_values + 1
    pattern = torch.randint(0, n_values, (n_pos, batch_size), generator=generator, device=g)
    symbols = torch.full((T + 2 * n_pos, batch_size), blank, dtype=torch.long, device=g)
    symbols[:n_pos] = pattern
    symbols[T + n_pos] = go
    targets = torch.full_like(symbols, blank)
    targets[-n_pos:] = pattern
    return one_hot(symbols, n_values + 2, dtype, device), targets.to(device)


# ------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Task:
    """What an engine needs to train on a task: input size M, output size, head kind
    (a key of :data:`HEADS`), the shortest allowed T and the generator."""

    name: str
    n_in: int
    n_out: int
    head: str
    min_length: int
    make: Callable = field(repr=False)
    options: dict = field(default_factory=dict, compare=False)
    one_hot: bool = True  # every input vector is one-hot (False: addition, multiplication)

    def generate(self, batch_size: int, length, generator: torch.Generator, **kwargs):
        """One fresh minibatch ``(u, targets)``; ``kwargs`` as for the task's function."""
        return self.make(batch_size, length, generator, **{**self.options, **kwargs})

    @property
    def code_head(self) -> str:
        """The original code's name for the head (``classifType``)."""
        return HEADS[self.head]


TASKS = {
    "temporal_order": Task("temporal_order", 6, 4, "last_softmax", MIN_LENGTH, temporal_order),
    "temporal_order_3bit": Task("temporal_order_3bit", 6, 8, "last_softmax", MIN_LENGTH, temporal_order_3bit),
    "addition": Task("addition", 2, 1, "last_linear", MIN_LENGTH, addition, one_hot=False),
    "multiplication": Task("multiplication", 2, 1, "last_linear", MIN_LENGTH, multiplication, one_hot=False),
    "random_permutation": Task("random_permutation", 100, 100, "last_softmax", 2, random_permutation),
    "memorization": Task("memorization", 4, 3, "every_softmax", 1, memorization, {"n_values": 2, "n_pos": 5}),
    "memorization_extended": Task("memorization_extended", 7, 6, "every_softmax", 1, memorization,
                                  {"n_values": 5, "n_pos": 10}),
}


def get_task(task) -> Task:
    """``task`` itself if a :class:`Task`, else ``TASKS[task]``."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"task must be a Task or one of {tuple(TASKS)}, got {task!r}")
    return TASKS[task]


# ------------------------------------------------------- success criteria
def wrong(task, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Which sequences are wrong (supp. §3.1), as a bool tensor ``[B]``.

    * ``last_softmax``: ``outputs [B, n_out]`` (logits or probabilities), ``targets [B]``
      long; wrong when the argmax differs from the target.
    * ``every_softmax``: ``outputs [T', B, n_out]``, ``targets [T', B]``; wrong when the
      argmax differs at any step.
    * ``last_linear``: ``outputs [B]`` or ``[B, 1]``, ``targets`` likewise; wrong when the
      squared error exceeds :data:`REGRESSION_TOLERANCE` (0.04), as in the code (the text:
      correct when "smaller than 0.04"; equality has probability zero).

    A sequence with a NaN or infinite output is always wrong.
    """
    task = get_task(task)
    _checks.tensor("outputs", outputs, finite=False)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if task.head == "last_linear":
        y = outputs.squeeze(-1) if outputs.ndim == 2 and outputs.shape[1] == 1 else outputs
        t = targets.squeeze(-1) if targets.ndim == 2 and targets.shape[1] == 1 else targets
        if y.ndim != 1 or t.shape != y.shape:
            raise ValueError(f"outputs and targets must both be [B] or [B, 1], got {tuple(outputs.shape)} "
                             f"and {tuple(targets.shape)}")
        _checks.tensor("targets", t)
        return ~((y - t) ** 2 <= REGRESSION_TOLERANCE)  # NaN compares False: wrong
    ndim = 2 if task.head == "last_softmax" else 3
    if outputs.ndim != ndim or outputs.shape[-1] != task.n_out:
        raise ValueError(f"outputs must have {ndim} dimensions, the last of size {task.n_out}, "
                         f"got shape {tuple(outputs.shape)}")
    if targets.dtype != torch.long or targets.shape != outputs.shape[:-1]:
        raise ValueError(f"targets must be a long tensor of shape {tuple(outputs.shape[:-1])}, "
                         f"got {targets.dtype} {tuple(targets.shape)}")
    bad = (outputs.argmax(-1) != targets) | ~torch.isfinite(outputs).all(-1)
    return bad.any(0) if task.head == "every_softmax" else bad


def error_rate(task, outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """The fraction of wrong sequences (see :func:`wrong`); ``ValueError`` for an empty batch."""
    bad = wrong(task, outputs, targets)
    if bad.numel() == 0:
        raise ValueError("outputs must hold at least one sequence, got an empty batch")
    return bad.double().mean().item()


def solved(n_wrong: int, n_total: int = N_TEST, criterion: str = "paper") -> bool:
    """Whether a run counts as successful (supp. §3.1).

    * ``"paper"``: fewer than 1 % of the test sequences wrong ("less than 1% errors in
      classifying 10000 sequences"; for Fig. 7, "less than 100 out of 10000").
    * ``"code"``: no sequence wrong (the code stops when the error is below 0.0001 %, i.e.
      0 out of 10,000); the text uses this too for models trained on varying lengths.
    """
    _checks.positive_int("n_wrong", n_wrong, minimum=0)
    _checks.positive_int("n_total", n_total)
    if n_wrong > n_total:
        raise ValueError(f"n_wrong must be <= n_total = {n_total}, got {n_wrong}")
    if criterion == "paper":
        return 100 * n_wrong < n_total
    if criterion == "code":
        return n_wrong == 0
    raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
