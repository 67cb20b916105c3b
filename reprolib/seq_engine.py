"""Several runs of sequence prediction in one update: the fast route of :mod:`reprolib.sequence`.

R runs (seeds × methods) that see the same minibatch have their parameters stacked along a first
axis ``[R, ...]``, and one forward pass and one backward pass serve them all. The backward pass gives
the gradient of every parameter and, in the same call, the total derivatives ∂E/∂h_k that Ω needs.
(The readable route runs a second pass for these.) Ω and its immediate gradient (form h, leaky units
included) are then computed for the R runs at once with the formulas of :mod:`reprolib.omega`. Clipping
at each run's threshold, the non-finite fallback and the SGD step follow.

:func:`update` is tested against R calls of :func:`reprolib.sequence.update`.
"""

from __future__ import annotations

import torch

from . import clipping, omega
from .rnn import activation
from .sequence import cost

#: the parameters of the network, in the order of :class:`reprolib.initializations.Params`
NAMES = ("W_rec", "W_in", "b", "W_out", "b_out")


def stack(params: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The parameters of R runs stacked along a new first axis."""
    return {k: torch.stack([p[k] for p in params]) for k in NAMES}


def _omega(W, zs, dh, sigma, leak):
    """Ω (form h, supp. eq. 5, the code's mean over included terms) and its immediate gradient
    ∂⁺Ω/∂W_rec for R runs: ``W [R, N, N]``, ``zs`` and ``dh`` ``[R, T+1, B, N]``, ``leak [R, N]`` or None."""
    _, dsigma = activation(sigma)
    v = dh[:, 1:]
    L = v * dsigma(zs[:, 1:])
    if leak is not None:
        L = L * leak[:, None, None]
    w = L @ W[:, None]
    if leak is not None:
        w = w + v * (1 - leak[:, None, None])
    r, included, safe_den = omega.ratios((w ** 2).sum(-1), (v ** 2).sum(-1))
    n = included.flatten(1).sum(1).to(W.dtype)  # included terms per run
    safe_n = torch.where(n > 0, n, torch.ones_like(n))
    value = torch.where(included, (r - 1) ** 2, torch.zeros_like(r)).flatten(1).sum(1) / safe_n
    coef = omega.grad_coefficients(r, safe_den, included)
    N = W.shape[-1]
    G = L.reshape(W.shape[0], -1, N).transpose(1, 2) @ (coef.reshape(W.shape[0], -1, 1) * w.reshape(W.shape[0], -1, N))
    return value, G / safe_n[:, None, None]


def update(kind: str, params: dict[str, torch.Tensor], sigma: str, u: torch.Tensor, target: torch.Tensor,
           h0: torch.Tensor, *, lr: torch.Tensor, threshold: torch.Tensor, alpha: torch.Tensor,
           mask: torch.Tensor | None = None, leak: torch.Tensor | None = None, reduction: str = "mean",
           fallback: bool = True):
    """One update of R runs on the same segment ``(u [L, B, K], target)`` from their states ``h0 [R, B, N]``.

    ``params``: stacked (:func:`stack`); ``lr``, ``threshold`` (``inf`` for no clipping) and ``alpha``: ``[R]``;
    ``leak``: ``[R, N]`` or None. Returns ``(new params, cost [R], Ω [R], norm [R] before clipping, h_T [R, B, N])``,
    each run's as :func:`reprolib.sequence.update` gives it.
    """
    R = params["W_rec"].shape[0]
    act, _ = activation(sigma)
    P = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    hs, zs = [h0.detach().clone().requires_grad_(True)], [torch.zeros_like(h0)]
    inputs = torch.einsum("lbk,rnk->lrbn", u, P["W_in"])  # W_in u_t for every run, once for all steps
    for t in range(u.shape[0]):
        zs.append(hs[-1] @ P["W_rec"].transpose(1, 2) + inputs[t] + P["b"][:, None])
        new = act(zs[-1])
        hs.append(new if leak is None else (1 - leak[:, None]) * hs[-1] + leak[:, None] * new)
    y = torch.stack(hs[1:], 1) @ P["W_out"].transpose(1, 2)[:, None] + P["b_out"][:, None, None]  # [R, L, B, K]
    E = torch.stack([cost(kind, y[r], target, mask, reduction) for r in range(R)])
    grads = torch.autograd.grad(E.sum(), list(P.values()) + hs)
    g = dict(zip(P, grads[:len(P)]))
    dh = torch.stack(grads[len(P):], 1)
    Om, G = _omega(params["W_rec"], torch.stack(zs, 1).detach(), dh, sigma, leak)
    g["W_rec"] = g["W_rec"] + alpha[:, None, None] * G
    norm = torch.sqrt(sum(g[k].flatten(1).pow(2).sum(1) for k in NAMES))
    scale = torch.where(norm >= threshold, threshold / norm, torch.ones_like(norm))
    bad = fallback & ~((norm >= 0) & (norm <= clipping.NONFINITE_LIMIT))
    new = {}
    for k in NAMES:
        shape = (R,) + (1,) * (params[k].ndim - 1)
        step = g[k] * scale.view(shape)
        if bool(bad.any()):
            repl = clipping.FALLBACK_SCALE * params[k] if k == "W_rec" else torch.zeros_like(step)
            step = torch.where(bad.view(shape), repl, step)
        new[k] = params[k] - lr.view(shape) * step
    return new, E.detach(), Om, norm, hs[-1].detach()
