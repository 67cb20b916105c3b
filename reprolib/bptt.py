"""The batched maths of the engine (:mod:`reprolib.engine`): R runs with stacked parameters
``P[name] [R, ...]``, one minibatch each, in the original code's h-form of Pascanu eq. (2):
the forward pass, the three output heads with their gradients, back-propagation through time
written by hand with batched matrix products, the terms of Ω and its immediate gradient
(supp. eq. 5), and one SGD update with norm or element-wise clipping and the non-finite
fallback (Algorithm 1, supp. §2.1). Tested against the readable route through the engine
(:mod:`reprolib.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import clipping, omega, tasks

#: the names of the parameters, in a fixed order
NAMES = ("W_rec", "W_in", "b", "W_out", "b_out")


@dataclass
class Batch:
    """One minibatch for each of R runs, padded at the start to a common length T.

    ``u [R, T, B, M]`` inputs (``idx [R, T, B]`` their one-hot indices, or ``None``),
    ``mask [R, T]`` True on real steps, ``y`` targets (``[R, B]``, or ``[R, T, B]`` with -1 on
    padded steps for the every-step head), ``padded`` the number of leading steps on which
    some run is padded.
    """

    u: torch.Tensor
    idx: torch.Tensor | None
    mask: torch.Tensor
    y: torch.Tensor
    padded: int


def make_batch(task: tasks.Task, samples: list[tuple[torch.Tensor, torch.Tensor]]) -> Batch:
    """Stack per-run minibatches ``(u [T_r, B, M], y)`` of :meth:`Task.generate` into a :class:`Batch`."""
    R = len(samples)
    T = max(u.shape[0] for u, _ in samples)
    u0, y0 = samples[0]
    _, B, M = u0.shape
    u = u0.new_zeros(R, T, B, M)
    mask = torch.zeros(R, T, dtype=torch.bool, device=u0.device)
    every = task.head == "every_softmax"
    y = torch.full((R, T, B), -1, dtype=y0.dtype, device=y0.device) if every else torch.stack([yr for _, yr in samples])
    for r, (ur, yr) in enumerate(samples):
        s = T - ur.shape[0]
        u[r, s:] = ur
        mask[r, s:] = True
        if every:
            y[r, s:] = yr
    idx = u.argmax(-1) if task.one_hot else None
    return Batch(u, idx, mask, y, T - min(ur.shape[0] for ur, _ in samples))


class Workspace:
    """Buffers for the states and the BPTT factors, allocated once and reused by every update.

    A buffer ``[R, T_cap, B, N]`` is re-allocated only when a longer sequence (T > T_cap) or
    another number of runs arrives; shorter sequences use a slice along the time axis.
    """

    def __init__(self):
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple, like: torch.Tensor, time_axis: int | None = 1) -> torch.Tensor:
        """An uninitialised tensor of ``shape``: a slice along ``time_axis`` of the buffer ``name``."""
        buf = self.buffers.get(name)
        fits = (buf is not None and buf.dtype == like.dtype and buf.device == like.device and buf.ndim == len(shape)
                and all(a == b if i != time_axis else a >= b for i, (a, b) in enumerate(zip(buf.shape, shape))))
        if not fits:
            buf = self.buffers[name] = like.new_empty(shape)
        return buf if time_axis is None else buf.narrow(time_axis, 0, shape[time_axis])


def _dsigma_(sigma: str, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """σ′ written with h = σ(x), into ``out``: 1 − h² (tanh) or h − h² (sigmoid). At h = 0 this is
    σ′ at the preimage of h_0 = 0 (1 for tanh, 0 for the sigmoid, whose preimage is −∞)."""
    torch.mul(h, h, out=out)
    return out.neg_().add_(1) if sigma == "tanh" else torch.sub(h, out, out=out)


def forward(P: dict[str, torch.Tensor], batch: Batch, sigma: str, ws: Workspace | None = None,
            last_only: bool = False) -> torch.Tensor:
    """The hidden states ``H [R, T+1, B, N]`` (``H[:, 0] = h_0 = 0``) of eq. (2) in h-form; with
    ``last_only``, just the last one, ``[R, 1, B, N]``, computed in two alternating buffers (a test at
    T = 5000 would otherwise hold every state)."""
    ws = ws or Workspace()
    W_rec, W_in, b = P["W_rec"], P["W_in"], P["b"]
    R, T, B, M = batch.u.shape
    N = W_rec.shape[1]
    if batch.idx is not None:  # one-hot inputs: W_in u_t + b is a row of this table
        table, rows = W_in.transpose(1, 2) + b[:, None, :], torch.arange(R, device=W_in.device)[:, None]
    else:
        D = torch.bmm(batch.u.reshape(R, T * B, M), W_in.transpose(1, 2)).view(R, T, B, N) + b[:, None, None, :]
    act = torch.tanh if sigma == "tanh" else torch.sigmoid
    W_recT = W_rec.transpose(1, 2).contiguous()  # a contiguous operand makes baddbmm ~2x faster
    m = batch.mask.to(W_rec.dtype)[:, :, None, None]
    keep = 2 if last_only else T + 1
    H, x = ws.get("H", (R, keep, B, N), W_rec), ws.get("x", (R, B, N), W_rec, time_axis=None)
    H[:, 0] = 0
    for t in range(T):
        drive = table[rows, batch.idx[:, t]] if batch.idx is not None else D[:, t]
        torch.baddbmm(drive, H[:, t % keep], W_recT, out=x)
        act(x, out=H[:, (t + 1) % keep])
        if t < batch.padded:
            H[:, (t + 1) % keep] *= m[:, t]
    return H.narrow(1, T % 2, 1) if last_only else H


def head(P, H, batch: Batch, kind: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of each run and its gradient with respect to the states and the read-out.

    ``last_softmax``: cross-entropy of the last state, mean over the batch; ``every_softmax``:
    cross-entropy at every real step, mean over steps × batch; ``last_linear``: squared error
    of the last state's linear read-out, mean over the batch (the code's three heads).

    Returns ``(loss [R], dH, {"W_out", "b_out"} gradients)``: ``dH`` is ∂⁺E/∂h_t, ``[R, T+1, B, N]``
    for the every-step head, ``[R, B, N]`` (the last step only) otherwise.
    """
    W_out, b_out = P["W_out"], P["b_out"]
    if kind == "every_softmax":
        Hs = H[:, 1:]  # [R, T, B, N]
        logits = torch.einsum("rtbn,rkn->rtbk", Hs, W_out) + b_out[:, None, None, :]
        valid = batch.y >= 0
        count = valid.sum((1, 2)).to(H.dtype)  # T_r · B
        logp = torch.log_softmax(logits, -1)
        y = batch.y.clamp(min=0)
        nll = -logp.gather(-1, y[..., None])[..., 0] * valid
        loss = nll.sum((1, 2)) / count
        dlogits = logp.exp() - torch.nn.functional.one_hot(y, W_out.shape[1]).to(H.dtype)
        dlogits *= (valid.to(H.dtype) / count[:, None, None])[..., None]
        dH = torch.zeros_like(H)
        dH[:, 1:] = torch.einsum("rtbk,rkn->rtbn", dlogits, W_out)
        return loss, dH, {"W_out": torch.einsum("rtbk,rtbn->rkn", dlogits, Hs), "b_out": dlogits.sum((1, 2))}
    hT = H[:, -1]  # [R, B, N]
    out = torch.baddbmm(b_out[:, None, :], hT, W_out.transpose(1, 2))  # [R, B, K]
    B = hT.shape[1]
    if kind == "last_softmax":
        logp = torch.log_softmax(out, -1)
        loss = -logp.gather(-1, batch.y[..., None])[..., 0].mean(1)
        dout = (logp.exp() - torch.nn.functional.one_hot(batch.y, out.shape[-1]).to(H.dtype)) / B
    elif kind == "last_linear":
        err = out[..., 0] - batch.y.to(H.dtype)
        loss = (err**2).mean(1)
        dout = (2 * err / B)[..., None]
    else:
        raise ValueError(f"kind must be one of {tuple(tasks.HEADS)}, got {kind!r}")
    return loss, torch.bmm(dout, W_out), {"W_out": torch.bmm(dout.transpose(1, 2), hT), "b_out": dout.sum(1)}


def backward(P, H, dH, batch: Batch, sigma: str, ws: Workspace | None = None, keep_Z: bool = True):
    """BPTT. Returns the gradients of W_rec, W_in, b and, for Ω, the per-step factors
    ``Delta [R, T, B, N]`` (δ_t = ∂E/∂x_t, t = 1..T), ``Z [R, T, B, N]`` (δ_t W_rec, the
    recurrent part of ∂E/∂h_{t−1}; ``None`` unless ``keep_Z``) and ``S [R, T+1, B, N]`` (σ′ at every state)."""
    ws = ws or Workspace()
    W_rec = P["W_rec"]
    R, T, B, N = H.shape[0], H.shape[1] - 1, H.shape[2], H.shape[3]
    every = dH.ndim == 4
    m = batch.mask.to(H.dtype)[:, :, None, None]
    Delta, S = ws.get("Delta", (R, T, B, N), H), ws.get("S", (R, T + 1, B, N), H)
    Z, z = ws.get("Z", (R, T, B, N), H), ws.get("z", (R, B, N), H, time_axis=None)
    _dsigma_(sigma, H[:, 0], S[:, 0])
    g = dH[:, T] if every else dH
    for t in range(T, 0, -1):
        _dsigma_(sigma, H[:, t], S[:, t])
        torch.mul(g, S[:, t], out=Delta[:, t - 1])
        if t - 1 < batch.padded:
            Delta[:, t - 1] *= m[:, t - 1]
        torch.bmm(Delta[:, t - 1], W_rec, out=z)  # bmm writes only into contiguous memory
        if keep_Z:
            Z[:, t - 1] = z
        g = z + dH[:, t - 1] if every else z
    Dflat = Delta.reshape(R, T * B, N)
    grads = {"W_rec": torch.bmm(Dflat.transpose(1, 2), H[:, :T].reshape(R, T * B, N)), "b": Dflat.sum(1)}
    if batch.idx is not None and batch.u.shape[-1] > N:  # many symbols: accumulate by index
        gW_inT = W_rec.new_zeros(R, batch.u.shape[-1], N)
        gW_inT.scatter_add_(1, batch.idx.reshape(R, T * B, 1).expand(-1, -1, N), Dflat)
        grads["W_in"] = gW_inT.transpose(1, 2)
    else:
        grads["W_in"] = torch.bmm(Dflat.transpose(1, 2), batch.u.reshape(R, T * B, -1))
    return grads, Delta, Z if keep_Z else None, S


def total_h_gradients(Z, dH):
    """g_t = ∂E/∂h_t = δ_{t+1} W_rec + ∂⁺E/∂h_t for t = 1..T, ``[R, T, B, N]``, from :func:`backward`'s ``Z``."""
    G = torch.cat([Z[:, 1:], torch.zeros_like(Z[:, :1])], 1)
    if dH.ndim == 4:
        G += dH[:, 1:]
    else:
        G[:, -1] += dH
    return G


def omega_terms(Delta, Z, G, S, mask, form: str, norms: str, reduction: str = "mean", bound: float = omega.BOUND,
                with_grad: bool = True, ws: Workspace | None = None):
    """Ω of each run and its immediate gradient ∂⁺Ω/∂W_rec (supp. eq. 5), batched, from the
    BPTT factors; the formulas of :func:`reprolib.omega.omega_grad`, term k ↔ step k+1 = t:

    * form ``"x"``: v = δ_t, w = (δ_t W_rec) ⊙ σ′(x_{t−1}), L = v, R = w ⊙ σ′(x_{t−1});
    * form ``"h"``: v = g_t (``G``, from :func:`total_h_gradients`), w = δ_t W_rec, L = δ_t, R = w.

    Padded steps have v = 0 and are excluded by the 1e-20 guard (form "h" masks g_t).
    Returns ``(Ω [R], ∂⁺Ω/∂W_rec [R, N, N])``, the gradient ``None`` unless ``with_grad``.
    """
    R, T, B, N = Delta.shape
    ws = ws or Workspace()
    if form == "x":
        Sk = S[:, :T]  # σ′(x_{t−1}) for t = 1..T (σ′ at h_0 = 0 for t = 1)
        v, w = Delta, torch.mul(Z, Sk, out=ws.get("w", (R, T, B, N), Z))
    else:
        v, w = G * mask.to(G.dtype)[:, :, None, None], Z
    num, den = torch.linalg.vector_norm(w, dim=-1) ** 2, torch.linalg.vector_norm(v, dim=-1) ** 2  # [R, T, B]
    r, included, safe = omega.ratios(num, den, norms, bound)
    BZ = included.sum((1, 2)).to(Delta.dtype) if reduction == "mean" else torch.full((R,), float(B), dtype=Delta.dtype, device=Delta.device)
    BZ = torch.where(BZ > 0, BZ, torch.ones_like(BZ))  # nothing included: Ω = 0, gradient 0
    value = torch.where(included, (r - 1) ** 2, torch.zeros_like(r)).sum((1, 2)) / BZ
    if not with_grad:
        return value, None
    coef = omega.grad_coefficients(r, safe, included, norms) / BZ[:, None, None]
    L = torch.mul(Delta, coef[..., None], out=ws.get("L", (R, T, B, N), Z)).reshape(R, T * B, N)
    Rt = (w.mul_(Sk) if form == "x" else Z).reshape(R, T * B, N)
    return value, torch.bmm(L.transpose(1, 2), Rt)


@dataclass
class Step:
    """What one update did, per run: loss, Ω, the gradient norm before clipping, whether
    the gradient was clipped, and whether the non-finite fallback replaced it."""

    loss: torch.Tensor
    omega: torch.Tensor
    norm: torch.Tensor
    clipped: torch.Tensor
    fallback: torch.Tensor


def gradients(P, batch: Batch, sigma: str, head_kind: str, alpha: torch.Tensor, omega_form: str = "x",
              omega_norms: str = "squared", ws: Workspace | None = None,
              omega_value: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """∂E/∂θ + α ∂⁺Ω/∂W_rec for every run (before clipping). Returns ``(grads, loss [R], Ω [R])``;
    Ω is NaN when no run needs it (all α = 0) and ``omega_value`` is False."""
    H = forward(P, batch, sigma, ws)
    loss, dH, grads = head(P, H, batch, head_kind)
    with_grad = bool((alpha > 0).any())
    g, Delta, Z, S = backward(P, H, dH, batch, sigma, ws, keep_Z=with_grad or omega_value)
    grads.update(g)
    if Z is None:
        return grads, loss, torch.full_like(loss, math.nan)
    G = total_h_gradients(Z, dH) if omega_form == "h" else None
    value, gO = omega_terms(Delta, Z, G, S, batch.mask, omega_form, omega_norms, with_grad=with_grad, ws=ws)
    if gO is not None:
        grads["W_rec"] = grads["W_rec"] + alpha[:, None, None] * gO
    return grads, loss, value


def clip_and_step(P, grads, lr, threshold, elementwise, fallback) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clip each run's gradient (per-run ``threshold``, ``inf`` for none), apply the
    fallback, and take the SGD step in place. Returns ``(norm, clipped, fallback_used)`` [R]."""
    sq = sum(grads[n].pow(2).flatten(1).sum(1) for n in NAMES)
    norm = sq.sqrt()
    over = norm >= threshold
    clipped = over & ~elementwise
    scale = torch.where(clipped, threshold / norm, torch.ones_like(norm))
    bad = fallback & ~((norm >= 0) & (norm <= clipping.NONFINITE_LIMIT))
    for n in NAMES:
        shape = (-1,) + (1,) * (grads[n].ndim - 1)
        g = grads[n] * scale.view(shape)
        if bool(elementwise.any()):
            c = threshold.view(shape)
            g = torch.where(elementwise.view(shape), torch.maximum(torch.minimum(g, c), -c), g)
        if bool(bad.any()):
            repl = clipping.FALLBACK_SCALE * P[n] if n == "W_rec" else torch.zeros_like(g)
            g = torch.where(bad.view(shape), repl, g)
        P[n].sub_(lr.view(shape) * g)
    clipped = clipped | (elementwise & (torch.stack([grads[n].abs().flatten(1).amax(1) for n in NAMES]).amax(0) > threshold))
    return norm, clipped & ~bad, bad
