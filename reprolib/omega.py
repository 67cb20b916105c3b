"""The regularizer Ω of Pascanu et al. (2013), supp. §2.2, eq. (5), and its weight α.

Ω asks each one-step Jacobian to keep the norm of the error signal that it carries back
in time. The supplement's eq. (5) uses squared norms. In the book's layout (row-vector
gradients acting from the left, numerator-layout Jacobians, see the Notation page) it reads

    Ω = Σ_k Ω_k,   Ω_k = ( ‖δ_{k+1} ∂x_{k+1}/∂x_k‖² / ‖δ_{k+1}‖² − 1 )²,        (supp. eq. 5)

with δ_{k+1} = ∂E/∂x_{k+1} the *total* derivative (every later cost, through the recurrence)
and ∂x_{k+1}/∂x_k = W_rec diag(σ′(x_k)), so the numerator is ‖(δ_{k+1} W_rec) ⊙ σ′(x_k)‖².
The summary's eq. (15) writes the same ratio with plain norms (``norms="plain"``).

The original code writes the network with the post-activation h_t = σ(x_t) as its state
(row vectors, h_t = σ(h_{t−1} W_hh + …), W_hh = W_recᵀ) and applies eq. (5) to that state.
With g_k = ∂E/∂h_k (total) it computes

    num = ‖(g_{k+1} ⊙ σ′(x_{k+1})) W_hhᵀ‖² = ‖g_{k+1} ∂h_{k+1}/∂h_k‖²,   ∂h_{k+1}/∂h_k = diag(σ′(x_{k+1})) W_rec,
    den = ‖g_{k+1}‖²                                                      (``form="h"``).

Since δ_{k+1} = g_{k+1} ⊙ σ′(x_{k+1}), the code's ratio is ‖δ_{k+1} W_rec‖² / ‖g_{k+1}‖², while
eq. (5) for the state x of eq. (2) is ‖δ_{k+1} W_rec diag(σ′(x_k))‖² / ‖δ_{k+1}‖² (``form="x"``,
the default). The two agree when σ is the identity and differ otherwise (Deviations, C2).

Both forms have k = 0..T−1 (T ratios per sequence). As in the code, a term whose
‖∂E/∂s_{k+1}‖² is below ``bound`` = 1e-20 counts as ratio 1, and the result is normalised
by the number of included terms (``reduction="mean"``):

    Ω = Σ_k mean_b[(r_kb − 1)²] / Σ_k mean_b[1{den_kb ≥ bound}]
      = the mean of (r − 1)² over the included pairs (k, b).

``reduction="sum"`` gives Σ_k mean_b[(r_kb − 1)²], the sum of eq. (5) averaged over the batch.

Only the *immediate* derivative ∂⁺Ω/∂W_rec is used for training (supp. §2.2): ∂E/∂s and the
states are held constant, and the result is added, times α, to the gradient of W_rec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import _checks
from .rnn import RNN, activation

#: which state eq. (5) is applied to: "x" (pre-activation, eq. 2, the paper) or "h" (σ(x), the original code)
FORMS = ("x", "h")
#: "squared" (supp. eq. 5 and the original code) or "plain" (summary eq. 15)
NORMS = ("squared", "plain")
#: "mean" over the included terms (original code) or "sum" over k of the batch mean (eq. 5)
REDUCTIONS = ("mean", "sum")
#: terms with ‖∂E/∂s_{k+1}‖² < BOUND are left out (supp. §2.2)
BOUND = 1e-20


# --------------------------------------------------------------------------- δ_k
def total_state_gradients(rnn: RNN, u: torch.Tensor, x0: torch.Tensor,
                          cost: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The total derivatives δ_k = ∂E/∂x_k and g_k = ∂E/∂h_k, k = 0..T, of a cost E.

    "Total" means through every path: the cost at step k and, through the recurrence of
    eq. (2), every later cost. They satisfy δ_k = g_k ⊙ σ′(x_k) and
    g_k = δ_{k+1} W_rec + ∂⁺E/∂h_k, the recursion of :meth:`RNN.backprop`.

    The network is unrolled one step at a time and autograd is asked for the gradient
    with respect to each step's own tensor. Differentiating with respect to a *stacked*
    copy of the states (``autograd.grad(E, torch.stack(states))``) would give only the
    immediate ∂⁺E/∂x_k, which is zero before the last step for a last-step cost.

    Args:
        rnn: the network; its parameters are held constant (detached).
        u: inputs ``[T, B, M]``.
        x0: initial state ``[B, N]`` or ``[N]``.
        cost: maps the hidden states ``hs = σ(xs)``, ``[T+1, B, N]``, to the scalar E (as the
            original code's output heads, which read h_t).

    Returns:
        ``(xs, dE_dx, dE_dh)``, each ``[T+1, B, N]`` and detached: the states of
        :meth:`RNN.unroll`, δ_k and g_k.
    """
    if not isinstance(rnn, RNN):
        raise TypeError(f"rnn must be a reprolib.rnn.RNN, got {type(rnn).__name__}")
    if not callable(cost):
        raise TypeError(f"cost must be a callable hs -> scalar tensor, got {type(cost).__name__}")
    x = rnn._check_inputs(u, x0)
    sigma, _ = activation(rnn.sigma)
    W_rec, W_in, b = (p.detach() for p in (rnn.W_rec, rnn.W_in, rnn.b))
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        drive = u @ W_in.T + b
        xs, hs = [x], []
        for t in range(u.shape[0]):  # eq. (2), keeping every x_k and h_k = σ(x_k) as its own node
            h = sigma(x)
            hs.append(h)
            x = h @ W_rec.T + drive[t]
            xs.append(x)
        hs.append(sigma(x))
        E = cost(torch.stack(hs))
        if not isinstance(E, torch.Tensor) or E.numel() != 1:
            raise ValueError("cost must return a scalar tensor")
        grads = torch.autograd.grad(E.reshape(()), xs + hs, allow_unused=True, materialize_grads=True)
    T1 = len(xs)
    return torch.stack(xs).detach(), torch.stack(grads[:T1]), torch.stack(grads[T1:])


# --------------------------------------------------------------------------- Ω
def _check(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak=None, finite=True) -> None:
    """The arguments of Ω for one network (``W_rec [N, N]``, ``xs``, ``dE [T+1, B, N]``, ``leak [N]``)
    or R stacked ones (``[R, N, N]``, ``[R, T+1, B, N]``, ``[R, N]``)."""
    _checks.tensor("W_rec", W_rec, ndim=(2, 3), finite=finite)
    N, runs = W_rec.shape[-1], tuple(W_rec.shape[:-2])
    if W_rec.shape[-2] != N:
        raise ValueError(f"W_rec must be square, [N, N] or [R, N, N], got shape {tuple(W_rec.shape)}")
    _checks.tensor("xs", xs, ndim=W_rec.ndim + 1, finite=finite)
    _checks.tensor("dE", dE, ndim=W_rec.ndim + 1, finite=finite)
    _checks.same_kind(W_rec=W_rec, xs=xs, dE=dE)
    if xs.shape[:-3] != runs or xs.shape[-3] < 2 or xs.shape[-1] != N:
        raise ValueError(f"xs must have shape {list(runs) + ['T+1', 'B', N]} with T >= 1, got {tuple(xs.shape)}")
    if dE.shape != xs.shape:
        raise ValueError(f"dE must have the shape of xs {tuple(xs.shape)}, got {tuple(dE.shape)}")
    activation(sigma)  # validates the name
    for name, value, allowed in (("form", form, FORMS), ("norms", norms, NORMS), ("reduction", reduction, REDUCTIONS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    _checks.positive_float("bound", bound)
    if leak is not None:
        if form != "h":
            raise ValueError("leak (leaky-integration units) is defined for form 'h', whose state is h")
        _checks.tensor("leak", leak, ndim=W_rec.ndim - 1)
        _checks.same_kind(W_rec=W_rec, leak=leak)
        if leak.shape != runs + (N,) or not bool(((leak > 0) & (leak <= 1)).all()):
            raise ValueError(f"leak must hold {list(runs) + [N]} factors in (0, 1]")


def _factors(W_rec, xs, dE, sigma, form, leak=None):
    """For k = 0..T−1: v = ∂E/∂s_{k+1}, w = v ∂s_{k+1}/∂s_k, and L, R with ∂⁺‖w‖²/∂W_rec = 2 Lᵀ R.

    form "x": w = (v W_rec) ⊙ σ′(x_k);       ∂‖w‖²/∂W_rec[i,j] = 2 v_i w_j σ′(x_k)_j  → L = v, R = w ⊙ σ′(x_k).
    form "h": w = (v ⊙ σ′(x_{k+1})) W_rec;   ∂‖w‖²/∂W_rec[i,j] = 2 (v ⊙ σ′(x_{k+1}))_i w_j → L = v ⊙ σ′(x_{k+1}), R = w.
    form "h" with leaky units, h_{k+1} = (1 − a) ⊙ h_k + a ⊙ σ(x_{k+1}) (:mod:`reprolib.sequence`):
        ∂h_{k+1}/∂h_k = diag(1 − a) + diag(a ⊙ σ′(x_{k+1})) W_rec, so w = v ⊙ (1 − a) + L W_rec with
        L = v ⊙ a ⊙ σ′(x_{k+1}), and again ∂‖w‖²/∂W_rec = 2 Lᵀ w (R = w).

    Any leading run axis R broadcasts (``W_rec [R, N, N]`` acts on ``[R, T, B, N]``).
    """
    _, dsigma = activation(sigma)
    v = dE[..., 1:, :, :]
    if form == "x":
        d = dsigma(xs[..., :-1, :, :])  # σ′(x_k)
        w = _times(v, W_rec) * d
        return v, w, v, w * d
    d = dsigma(xs[..., 1:, :, :])  # σ′(x_{k+1})
    if leak is None:
        L = v * d
        w = _times(L, W_rec)
        return v, w, L, w
    a = leak[..., None, None, :]  # [(R,) 1, 1, N]
    L = v * d * a
    w = _times(L, W_rec) + v * (1 - a)
    return v, w, L, w


def _times(X: torch.Tensor, W_rec: torch.Tensor) -> torch.Tensor:
    """X_k W_rec for every step k at once, ``X [(R,) T, B, N]``, ``W_rec [(R,) N, N]``: one product of each
    run's T·B rows (a W_rec broadcast over the steps, ``W_rec[..., None, :, :]``, would be copied T times)."""
    return (X.flatten(-3, -2) @ W_rec).unflatten(-2, X.shape[-3:-1])


def ratios(num: torch.Tensor, den: torch.Tensor, norms: str = "squared", bound: float = BOUND):
    """r = num/den (``"squared"``) or √(num/den) (``"plain"``) from the squared norms num, den,
    with r := 1 where den < bound. Returns ``(r, included, safe_den)``, safe_den = 1 where excluded
    (no 0/0, in the value or in autograd). Shared with the batched engine."""
    included = den >= bound
    safe_den = torch.where(included, den, torch.ones_like(den))
    q = torch.where(included, num / safe_den, torch.ones_like(num))
    return (q if norms == "squared" else torch.sqrt(q)), included, safe_den


def grad_coefficients(r: torch.Tensor, safe_den: torch.Tensor, included: torch.Tensor, norms: str = "squared") -> torch.Tensor:
    """c with ∂⁺(r − 1)²/∂W_rec = c · Lᵀ R, given ∂num/∂W_rec = 2 Lᵀ R (see :func:`omega_grad`);
    0 on excluded terms. Shared with the batched engine."""
    if norms == "squared":
        coef = 4 * (r - 1) / safe_den
    else:
        coef = torch.where(r > 0, 2 * (r - 1) / (torch.where(r > 0, r, torch.ones_like(r)) * safe_den), torch.zeros_like(r))
    return torch.where(included, coef, torch.zeros_like(coef))


def _terms(W_rec, xs, dE, sigma, form, norms, bound, leak=None):
    """The factors of ``_factors`` and the ratios r ([(R,) T, B]), with r := 1 where den < bound."""
    v, w, L, R = _factors(W_rec, xs, dE, sigma, form, leak)
    r, included, safe_den = ratios((w**2).sum(-1), (v**2).sum(-1), norms, bound)
    return L, R, safe_den, r, included


def _normaliser(included: torch.Tensor, reduction: str, dtype) -> torch.Tensor:
    """B·Z per run: Z = Σ_k mean_b[included] ("mean", the code) or 1 ("sum")."""
    if reduction == "mean":
        return included.sum((-2, -1)).to(dtype)
    return torch.full(included.shape[:-2], float(included.shape[-1]), dtype=dtype, device=included.device)


def _per_included(total: torch.Tensor, BZ: torch.Tensor) -> torch.Tensor:
    """total / (B·Z), and 0 where nothing is included (Ω = 0 there, and so is its gradient; the
    code's 0/0 would give NaN)."""
    BZ = BZ.reshape(BZ.shape + (1,) * (total.ndim - BZ.ndim))
    return torch.where(BZ > 0, total / torch.where(BZ > 0, BZ, torch.ones_like(BZ)), torch.zeros_like(total))


def _value(r, included, BZ):
    """Ω = Σ_{k,b} over included terms of (r_kb − 1)², over B·Z (supp. eq. 5)."""
    return _per_included(torch.where(included, (r - 1) ** 2, torch.zeros_like(r)).sum((-2, -1)), BZ)


def _gradient(L, R, coef, BZ):
    """∂⁺Ω/∂W_rec = Σ_{k,b} coef_kb L_kbᵀ R_kb over B·Z (one matrix product for all k, b)."""
    G = L.flatten(-3, -2).mT @ (coef.flatten(-2)[..., None] * R.flatten(-3, -2))
    return _per_included(G, BZ)


def omega_ratios(W_rec: torch.Tensor, xs: torch.Tensor, dE: torch.Tensor, sigma: str = "tanh", *,
                 form: str = "x", norms: str = "squared", bound: float = BOUND,
                 leak: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ratios inside Ω_k of supp. eq. (5) (summary eq. 15 for ``norms="plain"``):

        r_kb = ‖∂E/∂s_{k+1} · ∂s_{k+1}/∂s_k‖^p / ‖∂E/∂s_{k+1}‖^p,   k = 0..T−1,

    with p = 2 (``"squared"``) or 1 (``"plain"``), s = x (``form="x"``) or h = σ(x) (``form="h"``);
    see the module docstring for the two forms.

    Args:
        W_rec: recurrent weights ``[N, N]``, or those of R networks stacked, ``[R, N, N]``.
        xs: states ``[T+1, B, N]`` (pre-activations, from :meth:`RNN.unroll`); ``[R, T+1, B, N]`` for R networks.
        dE: total derivatives, shaped as ``xs``: ∂E/∂x_k for form "x", ∂E/∂h_k for form "h"
            (both from :func:`total_state_gradients`). Entry 0 is not used.
        sigma: the nonlinearity of the network.
        bound: terms with ‖∂E/∂s_{k+1}‖² < bound are excluded (their ratio is set to 1).
        leak: ``[N]`` (``[R, N]``) leak factors a of leaky-integration units (form "h" only; None: every unit
            ordinary): the state is then h_{k+1} = (1 − a) ⊙ h_k + a ⊙ σ(x_{k+1}), as in :mod:`reprolib.sequence`.

    Returns:
        ``(r, included)``, both ``[T, B]`` (``[R, T, B]``); entry k belongs to Ω_k.
    """
    _check(W_rec, xs, dE, sigma, form, norms, "mean", bound, leak)
    _, _, _, r, included = _terms(W_rec, xs, dE, sigma, form, norms, bound, leak)
    return r, included


def omega(W_rec: torch.Tensor, xs: torch.Tensor, dE: torch.Tensor, sigma: str = "tanh", *,
          form: str = "x", norms: str = "squared", reduction: str = "mean", bound: float = BOUND,
          leak: torch.Tensor | None = None) -> torch.Tensor:
    """Ω of supp. eq. (5) (``norms="squared"``, default) or summary eq. (15) (``"plain"``),
    with the original code's handling of small denominators:

        Ω = Σ_k mean_b[(r_kb − 1)² 1{den_kb ≥ bound}] / Z,

    Z = Σ_k mean_b[1{den_kb ≥ bound}] for ``reduction="mean"`` (the code), Z = 1 for ``"sum"``.
    Ω = 0 when no term is included (the code's 0/0 would give NaN).

    Arguments as :func:`omega_ratios`. Differentiable with respect to W_rec (hold ``xs`` and
    ``dE`` constant to get the immediate ∂⁺Ω/∂W_rec, which :func:`omega_grad` gives in closed form).

    Returns:
        a 0-dim tensor (``[R]`` for R stacked networks).
    """
    _check(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak)
    _, _, _, r, included = _terms(W_rec, xs, dE, sigma, form, norms, bound, leak)
    return _value(r, included, _normaliser(included, reduction, r.dtype))


def omega_grad(W_rec: torch.Tensor, xs: torch.Tensor, dE: torch.Tensor, sigma: str = "tanh", *,
               form: str = "x", norms: str = "squared", reduction: str = "mean", bound: float = BOUND,
               leak: torch.Tensor | None = None) -> torch.Tensor:
    """The immediate derivative ∂⁺Ω/∂W_rec of supp. eq. (5), with ∂E/∂s and the states held
    constant, in closed form.

    For one included term with num = ‖w‖², den = ‖v‖² and ∂num/∂W_rec = 2 Lᵀ R (see ``_factors``):

        squared: r = num/den,        ∂(r − 1)²/∂W_rec = 4 (r − 1)/den · Lᵀ R
        plain:   r = √(num/den),     ∂(r − 1)²/∂W_rec = 2 (r − 1)/(r·den) · Lᵀ R   (taken as 0 where r = 0)

    Summed over the included (k, b), divided by B·Z as in :func:`omega`. Per step this is one
    matrix product forward (w) and one backward (Lᵀ R), as the supplement says.

    Arguments as :func:`omega`. Returns ``[N, N]`` (``[R, N, N]``), the orientation of W_rec (the code's
    ∂⁺Ω/∂W_hh is its transpose).
    """
    _check(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak)
    return _value_and_grad(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak)[1]


def omega_and_grad(W_rec: torch.Tensor, xs: torch.Tensor, dE: torch.Tensor, sigma: str = "tanh", *,
                   form: str = "x", norms: str = "squared", reduction: str = "mean", bound: float = BOUND,
                   leak: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ω of supp. eq. (5) (:func:`omega`) and its immediate gradient ∂⁺Ω/∂W_rec (:func:`omega_grad`)
    from one pass over the terms, both detached: the training step's route, for one network or R stacked.

    Arguments as :func:`omega`, except that non-finite values are accepted: a diverged update has them,
    and the caller's fallback step handles what they give.
    """
    _check(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak, finite=False)
    return _value_and_grad(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak)


def _value_and_grad(W_rec, xs, dE, sigma, form, norms, reduction, bound, leak):
    """Ω and ∂⁺Ω/∂W_rec with W_rec, the states and ∂E/∂s held constant (detached)."""
    W_rec, xs, dE = W_rec.detach(), xs.detach(), dE.detach()
    L, R, safe_den, r, included = _terms(W_rec, xs, dE, sigma, form, norms, bound, leak)
    BZ = _normaliser(included, reduction, r.dtype)
    return _value(r, included, BZ), _gradient(L, R, grad_coefficients(r, safe_den, included, norms), BZ)


# --------------------------------------------------------------------------- α
#: the weight schedules of supp. §3.2
SCHEDULES = ("constant", "1/t", "1/(2t)", "1/(1+t/beta)")


@dataclass(frozen=True)
class AlphaSchedule:
    """The weight α_t of Ω at step t (supp. §3.2), α_t = α0 · s(t) with s = 1 up to t0:

    * ``"constant"``: s = 1 (the synthetic tasks, e.g. α = 2 or 4; next-character prediction, α = 0.01);
    * ``"1/t"``: s = 1 / max(1, t − t0) (Nottingham: α0 = 5, decreasing "with 1/max(1, t − 10)"
      after the first 10 epochs);
    * ``"1/(2t)"``: s = 1 / max(1, 2(t − t0)) (Piano-midi.de, MuseData: "α_t = 1/(2t)", t in epochs);
    * ``"1/(1+t/beta)"``: s = 1 / (1 + max(0, t − t0)/β) (5th-character prediction: α0 = 0.05,
      β = 2800, t the update index; explored β ∈ {2800, 500}, t0 ∈ {0, 28108}).

    t counts whatever the experiment counts (epochs for the music data, updates for language
    modelling), from 0. The supplement prints the 1/(2t) schedule without α0; it is read
    here as α0 · s(t) like the others (Deviations, C7).
    """

    alpha0: float
    kind: str = "constant"
    t0: int = 0
    beta: float | None = None

    def __post_init__(self):
        _checks.positive_float("alpha0", self.alpha0, strict=False)
        if self.kind not in SCHEDULES:
            raise ValueError(f"kind must be one of {SCHEDULES}, got {self.kind!r}")
        _checks.positive_int("t0", self.t0, minimum=0)
        if self.kind == "1/(1+t/beta)":
            if self.beta is None:
                raise ValueError("beta must be given for the 1/(1+t/beta) schedule")
            _checks.positive_float("beta", self.beta)
        elif self.beta is not None:
            raise ValueError(f"beta is only used by the 1/(1+t/beta) schedule, not by {self.kind!r}")

    def __call__(self, t: int) -> float:
        _checks.positive_int("t", t, minimum=0)
        s = max(0, t - self.t0)  # steps since the decrease started
        if self.kind == "constant":
            return float(self.alpha0)
        if self.kind == "1/t":
            return self.alpha0 / max(1, s)
        if self.kind == "1/(2t)":
            return self.alpha0 / max(1, 2 * s)
        return self.alpha0 / (1 + s / self.beta)
