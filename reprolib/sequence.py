"""Sequence prediction with the network of eq. 2 (Pascanu §4.1-4.2, supp. §3.2): an output at every step.

The readable route, in autograd torch: the network, its costs, the segments of a corpus and one update
(:func:`update`: the cost's gradient, Ω on the total derivatives, clipping, the fallback, the step).

    h_t = (1 − a) ⊙ h_{t−1} + a ⊙ σ(W_rec h_{t−1} + W_in u_t + b)        (eq. 2 with leaky units)
    y_t = W_out h_t + b_out

With every leak factor a = 1 this is eq. 2 (h_t = σ(x_t)). Leaky-integration units (supp. §3.2.1,
after Bengio et al. 2012) keep a part 1 − a of their previous state, with a drawn in [0.02, 0.2].

* **Music** (88 keys): y_t gives 88 independent Bernoulli probabilities sigmoid(y_t) for the notes of
  frame t + 1. The cost of a frame is the sum over the keys of the Bernoulli negative log-likelihood,
  and a corpus's cost is its mean over frames (nats per frame; the convention of
  Boulanger-Lewandowski et al. 2012), :func:`music_nll`.
* **Characters**: y_t are the logits of a softmax over the next character; the cost is the mean
  cross-entropy in bits per character, :func:`bits_per_char`.

The hidden state is carried from one segment to the next (:func:`segments`): within a piece of
music (reset to 0 at the first segment of every piece), and along the whole text for characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import torch

from . import _checks, clipping, initializations, omega, ptb
from .initializations import Params
from .rnn import activation

#: keys of a piano roll (the inputs and outputs of the music models)
N_KEYS = 88

#: the range of the leak factors of leaky-integration units (supp. §3.2.1)
LEAK_RANGE = (0.02, 0.2)
#: the two prediction tasks: 88 independent notes, or one character of a vocabulary
KINDS = ("music", "chars")
#: how a segment's cost is reduced: "mean" over its steps (music, supp. footnote 1) or "sum" over them
#: (next-character prediction, supp. §3.2.2: "we take the sum of the cost over the sequence length"),
#: both averaged over the minibatch
REDUCTIONS = ("mean", "sum")


def leak_factors(n_hidden: int, n_leaky: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """The leak factors a of the ``n_hidden`` units: the first ``n_leaky`` drawn uniformly in
    :data:`LEAK_RANGE`, the others 1 (ordinary units)."""
    n = _checks.positive_int("n_hidden", n_hidden)
    k = _checks.positive_int("n_leaky", n_leaky, minimum=0)
    if k > n:
        raise ValueError(f"n_leaky must be at most n_hidden = {n}, got {k}")
    lo, hi = LEAK_RANGE
    a = torch.ones(n, dtype=dtype)
    a[:k] = lo + (hi - lo) * torch.rand(k, generator=generator, dtype=dtype)
    return a


def unroll(P: Params, u: torch.Tensor, h0: torch.Tensor, leak: torch.Tensor | None = None) -> torch.Tensor:
    """The states ``[T, B, N]`` (h_1 … h_T) of the network ``P`` driven by ``u [T, B, M]`` from ``h0 [B, N]``;
    ``leak`` ``[N]`` holds the leak factors (None: every unit ordinary)."""
    return torch.stack(_states(P, u, h0, leak)[0][1:])


def _states(P: Params, u, h0, leak) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The states h_0 … h_T and the pre-activations z_0 = 0, z_1 … z_T, each its own tensor (so that
    autograd can give the total derivative with respect to every h_k)."""
    _checks.tensor("u", u, ndim=3)
    _checks.tensor("h0", h0, ndim=2)
    if u.shape[2] != P.n_in or h0.shape != (u.shape[1], P.n_hidden):
        raise ValueError(f"u must be [T, B, {P.n_in}] and h0 [B, {P.n_hidden}], got {tuple(u.shape)} and {tuple(h0.shape)}")
    if leak is not None and (leak.shape != (P.n_hidden,) or not bool(((leak > 0) & (leak <= 1)).all())):
        raise ValueError(f"leak must be [{P.n_hidden}] factors in (0, 1]")
    sigma, _ = activation(P.sigma)
    hs, zs = [h0], [torch.zeros_like(h0)]
    for t in range(u.shape[0]):
        zs.append(hs[-1] @ P.W_rec.T + u[t] @ P.W_in.T + P.b)
        new = sigma(zs[-1])
        hs.append(new if leak is None else (1 - leak) * hs[-1] + leak * new)
    return hs, zs


def outputs(P: Params, hs: torch.Tensor) -> torch.Tensor:
    """y_t = W_out h_t + b_out for every state of ``hs [T, B, N]``: ``[T, B, n_out]``."""
    return hs @ P.W_out.T + P.b_out


def music_nll(y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over frames of Σ_keys Bernoulli NLL(sigmoid(y), target), in nats per frame; ``y`` and
    ``target`` are ``[T, B, 88]``, ``mask [T, B]`` (1 where a frame exists) or None (:func:`cost`)."""
    return cost("music", y, target, mask)


def bits_per_char(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of the logits ``y [T, B, K]`` for the characters ``target [T, B]``, in bits."""
    return cost("chars", y, target) / math.log(2)


def segments(piece: torch.Tensor, length: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
    """The segments of one sequence ``piece [frames, ...]``: ``(inputs, targets, first)`` with inputs the
    frames t … t + L − 1 and targets the frames t + 1 … t + L (the last segment may be shorter);
    ``first`` is True for the segment that starts the piece, where the state is reset."""
    L = _checks.positive_int("length", length)
    if piece.ndim < 1 or piece.shape[0] < 2:
        raise ValueError(f"piece must have at least 2 frames, got shape {tuple(piece.shape)}")
    for start in range(0, piece.shape[0] - 1, L):
        stop = min(start + L, piece.shape[0] - 1)
        yield piece[start:stop], piece[start + 1:stop + 1], start == 0


def music_batches(pieces: list[torch.Tensor], batch_size: int, length: int, generator: torch.Generator | None = None
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]]:
    """One epoch of minibatches over ``pieces`` (each ``[frames, 88]``): the pieces, shuffled by
    ``generator`` (in order if None), are taken ``batch_size`` at a time and padded with empty frames
    to the longest; each group is cut into segments of ``length`` steps (:func:`segments`). Yields
    ``(u [L, B, 88], target [L, B, 88], mask [L, B], first)``: ``mask`` is 1 where a target frame
    exists, and ``first`` marks the first segment of a group, where the state is reset to 0."""
    B = _checks.positive_int("batch_size", batch_size)
    if not isinstance(pieces, list) or not pieces:
        raise ValueError("pieces must be a non-empty list of [frames, keys] tensors")
    for k, p in enumerate(pieces):
        if p.ndim != 2 or p.shape[0] < 2 or p.shape[1] != pieces[0].shape[1]:
            raise ValueError(f"piece {k} must be [frames >= 2, {pieces[0].shape[1]}], got {tuple(p.shape)}")
    order = list(range(len(pieces))) if generator is None else torch.randperm(len(pieces), generator=generator).tolist()
    for g in range(0, len(order), B):
        group = [pieces[i] for i in order[g:g + B]]
        frames = max(p.shape[0] for p in group)
        roll = torch.zeros(frames, len(group), group[0].shape[1], dtype=group[0].dtype)
        exists = torch.zeros(frames, len(group), dtype=group[0].dtype)
        for j, p in enumerate(group):
            roll[:p.shape[0], j] = p
            exists[:p.shape[0], j] = 1
        for (u, target, first), (_, mask, _) in zip(segments(roll, length), segments(exists, length)):
            yield u, target, mask, first


def cost(kind: str, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
         reduction: str = "mean") -> torch.Tensor:
    """The training cost of a segment, in nats: for ``"music"`` the Bernoulli NLL summed over the keys of
    each frame, for ``"chars"`` the cross-entropy of each character; then the mean over the frames that
    exist (``reduction="mean"``, :func:`music_nll`) or the sum over the steps, averaged over the minibatch
    (``"sum"``). ``mask [T, B]`` marks the frames that exist (None: all)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if kind == "music":
        if y.shape != target.shape:
            raise ValueError(f"y and target must have the same shape, got {tuple(y.shape)} and {tuple(target.shape)}")
        per_step = torch.nn.functional.binary_cross_entropy_with_logits(y, target, reduction="none").sum(-1)
    else:
        if y.shape[:2] != target.shape:
            raise ValueError(f"y must be [T, B, K] for target [T, B], got {tuple(y.shape)} and {tuple(target.shape)}")
        per_step = torch.nn.functional.cross_entropy(y.flatten(0, 1), target.flatten(), reduction="none").view(target.shape)
    m = torch.ones_like(per_step) if mask is None else mask.to(per_step.dtype)
    total = (per_step * m).sum()
    return total / m.sum() if reduction == "mean" else total / per_step.shape[1]


def update(kind: str, params: dict[str, torch.Tensor], sigma: str, u: torch.Tensor, target: torch.Tensor,
           h0: torch.Tensor, *, lr: float, threshold: float | None, alpha: float = 0.0, mask: torch.Tensor | None = None,
           leak: torch.Tensor | None = None, reduction: str = "mean", fallback: bool = True):
    """One SGD update of the readable route on the segment ``(u, target)`` from the carried state ``h0``.

    The cost (:func:`cost`) and its gradient by autograd; Ω of supp. eq. 5 on the state h (form "h", the
    original code's, which also covers leaky units), with ∂E/∂h_{k+1} the *total* derivative (every later
    step's cost reaches it through the recurrence), and α times its immediate gradient added to W_rec's;
    then norm clipping at ``threshold`` (None: none), the non-finite fallback, and the step.

    Returns ``(new params, cost, Ω, norm before clipping, h_T)``; h_T (detached) is the state to carry.
    """
    P = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    net = Params(P["W_rec"], P["W_in"], P["b"], P["W_out"], P["b_out"], sigma)
    hs = unroll(net, u, h0, leak)
    E = cost(kind, outputs(net, hs), target, mask, reduction)
    grads = dict(zip(P, torch.autograd.grad(E, list(P.values()))))
    zs, dh = _total_state_gradients(kind, {k: v.detach() for k, v in P.items()}, sigma, u, target, h0, mask, leak, reduction)
    Om = omega.omega(params["W_rec"], zs, dh, sigma, form="h", leak=leak)
    if alpha > 0:
        grads["W_rec"] = grads["W_rec"] + alpha * omega.omega_grad(params["W_rec"], zs, dh, sigma, form="h", leak=leak)
    norm = clipping.total_norm(grads)
    if threshold is not None:
        grads = clipping.clip_by_norm(grads, threshold)[0]
    if fallback:
        grads = clipping.nonfinite_fallback(grads, params["W_rec"], norm=norm)
    new = {k: params[k] - lr * grads[k] for k in params}
    return new, E.detach(), Om, norm, hs[-1].detach()


def _total_state_gradients(kind, P, sigma, u, target, h0, mask, leak, reduction):
    """The pre-activations z_k ``[T+1, B, N]`` (z_0 = 0, unused) and the total ∂E/∂h_k ``[T+1, B, N]``, k = 0..T."""
    net = Params(P["W_rec"], P["W_in"], P["b"], P["W_out"], P["b_out"], sigma)
    hs, zs = _states(net, u, h0.detach().clone().requires_grad_(True), leak)
    E = cost(kind, outputs(net, torch.stack(hs[1:])), target, mask, reduction)
    return torch.stack(zs).detach(), torch.stack(torch.autograd.grad(E, hs))


# --- the readable trainer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeqRun:
    """One run of sequence prediction (supp. §3.2).

    Args:
        seed: seeds the weights, the leak factors and the order of the pieces.
        n_hidden: hidden units N.
        lr: the initial learning rate (halved after every epoch whose training error rose).
        threshold: the clipping threshold (None: no clipping, "BPTT" in the paper's tables).
        alpha: the weight of Ω, a number or an :class:`reprolib.omega.AlphaSchedule` of ``alpha_per``.
        sigma: the units, "sigmoid" (supp. §3.2) or "tanh" (the main text's music runs).
        init: the weights' distribution, a name of :data:`reprolib.initializations.INITS` ("basic_tanh" is
            N(0, 0.1), the character model's).
        biases: train the biases b and b_out (the character model has none).
        n_leaky: leaky-integration units among the N.
        segment: steps per segment of truncated BPTT.
        batch_size: pieces (music) or streams (characters) per minibatch.
        reduction: the segment cost's reduction (:data:`REDUCTIONS`).
        alpha_per: what the schedule's t counts, "epoch" (music) or "update" (characters).
        horizon: characters only: predict the character this many steps ahead (1: the next one; 5: the
            modified task of supp. §3.2.2).
        data_seed: seeds the order of the pieces; runs with the same data_seed see the same minibatches
            (and can share an update, :mod:`reprolib.seq_engine`), whatever their ``seed``.
    """

    seed: int
    n_hidden: int
    lr: float
    threshold: float | None
    alpha: float | omega.AlphaSchedule = 0.0
    sigma: str = "sigmoid"
    init: str = "smart_tanh"
    biases: bool = True
    n_leaky: int = 0
    segment: int = 200
    batch_size: int = 1
    reduction: str = "mean"
    alpha_per: str = "epoch"
    horizon: int = 1
    data_seed: int = 0

    def __post_init__(self):
        _checks.positive_int("seed", self.seed, minimum=0)
        _checks.positive_int("n_hidden", self.n_hidden)
        _checks.positive_float("lr", self.lr)
        if self.threshold is not None:
            _checks.positive_float("threshold", self.threshold)
        if not isinstance(self.alpha, omega.AlphaSchedule):
            _checks.positive_float("alpha", self.alpha, strict=False)
        activation(self.sigma)
        if self.init not in initializations.INITS:
            raise ValueError(f"init must be one of {tuple(initializations.INITS)}, got {self.init!r}")
        if not isinstance(self.biases, bool):
            raise TypeError(f"biases must be a bool, got {type(self.biases).__name__}")
        _checks.positive_int("n_leaky", self.n_leaky, minimum=0)
        if self.n_leaky > self.n_hidden:
            raise ValueError(f"n_leaky must be at most n_hidden = {self.n_hidden}, got {self.n_leaky}")
        _checks.positive_int("segment", self.segment)
        _checks.positive_int("batch_size", self.batch_size)
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")
        if self.alpha_per not in ("epoch", "update"):
            raise ValueError(f"alpha_per must be 'epoch' or 'update', got {self.alpha_per!r}")
        _checks.positive_int("horizon", self.horizon)
        _checks.positive_int("data_seed", self.data_seed, minimum=0)

    def alpha_at(self, t: int) -> float:
        """α at step t of the schedule (a constant α for every t)."""
        return self.alpha(t) if isinstance(self.alpha, omega.AlphaSchedule) else float(self.alpha)


@dataclass
class FitResult:
    """What :func:`fit` returns: the parameters of the epoch with the lowest validation cost
    (``best_epoch``), the leak factors, and one row per epoch in ``history`` (``epoch``, ``train``: the
    mean training cost of its updates, ``valid``: :func:`evaluate`, ``lr``, ``alpha``, ``clipped``: the
    fraction of its updates that were clipped, ``norms``: the gradient norm of each update), and the
    calls that trained it (``sessions``: epochs ``from``, ``to`` and ``seconds``; one unless resumed from a
    checkpoint, :func:`reprolib.seq_engine.fit`)."""

    params: dict
    leak: torch.Tensor | None
    best_epoch: int
    history: list
    sessions: list = field(default_factory=list)


def init(run: SeqRun, n_symbols: int, dtype=torch.float64) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """A run's initial parameters (``run.init``'s distribution, biases 0) and leak factors (None without
    leaky units), both drawn from a generator seeded with ``run.seed``."""
    g = torch.Generator().manual_seed(run.seed)
    P = initializations.initialize(run.init, n_symbols, run.n_hidden, n_symbols, g, dtype=dtype)
    leak = leak_factors(run.n_hidden, run.n_leaky, g, dtype) if run.n_leaky else None
    return {k: v.clone() for k, v in P.as_dict().items()}, leak


def inputs(kind: str, x: torch.Tensor, n_symbols: int | None, dtype) -> torch.Tensor:
    """The network's inputs for a segment ``x``: the frames themselves (music) or one-hot characters."""
    return x.to(dtype) if kind == "music" else torch.nn.functional.one_hot(x, n_symbols).to(dtype)


def batches(kind: str, data, run: SeqRun, generator: torch.Generator | None):
    """``(inputs, targets, mask, reset)`` for one epoch: the pieces' segments (music, state reset at each
    group of pieces), or the text cut into ``batch_size`` streams (characters, reset at the epoch's start)."""
    if kind == "music":
        yield from music_batches(data, run.batch_size, run.segment, generator)
        return
    streams = ptb.batchify(data, run.batch_size)
    for k, (x, y) in enumerate(char_segments(streams, run.segment, run.horizon)):
        yield x, y, None, k == 0


def char_segments(streams: torch.Tensor, length: int, horizon: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Segments of the character streams ``[n_steps, B]`` (:func:`reprolib.ptb.batchify`): inputs the
    steps i … i + L − 1 and targets the characters ``horizon`` steps later (1: the next character; 5: the
    "5th character in the future" task of supp. §3.2.2); the last segment may be shorter."""
    L = _checks.positive_int("length", length)
    h = _checks.positive_int("horizon", horizon)
    n = streams.shape[0]
    if n <= h:
        raise ValueError(f"streams must be longer than horizon = {h} steps, got {n}")
    for i in range(0, n - h, L):
        stop = min(i + L, n - h)
        yield streams[i:stop], streams[i + h:stop + h]


def evaluate(kind: str, params: dict, sigma: str, data, run: SeqRun, leak=None, n_symbols: int | None = None) -> float:
    """The cost of ``data`` under ``params`` with the state carried as in training: nats per frame for
    music (the mean over all frames that are predicted), bits per character for characters."""
    net = Params(params["W_rec"], params["W_in"], params["b"], params["W_out"], params["b_out"], sigma)
    total, count = 0.0, 0.0
    with torch.no_grad():
        h = None
        for x, y, mask, reset in batches(kind, data, run, None):
            if reset or h is None or h.shape[0] != x.shape[1]:
                h = torch.zeros(x.shape[1], net.n_hidden, dtype=params["W_rec"].dtype)
            hs = unroll(net, inputs(kind, x, n_symbols, h.dtype), h, leak)
            h = hs[-1]
            n = float(x.shape[0] * x.shape[1]) if mask is None else float(mask.sum())
            total += cost(kind, outputs(net, hs), y.to(h.dtype) if kind == "music" else y, mask).item() * n
            count += n
    return total / count if kind == "music" else total / count / math.log(2)


def training_segments(kind: str, train, run: SeqRun, generator: torch.Generator, n_symbols: int | None, dtype):
    """One epoch of training segments as the network takes them, ``(u, target, mask, reset)``
    (:func:`batches`, :func:`inputs`); ``reset`` also where the minibatch size changes, the state then
    starting again from 0."""
    B = None
    for x, y, mask, reset in batches(kind, train, run, generator):
        yield inputs(kind, x, n_symbols, dtype), (y.to(dtype) if kind == "music" else y), mask, reset or x.shape[1] != B
        B = x.shape[1]


class FitLog:
    """One run's bookkeeping in :func:`fit` (and :func:`reprolib.seq_engine.fit`): its learning rate,
    halved after every epoch whose training error rose (supp. §3.2.1), its history rows and its best
    validation epoch, from which :meth:`result` makes the :class:`FitResult`."""

    def __init__(self, kind: str, valid, run: SeqRun, leak: torch.Tensor | None, n_symbols: int):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(run, SeqRun):
            raise TypeError(f"run must be a SeqRun, got {type(run).__name__}")
        self.kind, self.valid, self.run, self.leak, self.n_symbols = kind, valid, run, leak, n_symbols
        self.lr, self.history, self.best_epoch, self.best_params = run.lr, [], None, None
        self._costs, self._norms = [], []

    def alpha(self, epoch: int, updates: int) -> float:
        """α_t of the run's schedule, t the epoch or the update index (``run.alpha_per``)."""
        return self.run.alpha_at(epoch if self.run.alpha_per == "epoch" else updates)

    def add(self, E: float, norm: float) -> None:
        """Record one update: its cost and its gradient norm before clipping."""
        self._costs.append(E)
        self._norms.append(norm)

    def end_epoch(self, epoch: int, updates: int, params: dict, valid: float | None = None) -> None:
        """The epoch's history row (validated on ``params``, unless its validation cost ``valid`` is given),
        the best epoch so far, and the learning rate."""
        costs, norms, th = self._costs, self._norms, self.run.threshold
        if valid is None:
            valid = evaluate(self.kind, params, self.run.sigma, self.valid, self.run, self.leak,
                             self.n_symbols if self.kind == "chars" else None)
        row = {"epoch": epoch, "train": sum(costs) / len(costs), "lr": self.lr, "alpha": self.alpha(epoch, updates),
               "clipped": sum(th is not None and n >= th for n in norms) / len(costs), "norms": norms, "valid": valid}
        self.history.append(row)
        self._costs, self._norms = [], []
        if self.best_epoch is None or valid < self.history[self.best_epoch]["valid"]:
            self.best_epoch, self.best_params = epoch, {k: v.clone() for k, v in params.items()}
        if epoch > 0 and row["train"] > self.history[-2]["train"]:
            self.lr /= 2  # "we halved the learning rate every time the error over an epoch increased" (supp. §3.2.1)

    def result(self) -> FitResult:
        """The parameters of the best validation epoch, the leak factors and the history."""
        return FitResult(self.best_params, self.leak, self.best_epoch, self.history)

    def state_dict(self) -> dict:
        """What a checkpoint between two epochs keeps of this log."""
        return {"lr": self.lr, "history": self.history, "best_epoch": self.best_epoch, "best_params": self.best_params}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`."""
        self.lr, self.history = state["lr"], state["history"]
        self.best_epoch, self.best_params = state["best_epoch"], state["best_params"]


def fit(kind: str, train, valid, run: SeqRun, epochs: int, *, n_in: int | None = None, dtype=torch.float64,
        progress: bool = False) -> FitResult:
    """Train one run with the readable update (:func:`update`) for ``epochs`` epochs; keep the parameters
    of the epoch with the lowest validation cost. ``train``/``valid``: lists of ``[frames, 88]`` pieces
    (music) or 1-D tensors of character ids (characters, with ``n_in`` symbols)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    _checks.positive_int("epochs", epochs)
    n_sym = N_KEYS if kind == "music" else _checks.positive_int("n_in", n_in)
    params, leak = init(run, n_sym, dtype)
    log = FitLog(kind, valid, run, leak, n_sym)
    g = torch.Generator().manual_seed(run.data_seed)
    updates = 0
    for epoch in range(epochs):
        for u, y, mask, reset in training_segments(kind, train, run, g, n_sym, dtype):
            if reset:
                h = torch.zeros(u.shape[1], run.n_hidden, dtype=dtype)
            new, E, _, norm, h = update(kind, params, run.sigma, u, y, h, lr=log.lr, threshold=run.threshold,
                                        alpha=log.alpha(epoch, updates), mask=mask, leak=leak, reduction=run.reduction)
            if not run.biases:
                new["b"], new["b_out"] = params["b"], params["b_out"]
            params, updates = new, updates + 1
            log.add(E.item(), norm.item())
        log.end_epoch(epoch, updates, params)
    return log.result()
