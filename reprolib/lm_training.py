"""Training the GRU language model with gradient clipping or with the projection P_δ, and
recording what Kanai, Fujiwara & Iwamura (2017, §4.3, Fig. 1) plot: the gradient norm and ρ(J)
per iteration.

* :func:`lm_cost`: the cost of §4.1.1 (Zaremba's convention, summed over the time steps and
  averaged over the minibatch);
* :func:`update_step`: one update, by Algorithm 1 of Pascanu et al. (clipping), by eq. (11)
  (SGD step then P_δ of every W_hh, :class:`reprolib.projection.TruncatedProjection`; on request
  also eq. 10's σ₁(W_{l,xh}) ≤ 2 in a multi-layer GRU) or by plain SGD;
* :func:`train_language_model`: the training loop around it, recording an :class:`LMTrace`
  (and, on request, checking Lemma 6 and eq. 15 along the run);
* :func:`explosions` and :func:`upward_crossings`: the events Chapter 7 looks for in a trace, and
  :func:`fig1_events`, which relates them as Kanai's Fig. 1 does;
* :func:`train_epochs`: a whole training of §4.1 (epochs, a learning-rate :class:`Schedule`, the
  validation loss after each epoch, Kanai's success criterion, the best epoch's test loss; Tables 1-2),
  with :func:`evaluate`.

Kanai et al. published no code: this is an independent implementation written from the paper.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from . import _checks, clipping, ptb
from .gru import GRULanguageModel, GRUMusicModel
from .gru_stability import spectral_radius_J
from .projection import TruncatedProjection, _check_delta, project_input_weight, project_spectral_norm

TRAIN_METHODS = ("clip", "project", "sgd")


@dataclass
class LMTrace:
    """What :func:`train_language_model` records, one row per iteration τ = 0..iterations−1.

    Attributes:
        loss: the minibatch cost (:func:`lm_cost` with the run's reduction; the cost that is
            differentiated) ``[I]``.
        grad_norm: ‖∇_θ C‖ over all parameters, before clipping or projection ``[I]``.
        grad_norm_W_hh: ‖∇_{W_hh} C‖_F of each layer ``[I, L]``.
        rho_J, sigma1: ρ(¼W_hh + ½I) and σ₁(W_hh) of each layer at the weights the gradient of
            iteration τ is computed at; the last row is after the last update ``[I + 1, L]``.
        lemma6_slack: min_i [σ_i(W^(τ−1)) + |η|‖∇_{W_hh}‖_F − σ_i(Ŵ^(τ))] (Lemma 6 holds when
            ≥ 0), ``project`` with ``check_projection`` only ``[I, L]`` (else empty).
        eq15_error: max |P_δ by eq. (15) and the truncated SVD − P_δ by the full SVD| ``[I, L]``.
        s_bound, s_true: the number of singular values of Ŵ that the Lemma 6 bounds flag above
            2 − δ (the s of the truncated SVD; 0 when it was skipped) and the true number ``[I, L]``.
        routes: :attr:`TruncatedProjection.counts` of each layer (``project`` only).
        stopped_at: the iteration whose cost or gradient was not finite (training stopped
            there, its row is NaN), or ``None``.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    grad_norm_W_hh: np.ndarray
    rho_J: np.ndarray
    sigma1: np.ndarray
    lemma6_slack: np.ndarray
    eq15_error: np.ndarray
    s_bound: np.ndarray
    s_true: np.ndarray
    routes: list
    stopped_at: int | None

    @classmethod
    def empty(cls, iterations: int, n_layers: int, check_projection: bool) -> LMTrace:
        """A trace of NaN rows (-1 for the counts s), filled by :func:`train_language_model`."""
        nan = float("nan")
        checks = (iterations, n_layers) if check_projection else (0, n_layers)
        return cls(loss=np.full(iterations, nan), grad_norm=np.full(iterations, nan),
                   grad_norm_W_hh=np.full((iterations, n_layers), nan),
                   rho_J=np.full((iterations + 1, n_layers), nan), sigma1=np.full((iterations + 1, n_layers), nan),
                   lemma6_slack=np.full(checks, nan), eq15_error=np.full(checks, nan),
                   s_bound=np.full(checks, -1, dtype=np.int64), s_true=np.full(checks, -1, dtype=np.int64),
                   routes=[], stopped_at=None)


#: how :func:`lm_cost` reduces over the T steps of a segment
REDUCTIONS = ("sum", "mean")


def lm_cost(logits: torch.Tensor, y: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """C = Σ_t mean_b CE(logits_t, y_t) for ``logits [T, B, vocab]`` and targets ``y [T, B]``: the
    cost of Kanai §4.1.1 "based on" Zaremba et al., summed over the T steps and averaged over the
    minibatch (Zaremba's convention; the paper does not state the reduction). ``reduction="mean"``
    averages over the steps too (C / T, the per-token mean of ``torch.nn.CrossEntropyLoss``)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
    return total / (y.shape[1] if reduction == "sum" else y.numel())


def frame_cost(logits: torch.Tensor, y: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """C = Σ_t mean_b Σ_k BCE(logits_tbk, y_tbk) for ``logits, y [T, B, keys]``: the negative log-likelihood of
    each frame under independent logistic outputs (the sum over the keys of the Bernoulli NLL, Boulanger-Lewandowski
    et al.'s "per time step" convention, which Kanai's Table 2 follows), summed over the T steps and averaged
    over the minibatch as :func:`lm_cost`; ``reduction="mean"`` averages over the steps too (NLL per frame)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if logits.shape != y.shape or logits.ndim != 3:
        raise ValueError(f"logits and y must both have shape [T, B, keys], got {tuple(logits.shape)} and {tuple(y.shape)}")
    total = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="sum")
    return total / (y.shape[1] if reduction == "sum" else y.shape[0] * y.shape[1])


def cost_of(model: GRULanguageModel):
    """The cost of ``model``'s task: :func:`frame_cost` for a :class:`reprolib.gru.GRUMusicModel`, else
    :func:`lm_cost`."""
    if not isinstance(model, GRULanguageModel):
        raise TypeError(f"model must be a GRULanguageModel or GRUMusicModel, got {type(model).__name__}")
    return frame_cost if isinstance(model, GRUMusicModel) else lm_cost


def batchify_frames(pieces, batch_size: int, dtype=torch.float32) -> torch.Tensor:
    """The music of Kanai §4.1.2 in :func:`reprolib.ptb.batchify`'s layout: the pieces ``[frames, keys]`` of a split
    (:func:`reprolib.data.load_music`) played one after the other into one stream, cut into ``batch_size``
    contiguous columns (the remainder dropped). The state is carried across the end of a piece as across a
    segment (the paper does not say that it is reset). Returns ``[n_steps, batch_size, keys]`` of ``dtype``."""
    if not isinstance(pieces, (list, tuple)) or not pieces:
        raise ValueError("pieces must be a non-empty list of [frames, keys] tensors")
    if not all(isinstance(p, torch.Tensor) and p.ndim == 2 and p.shape[1] == pieces[0].shape[1] for p in pieces):
        raise ValueError("pieces must be [frames, keys] tensors with the same number of keys")
    B = _checks.positive_int("batch_size", batch_size)
    stream = torch.cat(list(pieces)).to(dtype)
    n_steps = stream.shape[0] // B
    if n_steps < 2:
        raise ValueError(f"pieces must hold at least 2·batch_size = {2 * B} frames, got {stream.shape[0]}")
    return stream[: n_steps * B].reshape(B, n_steps, -1).transpose(0, 1).contiguous()


def update_step(params: dict[str, torch.nn.Parameter], grads: dict[str, torch.Tensor], *, method: str, lr: float,
                threshold: float = 5.0, projections: dict | None = None, on_projection=None,
                input_projections: dict | None = None) -> None:
    """One update of the parameters ``params`` (in place) from their gradients ``grads`` (both by name):

    * ``"clip"``: Algorithm 1 of Pascanu et al. (:func:`reprolib.clipping.clip_by_norm`, all
      parameters together, ``threshold``), then the SGD step θ ← θ − η ĝ;
    * ``"project"``: eq. (11): the SGD step Ŵ = W − η∇ for every parameter, then W ← P_δ(Ŵ) for
      each matrix named in ``projections`` (name → :class:`TruncatedProjection`: eq. 15 with
      Lemma 6, equal to eq. 12–14). No clipping;
    * ``"sgd"``: the plain SGD step.

    ``input_projections`` (``"project"`` only; name → function, e.g.
    :func:`reprolib.projection.project_input_weight`) are applied to their parameters after the
    SGD step: eq. (10)'s σ₁(W_{l,xh}) ≤ 2. They must not be named in ``projections``.

    ``on_projection(l, W, W_hat, W_new, P)``, if given, is called after the projection of the
    l-th matrix of ``projections``, before W (still W^(τ−1)) is overwritten by W_new = P(Ŵ).
    """
    if method not in TRAIN_METHODS:
        raise ValueError(f"method must be one of {TRAIN_METHODS}, got {method!r}")
    projections = projections or {}
    if (method == "project") != bool(projections):
        raise ValueError("projections must be given for method 'project', and only for it")
    input_projections = input_projections or {}
    if input_projections and method != "project":
        raise ValueError("input_projections are only for method 'project'")
    if not set(input_projections) <= set(params) - set(projections):
        raise ValueError("input_projections must name parameters that are not in projections")
    if method == "clip":
        grads, _ = clipping.clip_by_norm(grads, threshold)
    with torch.no_grad():
        for n, p in params.items():
            if n not in projections:
                p -= lr * grads[n]
        for n, P in input_projections.items():
            params[n].copy_(P(params[n]))
        for l, (n, P) in enumerate(projections.items()):
            W = params[n]
            W_hat = W - lr * grads[n]
            W_new = P(W_hat)
            if on_projection is not None:
                on_projection(l, W, W_hat, W_new, P)
            W.copy_(W_new)


# ----------------------------------------------------------------------------- instrumentation of train_language_model
def _check_training(model, data, iterations, method, lr, generator, threshold, delta, seq_len,
                    project_inputs, reduction) -> tuple:
    if not isinstance(model, GRULanguageModel):
        raise TypeError(f"model must be a GRULanguageModel, got {type(model).__name__}")
    iterations = _checks.positive_int("iterations", iterations)
    if method not in TRAIN_METHODS:
        raise ValueError(f"method must be one of {TRAIN_METHODS}, got {method!r}")
    lr = _checks.positive_float("lr", lr)
    _checks.generator("generator", generator)
    threshold = _checks.positive_float("threshold", threshold)
    delta = _check_delta(delta)
    if not isinstance(project_inputs, bool):
        raise TypeError(f"project_inputs must be a bool, got {type(project_inputs).__name__}")
    if project_inputs and method != "project":
        raise ValueError(f"project_inputs needs method 'project', got {method!r}")
    seq_len = _checks.positive_int("seq_len", seq_len)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    available = ptb.n_batches(data, seq_len, drop_last=True)  # validates data
    if iterations > available:
        raise ValueError(f"iterations must be <= {available}, the number of full segments of data "
                         f"(seq_len {seq_len}), got {iterations}")
    return iterations, lr, threshold, delta, seq_len


def _names(params: dict, tensors) -> list[str]:
    """The names in ``params`` of the parameters in ``tensors`` (compared by identity)."""
    return [n for n, p in params.items() if any(p is W for W in tensors)]


def _layer_stats(Ws) -> tuple[list[float], list[float]]:
    """ρ(J) (Lemma 2) and σ₁ of every W_hh."""
    rho = [spectral_radius_J(W) for W in Ws]
    s1 = [torch.linalg.matrix_norm(W.detach().to(device="cpu", dtype=torch.float64), 2).item() for W in Ws]
    return rho, s1


def _gradient(model, params, x, y, state, generator, reduction) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """The cost of the segment ``(x, y)`` from ``state``, its gradient by name, and the next state (detached)."""
    logits, state = model(x, state, generator=generator)
    cost = cost_of(model)(logits, y, reduction)
    model.zero_grad(set_to_none=True)
    cost.backward()
    return cost, {n: p.grad for n, p in params.items()}, state.detach()


def _record_gradient(trace: LMTrace, tau: int, cost, grads, W_names) -> bool:
    """Record the cost and gradient norms of iteration τ; False (and a NaN row) if not finite."""
    trace.loss[tau], trace.grad_norm[tau] = cost.item(), clipping.total_norm(grads).item()
    trace.grad_norm_W_hh[tau] = [grads[n].norm().item() for n in W_names]
    if math.isfinite(trace.loss[tau]) and math.isfinite(trace.grad_norm[tau]):
        return True
    trace.loss[tau] = trace.grad_norm[tau] = float("nan")
    trace.grad_norm_W_hh[tau] = float("nan")
    return False


def _projection_checker(trace: LMTrace, tau: int, lr: float, delta: float):
    """The ``on_projection`` hook of :func:`update_step` that checks, at iteration τ, Lemma 6 (exact
    singular values of W^(τ−1) and Ŵ^(τ)), the s of the bounds against the true s, and eq. (15)
    against the full-SVD P_δ (three SVDs per layer)."""
    def check(l, W, W_hat, W_new, P):
        s_prev = torch.linalg.svdvals(W.to(torch.float64))
        s_hat = torch.linalg.svdvals(W_hat.to(torch.float64))
        trace.lemma6_slack[tau, l] = (s_prev + lr * trace.grad_norm_W_hh[tau, l] - s_hat).min().item()
        trace.s_true[tau, l] = int((s_hat > 2 - delta).sum())
        trace.s_bound[tau, l] = P.last_s if P.last_s is not None else -1
        full = project_spectral_norm(W_hat.to(torch.float64), delta)
        trace.eq15_error[tau, l] = (W_new.to(torch.float64) - full).abs().max().item()
    return check


def train_language_model(model: GRULanguageModel, data: torch.Tensor, iterations: int, *, method: str, lr: float,
                         generator: torch.Generator, threshold: float = 5.0, delta: float = 0.2, seq_len: int = 35,
                         check_projection: bool = False, progress: bool = False,
                         project_inputs: bool = False, reduction: str = "sum") -> LMTrace:
    """Train ``model`` by SGD on consecutive BPTT segments of ``data`` and record, at every
    iteration, the gradient norm and ρ(J) of every W_hh (Kanai §4.3, Fig. 1).

    One iteration τ: the next segment of :func:`reprolib.ptb.bptt_batches` (the state is carried
    over and detached, as Zaremba et al.), the cost :func:`lm_cost`, its gradient, then
    :func:`update_step` with ``method`` (``"clip"``: Algorithm 1 of Pascanu et al.; ``"project"``:
    eq. 11 with :class:`TruncatedProjection` of every W_hh; ``"sgd"``).

    The model is in training mode (dropout, if any, with masks from ``generator``). If the cost
    or the gradient norm is not finite, training stops and :attr:`LMTrace.stopped_at` says where.

    Args:
        model: a :class:`reprolib.gru.GRULanguageModel` (trained in place).
        data: token ids ``[n_steps, B]`` from :func:`reprolib.ptb.batchify`.
        iterations: updates (at most the number of segments of ``data``).
        method: ``"clip"``, ``"project"`` or ``"sgd"``.
        lr: the learning rate η > 0.
        generator: draws the dropout masks (keyword, required).
        threshold: the clipping threshold (``"clip"``).
        delta: δ of P_δ (``"project"``).
        seq_len: BPTT length (35 in §4.1.1).
        check_projection: (``"project"``) also compute, per iteration and layer, the exact
            singular values of W^(τ−1) and Ŵ^(τ) (Lemma 6's slack, the true s) and the full-SVD
            P_δ(Ŵ) (eq. 15's error). Three SVDs per layer and iteration.
        progress: show a tqdm bar.
        project_inputs: (``"project"`` only) also keep σ₁(W_{l,xh}) ≤ 2 (eq. 10) after every
            update, by :func:`reprolib.projection.project_input_weight` (a full SVD) of each
            matrix of :meth:`reprolib.gru.GRULanguageModel.constrained_input_weights`: every
            layer's W_xh when the GRU has two layers or more, none for one layer. Off by default.
        reduction: of the cost over the segment's steps (:func:`lm_cost`): ``"sum"`` (Zaremba's,
            the default) or ``"mean"``.
    """
    iterations, lr, threshold, delta, seq_len = _check_training(model, data, iterations, method, lr, generator,
                                                                threshold, delta, seq_len, project_inputs, reduction)
    Ws = model.recurrent_weights()
    params = dict(model.named_parameters())
    W_names = _names(params, Ws)
    projections = {n: TruncatedProjection(delta) for n in W_names} if method == "project" else {}
    xh_names = _names(params, model.constrained_input_weights()) if project_inputs else []
    input_projections = dict.fromkeys(xh_names, project_input_weight)
    checking = check_projection and method == "project"
    trace = LMTrace.empty(iterations, len(Ws), checking)
    model.train()
    state = None
    segments = ptb.bptt_batches(data, seq_len, drop_last=True)
    for tau in tqdm(range(iterations), disable=not progress, desc=f"{method}, {iterations} iterations", mininterval=30):
        trace.rho_J[tau], trace.sigma1[tau] = _layer_stats(Ws)
        x, y = (t.to(Ws[0].device) for t in next(segments))
        cost, grads, state = _gradient(model, params, x, y, state, generator, reduction)
        if not _record_gradient(trace, tau, cost, grads, W_names):
            trace.stopped_at = tau
            break
        update_step(params, grads, method=method, lr=lr, threshold=threshold, projections=projections,
                    on_projection=_projection_checker(trace, tau, lr, delta) if checking else None,
                    input_projections=input_projections)
    else:
        trace.rho_J[iterations], trace.sigma1[iterations] = _layer_stats(Ws)
    trace.routes = [dict(P.counts) for P in projections.values()]
    return trace


# ----------------------------------------------------------------------------- events in a trace
def explosions(norms, factor: float = 3.0, window: int = 20) -> np.ndarray:
    """Indices τ ≥ ``window`` where ``norms[τ]`` exceeds ``factor`` × the median of the
    ``window`` values before it: a gradient explosion relative to the recent typical norm
    (Chapter 7's reading of Kanai §4.3, Fig. 1, which does not define one). NaN entries are
    never flagged."""
    x = np.asarray(norms, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"norms must be 1-D, got shape {x.shape}")
    factor = _checks.positive_float("factor", factor)
    window = _checks.positive_int("window", window)
    out = [t for t in range(window, len(x)) if x[t] > factor * np.nanmedian(x[t - window:t])]
    return np.array(out, dtype=np.int64)


def upward_crossings(x, level: float = 1.0) -> np.ndarray:
    """Indices τ ≥ 1 with ``x[τ − 1] ≤ level < x[τ]``: where a series crosses ``level`` upwards
    (for ρ(J) and level 1: where h = 0 loses its stability, Lemma 2)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    level = _checks.finite_float("level", level)
    return np.flatnonzero((x[:-1] <= level) & (x[1:] > level)) + 1


@dataclass(frozen=True)
class Fig1Events:
    """The events of a training trace that Kanai §4.3 (Fig. 1) relates, as :func:`fig1_events` finds them.

    Attributes:
        explosions: the iterations τ of the explosions (:func:`explosions`).
        crossings: the iterations τ where ρ(J) crosses 1 upwards (:func:`upward_crossings`).
        unstable: the explosions whose gradient was computed at ρ(J) > 1.
        followed: the crossings followed by an explosion within ``lag`` iterations (τ_e − τ_c in [0, lag]).
        back_below: for each of ``unstable``, whether ρ(J) is below 1 after that iteration's update.
    """

    explosions: list
    crossings: list
    unstable: list
    followed: list
    back_below: list


def fig1_events(grad_norm, rho_J, factor: float = 3.0, window: int = 20, lag: int = 5) -> Fig1Events:
    """The explosions and the upward crossings of ρ(J) = 1 of one trace, and how they relate (Kanai §4.3:
    "the gradient explodes when ρ(J) crosses 1, and ρ(J) falls below 1 after the explosion").

    ``grad_norm[τ]`` is iteration τ's gradient norm (``[I]``, NaN after a stop) and ``rho_J[τ]`` the ρ(J)
    at the weights that gradient was computed at, with ``rho_J[I]`` after the last update (``[I + 1]``,
    :attr:`LMTrace.rho_J` of one layer)."""
    g = np.asarray(grad_norm, dtype=float)
    rho = np.asarray(rho_J, dtype=float)
    if g.ndim != 1:
        raise ValueError(f"grad_norm must be 1-D, got shape {g.shape}")
    if rho.shape != (len(g) + 1,):
        raise ValueError(f"rho_J must have shape ({len(g) + 1},) for {len(g)} gradient norms, got {rho.shape}")
    lag = _checks.positive_int("lag", lag, minimum=0)
    ex = explosions(g, factor, window).tolist()
    cross = upward_crossings(rho, 1.0).tolist()
    unstable = [e for e in ex if rho[e] > 1]
    return Fig1Events(explosions=ex, crossings=cross, unstable=unstable,
                      followed=[c for c in cross if any(0 <= e - c <= lag for e in ex)],
                      back_below=[bool(rho[e + 1] < 1) for e in unstable])


# ----------------------------------------------------------------------------- whole trainings (Kanai §4.1-4.2, Tables 1-2)
#: how a :class:`Schedule` lowers the learning rate
SCHEDULES = ("step", "plateau")
#: how :func:`train_epochs` computes P_δ: eq. (15) with the truncated SVD (:class:`TruncatedProjection`), or
#: eq. (12)-(14) with a full SVD of every W_hh at every update (:func:`reprolib.projection.project_spectral_norm`)
SVDS = ("truncated", "full")


@dataclass(frozen=True)
class Schedule:
    """The learning rate over the epochs of a whole training (Kanai §4.1).

    * ``"step"`` (§4.1.1, Penn Treebank): ``lr`` for the first ``after`` epochs, then divided by ``factor``
      after each epoch: epoch e (from 0) trains at lr · factor^−max(0, e + 1 − after) (Zaremba et al.'s rule);
    * ``"plateau"`` (§4.1.2, Nottingham): divided by ``factor`` whenever the validation loss has not improved
      for ``after`` consecutive epochs (the count restarts after each division).

    Training stops when the learning rate falls below ``min_lr`` (§4.1.2: 1e-4; 0: never).
    """

    lr: float
    factor: float
    after: int
    kind: str = "step"
    min_lr: float = 0.0

    def __post_init__(self):
        _checks.positive_float("lr", self.lr)
        if _checks.positive_float("factor", self.factor) < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        _checks.positive_int("after", self.after)
        if self.kind not in SCHEDULES:
            raise ValueError(f"kind must be one of {SCHEDULES}, got {self.kind!r}")
        _checks.positive_float("min_lr", self.min_lr, strict=False)

    def lr_at(self, epoch: int, valid: list[float]) -> float:
        """The learning rate of epoch ``epoch`` (from 0), given the validation losses ``valid`` of the epochs
        before it (``"plateau"`` reads them; an epoch improves when its loss is below every earlier one)."""
        epoch = _checks.positive_int("epoch", epoch, minimum=0)
        if self.kind == "step":
            return self.lr * self.factor ** -max(0, epoch + 1 - self.after)
        if len(valid) != epoch:
            raise ValueError(f"valid must hold the {epoch} validation losses before epoch {epoch}, got {len(valid)}")
        lr, stale, best = self.lr, 0, math.inf
        for v in valid:
            if v < best:
                best, stale = v, 0
            else:
                stale += 1
                if stale >= self.after:
                    lr, stale = lr / self.factor, 0
        return lr


def evaluate(model: GRULanguageModel, data: torch.Tensor, seq_len: int = 35) -> float:
    """The mean cross-entropy per token (nats) of ``model`` on ``data [n_steps, B]`` (:func:`reprolib.ptb.batchify`),
    in evaluation mode (no dropout), the state carried over consecutive segments of ``seq_len`` steps as in
    training, every target of ``data`` counted once. exp of it is the perplexity of Kanai's Table 1. For a
    :class:`reprolib.gru.GRUMusicModel` and frames ``[n_steps, B, keys]`` (:func:`batchify_frames`): the mean
    negative log-likelihood per frame (:func:`frame_cost`), Kanai's Table 2."""
    cost = cost_of(model)  # checks the model
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    device = model.W_out.device
    try:
        with torch.no_grad():
            for x, y in ptb.bptt_batches(data, seq_len):
                logits, state = model(x.to(device), state)
                positions = y.shape[0] * y.shape[1]
                total += cost(logits, y.to(device), "mean").item() * positions
                count += positions
    finally:
        model.train(was_training)
    return total / count


@dataclass
class EpochTrace:
    """What :func:`train_epochs` records.

    Attributes:
        initial_valid: the validation loss (nats per token, :func:`evaluate`) before training.
        history: one dict per epoch trained: ``epoch``, ``lr``, ``train`` (the mean training cost per token
            under dropout), ``valid``, ``norm_median`` and ``norm_max`` (the gradient norm before clipping),
            ``clipped`` (the share of updates whose norm exceeded the threshold; ``"clip"`` only, else 0),
            ``rho_J`` and ``sigma1`` (of each layer's W_hh at the end of the epoch), ``seconds``.
        success: Kanai §4.1's criterion: every epoch's validation loss is finite and never above
            ``initial_valid`` (and no gradient was non-finite).
        stopped: why training ended before ``epochs``: ``"non-finite"`` (a cost or gradient), ``"min_lr"``,
            or ``None``.
        best_epoch, best_valid: the epoch of the least validation loss and that loss (``None`` if none finite).
        test: the test loss of the model of ``best_epoch`` (nats per token; ``None`` if no epoch was finite).
    """

    initial_valid: float
    history: list
    success: bool
    stopped: str | None
    best_epoch: int | None
    best_valid: float | None
    test: float | None


def train_epochs(model: GRULanguageModel, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor, epochs: int, *,
                 method: str, schedule: Schedule, generator: torch.Generator, threshold: float = 5.0,
                 delta: float = 0.2, seq_len: int = 35, project_inputs: bool = False, reduction: str = "sum",
                 svd: str = "truncated", progress: bool = False) -> EpochTrace:
    """A whole training of Kanai §4.1: ``epochs`` passes over ``train``, each a sequence of :func:`update_step`
    with ``method`` on consecutive segments (the state carried and detached), then the validation loss; the
    learning rate follows ``schedule``; the model of the least validation loss is evaluated on ``test``.

    Args:
        model: a :class:`reprolib.gru.GRULanguageModel` (trained in place; it ends with the best epoch's weights).
        train, valid, test: token ids ``[n_steps, B]`` (:func:`reprolib.ptb.batchify`).
        epochs: passes over ``train``.
        method, threshold, delta, project_inputs, reduction: as :func:`train_language_model`.
        schedule: the learning rate (:class:`Schedule`).
        generator: draws the dropout masks (keyword, required).
        seq_len: BPTT length (35).
        svd: (``"project"``) ``"truncated"`` or ``"full"`` (:data:`SVDS`; the two routes of Kanai's Table 3).
        progress: show a tqdm bar over the epochs.
    """
    epochs = _checks.positive_int("epochs", epochs)
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
    _, _, threshold, delta, seq_len = _check_training(model, train, 1, method, schedule.lr, generator, threshold, delta,
                                                      seq_len, project_inputs, reduction)
    for name, split in (("valid", valid), ("test", test)):
        if not isinstance(split, torch.Tensor) or split.ndim != train.ndim or split.shape[1:] != train.shape[1:]:
            raise ValueError(f"{name} must have train's layout [n_steps, {', '.join(map(str, train.shape[1:]))}], "
                             f"got {tuple(split.shape) if isinstance(split, torch.Tensor) else type(split).__name__}")
    if svd not in SVDS:
        raise ValueError(f"svd must be one of {SVDS}, got {svd!r}")
    Ws = model.recurrent_weights()
    params = dict(model.named_parameters())
    W_names = _names(params, Ws)
    full = lambda W_hat: project_spectral_norm(W_hat, delta)  # noqa: E731
    projections = {n: TruncatedProjection(delta) if svd == "truncated" else full for n in W_names} \
        if method == "project" else {}
    input_projections = dict.fromkeys(_names(params, model.constrained_input_weights()) if project_inputs else [],
                                      project_input_weight)
    per_token = seq_len if reduction == "sum" else 1
    initial = evaluate(model, valid, seq_len)
    trace = EpochTrace(initial_valid=initial, history=[], success=math.isfinite(initial), stopped=None,
                       best_epoch=None, best_valid=None, test=None)
    best_state = None
    for epoch in tqdm(range(epochs), disable=not progress, desc=f"{method}, {epochs} epochs"):
        lr = schedule.lr_at(epoch, [h["valid"] for h in trace.history])
        if lr < schedule.min_lr:
            trace.stopped = "min_lr"
            break
        start = time.perf_counter()
        model.train()
        state, costs, norms = None, [], []
        for x, y in ptb.bptt_batches(train, seq_len, drop_last=True):
            x, y = x.to(Ws[0].device), y.to(Ws[0].device)
            cost, grads, state = _gradient(model, params, x, y, state, generator, reduction)
            costs.append(cost.item() / per_token)
            norms.append(clipping.total_norm(grads).item())
            if not (math.isfinite(costs[-1]) and math.isfinite(norms[-1])):
                trace.stopped = "non-finite"
                break
            update_step(params, grads, method=method, lr=lr, threshold=threshold, projections=projections,
                        input_projections=input_projections)
        if trace.stopped:
            trace.success = False
            break
        v = evaluate(model, valid, seq_len)
        rho, s1 = _layer_stats(Ws)
        trace.history.append({"epoch": epoch, "lr": lr, "train": float(np.mean(costs)), "valid": v,
                              "norm_median": float(np.median(norms)), "norm_max": float(np.max(norms)),
                              "clipped": float(np.mean(np.array(norms) > threshold)) if method == "clip" else 0.0,
                              "rho_J": rho, "sigma1": s1, "seconds": time.perf_counter() - start})
        if not (math.isfinite(v) and v <= initial):
            trace.success = False
        if math.isfinite(v) and (trace.best_valid is None or v < trace.best_valid):
            trace.best_epoch, trace.best_valid = epoch, v
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
        trace.test = evaluate(model, test, seq_len)
    return trace
