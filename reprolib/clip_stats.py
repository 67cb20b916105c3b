"""Measurements around gradient clipping (Pascanu et al. §3.2, supp. §2.1): the direction a
clipped gradient keeps, the step size clipping allows, and statistics of the gradient norm
over a training run.

Gradients are dicts ``name → tensor`` as in :mod:`reprolib.clipping`. The gradients of a
training run are taken with :meth:`reprolib.engine.Engine.sample_gradients`.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _checks, clipping


def cosine(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """cos(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖), with a and b the concatenation of all their gradients
    (same keys, same shapes), computed in float64. NaN if either vector is 0."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise TypeError("a and b must be dicts name -> tensor")
    if set(a) != set(b):
        raise ValueError(f"a and b must hold the same keys, got {sorted(a)} and {sorted(b)}")
    for n in a:
        _checks.tensor(f"a[{n!r}]", a[n])
        _checks.tensor(f"b[{n!r}]", b[n])
        if a[n].shape != b[n].shape:
            raise ValueError(f"a[{n!r}] has shape {tuple(a[n].shape)} but b[{n!r}] has {tuple(b[n].shape)}")
    x = torch.cat([a[n].double().flatten() for n in sorted(a)])
    y = torch.cat([b[n].double().flatten() for n in sorted(a)])
    return (x @ y / (x.norm() * y.norm())).item()


def effective_lr(norms, lr: float, threshold: float) -> np.ndarray:
    """The learning rate an update with norm clipping (Algorithm 1) actually applies along
    the gradient, lr · min(1, threshold / ‖g‖) for each entry of ``norms`` (§3.2: "adapting
    the learning rate based on the norm of the gradient"). The step length is then
    lr · min(‖g‖, threshold). An infinite norm gives 0, a NaN norm NaN."""
    lr = _checks.positive_float("lr", lr)
    threshold = _checks.positive_float("threshold", threshold)
    g = np.asarray(norms, dtype=np.float64)
    if (g < 0).any():
        raise ValueError("norms must be >= 0")
    with np.errstate(divide="ignore"):
        return lr * np.minimum(1.0, threshold / g)


def norm_statistics(norms, thresholds=(1.0, 4.0, 6.0)) -> dict[str, float]:
    """Summary of the gradient norms of a run (supp. §2.1, the threshold heuristic): mean,
    median, 90th and 99th percentiles, max, and the fraction of updates whose norm is at or
    above each threshold (the updates Algorithm 1 would clip), keyed ``"clipped@<threshold>"``."""
    g = np.asarray(norms, dtype=np.float64)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"norms must be a non-empty 1-d sequence, got shape {g.shape}")
    if not np.isfinite(g).all() or (g < 0).any():
        raise ValueError("norms must be finite and >= 0")
    out = {"mean": g.mean(), "median": np.median(g), "p90": np.percentile(g, 90), "p99": np.percentile(g, 99),
           "max": g.max()}
    for c in thresholds:
        c = _checks.positive_float("thresholds", c)
        out[f"clipped@{c:g}"] = (g >= c).mean()
    return {k: float(v) for k, v in out.items()}


def spike_ratios(norms, threshold: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For every update t ≥ ``window`` with ‖g_t‖ ≥ ``threshold``: the ratio of ‖g_t‖ to the mean
    norm of the ``window`` updates before it. This is how far a spike lies above the statistics
    a learning-rate adaptation would have collected (§3.2: clipping uses the *instantaneous*
    gradient). Returns ``(indices, ratios)``."""
    threshold = _checks.positive_float("threshold", threshold)
    window = _checks.positive_int("window", window)
    g = np.asarray(norms, dtype=np.float64)
    if g.ndim != 1:
        raise ValueError(f"norms must be 1-d, got shape {g.shape}")
    csum = np.concatenate([[0.0], np.cumsum(g)])
    idx = np.flatnonzero(g >= threshold)
    idx = idx[idx >= window]
    return idx, g[idx] / ((csum[idx] - csum[idx - window]) / window)


def clipped_cosines(grads: list[dict[str, torch.Tensor]], threshold: float) -> dict[str, np.ndarray]:
    """For each gradient g: ‖g‖, cos(clip_by_norm(g), g) and cos(clip_elementwise(g), g) at the
    same ``threshold`` (Algorithm 1 against Mikolov's element-wise clipping, §3.1–3.2), and the
    ratio of the two clipped steps' lengths ‖clip_elementwise(g)‖ / ‖clip_by_norm(g)‖."""
    if not isinstance(grads, list) or not grads:
        raise ValueError("grads must be a non-empty list of gradient dicts")
    rows = []
    for g in grads:
        by_norm, norm = clipping.clip_by_norm(g, threshold)
        by_elem = clipping.clip_elementwise(g, threshold)
        rows.append((norm.item(), cosine(by_norm, g), cosine(by_elem, g),
                     clipping.total_norm(by_elem).item() / clipping.total_norm(by_norm).item()))
    norm, cos_norm, cos_elem, length = map(np.array, zip(*rows))
    return {"norm": norm, "cos_norm": cos_norm, "cos_elem": cos_elem, "length_ratio": length}
