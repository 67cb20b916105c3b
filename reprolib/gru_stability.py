"""When the GRU's fixed point h = 0 is stable (Kanai, Fujiwara & Iwamura, 2017, §3.1, Lemmas 1–4,
Theorem 1), and how conservative the paper's sufficient condition is.

For the bias-free GRU of :mod:`reprolib.gru` without input (x = 0):

* h_* = 0 is a fixed point (Lemma 1);
* its Jacobian there is J = ¼W_hh + ½I (Lemma 2, eq. 9; :func:`jacobian_at_zero`), and h_* = 0
  is locally stable when ρ(J) = |λ₁(J)| < 1 (:func:`spectral_radius_J`);
* σ₁(W_hh) < 2 implies ρ(J) < 1 (Lemma 3), hence local stability (Theorem 1), layer by layer
  for a stacked GRU (Lemma 4). The constraint eq. (8) relaxes ρ(J) < 1, a bilinear matrix
  inequality, to a bound on singular values; :func:`critical_scale` gives the exact boundary
  along a ray cW, to measure what the relaxation gives up on the random matrix families of
  :func:`random_matrices` (Chapter 7, §7.2–7.5).

Kanai et al. published no code: this is an independent implementation written from the paper.
"""

from __future__ import annotations

import math

import torch

from . import _checks


def jacobian_at_zero(W_hh: torch.Tensor) -> torch.Tensor:
    """J = ¼ W_hh + ½ I (Lemma 2, eq. 9): the Jacobian ∂h_t/∂h_{t−1} of a bias-free GRU
    without input (x = 0) at its fixed point h = 0 (Lemma 1). There z = r = sigm(0) = ½ and
    h̃ = 0, so eq. (3)–(4) linearize to ½h + ½ W_hh (½h). The fixed point is locally stable
    when |λ₁(J)| < 1, which σ₁(W_hh) < 2 implies (Lemma 3, Theorem 1).

    ``W_hh`` is one matrix ``[n, n]`` or a stack ``[..., n, n]`` (one J per matrix)."""
    _checks.matrix("W_hh", W_hh, batched=True, real=False)
    I = torch.eye(W_hh.shape[-1], dtype=W_hh.dtype, device=W_hh.device)
    return W_hh / 4 + I / 2


def spectral_radius_J(W_hh: torch.Tensor) -> float | torch.Tensor:
    """ρ(J) = |λ₁(¼W_hh + ½I)| (Lemma 2, eq. 9; h = 0 is locally stable when it is below 1),
    computed in float64 on the CPU.

    Returns a float for one matrix ``W_hh [n, n]``, and a float64 tensor ``[...]`` of the
    spectral radii for a stack ``[..., n, n]``.
    """
    _checks.matrix("W_hh", W_hh, batched=True)
    J = jacobian_at_zero(W_hh.detach().to(device="cpu", dtype=torch.float64))
    rho = torch.linalg.eigvals(J).abs().amax(-1)
    return rho.item() if W_hh.ndim == 2 else rho


def critical_scale(W: torch.Tensor) -> float:
    """The largest c such that ρ(¼cW + ½I) ≤ 1: the exact stability boundary along the ray cW.

    For an eigenvalue λ = a + ib of W, |cλ/4 + ½| ≤ 1 ⇔ c²|λ|² + 4ac − 12 ≤ 0, so
    c ≤ c(λ) = (−2a + √(4a² + 12|λ|²)) / |λ|², and the answer is min over the eigenvalues
    (``inf`` when W is nilpotent: every eigenvalue 0). Lemma 3's sufficient condition
    σ₁(cW) < 2 allows only c < 2/σ₁(W) ≤ the returned value; their ratio measures how
    conservative the relaxation of eq. (8) is along this ray.
    """
    _checks.matrix("W", W)
    lam = torch.linalg.eigvals(W.detach().to(device="cpu", dtype=torch.float64))
    a, m2 = lam.real, lam.abs() ** 2
    nz = m2 > 0
    if not nz.any():
        return math.inf
    c = (-2 * a[nz] + torch.sqrt(4 * a[nz] ** 2 + 12 * m2[nz])) / m2[nz]
    return c.min().item()


MATRIX_KINDS = ("gaussian", "orthogonal", "symmetric", "triangular", "rank1")


def random_matrices(kind: str, count: int, n: int, sigma1, generator: torch.Generator) -> torch.Tensor:
    """``count`` random n×n float64 matrices of one family, each rescaled to the spectral norm
    ``sigma1`` (a number, or a tensor of ``count`` numbers): the test matrices of Chapter 7
    (Lemma 3 checked on them, and the relaxation of eq. 8 measured).

    Kinds: ``"gaussian"`` (i.i.d. N(0, 1) entries: non-normal, eigenvalues spread over a disk of
    radius ≈ σ₁/2), ``"orthogonal"`` (Haar, all singular values equal), ``"symmetric"``
    ((A + Aᵀ)/2: real eigenvalues, σ₁ = max |λ|), ``"triangular"`` (upper part of a Gaussian:
    eigenvalues are the diagonal, σ₁ much larger) and ``"rank1"`` (uvᵀ).
    """
    if kind not in MATRIX_KINDS:
        raise ValueError(f"kind must be one of {MATRIX_KINDS}, got {kind!r}")
    count = _checks.positive_int("count", count)
    n = _checks.positive_int("n", n)
    _checks.generator("generator", generator)
    target = torch.as_tensor(sigma1, dtype=torch.float64).reshape(-1)
    if target.numel() not in (1, count) or not torch.isfinite(target).all() or (target < 0).any():
        raise ValueError(f"sigma1 must be a finite number >= 0 or a tensor of {count} such numbers")
    A = torch.randn(count, n, n, generator=generator, dtype=torch.float64)
    if kind == "orthogonal":
        Q, R = torch.linalg.qr(A)
        A = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar: fix the signs
    elif kind == "symmetric":
        A = (A + A.transpose(-1, -2)) / 2
    elif kind == "triangular":
        A = torch.triu(A)
    elif kind == "rank1":
        A = A[:, :, :1] @ A[:, :1, :]
    return A * (target / torch.linalg.matrix_norm(A, 2)).view(-1, 1, 1)
