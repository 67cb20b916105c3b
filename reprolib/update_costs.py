"""The cost of one update with the projection P_δ against gradient clipping (Kanai, Fujiwara &
Iwamura, 2017, §4.4, Table 3), measured on the language model of §4.1.1.

Table 3 times whole trainings on the paper's hardware; :func:`measure_update_costs` times, on
this machine, only the operation in which the methods differ, plus one forward and backward
pass to turn the per-update costs into per-iteration ratios. Run by Chapter 7 (§7.8) and by
``benchmarks/bench_projection.py``.
"""

from __future__ import annotations

import time

import torch

from . import _checks
from .gru import GRULanguageModel
from .lm_training import lm_cost
from .projection import TruncatedProjection, _check_delta, project_spectral_norm


def _timed(fn, reps: int) -> float:
    """Mean wall time of ``fn()`` in ms over ``reps`` calls, after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1e3


def projected_matrix(n: int, delta: float, generator: torch.Generator, top: int = 5,
                     bulk: tuple[float, float] = (0.1, 1.2)) -> torch.Tensor:
    """A float32 W_hh as it looks after P_δ (eq. 12–14) during training: ``top`` singular values
    at 2 − δ, the others uniform in ``bulk``, random orthogonal singular vectors (float64 QR)."""
    n = _checks.positive_int("n", n)
    c = 2 - _check_delta(delta)
    _checks.generator("generator", generator)
    top = _checks.positive_int("top", top, minimum=0)
    if top > n:
        raise ValueError(f"top must be <= n = {n}, got {top}")
    U = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))[0]
    s = torch.empty(n, dtype=torch.float64).uniform_(*bulk, generator=generator)
    s[:top] = c
    return ((U * s) @ V.T).float()


def _time_truncated(W_hh, delta: float, step_norm: float, trigger: float | None, reps: int,
                    generator: torch.Generator) -> tuple[float, str]:
    """Mean ms of :class:`TruncatedProjection` (eq. 15 with Lemma 6) of every matrix of ``W_hh``
    over ``reps`` SGD steps of Frobenius norm ``step_norm`` (after a warm-up; the steps themselves
    are not timed), and a note with the mean s and the routes taken."""
    n = W_hh[0].shape[0]
    projections = [TruncatedProjection(delta, trigger=trigger) for _ in W_hh]
    Ws = [P(projected_matrix(n, delta, generator, top=min(5, n))) for P in projections]  # full SVD, exact bounds
    total, s_values = 0.0, []
    for k in range(reps + 1):
        steps = [torch.randn(n, n, generator=generator) for _ in W_hh]
        W_hats = [W - step_norm * s / s.norm() for W, s in zip(Ws, steps)]  # the SGD step is not timed
        start = time.perf_counter()
        Ws = [P(W_hat) for P, W_hat in zip(projections, W_hats)]
        if k > 0:  # the first is a warm-up
            total += time.perf_counter() - start
            s_values += [P.last_s for P in projections]
    routes = {}
    for P in projections:
        for key, v in P.counts.items():
            if v and key != "full_first":
                routes[key] = routes.get(key, 0) + v
    return total / reps * 1e3, f"mean s {sum(s_values) / len(s_values):.1f}; routes {routes}"


def _model_mid_training(vocab: int, n: int, n_layers: int, delta: float, grad_norm: float,
                        generator: torch.Generator) -> GRULanguageModel:
    """The language model of §4.1.1 as the timed update finds it: every W_hh already projected
    (:func:`projected_matrix`), and random gradients of total norm ``grad_norm`` in ``.grad``."""
    model = GRULanguageModel(vocab, n, n_layers, generator=generator)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    scale = grad_norm / torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    for p in params:
        p.grad.mul_(scale)
    with torch.no_grad():
        for W in model.recurrent_weights():
            W.copy_(projected_matrix(n, delta, generator, top=min(5, n)))
    return model


def _row(key: str, label: str, method: str, ms: float, *, svd: str | None = None, step_norm: float | None = None,
         trigger: float | None = None, shared: bool = False, note: str = "") -> dict:
    """One row of :func:`measure_update_costs` (without its ``ratio``)."""
    return dict(key=key, label=f"({key}) {label}", method=method, svd=svd, step_norm=step_norm, trigger=trigger,
                shared=shared, ms=ms, note=note)


def measure_update_costs(*, generator: torch.Generator, vocab: int = 10_000, n_hidden: int = 650,
                         n_layers: int = 1, delta: float = 0.2, threshold: float = 5.0, grad_norm: float = 10.0,
                         reps: int = 20, seq_len: int = 35, batch_size: int = 20,
                         forward_backward: bool = True) -> list[dict]:
    """Wall time of one update of each way of taming the gradient, for the language model of
    Kanai §4.1.1 (CPU, float32; Table 3's setting is δ = 0.2, threshold 5).

    The model's gradients are random numbers of total norm ``grad_norm`` (the paper's average
    norm is about 10); forward and backward passes are not timed, only the operation that
    differs between the methods:

    (a) ``torch.nn.utils.clip_grad_norm_`` on all parameters (the baseline);
    (b) P_δ of every W_hh by a full SVD (:func:`reprolib.projection.project_spectral_norm`);
    (c) :class:`TruncatedProjection` in the typical case: W_hh already projected, 5 singular
        values at 2 − δ (:func:`projected_matrix`), SGD steps of Frobenius norm 0.01;
    (c2) the same with steps of norm 1 (the Lemma 6 bounds become loose: full SVDs);
    (c3) the variant ``trigger=2`` with the steps of (c);
    (d) the plain SGD step on all parameters, for scale;
    (e) (if ``forward_backward``) one forward and backward pass of the model on random tokens
        ``[seq_len, batch_size]`` with the cost :func:`reprolib.lm_training.lm_cost`: the rest of an
        iteration, which turns the per-update costs into per-iteration ratios (Table 3 times
        whole trainings).

    Returns:
        one dict per row, in the order above, with the keys ``key`` (``"a"``, ``"b"``, ``"c"``,
        ``"c2"``, ``"c3"``, ``"d"``, ``"e"``), ``label`` (for display: ``"(a) clip_grad_norm_, all
        parameters"``, ...), ``method`` (``"clip"``, ``"project"``, ``"sgd"`` or
        ``"forward_backward"``), ``svd`` (``"full"`` or ``"truncated"`` for ``"project"``, else
        ``None``), ``step_norm`` and ``trigger`` (of the truncated rows, else ``None``), ``shared``
        (True for (d) and (e), the parts of an iteration that every method has), ``ms`` (mean over
        ``reps`` calls after a warm-up), ``ratio`` (ms / ms of (a)) and ``note`` (for (c)–(c3):
        the mean s and the routes taken; else "").
    """
    _checks.generator("generator", generator)
    vocab = _checks.positive_int("vocab", vocab)
    n = _checks.positive_int("n_hidden", n_hidden, minimum=2)
    delta = _check_delta(delta)
    threshold = _checks.positive_float("threshold", threshold)
    grad_norm = _checks.positive_float("grad_norm", grad_norm)
    reps = _checks.positive_int("reps", reps)
    model = _model_mid_training(vocab, n, n_layers, delta, grad_norm, generator)
    params, W_hh = list(model.parameters()), model.recurrent_weights()
    opt = torch.optim.SGD(params, lr=1e-12)  # a negligible lr keeps the weights as they are

    def full():
        for W in W_hh:
            project_spectral_norm(W.detach() - W.grad, delta)

    rows = [_row("a", "clip_grad_norm_, all parameters", "clip",
                 _timed(lambda: torch.nn.utils.clip_grad_norm_(params, threshold), reps)),
            _row("b", "P_delta, full SVD of every W_hh", "project", _timed(full, reps), svd="full")]
    for key, label, step_norm, trigger in [("c", "P_delta, truncated SVD, small steps", 0.01, None),
                                           ("c2", "P_delta, truncated SVD, large steps", 1.0, None),
                                           ("c3", "trigger = 2 variant, small steps", 0.01, 2.0)]:
        ms, note = _time_truncated(W_hh, delta, step_norm, trigger, reps, generator)
        rows.append(_row(key, label, "project", ms, svd="truncated", step_norm=step_norm,
                         trigger=2 - delta if trigger is None else trigger, note=note))
    rows.append(_row("d", "SGD step, all parameters", "sgd", _timed(opt.step, reps), shared=True))
    if forward_backward:
        seq_len = _checks.positive_int("seq_len", seq_len)
        batch_size = _checks.positive_int("batch_size", batch_size)
        tokens = torch.randint(vocab, (seq_len + 1, batch_size), generator=generator)

        def fb():
            torch.autograd.grad(lm_cost(model(tokens[:-1])[0], tokens[1:]), params)

        rows.append(_row("e", f"forward + backward, {seq_len} x {batch_size} tokens", "forward_backward",
                         _timed(fb, reps), shared=True))
    return [dict(row, ratio=row["ms"] / rows[0]["ms"]) for row in rows]
