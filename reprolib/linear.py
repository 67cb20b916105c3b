"""The linear case of Pascanu et al. (2013), §2.2 and supplementary §1.

With σ the identity, ∂x_t/∂x_k is the l-th power of the one-step Jacobian (eq. 6,
l = t − k), and ∂E_t/∂x_t · ∂x_t/∂x_k is a power iteration: its norm grows like
|λ_j|^l, where λ_j is the largest eigenvalue whose coefficient c_j is non-zero (eq. 7).

Everything here works on any square matrix M standing for the one-step Jacobian; for
eq. (2) with the identity, M = W_rec (numerator layout, see :mod:`reprolib.rnn`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks


def spectral_radius(W: torch.Tensor) -> float:
    """ρ(W) = max_i |λ_i(W)|."""
    _checks.square("W", W)
    return torch.linalg.eigvals(W).abs().max().item()


def scale_to_spectral_radius(W: torch.Tensor, rho: float) -> torch.Tensor:
    """W rescaled so that ρ(W) = ``rho``."""
    _checks.positive_float("rho", rho)
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W is nilpotent (spectral radius 0) and cannot be rescaled")
    return W * (rho / current)


def scale_to_spectral_norm(W: torch.Tensor, norm: float) -> torch.Tensor:
    """W rescaled so that its largest singular value ‖W‖₂ = ``norm``."""
    _checks.square("W", W)
    _checks.positive_float("norm", norm)
    current = torch.linalg.matrix_norm(W, ord=2).item()
    if current == 0:
        raise ValueError("W is zero and cannot be rescaled")
    return W * (norm / current)


def matrix_with_spectrum(eigenvalues, generator: torch.Generator, dtype=torch.float64,
                         device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A random diagonalizable matrix W = Q diag(λ) Q⁻¹ with the given real eigenvalues.

    This is the setting of the paper's proof: a basis of eigenvectors and, when the
    |λ_i| are distinct, a strict ordering |λ_1| > |λ_2| > ...

    Args:
        eigenvalues: real eigenvalues (sequence or 1-D tensor), at least one.
        generator: the random source of the eigenvector basis Q (Gaussian entries), drawn on the
            generator's device and moved to ``device``.

    Returns:
        ``(W, Q)``; column i of Q is the right eigenvector of λ_i.
    """
    _checks.generator("generator", generator)
    device = _checks.dtype_device(dtype, device)
    lam = torch.as_tensor(eigenvalues, dtype=dtype).to(device)
    _checks.tensor("eigenvalues", lam, ndim=1)
    if lam.numel() < 1:
        raise ValueError("eigenvalues must hold at least one value")
    n = lam.numel()
    Q = torch.randn(n, n, generator=generator, dtype=dtype, device=generator.device).to(device)
    Q = Q / Q.norm(dim=0)
    return Q @ torch.diag(lam) @ torch.linalg.inv(Q), Q


def jordan_block(lam: float, m: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """The m × m Jordan block J_m(λ): λ on the diagonal, ones on the superdiagonal."""
    _checks.positive_int("m", m)
    lam = _checks.finite_float("lam", lam)
    device = _checks.dtype_device(dtype, device)
    return lam * torch.eye(m, dtype=dtype, device=device) + torch.diag(torch.ones(m - 1, dtype=dtype, device=device), 1)


def left_eigenvectors(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues of W sorted by decreasing modulus, with the matching left eigenvectors.

    A left eigenvector p_i satisfies p_iᵀ W = λ_i p_iᵀ: it is the direction a row vector
    g W^l turns towards (eq. 7). The rows of V⁻¹ (W = V Λ V⁻¹) are the left
    eigenvectors; each is returned with unit norm.

    Returns:
        ``(lam [n] complex, P [n, n] complex)``; row i of P is p_i.
    """
    _checks.square("W", W)
    lam, V = torch.linalg.eig(W)
    order = torch.argsort(lam.abs(), descending=True)
    P = torch.linalg.inv(V)[order]
    return lam[order], P / torch.linalg.vector_norm(P, dim=1, keepdim=True)


def power_iteration(g: torch.Tensor, M: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The row vectors g M^l for l = 0..L, as log-norms and unit directions.

    With M the one-step Jacobian and g = ∂E_t/∂x_t this is ∂E_t/∂x_t · ∂x_t/∂x_{t−l}
    (eq. 6–7). The vector is renormalised at every step, so no overflow or underflow
    occurs for any L; the log-norms are accumulated exactly.

    Args:
        g: the starting row vector ``[n]``, non-zero.
        M: the matrix ``[n, n]``.
        L: the number of steps, >= 1.

    Returns:
        ``(log_norms [L+1], directions [L+1, n])`` with
        ``log_norms[l] = log ‖g M^l‖`` and ``directions[l] = g M^l / ‖g M^l‖``.
    """
    _checks.square("M", M)
    _checks.tensor("g", g, ndim=1)
    _checks.same_kind(M=M, g=g)
    _checks.positive_int("L", L)
    if g.shape[0] != M.shape[0]:
        raise ValueError(f"g must have {M.shape[0]} entries, got {g.shape[0]}")
    norm = torch.linalg.vector_norm(g)
    if norm == 0:
        raise ValueError("g must be non-zero")
    log_norms, directions = [norm.log()], [g / norm]
    for _ in range(L):
        v = directions[-1] @ M
        n = torch.linalg.vector_norm(v)
        if n == 0:
            raise ValueError("g M^l became exactly zero (M is nilpotent along g); no growth rate exists")
        log_norms.append(log_norms[-1] + n.log())
        directions.append(v / n)
    return torch.stack(log_norms), torch.stack(directions)


def growth_rate(log_norms, start: int = 0) -> float:
    """Least-squares slope of log ‖·‖ against l over l ≥ ``start``: the measured exponential
    rate r in ‖g_l‖ ∝ e^{r l}; compare with log |λ_j| (eq. 7)."""
    y = np.asarray(torch.as_tensor(log_norms, dtype=torch.float64).cpu())
    _checks.positive_int("start", start, minimum=0)
    if y.ndim != 1 or y.size - start < 2:
        raise ValueError(f"log_norms must be 1-D with at least start + 2 = {start + 2} entries, got shape {y.shape}")
    if not np.isfinite(y[start:]).all():
        raise ValueError("log_norms contains non-finite values")
    l = np.arange(y.size, dtype=np.float64)[start:]
    return float(np.polyfit(l, y[start:], 1)[0])


def fit_power_exponential(log_norms, start: int = 1) -> tuple[float, float]:
    """Fit log ‖g_l‖ = a + p log l + r l over l ≥ ``start`` (≥ 1) by least squares.

    For a Jordan block J_m(λ), ‖g J^l‖ ~ C l^{m−1} |λ|^l, so the fit returns
    p ≈ m − 1 and r ≈ log |λ|.

    Returns:
        ``(p, r)``.
    """
    y = np.asarray(torch.as_tensor(log_norms, dtype=torch.float64).cpu())
    _checks.positive_int("start", start, minimum=1)
    if y.ndim != 1 or y.size - start < 3:
        raise ValueError(f"log_norms must be 1-D with at least start + 3 = {start + 3} entries, got shape {y.shape}")
    if not np.isfinite(y[start:]).all():
        raise ValueError("log_norms contains NaN or infinite entries from start on")
    l = np.arange(y.size, dtype=np.float64)[start:]
    A = np.stack([np.ones_like(l), np.log(l), l], axis=1)
    (_, p, r), *_ = np.linalg.lstsq(A, y[start:], rcond=None)
    return float(p), float(r)
