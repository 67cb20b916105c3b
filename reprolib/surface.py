"""The geometry of the error surface: §2.4 of Pascanu et al. (2013) and the summary's eq. (12)–(13).

The one-unit model of eq. (14), with no input and σ the logistic sigmoid,

    x_t = w σ(x_{t−1}) + b,        E_T = (σ(x_T) − y)²                           (eq. 14)

is the model of Fig. 3 (T = 50, x_0 = 0.5, y = 0.7). :func:`one_unit_surface` evaluates E_T,
its gradient and its exact 2 × 2 Hessian over any tensor of (w, b) points at once, by
forward-mode recursion of the first and second derivatives of x_t.

Where the wall is, in closed form: on the line b = x_0 − w σ(x_0), x_0 is a fixed point,
x_t = x_0 for every t. When α = w σ′(x_0) > 1 that fixed point is repelling and the line is
the boundary between the basins of the two attractors that then exist, so E_T jumps there.
On the line, ∂x_T/∂(w, b) = (α^T − 1)/(α − 1) · (σ(x_0), 1): the gradient is normal to the
wall and grows like α^T, the exploding direction v and rate α of eq. (13).

For the hypothesis that the gradient explodes along the leading eigenvector of the Hessian,
:class:`LastStateCost` gives the cost on the last state of an N-unit network of eq. (2) as a
function of the flattened θ = (W_rec, W_in, b), for P parameter points at once;
:func:`gradient_and_hvp` gives its gradient and Hessian–vector products (double backward) and
:func:`top_eigenpair` the eigenvector of largest |eigenvalue| by block power iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import scipy.stats
import torch

from . import _checks, clipping
from .rnn import RNN, activation

#: Fig. 3 of Pascanu et al.: horizon, initial state and target of E_50 = (σ(x_50) − 0.7)², x_0 = 0.5
T_FIG3, X0_FIG3, TARGET_FIG3 = 50, 0.5, 0.7


# --------------------------------------------------------------------- one unit (eq. 14)
@dataclass(frozen=True)
class Surface:
    """E_T, its gradient and Hessian at a tensor of (w, b) points of shape ``S``.

    Attributes:
        x_T: the last state ``S``.
        E: the error (σ(x_T) − y)² ``S``.
        grad: (∂E/∂w, ∂E/∂b) ``S + [2]``.
        hessian: [[∂²E/∂w², ∂²E/∂w∂b], [∂²E/∂b∂w, ∂²E/∂b²]] ``S + [2, 2]`` (None if not asked for).
    """

    x_T: torch.Tensor
    E: torch.Tensor
    grad: torch.Tensor
    hessian: torch.Tensor | None


def _check_one_unit(w, b, T, x0) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the arguments of eq. (14); return w and b broadcast to one shape."""
    _checks.tensor("w", w)
    _checks.tensor("b", b)
    _checks.same_kind(w=w, b=b)
    _checks.positive_int("T", T)
    _checks.finite_float("x0", x0)
    try:
        w, b = torch.broadcast_tensors(w, b)
    except RuntimeError:
        raise ValueError(f"w and b must broadcast, got shapes {tuple(w.shape)} and {tuple(b.shape)}") from None
    if w.numel() == 0:
        raise ValueError("w and b must hold at least one point, got an empty grid")
    return w, b


def one_unit_states(w: torch.Tensor, b: torch.Tensor, T: int = T_FIG3, x0: float = X0_FIG3) -> torch.Tensor:
    """x_0..x_T of eq. (14), x_t = w σ(x_{t−1}) + b, at every (w, b) point (broadcast).

    Returns ``[T+1] + S``. Differentiable (used by the tests as the autograd route).
    """
    w, b = _check_one_unit(w, b, T, x0)
    xs = [torch.full_like(w, float(x0))]
    for _ in range(T):
        xs.append(w * torch.sigmoid(xs[-1]) + b)
    return torch.stack(xs)


def one_unit_surface(w: torch.Tensor, b: torch.Tensor, T: int = T_FIG3, x0: float = X0_FIG3,
                     target: float = TARGET_FIG3, hessian: bool = True) -> Surface:
    """E_T = (σ(x_T) − y)² of eq. (14), with its exact gradient and Hessian, at every (w, b) point.

    Forward-mode recursion, with s = σ(x_{t−1}), s′ = s(1 − s), s″ = s′(1 − 2s) and x_0 fixed:

        x_w  ← s + w s′ x_w                       x_b  ← 1 + w s′ x_b
        x_ww ← 2 s′ x_w + w (s″ x_w² + s′ x_ww)    x_bb ← w (s″ x_b² + s′ x_bb)
        x_wb ← s′ x_b + w (s″ x_w x_b + s′ x_wb)

    then, with e₁ = dE/dx_T = 2(σ(x_T) − y)σ′(x_T) and e₂ = d²E/dx_T² = 2(σ′² + (σ − y)σ″),
    ∇E = e₁ ∇x_T and ∇²E = e₂ ∇x_T ∇x_Tᵀ + e₁ ∇²x_T.

    Args:
        w, b: tensors of any broadcastable shapes (e.g. a meshgrid); float64 advised, the
            derivatives grow like α^T.
        T: the horizon (50 in Fig. 3); x0: the initial state (0.5); target: y (0.7).
        hessian: False skips the second-order recursion (``Surface.hessian`` is then None).

    Returns:
        a :class:`Surface` over the broadcast shape.
    """
    w, b = _check_one_unit(w, b, T, x0)
    _checks.finite_float("target", target)
    x = torch.full_like(w, float(x0))
    zero = torch.zeros_like(w)
    xw, xb, xww, xwb, xbb = zero, zero, zero, zero, zero
    for _ in range(T):
        s = torch.sigmoid(x)
        ds = s * (1 - s)
        if hessian:
            d2s = ds * (1 - 2 * s)
            xww, xwb, xbb = (2 * ds * xw + w * (d2s * xw * xw + ds * xww),
                             ds * xb + w * (d2s * xw * xb + ds * xwb),
                             w * (d2s * xb * xb + ds * xbb))
        xw, xb = s + w * ds * xw, 1 + w * ds * xb
        x = w * s + b
    s = torch.sigmoid(x)
    ds = s * (1 - s)
    e1 = 2 * (s - target) * ds
    e2 = 2 * (ds * ds + (s - target) * ds * (1 - 2 * s))
    grad = torch.stack([e1 * xw, e1 * xb], dim=-1)
    if not hessian:
        return Surface(x, (s - target) ** 2, grad, None)
    H = torch.stack([torch.stack([e2 * xw * xw + e1 * xww, e2 * xw * xb + e1 * xwb], dim=-1),
                     torch.stack([e2 * xw * xb + e1 * xwb, e2 * xb * xb + e1 * xbb], dim=-1)], dim=-2)
    return Surface(x, (s - target) ** 2, grad, H)


def grid(w_range: tuple[float, float], b_range: tuple[float, float], n_w: int, n_b: int,
         dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A (w, b) grid: ``W, B`` of shape ``[n_w, n_b]`` (``indexing="ij"``), ends included; ``dtype`` is
    a floating-point dtype (an integer one would truncate the grid's points)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    _checks.positive_int("n_w", n_w, minimum=2)
    _checks.positive_int("n_b", n_b, minimum=2)
    for name, r in (("w_range", w_range), ("b_range", b_range)):
        if len(r) != 2 or not all(math.isfinite(v) for v in r) or not r[0] < r[1]:
            raise ValueError(f"{name} must be (low, high) with finite low < high, got {r!r}")
    return torch.meshgrid(torch.linspace(*w_range, n_w, dtype=dtype), torch.linspace(*b_range, n_b, dtype=dtype),
                          indexing="ij")


def wall_b(w: torch.Tensor, x0: float = X0_FIG3) -> torch.Tensor:
    """The line b = x_0 − w σ(x_0) on which x_0 is a fixed point of eq. (14) (x_t = x_0 for all t).

    It is a wall (the boundary between two basins of attraction) where α = w σ′(x_0) > 1,
    i.e. for w > 1/σ′(x_0) (see :func:`wall_alpha`).
    """
    _checks.tensor("w", w)
    _checks.finite_float("x0", x0)
    return x0 - w * torch.sigmoid(torch.tensor(float(x0), dtype=w.dtype))


def wall_alpha(w: torch.Tensor, x0: float = X0_FIG3) -> torch.Tensor:
    """α = w σ′(x_0): the factor by which one step of eq. (14) multiplies a perturbation of
    x_0 on the wall, i.e. ∂x_t/∂x_{t−1} there (the α of eq. 13)."""
    _checks.tensor("w", w)
    _checks.finite_float("x0", x0)
    s = torch.sigmoid(torch.tensor(float(x0), dtype=w.dtype))
    return w * s * (1 - s)


def wall_gradient(w: torch.Tensor, T: int = T_FIG3, x0: float = X0_FIG3, target: float = TARGET_FIG3) -> torch.Tensor:
    """∇E_T in closed form at the point (w, wall_b(w)) of the wall:

        ∇E_T = 2(σ(x_0) − y) σ′(x_0) · (α^T − 1)/(α − 1) · (σ(x_0), 1),   α = w σ′(x_0),

    since x_t = x_0 for all t there, so x_w ← σ(x_0) + α x_w and x_b ← 1 + α x_b.
    Its direction (σ(x_0), 1) is the normal of the wall. Returns ``S + [2]``.
    """
    _checks.positive_int("T", T)
    _checks.finite_float("target", target)
    alpha = wall_alpha(w, x0)
    s = torch.sigmoid(torch.tensor(float(x0), dtype=w.dtype))
    geometric = torch.where(alpha == 1, torch.full_like(alpha, float(T)), (alpha**T - 1) / (alpha - 1))
    scale = 2 * (s - target) * s * (1 - s) * geometric
    return torch.stack([scale * s, scale], dim=-1)


def descend(start: torch.Tensor, lr: float, steps: int, threshold: float | None = None, T: int = T_FIG3,
            x0: float = X0_FIG3, target: float = TARGET_FIG3) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient descent on E_T of eq. (14) from several starting points at once.

    θ ← θ − lr · ĝ with ĝ = ∇E_T (plain descent, the solid lines of Fig. 3), or, when
    ``threshold`` is given, ĝ norm-clipped by Algorithm 1 (:func:`reprolib.clipping.clip_by_norm`;
    the dashed arrows of Fig. 3).

    Args:
        start: starting points ``[P, 2]`` as (w, b).
        lr: the learning rate > 0; steps: the number of updates >= 1.
        threshold: the clipping threshold, or None for plain descent.

    Returns:
        ``(path [steps+1, P, 2], grad_norm [steps, P])``, ‖∇E_T‖ before clipping at each step.
    """
    _checks.tensor("start", start, ndim=2)
    if start.shape[0] < 1 or start.shape[1] != 2:
        raise ValueError(f"start must have shape [P, 2] with P >= 1, got {tuple(start.shape)}")
    lr = _checks.positive_float("lr", lr)
    _checks.positive_int("steps", steps)
    if threshold is not None:
        threshold = _checks.positive_float("threshold", threshold)
    path, norms = [start.clone()], []
    for _ in range(steps):
        theta = path[-1]
        g = one_unit_surface(theta[:, 0], theta[:, 1], T, x0, target, hessian=False).grad
        norms.append(torch.linalg.vector_norm(g, dim=-1))
        if threshold is not None:  # Algorithm 1, at the points where it changes ĝ
            for p in torch.nonzero(norms[-1] >= threshold).flatten().tolist():
                clipped, _ = clipping.clip_by_norm({"w": g[p, 0], "b": g[p, 1]}, threshold)
                g[p] = torch.stack([clipped["w"], clipped["b"]])
        path.append(theta - lr * g)
    return torch.stack(path), torch.stack(norms)


# ------------------------------------------------------------ the summary's linear unit
def linear_unit(w: torch.Tensor, x0: float, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summary eq. (12)–(13): eq. (14) with σ the identity and b = 0,

        x_t = x_0 w^t,   ∂x_t/∂w = t x_0 w^(t−1),   ∂²x_t/∂w² = t(t − 1) x_0 w^(t−2).

    Returns ``(x_t, ∂x_t/∂w, ∂²x_t/∂w²)``, each of the shape of ``w``. The ratio of
    curvature to gradient is (t − 1)/w, which grows linearly with t.
    """
    _checks.tensor("w", w)
    _checks.finite_float("x0", x0)
    _checks.positive_int("t", t)
    d2 = t * (t - 1) * x0 * w ** (t - 2) if t >= 2 else torch.zeros_like(w)
    return x0 * w**t, t * x0 * w ** (t - 1), d2


# ------------------------------------------------------------------------- alignment
def leading_eigenpair(H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalue of largest |λ| of symmetric matrices ``[..., n, n]`` and its unit eigenvector.

    Returns ``(lam [...], v [..., n])``.
    """
    _checks.tensor("H", H)
    if H.ndim < 2 or H.shape[-1] != H.shape[-2] or H.shape[-1] < 1:
        raise ValueError(f"H must be a batch of square matrices [..., n, n], got shape {tuple(H.shape)}")
    # symmetric up to rounding errors of H's dtype, relative to each matrix's largest entry
    # (a fixed 1e-10 refused every float32 Hessian)
    rtol = 1e-10 if H.dtype == torch.float64 else 100 * torch.finfo(H.dtype).eps
    scale = H.abs().amax(dim=(-1, -2), keepdim=True)
    if not ((H - H.transpose(-1, -2)).abs() <= rtol * scale).all():
        raise ValueError(f"H must be symmetric (up to {rtol:.0e} of its largest entry)")
    lam, V = torch.linalg.eigh(H)
    i = lam.abs().argmax(dim=-1, keepdim=True)
    return lam.gather(-1, i)[..., 0], V.gather(-1, i[..., None, :].expand(*V.shape[:-1], 1))[..., 0]


def abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos(a, b)| along the last dimension; NaN where a or b is zero."""
    _checks.tensor("a", a)
    _checks.tensor("b", b)
    _checks.same_kind(a=a, b=b)
    if a.shape != b.shape or a.ndim < 1:
        raise ValueError(f"a and b must have the same shape [..., n], got {tuple(a.shape)} and {tuple(b.shape)}")
    na, nb = torch.linalg.vector_norm(a, dim=-1), torch.linalg.vector_norm(b, dim=-1)
    return (a * b).sum(-1).abs() / (na * nb)


def random_cos_median(dim: int) -> float:
    """Median of |cos(g, v)| for v uniform on the sphere of R^dim and g fixed: the alignment of
    a random direction. cos² ~ Beta(1/2, (dim − 1)/2), so the median is sqrt of its median
    (1/√2 in 2-D, ≈ 0.674/√dim for large dim)."""
    _checks.positive_int("dim", dim, minimum=2)
    return math.sqrt(scipy.stats.beta.median(0.5, (dim - 1) / 2))


def alignment_by_gradient(grad_norm: torch.Tensor, cos: torch.Tensor, top: float = 0.1) -> dict[str, float]:
    """Median |cos(∇E, v_max)| in the top fraction ``top`` of ‖∇E‖ and in the rest.

    Points where ``cos`` is NaN (zero gradient) are left out.

    Returns:
        dict with ``"top"``, ``"rest"`` (the two medians), ``"cut"`` (the ‖∇E‖ quantile that
        separates them), ``"n_top"``, ``"n_rest"``.
    """
    _checks.tensor("grad_norm", grad_norm)
    _checks.tensor("cos", cos, finite=False)
    if grad_norm.shape != cos.shape:
        raise ValueError(f"grad_norm and cos must have one shape, got {tuple(grad_norm.shape)} and {tuple(cos.shape)}")
    if not 0 < top < 1:
        raise ValueError(f"top must be a fraction in (0, 1), got {top}")
    keep = ~torch.isnan(cos)
    g, c = grad_norm[keep].flatten().double(), cos[keep].flatten().double()
    if g.numel() < 2:
        raise ValueError("grad_norm must hold at least two points with a non-zero gradient")
    cut = torch.quantile(g, 1 - top)
    hi = g >= cut
    if hi.all():
        raise ValueError("grad_norm is constant: no top fraction exists")
    return {"top": c[hi].median().item(), "rest": c[~hi].median().item(), "cut": cut.item(),
            "n_top": int(hi.sum()), "n_rest": int((~hi).sum())}


# --------------------------------------------------------------- an N-unit network
@dataclass(frozen=True)
class LastStateCost:
    """E(θ) = ‖σ(x_T) − y‖² for the network of eq. (2), as a function of the flattened
    θ = (W_rec, W_in, b) (row-major, in that order), for P parameter points at once.

    The generalization of eq. (14) to N units with an input: x_t = W_rec σ(x_{t−1}) + W_in u_t + b.

    Args:
        u: inputs ``[T, M]`` (shared by all points); x0: initial state ``[N]``;
        y: target ``[N]``; sigma: the nonlinearity (see :data:`reprolib.rnn.SIGMAS`).
    """

    u: torch.Tensor
    x0: torch.Tensor
    y: torch.Tensor
    sigma: str = "tanh"

    def __post_init__(self):
        _checks.tensor("u", self.u, ndim=2)
        _checks.tensor("x0", self.x0, ndim=1)
        _checks.tensor("y", self.y, ndim=1)
        _checks.same_kind(u=self.u, x0=self.x0, y=self.y)
        if self.u.shape[0] < 1:
            raise ValueError("u must hold at least one time step (T >= 1)")
        if self.y.shape != self.x0.shape:
            raise ValueError(f"y must have {self.x0.shape[0]} entries (one per unit), got {tuple(self.y.shape)}")
        activation(self.sigma)

    @property
    def dim(self) -> int:
        """The number of parameters N² + N M + N."""
        N, M = self.x0.shape[0], self.u.shape[1]
        return N * N + N * M + N

    def flatten(self, net: RNN) -> torch.Tensor:
        """θ of ``net`` as a vector ``[dim]``."""
        if not isinstance(net, RNN):
            raise TypeError(f"net must be a reprolib.rnn.RNN, got {type(net).__name__}")
        theta = torch.cat([net.W_rec.flatten(), net.W_in.flatten(), net.b])
        if theta.shape[0] != self.dim:
            raise ValueError(f"net must have {self.x0.shape[0]} units and {self.u.shape[1]} inputs")
        return theta

    def unflatten(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(W_rec [P, N, N], W_in [P, N, M], b [P, N])`` from θ ``[P, dim]``."""
        _checks.tensor("theta", theta, ndim=2)
        if theta.shape[1] != self.dim:
            raise ValueError(f"theta must have shape [P, {self.dim}], got {tuple(theta.shape)}")
        N, M = self.x0.shape[0], self.u.shape[1]
        W_rec, W_in, b = theta.split([N * N, N * M, N], dim=1)
        return W_rec.reshape(-1, N, N), W_in.reshape(-1, N, M), b

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """E(θ_p) for every row of θ ``[P, dim]``; returns ``[P]``."""
        W_rec, W_in, b = self.unflatten(theta)
        _checks.same_kind(theta=theta, u=self.u)
        sigma, _ = activation(self.sigma)
        drive = torch.einsum("pnm,tm->tpn", W_in, self.u) + b  # W_in u_t + b, [T, P, N]
        x = self.x0.expand(theta.shape[0], -1)
        for t in range(self.u.shape[0]):
            x = (W_rec * sigma(x)[:, None, :]).sum(-1) + drive[t]  # W_rec σ(x_{t−1}) per point
        return ((sigma(x) - self.y) ** 2).sum(-1)


def gradient_and_hvp(cost: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor
                     ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """∇E and a Hessian–vector product at each of P independent points.

    ``cost`` maps θ ``[P, D]`` to ``[P]`` with row p depending on θ_p only, so the Hessian of
    Σ_p E(θ_p) is block diagonal and one double backward gives every H_p v_p at once.

    Returns:
        ``(g [P, D], hvp)`` with ``hvp(V)`` = H_p V_p for ``V [P, D]``, or for ``V [k, P, D]``
        (k vectors per point, batched).
    """
    _checks.tensor("theta", theta, ndim=2)
    theta = theta.detach().requires_grad_(True)
    E = cost(theta)
    if E.shape != theta.shape[:1]:
        raise ValueError(f"cost must return one value per row of theta, shape [{theta.shape[0]}], got {tuple(E.shape)}")
    (g,) = torch.autograd.grad(E.sum(), theta, create_graph=True)

    def hvp(V: torch.Tensor) -> torch.Tensor:
        _checks.tensor("V", V, ndim=(2, 3))
        if V.shape[-2:] != theta.shape:
            raise ValueError(f"V must have shape [k,] {tuple(theta.shape)}, got {tuple(V.shape)}")
        if V.ndim == 3:  # one backward per vector: faster here than is_grads_batched (vmap)
            return torch.stack([hvp(v) for v in V])
        return torch.autograd.grad(g, theta, V, retain_graph=True)[0]

    return g.detach(), hvp


def top_eigenpair(hvp: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, int], generator: torch.Generator,
                  iters: int = 100, block: int = 4, dtype=torch.float64, device="cpu"
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigenvalue of largest |λ| of each of P symmetric D × D matrices known through ``hvp``, by
    block power iteration (orthogonal iteration with a Rayleigh–Ritz step).

    Plain power iteration converges like |λ_2/λ_1|^k and not at all when λ_2 = −λ_1, which
    Hessians allow; iterating a block of ``block`` vectors converges like |λ_{block+1}/λ_1|^k
    and separates ±λ pairs. Returns the residual ‖Hv − λv‖/|λ| to judge convergence.

    Args:
        hvp: V ``[block, P, D]`` ↦ H_p V_p (see :func:`gradient_and_hvp`).
        shape: ``(P, D)``.
        generator: the source of the random starting block.
        iters: iterations >= 1; block: the block size, 1 <= block <= D.

    Returns:
        ``(lam [P], v [P, D] unit, residual [P])``.
    """
    _checks.generator("generator", generator)
    _checks.positive_int("iters", iters)
    P, D = shape
    _checks.positive_int("P", P)
    _checks.positive_int("block", block)
    if block > D:
        raise ValueError(f"block must be <= D = {D}, got {block}")
    V = torch.linalg.qr(torch.randn(P, D, block, generator=generator, dtype=dtype).to(device))[0]
    for _ in range(iters):
        V = torch.linalg.qr(hvp(V.permute(2, 0, 1)).permute(1, 2, 0))[0]
    HV = hvp(V.permute(2, 0, 1)).permute(1, 2, 0)  # [P, D, block]
    S = V.transpose(1, 2) @ HV
    lam, Y = torch.linalg.eigh(0.5 * (S + S.transpose(1, 2)))
    i = lam.abs().argmax(dim=1)
    y = Y[torch.arange(P), :, i]  # [P, block]
    lam = lam[torch.arange(P), i]
    v = (V @ y[..., None])[..., 0]
    residual = torch.linalg.vector_norm((HV @ y[..., None])[..., 0] - lam[:, None] * v, dim=1) / lam.abs()
    return lam, v, residual
