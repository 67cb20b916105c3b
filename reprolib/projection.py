"""The projection P_δ that keeps a GRU's W_hh inside Kanai's stability constraint (Kanai,
Fujiwara & Iwamura, 2017, §3.2–3.3, eq. 8 and 11–15, Lemmas 5–6).

Training keeps σ₁(W_hh) ≤ 2 − δ (eq. 8, 11), which by Lemma 3 and Theorem 1
(:mod:`reprolib.gru_stability`) keeps the fixed point h = 0 locally stable. After each SGD step
Ŵ = W − η∇ (eq. 11), W_hh ← P_δ(Ŵ), the Frobenius-nearest matrix with σ₁ ≤ 2 − δ (Lemma 5,
eq. 12–14):

* :func:`project_spectral_norm`: P_δ by a full SVD (eq. 12–14);
* :class:`TruncatedProjection`: P_δ by eq. (15) from the top singular triplets only
  (:func:`top_singular_triplets`), their number bounded by Weyl's inequality (Lemma 6, §3.3);
* :func:`project_input_weight`: the other constraint of a multi-layer GRU, σ₁(W_{l,xh}) ≤ 2
  (eq. 10), by the same clipping of the singular values (:func:`clip_singular_values`).

Kanai et al. published no code: this is an independent implementation written from the paper.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, svds

from . import _checks

#: Kanai eq. (10): σ₁(W_{l,xh}) ≤ 2 for the input matrices of a multi-layer GRU. The bound is
#: not strict (unlike σ₁(W_{l,hh}) < 2), so it needs no margin δ.
INPUT_BOUND = 2.0


def _check_delta(delta) -> float:
    """δ of P_δ (eq. 11): a real number in the open interval (0, 2)."""
    delta = _checks.finite_float("delta", delta)
    if not 0 < delta < 2:
        raise ValueError(f"delta must be in the open interval (0, 2), got {delta}")
    return delta


def clip_singular_values(W: torch.Tensor, cap: float) -> torch.Tensor:
    """U diag(min(σ_i, cap)) Vᵀ for W = U Σ Vᵀ: the matrix nearest to W in Frobenius norm with
    σ₁ ≤ ``cap`` (eq. 12–14 with ``cap`` in place of 2 − δ; Lemma 5). Returns a new tensor,
    detached from autograd.

    Args:
        W: a real, finite matrix, square or not.
        cap: the bound, a finite number > 0.
    """
    _checks.tensor("W", W, ndim=2)
    if W.is_complex():
        raise TypeError(f"W must be real, got dtype {W.dtype}")
    cap = _checks.positive_float("cap", cap)
    with torch.no_grad():
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)  # (12); torch's Vh is Vᵀ
        return (U * S.clamp(max=cap)) @ Vh                    # (13)–(14)


def project_spectral_norm(W: torch.Tensor, delta: float) -> torch.Tensor:
    """P_δ(W) of eq. (12)–(14): the matrix nearest to W in Frobenius norm with
    σ₁ ≤ 2 − δ (Lemma 5).

        W = U Σ Vᵀ   (12)      Σ̄ = diag(min(σ_i, 2 − δ))   (13)      P_δ(W) = U Σ̄ Vᵀ   (14)

    (The paper prints eq. 12 and 14 as U Σ V, with V standing for Vᵀ; eq. 15's u_i v_iᵀ fixes
    the reading.) Returns a new tensor, detached from autograd.

    Args:
        W: a real, finite, square matrix (W_hh).
        delta: δ in the open interval (0, 2).
    """
    _checks.matrix("W", W)
    return clip_singular_values(W, 2 - _check_delta(delta))


def project_input_weight(W: torch.Tensor) -> torch.Tensor:
    """The matrix nearest to W in Frobenius norm with σ₁ ≤ 2: eq. (10)'s constraint
    σ₁(W_{l,xh}) ≤ 2 on an input matrix of a multi-layer GRU (see
    :meth:`reprolib.gru.GRU.constrained_input_weights`), by :func:`clip_singular_values` at
    :data:`INPUT_BOUND`. The paper gives no algorithm for it; this is eq. (12)–(14) with the bound
    of eq. (10), which is not strict and so needs no δ.

    Args:
        W: a real, finite matrix ``[n_l, n_{l−1}]`` (W_{l,xh}, with n_0 = m, the input size).
    """
    return clip_singular_values(W, INPUT_BOUND)


def top_singular_triplets(W: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k largest singular values of W and their vectors, ``(U [n, k], S [k], V [n, k])``
    with S non-increasing, in float64.

    Computed by ARPACK's implicitly restarted Lanczos method (``scipy.sparse.linalg.svds``)
    with tolerance 0 (machine precision) and a fixed start vector, so the result is exact to
    rounding and deterministic. Requires 1 ≤ k < n. Raises ``ArpackNoConvergence`` if ARPACK
    does not converge. (Kanai §3.3 cites the randomized SVD of Halko et al.; with its usual
    2 power iterations its error is far above 1e-10, see the book's Deviations page.)
    """
    _checks.matrix("W", W)
    n = W.shape[0]
    _checks.positive_int("k", k)
    if k >= n:
        raise ValueError(f"k must be < n = {n} for a truncated SVD, got {k}")
    A = W.detach().to(device="cpu", dtype=torch.float64).numpy()
    v0 = np.random.default_rng(0).standard_normal(n)
    u, s, vt = svds(A, k=k, tol=0, v0=v0, solver="arpack")
    order = np.argsort(s)[::-1].copy()
    return (torch.from_numpy(u[:, order].copy()), torch.from_numpy(s[order].copy()),
            torch.from_numpy(vt[order].T.copy()))


class TruncatedProjection:
    """P_δ through eq. (15) and a truncated SVD (Kanai §3.3), for one W_hh across updates.

        P_δ(Ŵ) = Ŵ − Σ_{i ≤ s} (σ_i(Ŵ) − (2 − δ)) u_i v_iᵀ,   s = #{i : σ_i(Ŵ) > 2 − δ}     (15)

    Call it once per update with Ŵ = W − η∇ (the SGD step of eq. 11); it returns P_δ(Ŵ) and
    remembers, for the next call, that matrix and upper bounds b_i ≥ σ_i of its singular values.

    How s is found without an SVD (Lemma 6, Weyl's inequality): σ_i(Ŵ) ≤ σ_i(W) + ‖Ŵ − W‖₂
    ≤ b_i + ‖Ŵ − W‖_F, where W is the previous result. For SGD ‖Ŵ − W‖_F = |η|‖∇‖_F, the
    paper's term; it is *measured* here (O(n²)), so the bound also holds for any other
    optimizer or extra change of W. Bounds accumulate over calls that skip the SVD, as in the
    paper's σ_i(W^(τ−K−1)) + Σ_k |η|‖∇_{τ−k}‖_F. Then, with t the trigger (2 − δ by default):

    * no bound above t: no singular value can exceed t; Ŵ is returned unchanged (``"skipped"``);
    * s bounds above t, s ≤ ``max_rank``: the top s triplets by :func:`top_singular_triplets`,
      eq. (15) on those above t (``"truncated"``). σ_{s+1} ≤ b_{s+1} ≤ t is guaranteed by the
      bounds, so no singular value above t is missed;
    * otherwise a full SVD (``"full_first"`` on the first call, ``"full_rank"`` when the
      bounds are too loose — s > ``max_rank`` — and ``"full_arpack"`` if ARPACK fails).
      A full SVD also renews every bound exactly.

    With the default trigger the result equals :func:`project_spectral_norm` to rounding.
    Since the singular values clipped at 2 − δ sit exactly at the trigger, any later step may
    push them over, so the truncated SVD runs at almost every update. The paper's cheaper
    variant (§3.3: count the σ_i above 2 instead of 2 − δ) is ``trigger=2``: singular values
    above 2 are set to 2 − δ and those in (2 − δ, 2] are left alone, so σ₁ ≤ 2 (eq. 8 with ≤)
    but not ≤ 2 − δ, and clipped values need a step of δ before they trigger again.

    Args:
        delta: δ in (0, 2).
        trigger: t in [2 − δ, 2] (default 2 − δ, exact P_δ).
        max_rank: largest s handled by the truncated SVD (default max(1, n // 10)).

    Attributes:
        cap: 2 − δ, the value the projected singular values are set to (eq. 13, 15); not to be
            confused with the threshold of gradient clipping.
        counts: how many calls took each route (keys above); :attr:`fallbacks` sums the full
            SVDs after the first call.
        bounds: non-increasing upper bounds of the singular values of the last result.
        last_s: the s of the last call (``None`` after a full SVD without estimate).
    """

    ROUTES = ("skipped", "truncated", "full_first", "full_rank", "full_arpack")

    def __init__(self, delta: float, *, trigger: float | None = None, max_rank: int | None = None):
        self.delta = _check_delta(delta)
        self.cap = 2 - self.delta
        if trigger is None:
            trigger = self.cap
        self.trigger = _checks.finite_float("trigger", trigger)
        if not self.cap <= self.trigger <= 2:
            raise ValueError(f"trigger must be in [2 - delta, 2] = [{self.cap}, 2], got {self.trigger}")
        self.max_rank = None if max_rank is None else _checks.positive_int("max_rank", max_rank)
        self.reset()

    def reset(self) -> None:
        """Forget the previous matrix, the bounds and the counts."""
        self._W_prev: torch.Tensor | None = None
        self.bounds: torch.Tensor | None = None
        self.last_s: int | None = None
        self.counts = dict.fromkeys(self.ROUTES, 0)

    @property
    def fallbacks(self) -> int:
        """Full SVDs after the first call: the truncated route could not be used."""
        return self.counts["full_rank"] + self.counts["full_arpack"]

    def _remember(self, W_out: torch.Tensor, bounds: torch.Tensor, route: str) -> torch.Tensor:
        self._W_prev = W_out.clone()
        self.bounds = torch.sort(bounds.to(torch.float64).cpu(), descending=True).values
        self.counts[route] += 1
        return W_out

    def _full(self, W_hat: torch.Tensor, route: str) -> torch.Tensor:
        c, t = self.cap, self.trigger
        U, S, Vh = torch.linalg.svd(W_hat)
        m = S > t
        W_out = W_hat - (U[:, m] * (S[m] - c)) @ Vh[m]  # (15) with every triplet known
        return self._remember(W_out, torch.where(m, torch.full_like(S, c), S), route)

    def __call__(self, W_hat: torch.Tensor) -> torch.Tensor:
        """P_δ(Ŵ) (or the ``trigger`` variant), a new tensor detached from autograd.

        Args:
            W_hat: Ŵ, the updated W_hh: real, finite, square, and of the same shape, dtype and
                device at every call (use one TruncatedProjection per matrix).
        """
        _checks.matrix("W_hat", W_hat)
        with torch.no_grad():
            W_hat = W_hat.detach()
            if self._W_prev is None:
                self.last_s = None
                return self._full(W_hat, "full_first")
            if W_hat.shape != self._W_prev.shape:
                raise ValueError(f"W_hat has shape {tuple(W_hat.shape)} but this projection was used with "
                                 f"{tuple(self._W_prev.shape)}; use one TruncatedProjection per matrix")
            _checks.same_kind(W_hat=W_hat, previous_W=self._W_prev)
            n = W_hat.shape[0]
            c, t = self.cap, self.trigger
            step = torch.linalg.matrix_norm(W_hat - self._W_prev).item()  # = |η| ‖∇‖_F for SGD
            slack = 8 * math.sqrt(n) * torch.finfo(W_hat.dtype).eps * max(1.0, self.bounds[0].item())  # rounding
            ub = self.bounds + (step + slack)                                 # Lemma 6
            s = int((ub > t).sum())
            self.last_s = s
            if s == 0:
                return self._remember(W_hat.clone(), ub, "skipped")
            max_rank = self.max_rank if self.max_rank is not None else max(1, n // 10)
            if s > max_rank or s >= n:
                return self._full(W_hat, "full_rank")
            try:
                U, S, V = top_singular_triplets(W_hat, s)
            except ArpackNoConvergence:
                return self._full(W_hat, "full_arpack")
            m = S > t
            W64 = W_hat.to(device="cpu", dtype=torch.float64)
            W_out = (W64 - (U[:, m] * (S[m] - c)) @ V[:, m].T).to(dtype=W_hat.dtype, device=W_hat.device)  # (15)
            # the other singular values are unchanged: each ≤ its bound and ≤ σ_s
            rest = ub[s:].clamp(max=S[-1].item())
            return self._remember(W_out, torch.cat([torch.where(m, torch.full_like(S, c), S), rest]), "truncated")
