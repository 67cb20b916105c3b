"""Gradient clipping: Algorithm 1 of Pascanu et al. (2013), Mikolov's element-wise
clipping, and the original code's fallback for non-finite gradients (supp. §2.1).

Gradients are passed as a dict ``name → tensor``, the layout of :meth:`RNN.parameters`
(``{"W_rec", "W_in", "b"}``), possibly with more entries such as read-out weights. Every
function is functional: it returns new tensors and leaves its inputs untouched.

The order used by the original code for one update (see the Deviations page, C8–C10):

    g = ∂E/∂θ, with α ∂⁺Ω/∂W_rec added to g["W_rec"]
    g, norm = clip_by_norm(g, threshold)               # norm is ‖g‖ before clipping
    g = nonfinite_fallback(g, W_rec, norm=norm)         # tested on that same norm
"""

from __future__ import annotations

import torch

from . import _checks

#: the original code's limit above which a gradient norm is not trusted (supp. §2.1)
NONFINITE_LIMIT = 1e10

#: the fallback gradient of W_rec is FALLBACK_SCALE · W_rec (supp. §2.1)
FALLBACK_SCALE = 0.02


def _check_grads(grads) -> dict[str, torch.Tensor]:
    """Check that ``grads`` is a non-empty dict name → floating tensor (entries may be non-finite)."""
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict name -> tensor (as RNN.parameters()), got {type(grads).__name__}")
    if not grads:
        raise ValueError("grads must hold at least one gradient")
    for name, g in grads.items():
        if not isinstance(name, str):
            raise TypeError(f"grads keys must be parameter names (str), got {name!r}")
        _checks.tensor(f"grads[{name!r}]", g, finite=False)
    _checks.same_kind(**{f"grads[{name!r}]": g for name, g in grads.items()})
    return grads


def total_norm(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    """‖g‖: the 2-norm of all parameter gradients taken together, as a 0-dim tensor.

    ‖g‖² = Σ_θ ‖∂E/∂θ‖²_F. NaN or Inf if any entry is.
    """
    _check_grads(grads)
    # half-precision gradients are summed in float32: their norm may exceed float16's largest value (65504)
    wide = lambda g: torch.float32 if g.dtype in (torch.float16, torch.bfloat16) else None  # noqa: E731
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, dtype=wide(g)) for g in grads.values()]))


def clip_by_norm(grads: dict[str, torch.Tensor], threshold: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Norm clipping, Algorithm 1 of Pascanu et al.:

        ĝ ← ∂E/∂θ;  if ‖ĝ‖ ≥ threshold then ĝ ← (threshold / ‖ĝ‖) ĝ.

    The norm is over all gradients together, so the direction of ĝ is kept.

    Relation to ``torch.nn.utils.clip_grad_norm_``: torch always multiplies by
    min(1, threshold / (‖ĝ‖ + 1e-6)). This function has no ε, as Algorithm 1, so above the
    threshold torch's result equals ours times ‖ĝ‖ / (‖ĝ‖ + 1e-6), and below
    threshold − 1e-6 both return ĝ unchanged. (The original code tests ‖ĝ‖ > threshold;
    at equality the factor is 1, so ≥ and > give the same result.)

    Non-finite norms are not handled here: a NaN norm leaves ĝ unchanged and an Inf norm
    scales by 0. Apply :func:`nonfinite_fallback` afterwards with the returned norm.

    Args:
        grads: dict name → gradient tensor.
        threshold: the clipping threshold μ > 0.

    Returns:
        ``(clipped, norm)``: a new dict of new tensors, and ‖ĝ‖ before clipping (0-dim tensor).
    """
    _check_grads(grads)
    threshold = _checks.positive_float("threshold", threshold)
    norm = total_norm(grads)
    if norm >= threshold:
        scale = threshold / norm
        return {name: g * scale for name, g in grads.items()}, norm
    return {name: g.clone() for name, g in grads.items()}, norm


def clip_elementwise(grads: dict[str, torch.Tensor], threshold: float) -> dict[str, torch.Tensor]:
    """Element-wise clipping (Mikolov, 2012; Pascanu et al. §3.1): every entry of every
    gradient is clamped to [−threshold, threshold]. This changes the direction of the
    gradient, which is why Algorithm 1 rescales the whole vector instead.

    Returns a new dict of new tensors (NaN entries stay NaN).
    """
    _check_grads(grads)
    threshold = _checks.positive_float("threshold", threshold)
    return {name: g.clamp(-threshold, threshold) for name, g in grads.items()}


def needs_fallback(norm, limit: float = NONFINITE_LIMIT) -> bool:
    """True when the gradient norm cannot be trusted: NaN, ±Inf, negative or above ``limit``
    (the original code's test, supp. §2.1)."""
    if isinstance(norm, torch.Tensor):
        if norm.numel() != 1:
            raise ValueError(f"norm must be a single number, got shape {tuple(norm.shape)}")
        norm = norm.item()
    if isinstance(norm, bool) or not isinstance(norm, (int, float)):
        raise TypeError(f"norm must be a real number or a 0-dim tensor, got {type(norm).__name__}")
    limit = _checks.positive_float("limit", limit)
    return not (0 <= norm <= limit)  # False for NaN as every comparison with NaN is False


def nonfinite_fallback(
    grads: dict[str, torch.Tensor], W_rec: torch.Tensor, limit: float = NONFINITE_LIMIT, norm=None
) -> dict[str, torch.Tensor]:
    """The numerical safeguard of supp. §2.1: if the gradient norm is NaN, Inf or above
    ``limit`` (1e10 in the paper's later experiments), the gradient of W_rec is replaced by
    0.02·W_rec and every other gradient by 0, so that the step W_rec ← W_rec − lr·0.02·W_rec
    shrinks all singular values of W_rec. Otherwise the gradients are returned unchanged
    (as new tensors).

    In the original code W_hh = W_recᵀ gets 0.02·W_hh, which is the same rule.

    Args:
        grads: dict name → gradient; must hold the key ``"W_rec"``.
        W_rec: the current recurrent weights, same shape as ``grads["W_rec"]``.
        limit: largest trusted norm.
        norm: the norm to test. ``None`` computes ‖grads‖; pass the pre-clipping norm returned
            by :func:`clip_by_norm` to reproduce the original code, which tests that norm and
            replaces the *clipped* gradient (so the fallback step is never clipped).

    Returns:
        a new dict with the same keys.
    """
    _check_grads(grads)
    if "W_rec" not in grads:
        raise ValueError(f"grads must hold the key 'W_rec', got keys {sorted(grads)}")
    _checks.square("W_rec", W_rec)
    _checks.same_kind(W_rec=W_rec, **{"grads['W_rec']": grads["W_rec"]})
    if W_rec.shape != grads["W_rec"].shape:
        raise ValueError(f"W_rec has shape {tuple(W_rec.shape)} but grads['W_rec'] has {tuple(grads['W_rec'].shape)}")
    if norm is None:
        norm = total_norm(grads)
    if needs_fallback(norm, limit):
        return {name: FALLBACK_SCALE * W_rec.detach() if name == "W_rec" else torch.zeros_like(g)
                for name, g in grads.items()}
    return {name: g.clone() for name, g in grads.items()}
