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
* :func:`explosions` and :func:`upward_crossings`: the events Chapter 7 looks for in a trace.

Kanai et al. published no code: this is an independent implementation written from the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from . import _checks, clipping, ptb
from .gru import GRULanguageModel
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
    cost = lm_cost(logits, y, reduction)
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
