"""The nonlinear case of Pascanu et al. (2013), §2.3, eq. (9)–(13).

A one-step Jacobian J_i = ∂x_i/∂x_{i−1} = W_rec diag(σ′(x_{i−1})) *expands* a direction v
by α > 1 (eq. 9) or belongs to the set P of non-expanding Jacobians, which shrink v by no
less than β > 0 (eq. 10). With a lower bound γ_k on what ∂⁺x_k/∂θ keeps of v (eq. 11) and
the coordinate c_1 of ∂E_t/∂x_t along v (eq. 12), a temporal contribution is bounded below
by C_k α^{l−|P|}, C_k = γ_k β^{|P|} |c_1| (eq. 13).

Eq. (9) read literally ("for all u") is never satisfied in two or more dimensions (see
:func:`eq9_witnesses`). The measurable reading used here carries v along the trajectory:

    v_k = v,   α_i = ‖J_i v_{i−1}‖,   v_i = J_i v_{i−1} / α_i          (i = k+1, ..., t)

so that ∂x_t/∂x_k v = (Π_i α_i) v_t exactly, and every inequality of eq. (13) becomes an
identity up to the last one, Π_i α_i ≥ β^{|P|} α^{l−|P|}. For a v that is an eigenvector of
every J_i this is eq. (9) with "≥".

Shapes follow :mod:`reprolib.rnn`: step Jacobians ``[L, B, N, N]`` (entry i−1 is J_i) as
returned by :meth:`RNN.step_jacobians`, vectors ``[B, N]``.
"""

from __future__ import annotations

import math

import torch

from . import _checks, linear
from .rnn import GAMMA, RNN, activation


def _check_jacobians(J: torch.Tensor, vec: torch.Tensor, vec_name: str) -> None:
    _checks.tensor("J", J, ndim=4)
    _checks.tensor(vec_name, vec, ndim=2)
    _checks.same_kind(J=J, **{vec_name: vec})
    L, B, N, N2 = J.shape
    if L < 1 or N != N2:
        raise ValueError(f"J must have shape [L, B, N, N] with L >= 1, got {tuple(J.shape)}")
    if vec.shape != (B, N):
        raise ValueError(f"{vec_name} must have shape {(B, N)}, got {tuple(vec.shape)}")
    if (torch.linalg.vector_norm(vec, dim=1) == 0).any():
        raise ValueError(f"{vec_name} must be non-zero")


def expansion_factors(J: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The factors α_i = ‖J_i v_{i−1}‖ by which each Jacobian stretches the carried direction
    (the book's reading of eq. 9–10 of Pascanu et al.).

    Args:
        J: one-step Jacobians ``[L, B, N, N]`` in time order (J[i−1] = J_{k+i}).
        v: the starting direction ``[B, N]`` (column vectors, normalised here).

    Returns:
        ``(alphas [L, B], directions [L+1, B, N])`` with ``directions[0] = v/‖v‖`` and
        ``J_{k+i} directions[i−1] = alphas[i−1] directions[i]``.
    """
    _check_jacobians(J, v, "v")
    d = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
    alphas, dirs = [], [d]
    for Ji in J:
        w = (Ji @ d.unsqueeze(-1)).squeeze(-1)
        a = torch.linalg.vector_norm(w, dim=1)
        if (a == 0).any():
            raise ValueError("J maps the carried direction to zero: its expansion factor is 0")
        alphas.append(a)
        d = w / a.unsqueeze(-1)
        dirs.append(d)
    return torch.stack(alphas), torch.stack(dirs)


def backward_log_norms(J: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """log ‖g · J_t J_{t−1} ⋯ J_{t−l+1}‖ for l = 0..L: the back-propagated error
    ∂E_t/∂x_t · ∂x_t/∂x_{t−l} of eq. (5), renormalised at every step so that no horizon
    overflows or underflows.

    Args:
        J: one-step Jacobians ``[L, B, N, N]`` in time order; the last one is J_t.
        g: the row vector ∂E_t/∂x_t, ``[B, N]``.

    Returns:
        ``[L+1, B]``; entry l is log ‖∂E_t/∂x_t · ∂x_t/∂x_{t−l}‖.
    """
    _check_jacobians(J, g, "g")
    norm = torch.linalg.vector_norm(g, dim=1)
    logs, d = [norm.log()], g / norm.unsqueeze(-1)
    for Ji in J.flip(0):
        w = (d.unsqueeze(-2) @ Ji).squeeze(-2)
        n = torch.linalg.vector_norm(w, dim=1)
        if (n == 0).any():
            raise ValueError("the back-propagated error became exactly zero; no growth rate exists")
        logs.append(logs[-1] + n.log())
        d = w / n.unsqueeze(-1)
    return torch.stack(logs)


def long_term_growth_rate(net: RNN, u: torch.Tensor, x0: torch.Tensor, g: torch.Tensor, washout: int = 0) -> torch.Tensor:
    """The exponential growth rate r of ‖∂E_t/∂x_t · ∂x_t/∂x_{t−l}‖ ∝ e^{r l} (eq. 5) on the
    trajectory driven by ``u``: the least-squares slope over l = 0..T − washout, t = T.

    The first ``washout`` steps (the transient from x0) are left out. r > 0 means that the
    long-term contributions grow; since ∂⁺x_k/∂θ is bounded for eq. (2), the temporal
    contributions of eq. (4) grow at the same rate.

    Returns:
        ``[B]``, one rate per input sequence.
    """
    _checks.positive_int("washout", washout, minimum=0)
    if washout > u.shape[0] - 2:
        raise ValueError(f"washout must leave at least 2 steps of u (T = {u.shape[0]}), got {washout}")
    J = net.step_jacobians(net.unroll(u, x0))[washout:]
    logs = backward_log_norms(J, g)
    return torch.tensor([linear.growth_rate(logs[:, b]) for b in range(logs.shape[1])], dtype=logs.dtype)


def expansion_bound(alphas: torch.Tensor) -> dict[str, torch.Tensor]:
    """The factors of eq. (13) for every k < t, from the expansion factors of one trajectory.

    ``alphas[i−1]`` = α_i for i = 1..t. For k = 0..t−1 (l = t − k) the Jacobians J_{k+1..t}
    are split into expanding ones (α_i > 1) and the set P (α_i ≤ 1, eq. 10), and

        α = min_{i∉P} α_i,   β = min_{i∈P} α_i,   Π_i α_i ≥ β^{|P|} α^{l−|P|}.

    Args:
        alphas: positive factors ``[t]``.

    Returns:
        a dict of ``[t]`` tensors indexed by k: ``"l"``, ``"P"`` (|P|), ``"alpha"``,
        ``"beta"`` (NaN when there is no such Jacobian), ``"log_bound"``
        (|P| log β + (l − |P|) log α) and ``"log_product"`` (Σ log α_i).
    """
    _checks.tensor("alphas", alphas, ndim=1)
    if alphas.numel() < 1 or (alphas <= 0).any():
        raise ValueError("alphas must hold at least one factor, all > 0")
    inf = torch.full_like(alphas, math.inf)
    expanding = alphas > 1
    rev = lambda x: x.flip(0)  # suffix (k+1..t) statistics as prefix statistics of the reversal
    alpha = rev(torch.cummin(rev(torch.where(expanding, alphas, inf)), 0).values)
    beta = rev(torch.cummin(rev(torch.where(expanding, inf, alphas)), 0).values)
    P = rev(torch.cumsum(rev((~expanding).to(alphas.dtype)), 0))
    l = torch.arange(alphas.numel(), 0, -1, dtype=alphas.dtype, device=alphas.device)
    log_bound = torch.where(P > 0, P * beta.log(), 0.0) + torch.where(l - P > 0, (l - P) * alpha.log(), 0.0)
    nan = torch.full_like(alphas, math.nan)
    return {"l": l, "P": P, "alpha": torch.where(alpha < math.inf, alpha, nan),
            "beta": torch.where(beta < math.inf, beta, nan), "log_bound": log_bound,
            "log_product": rev(torch.cumsum(rev(alphas.log()), 0))}


def eq13_terms(net: RNN, u: torch.Tensor, x0: torch.Tensor, dE_dxt: torch.Tensor, v: torch.Tensor,
               washout: int = 1) -> dict[str, torch.Tensor]:
    """Every term of the chain of eq. (13) for θ = W_rec and the cost E_t at t = T, for
    k = washout..T−1 (l = T − k), on one trajectory (batch size 1).

    With v carried along the trajectory from step 0 (v_k its direction at step k, see
    :func:`expansion_factors`) and the parameter direction V_k = v_k σ̂(x_{k−1})ᵀ:

        ‖g_k‖_F ≥ |g_k · V_k| = γ_k |δ_k v_k| = γ_k |c_1| Π_{i=k+1}^{t} α_i ≥ C_k α^{l−|P|},

    where g_k is the temporal contribution of eq. (4), δ_k = ∂E_t/∂x_t · ∂x_t/∂x_k,
    c_1 = ∂E_t/∂x_t · v_t (eq. 12) and C_k = γ_k β^{|P|} |c_1|.

    Returns:
        a dict of ``[T − washout]`` tensors ordered by k: ``"l"``; the logs
        ``"log_contribution"`` (log ‖g_k‖_F, from :meth:`RNN.temporal_contributions`),
        ``"log_along_v"`` (log γ_k |δ_k v_k|, from :meth:`RNN.backprop`),
        ``"log_product"`` (log γ_k |c_1| Π α_i), ``"log_bound"`` (log C_k α^{l−|P|}),
        ``"log_C"``, ``"log_gamma"``; ``"P"``, ``"alpha"``, ``"beta"`` as in
        :func:`expansion_bound`; and ``"cos"``, |cos| between δ_k and v_k.
    """
    _checks.positive_int("washout", washout, minimum=1)  # γ_k needs σ(x_{k−1}), so k >= 1
    _checks.tensor("u", u, ndim=3)
    T = u.shape[0]
    if u.shape[1] != 1:
        raise ValueError(f"u must hold a single sequence (batch 1), got batch {u.shape[1]}")
    if washout >= T:
        raise ValueError(f"washout must be < T = {T}, got {washout}")
    xs = net.unroll(u, x0)
    alphas, dirs = expansion_factors(net.step_jacobians(xs), v)
    bound = expansion_bound(alphas[washout:, 0])
    k = torch.arange(washout, T, device=u.device)
    delta = net.backprop(xs, dE_dxt)[k, 0]
    along = (delta * dirs[k, 0]).sum(dim=-1).abs()
    log_gamma = gamma_k(net, xs)[k - 1, 0].log()
    log_c1 = (dE_dxt[0] @ dirs[T, 0]).abs().log()
    contribution = net.temporal_contributions(u, x0, dE_dxt)["W_rec"][k - 1]
    log_beta_P = torch.where(bound["P"] > 0, bound["P"] * bound["beta"].log(), 0.0)
    return {
        "l": bound["l"],
        "log_contribution": torch.linalg.matrix_norm(contribution).log(),
        "log_along_v": log_gamma + along.log(),
        "log_product": log_gamma + log_c1 + bound["log_product"],
        "log_bound": log_gamma + log_c1 + bound["log_bound"],
        "log_C": log_gamma + log_c1 + log_beta_P,
        "log_gamma": log_gamma,
        "P": bound["P"], "alpha": bound["alpha"], "beta": bound["beta"],
        "cos": along / torch.linalg.vector_norm(delta, dim=-1),
    }


def gamma_k(net: RNN, xs: torch.Tensor) -> torch.Tensor:
    """γ_k of eq. (11) for θ = W_rec: ‖σ(x_{k−1})‖, for k = 1..T.

    ∂⁺x_k/∂W_rec maps a parameter direction ΔW to ΔW σ(x_{k−1}); along ΔW = v σ̂ᵀ
    (σ̂ = σ(x_{k−1})/‖σ(x_{k−1})‖) it gives ‖σ(x_{k−1})‖ v, so eq. (11) holds for every u
    with equality. It is also the operator norm of ∂⁺x_k/∂W_rec.

    Returns:
        ``[T, B]``; entry k−1 is γ_k.
    """
    net._check_states(xs)
    sigma, _ = activation(net.sigma)
    return torch.linalg.vector_norm(sigma(xs[:-1]), dim=-1)


def immediate_norms(net: RNN, xs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Frobenius norms of the immediate derivative with respect to W_rec, in both
    parametrizations of the same network, for k = 1..T:

    * ``"x"``: eq. (2), ‖∂⁺x_k/∂W_rec‖_F = √N ‖σ(x_{k−1})‖;
    * ``"h"``: h_k = σ(W_rec h_{k−1} + W_in u_k + b), ‖∂⁺h_k/∂W_rec‖_F = ‖σ′(x_k)‖ ‖σ(x_{k−1})‖.

    The two give the same temporal contribution δ_k ⊗ σ(x_{k−1}); they differ in where
    the factor σ′(x_k) sits (in J_{k+1} for eq. 2, in ∂⁺h_k/∂θ for the h-form).

    Returns:
        ``{"x": [T, B], "h": [T, B]}``.
    """
    net._check_states(xs)
    sigma, dsigma = activation(net.sigma)
    h_prev = torch.linalg.vector_norm(sigma(xs[:-1]), dim=-1)
    return {"x": math.sqrt(net.n_hidden) * h_prev, "h": torch.linalg.vector_norm(dsigma(xs[1:]), dim=-1) * h_prev}


def saturated_fraction(sigma: str, xs: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """The fraction of units whose slope σ′(x) is below ``threshold`` · γ (γ = max σ′).

    Args:
        sigma: ``"tanh"`` or ``"sigmoid"``; xs: states ``[..., N]``.

    Returns:
        ``xs.shape[:-1]``.
    """
    _checks.tensor("xs", xs)
    _checks.positive_float("threshold", threshold)
    _, dsigma = activation(sigma)
    return (dsigma(xs) < threshold * GAMMA[sigma]).to(xs.dtype).mean(dim=-1)


def eq9_witnesses(J: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit vectors u that violate eq. (9), |uᵀ J v| > α |uᵀ v|, for every α > 0.

    * ``u_both`` is orthogonal to v and to J v (needs N ≥ 3): both sides are 0, and the
      strict inequality 0 > 0 fails;
    * ``u_image`` is orthogonal to J v only, and as close to v as possible: the left side is
      0 and the right side α |uᵀ v| > 0. It exists unless v is an eigenvector of J (then
      a ValueError is raised: eq. 9 with "≥" holds there for every α ≤ |λ|).

    Args:
        J: a square matrix ``[N, N]``; v: a direction ``[N]``.
    """
    _checks.square("J", J)
    _checks.tensor("v", v, ndim=1)
    _checks.same_kind(J=J, v=v)
    N = J.shape[0]
    if N < 3:
        raise ValueError(f"J must be at least 3 x 3 for a u orthogonal to both v and J v, got {N} x {N}")
    if v.shape[0] != N or torch.linalg.vector_norm(v) == 0:
        raise ValueError(f"v must be a non-zero vector with {N} entries")
    Jv = J @ v
    if torch.linalg.vector_norm(Jv) == 0:
        raise ValueError("J must not map v to zero")
    Q = torch.linalg.svd(torch.stack([v, Jv]), full_matrices=True).Vh  # rows 2.. span {v, Jv}^⊥
    n = Jv / torch.linalg.vector_norm(Jv)
    u_image = v - (v @ n) * n
    if torch.linalg.vector_norm(u_image) <= 1e-12 * torch.linalg.vector_norm(v):
        raise ValueError("v is an eigenvector of J: eq. (9) with '>=' holds for |λ| >= α, and only u_both violates '>'")
    return Q[2], u_image / torch.linalg.vector_norm(u_image)


def sigmoid_as_tanh(net: RNN) -> RNN:
    """The tanh network whose states are y_t = x_t / 2 for a sigmoid network ``net``.

    σ(x) = ½ + ½ tanh(x/2) turns x_t = W σ(x_{t−1}) + W_in u_t + b into
    y_t = (W/4) tanh(y_{t−1}) + (W_in/2) u_t + (b/2 + W𝟙/4). Both have the same one-step
    Jacobians, W diag(σ′(x)) = (W/4) diag(tanh′(y)): the sigmoid's ρ(W) > 4 is the tanh's
    ρ(W/4) > 1, and a sigmoid network carries the extra bias W𝟙/4.
    """
    if net.sigma != "sigmoid":
        raise ValueError(f"net must be a sigmoid network, got sigma={net.sigma!r}")
    return RNN(net.W_rec / 4, net.W_in / 2, net.b / 2 + net.W_rec.sum(dim=1) / 4, "tanh")


def non_normal_matrix(N: int, rho: float, s: float, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """W = Q (Λ + s U/√N) Qᵀ: spectral radius exactly ``rho``, non-normal when s > 0.

    Λ is diagonal with λ_1 = ρ and the other entries uniform in (−ρ, ρ); U is strictly upper
    triangular with standard normal entries; Q is a random orthogonal matrix. The
    eigenvalues are those of Λ, while ‖W‖₂ grows like s.
    """
    _checks.positive_int("N", N, minimum=2)
    _checks.positive_float("rho", rho)
    _checks.positive_float("s", s, strict=False)
    _checks.generator("generator", generator)
    lam = torch.empty(N, dtype=dtype).uniform_(-rho, rho, generator=generator)
    lam[0] = rho
    U = torch.triu(torch.randn(N, N, generator=generator, dtype=dtype), diagonal=1)
    Q, R = torch.linalg.qr(torch.randn(N, N, generator=generator, dtype=dtype))
    Q = Q * torch.sign(torch.diagonal(R))  # Haar-distributed
    return Q @ (torch.diag(lam) + s * U / math.sqrt(N)) @ Q.T


def driven_network(W_rec: torch.Tensor, sigma: str, M: int, generator: torch.Generator,
                   input_scale: float = 1.0, bias_scale: float = 0.0, centred: bool = False) -> RNN:
    """A network of eq. (2) around a given W_rec, with random W_in ~ N(0, input_scale²/M)
    and b ~ N(0, bias_scale²).

    ``centred=True`` (sigmoid only) subtracts W_rec𝟙/2, the drive of the sigmoid's mean
    output ½, so that the units operate around σ′ = γ (see :func:`sigmoid_as_tanh`).
    """
    _checks.square("W_rec", W_rec)
    activation(sigma)
    _checks.positive_int("M", M)
    _checks.generator("generator", generator)
    _checks.positive_float("input_scale", input_scale, strict=False)
    _checks.positive_float("bias_scale", bias_scale, strict=False)
    if centred and sigma != "sigmoid":
        raise ValueError(f"centred applies to the sigmoid only, got sigma={sigma!r}")
    N = W_rec.shape[0]
    W_in = input_scale * torch.randn(N, M, generator=generator, dtype=W_rec.dtype) / math.sqrt(M)
    b = bias_scale * torch.randn(N, generator=generator, dtype=W_rec.dtype)
    W_in, b = W_in.to(W_rec.device), b.to(W_rec.device)
    if centred:
        b = b - W_rec.sum(dim=1) / 2
    return RNN(W_rec, W_in, b, sigma)
