"""Several runs of sequence prediction in one update: the fast route of :mod:`reprolib.sequence`.

R runs (seeds × methods) that see the same minibatch have their parameters stacked along a first
axis ``[R, ...]``, and one forward pass and one backward pass serve them all. The backward pass gives
the gradient of every parameter and, in the same call, the total derivatives ∂E/∂h_k that Ω needs.
(The readable route runs a second pass for these.) Ω and its immediate gradient (form h, leaky units
included) are then computed for the R runs at once with the formulas of :mod:`reprolib.omega`. Clipping
at each run's threshold, the non-finite fallback and the SGD step are the batched engine's
(:func:`reprolib.bptt.clip_and_step`).

:func:`update` is tested against R calls of :func:`reprolib.sequence.update`.
"""

from __future__ import annotations

import math

import torch

from . import _checks, omega
from .bptt import NAMES, clip_and_step
from .rnn import activation
from .sequence import KINDS, N_KEYS, FitResult, SeqRun, batches, cost, evaluate, init, inputs


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
    new = {k: v.detach().clone() for k, v in params.items()}
    no = torch.zeros(R, dtype=torch.bool)
    norm, _, _ = clip_and_step(new, g, lr, threshold, no, torch.full((R,), fallback))  # the engine's step, in place
    return new, E.detach(), Om, norm, hs[-1].detach()


#: the settings that runs sharing an update must have in common (their data and their network's shape)
SHARED = ("n_hidden", "sigma", "biases", "segment", "batch_size", "reduction", "alpha_per", "horizon", "data_seed")


def fit(kind: str, train, valid, runs: list[SeqRun], epochs: int, *, n_in: int | None = None,
        dtype=torch.float64) -> list[FitResult]:
    """:func:`reprolib.sequence.fit` for several runs at once: they see the same minibatches (same
    ``data_seed``) and share every update (:func:`update`); each keeps its own learning rate, halved
    after its epochs whose training error rose, and its own best validation epoch. Returns one
    :class:`reprolib.sequence.FitResult` per run, each what ``sequence.fit`` returns for that run."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not runs or not all(isinstance(r, SeqRun) for r in runs):
        raise TypeError("runs must be a non-empty list of sequence.SeqRun")
    for name in SHARED:
        if len({getattr(r, name) for r in runs}) > 1:
            raise ValueError(f"runs that share an update must have the same {name}")
    _checks.positive_int("epochs", epochs)
    n_sym = N_KEYS if kind == "music" else _checks.positive_int("n_in", n_in)
    first, R = runs[0], len(runs)
    inits = [init(r, n_sym, dtype) for r in runs]
    params = stack([p for p, _ in inits])
    leaks = [lk for _, lk in inits]
    leak = None if all(lk is None for lk in leaks) else \
        torch.stack([torch.ones(first.n_hidden, dtype=dtype) if lk is None else lk for lk in leaks])
    threshold = torch.tensor([math.inf if r.threshold is None else r.threshold for r in runs], dtype=dtype)
    lr = torch.tensor([r.lr for r in runs], dtype=dtype)
    g = torch.Generator().manual_seed(first.data_seed)
    updates, histories, best, best_params = 0, [[] for _ in runs], [None] * R, [None] * R
    for epoch in range(epochs):
        costs, norms, clipped, h = [], [], torch.zeros(R), None
        for x, y, mask, reset in batches(kind, train, first, g):
            if reset or h is None or h.shape[1] != x.shape[1]:
                h = torch.zeros(R, x.shape[1], first.n_hidden, dtype=dtype)
            t = epoch if first.alpha_per == "epoch" else updates
            alpha = torch.tensor([r.alpha_at(t) for r in runs], dtype=dtype)
            new, E, _, norm, h = update(kind, params, first.sigma, inputs(kind, x, n_sym, dtype),
                                        y.to(dtype) if kind == "music" else y, h, lr=lr, threshold=threshold,
                                        alpha=alpha, mask=mask, leak=leak, reduction=first.reduction)
            if not first.biases:
                new["b"], new["b_out"] = params["b"], params["b_out"]
            params, updates = new, updates + 1
            costs.append(E)
            norms.append(norm)
            clipped += (norm >= threshold).to(clipped.dtype)
        for r, run in enumerate(runs):
            mine = {k: v[r] for k, v in params.items()}
            hist = histories[r]
            hist.append({"epoch": epoch, "train": sum(c[r].item() for c in costs) / len(costs), "lr": lr[r].item(),
                         "alpha": run.alpha_at(epoch if run.alpha_per == "epoch" else updates),
                         "clipped": clipped[r].item() / len(costs), "norms": [n[r].item() for n in norms],
                         "valid": evaluate(kind, mine, run.sigma, valid, run, leaks[r], n_sym if kind == "chars" else None)})
            if best[r] is None or hist[-1]["valid"] < hist[best[r]]["valid"]:
                best[r], best_params[r] = epoch, {k: v.clone() for k, v in mine.items()}
            if epoch > 0 and hist[-1]["train"] > hist[-2]["train"]:
                lr[r] = lr[r] / 2  # supp. §3.2.1, run by run
    return [FitResult(best_params[r], leaks[r], best[r], histories[r]) for r in range(R)]
