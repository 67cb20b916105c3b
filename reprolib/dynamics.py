"""The dynamical-systems view of Pascanu et al. (2013), §2.5 and Fig. 4–6.

The one-unit model of eq. (14), ``x_t = w σ(x_{t−1}) + b``, iterates the map

    F(x) = w σ(x) + b.

Its fixed points x* = F(x*) are stable when |F′(x*)| = |w σ′(x*)| < 1. For a bounded σ
(|σ| ≤ 1) every fixed point lies in [b − |w|, b + |w|], the range of F. As b varies, pairs
of fixed points appear or disappear at saddle-node bifurcations, where also F′(x*) = 1.
The unstable fixed point between two attractors is the boundary between their basins.

For the network of eq. (2) with inputs, the map of step t factors as F_t = U_t ∘ F̃ with
F̃(x) = W_rec σ(x) + b (no input) and U_t(x) = x + W_in u_t (Fig. 6). The functions below
take an :class:`reprolib.rnn.RNN` for that case; its ``unroll`` and ``step_jacobians``
do the iterating.

All computations are in float64.
"""

from __future__ import annotations

import math

import torch

from . import _checks
from .rnn import RNN, activation

D = torch.float64

#: the bounded nonlinearities (|σ| ≤ 1) for which the fixed-point search is exhaustive
BOUNDED = ("sigmoid", "tanh")


def _sigma(sigma: str):
    if sigma not in BOUNDED:
        raise ValueError(f"sigma must be one of {BOUNDED} (a bounded σ), got {sigma!r}")
    return activation(sigma)


def _net(net) -> RNN:
    if not isinstance(net, RNN):
        raise TypeError(f"net must be a reprolib.rnn.RNN, got {type(net).__name__}")
    return net


# ------------------------------------------------------------------ the one-unit model
def one_unit(w: float, b: float = 0.0, sigma: str = "sigmoid") -> RNN:
    """Eq. (14) as an :class:`RNN` with one unit and one input channel of weight 1:
    ``x_t = w σ(x_{t−1}) + u_t + b``. With ``u_t = 0`` it is the autonomous map F; a
    constant ``u_t = β`` shifts the bias to ``b + β``, so a batch of constant inputs
    runs a whole grid of biases at once."""
    w, b = _checks.finite_float("w", w), _checks.finite_float("b", b)
    _sigma(sigma)
    return RNN(torch.tensor([[w]], dtype=D), torch.ones(1, 1, dtype=D), torch.tensor([b], dtype=D), sigma)


def F(x: torch.Tensor, w: float, b: float, sigma: str = "sigmoid") -> torch.Tensor:
    """F(x) = w σ(x) + b, the map of eq. (14), element-wise."""
    _checks.tensor("x", x)
    w, b = _checks.finite_float("w", w), _checks.finite_float("b", b)
    s, _ = _sigma(sigma)
    return w * s(x) + b


def slope(x: torch.Tensor, w: float, sigma: str = "sigmoid") -> torch.Tensor:
    """F′(x) = w σ′(x): at a fixed point, its multiplier (stable when |F′| < 1)."""
    _checks.tensor("x", x)
    w = _checks.finite_float("w", w)
    _, ds = _sigma(sigma)
    return w * ds(x)


def bias_with_fixed_point(x, w: float, sigma: str = "sigmoid"):
    """The bias b = x − w σ(x) for which x is a fixed point of F (solve x = w σ(x) + b).

    Accepts a float or a tensor; as x varies, (b, x) traces every fixed point of Fig. 4.
    (For the sigmoid and a fixed x_0 varying w, this is ``surface.wall_b``.)"""
    if isinstance(x, torch.Tensor):
        return x - F(x, w, 0.0, sigma)
    x = _checks.finite_float("x", x)
    return x - F(torch.tensor(x, dtype=D), w, 0.0, sigma).item()


def _bisect(f, lo: torch.Tensor, hi: torch.Tensor, iters: int = 2200) -> torch.Tensor:
    """Vectorised bisection for roots of f, where f(lo) and f(hi) have opposite signs, until the
    brackets are adjacent floats (at most ~2100 halvings from a bracket as wide as float64's range
    to one around a subnormal root; ordinary brackets stop after ~60)."""
    s_lo = torch.sign(f(lo))
    for _ in range(iters):
        mid = 0.5 * lo + 0.5 * hi  # the same float as 0.5 (lo + hi), without overflow near 1.8e308
        if ((mid == lo) | (mid == hi)).all():  # the brackets are adjacent floats
            break
        right = torch.sign(f(mid)) == s_lo  # the root is in [mid, hi]
        lo, hi = torch.where(right, mid, lo), torch.where(right, hi, mid)
    return 0.5 * lo + 0.5 * hi


def _merge(grid: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
    """Sorted union of grid and special points, without the interior grid points closer to a
    special one than 1e-9 (relative) or a quarter of the grid spacing: two nodes that close could
    both sit in the round-off band of one root. The ends of the grid are always kept."""
    spacing = (grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    for p in special:  # a handful of points
        keep = (grid - p).abs() > torch.minimum(1e-9 * (1 + p.abs()), spacing / 4)
        keep[0] = keep[-1] = True
        grid = grid[keep]
    return torch.cat([grid, special]).unique()


def _sign_roots(f, nodes: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Roots of f at the nodes (v == 0) and, by bisection, inside every interval where f
    changes sign; v = f(nodes) unless given."""
    v = f(nodes) if v is None else v
    i = torch.nonzero(v[:-1].sign() * v[1:].sign() < 0).flatten()  # signs: a product of tiny values underflows to 0
    return torch.cat([nodes[v == 0], _bisect(f, nodes[i], nodes[i + 1])]).sort().values


def fixed_points(w: float, b: float, sigma: str = "sigmoid", n_grid: int = 1001) -> torch.Tensor:
    """All fixed points x* = F(x*) of eq. (14), sorted, in float64.

    Method: g(x) = F(x) − x is positive at b − |w| and negative at b + |w| (|σ| < 1), and
    all roots lie in between. Sign changes of g on an ``n_grid`` grid over that interval
    (widened by 1 on each side, so that it never degenerates) are bracketed and
    refined by bisection. To miss none, the grid is completed with the critical points of
    g (roots of g′ = w σ′ − 1, found the same way; for the sigmoid and tanh g′ is monotone
    on each side of 0, which is therefore added too): between consecutive critical points
    g is monotone and has at most one root. A tangency (a double root, at a saddle-node
    bifurcation) does not change the sign of g: a critical point c with |g(c)| within
    round-off of 0 is reported as one (double) root, and no other root is sought between
    c and its neighbouring nodes (any there would be within √round-off of c).

    Args:
        w, b: the weight and bias of eq. (14).
        sigma: ``"sigmoid"`` or ``"tanh"``.
        n_grid: grid points over [b − |w| − 1, b + |w| + 1], at least 2 (|w| + |b| + 1 must be a
            finite float64).

    Returns:
        the fixed points ``[K]`` in increasing order (K ≥ 1).
    """
    w, b = _checks.finite_float("w", w), _checks.finite_float("b", b)
    _checks.positive_int("n_grid", n_grid, minimum=2)
    s, ds = _sigma(sigma)
    g = lambda x: w * s(x) + b - x  # noqa: E731
    dg = lambda x: w * ds(x) - 1  # noqa: E731
    if not math.isfinite(abs(w) + abs(b) + 1):
        raise ValueError(f"|w| + |b| must be below the largest float64, got w = {w}, b = {b}")
    # b + (|w| + 1)·[-1, 1] (widened: never degenerate); the width 2(|w| + 1) itself could overflow
    grid = b + (abs(w) + 1) * torch.linspace(-1, 1, n_grid, dtype=D)
    zero = torch.zeros(1 if grid[0] < 0 < grid[-1] else 0, dtype=D)
    crit = _sign_roots(dg, _merge(grid, zero))
    nodes = _merge(grid, torch.cat([zero, crit]).unique())
    v = g(nodes)
    # round-off of g(c) = w σ(c) + b − c is relative to its terms (not to |w|: at |w| = 1e20 that
    # tolerance exceeded g at the critical point of the sigmoid's tail and made it a spurious root)
    scale = 1 + (w * s(nodes)).abs() + abs(b) + nodes.abs()
    tangent = torch.isin(nodes, crit) & (v.abs() <= 64 * torch.finfo(D).eps * scale)
    return _sign_roots(g, nodes, torch.where(tangent, 0.0, v))


def saddle_nodes(w: float, sigma: str = "sigmoid") -> tuple[torch.Tensor, torch.Tensor]:
    """The saddle-node bifurcations of eq. (14) in closed form: (b_fold, x_fold).

    At a fold, x = F(x) and F′(x) = w σ′(x) = 1. For the logistic sigmoid σ′ = σ(1 − σ), so
    σ(x) = (1 ± √(1 − 4/w))/2 (needs w > 4); for tanh σ′ = 1 − σ², so σ(x) = ±√(1 − 1/w)
    (needs w > 1). Then b = x − w σ(x).

    Returns:
        ``(b_fold [2], x_fold [2])`` in the paper's order: b_1 > b_2. Decreasing b from +∞, a
        second (lower) attractor appears at b_1 and the upper one disappears at b_2.
    """
    w = _checks.finite_float("w", w)
    _sigma(sigma)
    if sigma == "sigmoid":
        if w <= 4:
            raise ValueError(f"w must be > 4 for the sigmoid (max σ′ = 1/4) to have saddle-nodes, got {w}")
        r = math.sqrt(1 - 4 / w)
        h = torch.tensor([(1 - r) / 2, (1 + r) / 2], dtype=D)
        x = torch.log(h / (1 - h))
    else:
        if w <= 1:
            raise ValueError(f"w must be > 1 for tanh (max σ′ = 1) to have saddle-nodes, got {w}")
        h = torch.tensor([-1.0, 1.0], dtype=D) * math.sqrt(1 - 1 / w)
        x = torch.atanh(h)
    return x - w * h, x


def locate_folds(w: float, bs: torch.Tensor, sigma: str = "sigmoid", n_grid: int = 1001) -> torch.Tensor:
    """The saddle-node bifurcations located numerically, by continuation in b.

    The fixed points are computed at every b of the sweep ``bs``; wherever their number
    changes between neighbours, the b at which a pair appears (or disappears) is refined by
    bisection on the number of fixed points until the bracket is two adjacent floats (the
    number itself changes within round-off of the fold, see :func:`fixed_points`).

    Returns:
        the located b values ``[F]``, in decreasing order (the paper's b_1, b_2, ...).
    """
    _checks.tensor("bs", bs, ndim=1)
    if bs.numel() < 2:
        raise ValueError(f"bs must hold at least 2 biases, got {bs.numel()}")
    bs = bs.to("cpu", D).sort().values
    count = lambda b: fixed_points(w, float(b), sigma, n_grid).numel()  # noqa: E731
    counts = [count(b) for b in bs]
    found = []
    for i in range(len(bs) - 1):
        if counts[i] == counts[i + 1]:
            continue
        lo, hi = float(bs[i]), float(bs[i + 1])
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if count(mid) == counts[i] else (lo, mid)
        found.append(0.5 * (lo + hi))
    return torch.tensor(sorted(found, reverse=True), dtype=D)


def branches(w: float, bs: torch.Tensor, sigma: str = "sigmoid", n_grid: int = 1001) -> dict[str, torch.Tensor]:
    """The bifurcation diagram: fixed points against b, by branch.

    A fixed point is stable when |F′(x*)| < 1. For w > 0 the stable fixed points lie where
    F′ < 1, on either side of the inflection point x = 0 of σ (where F′ is largest): they
    form the ``"lower"`` (x* < 0) and ``"upper"`` (x* > 0) attractors; the others form the
    ``"unstable"`` branch, the basin boundary.

    Returns:
        ``{"lower", "unstable", "upper"}``, each ``[len(bs)]`` with NaN where the branch
        does not exist.
    """
    _checks.tensor("bs", bs, ndim=1)
    if bs.numel() < 1:
        raise ValueError("bs must hold at least one bias")
    out = {k: torch.full((bs.numel(),), float("nan"), dtype=D) for k in ("lower", "unstable", "upper")}
    for i, b in enumerate(bs.tolist()):
        x = fixed_points(w, b, sigma, n_grid)
        stable = slope(x, w, sigma).abs() < 1
        for key, mask in (("lower", stable & (x < 0)), ("upper", stable & (x > 0)), ("unstable", ~stable)):
            if mask.any():
                out[key][i] = x[mask][0]
    return out


# ------------------------------------------------------------ sensitivities in time
def bias_sensitivity(net: RNN, xs: torch.Tensor) -> torch.Tensor:
    """∂x_t/∂b for t = 0..T by forward mode: S_0 = 0, S_t = (∂x_t/∂x_{t−1}) S_{t−1} + I.

    Args:
        net: the network of eq. (2); xs: its states ``[T+1, B, N]`` from ``net.unroll``.

    Returns:
        ``[T+1, B, N, N]``; entry t is ∂x_t/∂b (numerator layout).
    """
    J = _net(net).step_jacobians(xs)
    S = [torch.zeros_like(J[0])]
    eye = torch.eye(net.n_hidden, dtype=xs.dtype, device=xs.device)
    for J_t in J:
        S.append(J_t @ S[-1] + eye)
    return torch.stack(S)


def unroll_over_b(w: float, bs: torch.Tensor, x0, T: int, sigma: str = "sigmoid") -> tuple[torch.Tensor, torch.Tensor]:
    """x_t and ∂x_t/∂b of eq. (14) for t = 0..T, vectorised over a grid of biases.

    Every b of ``bs`` runs as one batch entry of :func:`one_unit` (its constant input is b).

    Args:
        w: the weight; bs: biases ``[B]``; x0: the initial state, a float or one per bias ``[B]``;
        T: the horizon (>= 1).

    Returns:
        ``(xs [T+1, B], dx_db [T+1, B])``.
    """
    _checks.tensor("bs", bs, ndim=1)
    if bs.numel() < 1:
        raise ValueError("bs must hold at least one bias")
    if isinstance(x0, torch.Tensor):
        _checks.tensor("x0", x0, ndim=1)
        if x0.shape != bs.shape:
            raise ValueError(f"x0 must be a float or have the shape of bs {tuple(bs.shape)}, got {tuple(x0.shape)}")
        x0 = x0.to(bs.device, D)[:, None]
    else:
        x0 = torch.full((bs.numel(), 1), _checks.finite_float("x0", x0), dtype=D, device=bs.device)
    _checks.positive_int("T", T)
    net = one_unit(w, 0.0, sigma)
    net = RNN(*(p.to(bs.device) for p in net.parameters().values()), sigma)
    xs = net.unroll(bs.to(D)[None, :, None].expand(T, -1, 1), x0)
    return xs[..., 0], bias_sensitivity(net, xs)[..., 0, 0]


def locate_spike(w: float, x0: float, t: int, bs: torch.Tensor, sigma: str = "sigmoid", n_zoom: int = 65) -> float:
    """The b at which x_t(b) of eq. (14) changes fastest: the peak of |∂x_t/∂b|.

    Starts from the interval of ``bs`` with the largest jump |x_t(b_{i+1}) − x_t(b_i)| and
    zooms in: the interval and its two neighbours are resampled with ``n_zoom`` points,
    until they are a few floats wide. A spike narrower than the spacing of ``bs`` is found
    as long as the jump of x_t across it is the largest one.
    """
    _checks.tensor("bs", bs, ndim=1)
    if bs.numel() < 2:
        raise ValueError(f"bs must hold at least 2 biases, got {bs.numel()}")
    _checks.positive_int("n_zoom", n_zoom, minimum=4)
    grid = bs.to("cpu", D).sort().values
    for _ in range(60):
        xt = unroll_over_b(w, grid, x0, t, sigma)[0][-1]
        i = int((xt[1:] - xt[:-1]).abs().argmax())
        lo, hi = grid[max(i - 1, 0)].item(), grid[min(i + 2, grid.numel() - 1)].item()
        if hi - lo <= 8 * math.ulp(max(abs(lo), abs(hi))):
            break
        grid = torch.linspace(lo, hi, n_zoom, dtype=D)
    return grid[i : i + 2].mean().item()


# ------------------------------------------------------------------ n-unit networks
def fixed_points_nd(net: RNN, n_per_axis: int = 21, iters: int = 60, tol: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed points of the autonomous map F̃(x) = W_rec σ(x) + b of eq. (2), by Newton's method.

    Since |σ| ≤ 1, every fixed point lies in the box |x_i − b_i| ≤ Σ_j |W_rec[i, j]|. Newton
    steps on F̃(x) − x start from an ``n_per_axis``^N grid over that box; the converged
    points (residual < ``tol``) are merged when closer than 1e-7.

    Returns:
        ``(points [K, N], multipliers [K, N])``: the fixed points and the eigenvalues of the
        Jacobian W_rec diag(σ′(x*)) at each, sorted by decreasing modulus (complex).
        A point is an attractor when all |multipliers| < 1.
    """
    _net(net)
    _sigma(net.sigma)
    _checks.positive_int("n_per_axis", n_per_axis, minimum=2)
    _checks.positive_int("iters", iters)
    _checks.positive_float("tol", tol)
    N, W, b = net.n_hidden, net.W_rec.detach(), net.b.detach()
    if n_per_axis**N > 10**6:
        raise ValueError(f"n_per_axis ** N = {n_per_axis}^{N} starting points is too many (max 1e6)")
    r = W.abs().sum(1)
    axes = [torch.linspace(-1, 1, n_per_axis, dtype=W.dtype, device=W.device) * r[i] + b[i] for i in range(N)]
    x = torch.cartesian_prod(*axes).reshape(-1, N)
    u0 = torch.zeros(1, x.shape[0], net.n_in, dtype=W.dtype, device=W.device)
    eye = torch.eye(N, dtype=W.dtype, device=W.device)
    for _ in range(iters):
        xs = net.unroll(u0, x).detach()
        step, _ = torch.linalg.solve_ex(net.step_jacobians(xs)[0] - eye, (xs[1] - x)[..., None])
        x = x - step[..., 0]
        x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # a singular step restarts at 0
    xs = net.unroll(u0, x).detach()
    ok = (xs[1] - x).norm(dim=1) < tol
    points = []
    for p in x[ok]:
        if all((p - q).norm() > 1e-7 for q in points):
            points.append(p)
    if not points:
        raise ValueError("Newton's method converged from none of the starting points; increase n_per_axis or iters")
    P = torch.stack(points)
    P = P[torch.argsort(P[:, 0])]
    J = net.step_jacobians(net.unroll(u0[:, : len(P)], P).detach())[0]
    mu = torch.linalg.eigvals(J)
    mu = torch.gather(mu, 1, torch.argsort(mu.abs(), dim=1, descending=True))
    return P, mu


def nearest_attractor(x: torch.Tensor, attractors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the attractor nearest to each state, and the distance to it.

    Args:
        x: states ``[B, N]``; attractors: ``[K, N]`` shared, or ``[B, K, N]`` one set per state.
    """
    _checks.tensor("x", x, ndim=2)
    _checks.tensor("attractors", attractors, ndim=(2, 3))
    _checks.same_kind(x=x, attractors=attractors)
    if attractors.shape[-1] != x.shape[1] or (attractors.ndim == 3 and attractors.shape[0] != x.shape[0]):
        raise ValueError(f"attractors must have shape [K, {x.shape[1]}] or [{x.shape[0]}, K, {x.shape[1]}], "
                         f"got {tuple(attractors.shape)}")
    A = attractors if attractors.ndim == 3 else attractors.expand(x.shape[0], -1, -1)
    dist, label = (x[:, None, :] - A).norm(dim=-1).min(dim=1)
    return label, dist


def final_attractor(net: RNN, x0: torch.Tensor, attractors: torch.Tensor, T_settle: int,
                    u: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The attractor a state ends on: run the inputs ``u`` (if any), then ``T_settle`` steps of
    the autonomous map F̃ (zero input), then :func:`nearest_attractor`.

    Args:
        net: the network; x0: initial states ``[B, N]``; attractors: ``[K, N]`` or ``[B, K, N]``;
        T_settle: autonomous steps (>= 0); u: inputs ``[T, B, M]`` or None.

    Returns:
        ``(label [B], distance to that attractor [B])``; a small distance means converged.
    """
    _net(net)
    _checks.tensor("x0", x0, ndim=2)
    _checks.positive_int("T_settle", T_settle, minimum=0)
    x = x0 if u is None else net.unroll(u, x0)[-1]
    for done in range(0, T_settle, 50):  # in chunks: unroll keeps every state
        steps = min(50, T_settle - done)
        x = net.unroll(torch.zeros(steps, x.shape[0], net.n_in, dtype=x.dtype, device=x.device), x)[-1]
    return nearest_attractor(x.detach(), attractors)


def switch_points(net: RNN, u: torch.Tensor, x_a: torch.Tensor, x_b: torch.Tensor, attractors: torch.Tensor,
                  T_settle: int = 0, n_zoom: int = 33) -> torch.Tensor:
    """Where, on the segment x_0(s) = x_a + s (x_b − x_a), the final attractor changes.

    For each input sequence u[:, j], :func:`final_attractor` is evaluated on ``n_zoom`` points
    of the current interval of s; the first change is bracketed and resampled until the
    bracket is a few floats wide. In one dimension every F_t is increasing, hence so is
    x_0 ↦ x_T, and the switch is unique: it is the basin boundary of the input-driven system.

    Args:
        net: the network; u: inputs ``[T, B, M]``; x_a, x_b: ``[N]`` or ``[B, N]``, ending on
            different attractors; attractors: ``[K, N]`` or ``[B, K, N]``; T_settle: see
            :func:`final_attractor`.

    Returns:
        s at the switch, ``[B]``, in [0, 1].
    """
    _net(net)
    _checks.tensor("u", u, ndim=3)
    _checks.positive_int("n_zoom", n_zoom, minimum=3)
    T, B, _ = u.shape
    x_a, x_b = (_checks.tensor(n, v, ndim=(1, 2)).expand(B, net.n_hidden) for n, v in (("x_a", x_a), ("x_b", x_b)))
    _checks.tensor("attractors", attractors, ndim=(2, 3))

    def labels(s):  # s [B, n] -> final attractor from x_0(s), [B, n]
        n = s.shape[1]
        x0 = (x_a[:, None] + s[..., None] * (x_b - x_a)[:, None]).reshape(B * n, -1)
        A = attractors.repeat_interleave(n, dim=0) if attractors.ndim == 3 else attractors
        return final_attractor(net, x0, A, T_settle, u.repeat_interleave(n, dim=1))[0].reshape(B, n)

    ends = labels(torch.tensor([[0.0, 1.0]], dtype=u.dtype, device=u.device).expand(B, 2))
    if (ends[:, 0] == ends[:, 1]).any():
        raise ValueError("x_a and x_b end on the same attractor for some input sequence: no switch to locate")
    lo = torch.zeros(B, dtype=u.dtype, device=u.device)
    hi = torch.ones_like(lo)
    frac = torch.linspace(0, 1, n_zoom, dtype=u.dtype, device=u.device)
    for _ in range(40):
        s = lo[:, None] + (hi - lo)[:, None] * frac
        s[:, -1] = hi  # the ends stay exact: label(lo) = label(x_a), label(hi) differs
        other = labels(s) != ends[:, :1]
        other[:, 0], other[:, -1] = False, True
        j = other.to(torch.int64).argmax(dim=1)  # first sample past the switch
        lo, hi = s.gather(1, (j - 1)[:, None])[:, 0], s.gather(1, j[:, None])[:, 0]
        if (hi - lo <= 4 * torch.finfo(u.dtype).eps).all():
            break
    return 0.5 * (lo + hi)
