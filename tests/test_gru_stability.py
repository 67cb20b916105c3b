"""reprolib.gru_stability against independent routes: autograd Jacobians of the cell of eq. (1)–(4)
(ours and torch's), eigenvalues computed directly, simulated trajectories, closed forms."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from gru_helpers import cell_with_biases, randomize_
from reprolib import gru as G
from reprolib.gru_stability import MATRIX_KINDS, critical_scale, jacobian_at_zero, random_matrices, spectral_radius_J

D = torch.float64


# ----------------------------------------------------------------------------- Lemmas 1–4, Theorem 1
def test_lemma1_zero_is_a_fixed_point_without_input_and_biases(gen):
    cell = randomize_(G.GRUCell(3, 5, generator=gen, dtype=D), gen, scale=2.0)
    zero_x, zero_h = torch.zeros(2, 3, dtype=D), torch.zeros(2, 5, dtype=D)
    assert torch.equal(cell(zero_x, zero_h), zero_h)
    biased = cell_with_biases(gen)
    assert biased(zero_x, zero_h).abs().max() > 1e-3  # b_h ≠ 0 moves the fixed point


@pytest.mark.parametrize("who", ["ours", "torch"])
def test_lemma2_jacobian_at_zero_matches_autograd(gen, who):
    """J = ¼W_hh + ½I for eq. (4) and, at h = 0, also for torch's r ⊙ (W_hh h)."""
    cell = randomize_(G.GRUCell(3, 6, generator=gen, dtype=D), gen, scale=1.5)
    step = cell if who == "ours" else G.to_torch(cell)
    x0 = torch.zeros(1, 3, dtype=D)
    J = torch.autograd.functional.jacobian(lambda h: step(x0, h[None])[0], torch.zeros(6, dtype=D))
    assert torch.allclose(J, jacobian_at_zero(cell.W_hh.detach()), rtol=1e-14, atol=1e-15)


def test_lemma2_needs_zero_gate_biases(gen):
    """With biases b_z, b_r (b_h = 0 keeps the fixed point) the Jacobian at 0 is
    diag(z) + diag(1 − z) W_hh diag(r), z = sigm(b_z), r = sigm(b_r): no longer ¼W_hh + ½I."""
    cell = cell_with_biases(gen, n=6)
    with torch.no_grad():
        cell.b_h.zero_()
    x0 = torch.zeros(1, 3, dtype=D)
    J = torch.autograd.functional.jacobian(lambda h: cell(x0, h[None])[0], torch.zeros(6, dtype=D))
    z, r = torch.sigmoid(cell.b_z.detach()), torch.sigmoid(cell.b_r.detach())
    W = cell.W_hh.detach()
    assert torch.allclose(J, torch.diag(z) + torch.diag(1 - z) @ W @ torch.diag(r), rtol=1e-13, atol=1e-14)
    assert (J - jacobian_at_zero(W)).abs().max() > 1e-2


def spectral_radius(M):
    return torch.linalg.eigvals(M).abs().max().item()


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12), sigma1=st.floats(1e-3, 2 - 1e-9),
       kind=st.sampled_from(["gaussian", "orthogonal", "rank1", "triangular"]))
def test_lemma3_spectral_norm_below_2_gives_stable_J(seed, n, sigma1, kind):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=D)
    if kind == "orthogonal":
        A = torch.linalg.qr(A)[0]
    elif kind == "rank1":
        A = torch.outer(A[0], A[:, 0])
    elif kind == "triangular":
        A = torch.triu(A)
    W = sigma1 * A / torch.linalg.matrix_norm(A, 2)
    rho = spectral_radius(jacobian_at_zero(W))
    assert rho <= sigma1 / 4 + 0.5 + 1e-12  # |λ₁(J)| ≤ ‖J‖₂ ≤ σ₁/4 + ½, the lemma's argument
    assert rho < 1


def test_lemma3_is_sharp_and_only_sufficient():
    I = torch.eye(4, dtype=D)
    for eps in (1e-1, 1e-3):
        assert abs(spectral_radius(jacobian_at_zero((2 - eps) * I)) - (1 - eps / 4)) < 1e-14
    assert spectral_radius(jacobian_at_zero(-3 * I)) == pytest.approx(0.25)  # σ₁ = 3, yet stable


def iterate(cell, h, steps):
    x = torch.zeros(h.shape[0], cell.n_in, dtype=D)
    for _ in range(steps):
        h = cell(x, h)
    return h


def test_theorem1_zero_is_locally_stable_below_2_and_unstable_above(gen):
    cell = randomize_(G.GRUCell(3, 8, generator=gen, dtype=D), gen, scale=1.0)
    A = torch.randn(8, 8, generator=gen, dtype=D)
    h0 = 1e-3 * torch.randn(1, 8, generator=gen, dtype=D)
    with torch.no_grad():
        cell.W_hh.copy_(1.9 * A / torch.linalg.matrix_norm(A, 2))
        assert iterate(cell, h0, 400).norm() < 1e-4 * h0.norm()  # ρ(J) ≤ 0.975: contraction
        cell.W_hh.copy_(2.4 * torch.eye(8, dtype=D))  # J = 1.1 I
        assert iterate(cell, h0, 40).norm() > 10 * h0.norm()  # pushed away from 0


def test_jacobian_at_zero_checks_its_argument():
    with pytest.raises(ValueError, match="W_hh"):
        jacobian_at_zero(torch.zeros(2, 3))


# ----------------------------------------------------------------------------- Chapter 7 helpers
def test_spectral_radius_J_and_critical_scale(gen):
    W = torch.randn(7, 7, generator=gen, dtype=D)
    assert spectral_radius_J(W) == pytest.approx(spectral_radius(jacobian_at_zero(W)), rel=1e-14)
    c = critical_scale(W)
    assert spectral_radius_J(c * W) == pytest.approx(1.0, abs=1e-12)  # on the boundary
    assert spectral_radius_J(0.999 * c * W) < 1 < spectral_radius_J(1.001 * c * W)
    assert c >= 2 / torch.linalg.matrix_norm(W, 2).item()  # Lemma 3: the relaxed bound is inside
    I = torch.eye(3, dtype=D)
    assert critical_scale(2 * I) == pytest.approx(1.0) and critical_scale(-2 * I) == pytest.approx(3.0)
    assert critical_scale(torch.triu(torch.ones(4, 4, dtype=D), 1)) == math.inf  # nilpotent
    with pytest.raises(ValueError, match="W"):
        critical_scale(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="W_hh"):
        spectral_radius_J(torch.zeros(3))


def test_spectral_radius_J_and_jacobian_at_zero_are_batched(gen):
    """A stack [..., n, n] gives one ρ(J) per matrix: the single-matrix route in a loop, and eigvals per matrix."""
    W = random_matrices("gaussian", 12, 6, torch.linspace(0.5, 5.0, 12, dtype=D), gen).view(3, 4, 6, 6)
    rho = spectral_radius_J(W)
    assert isinstance(rho, torch.Tensor) and rho.shape == (3, 4) and rho.dtype == D
    assert isinstance(spectral_radius_J(W[0, 0]), float)
    loop = torch.tensor([[spectral_radius_J(w) for w in row] for row in W], dtype=D)
    assert torch.allclose(rho, loop, rtol=1e-14, atol=0)
    direct = torch.tensor([[spectral_radius(w / 4 + torch.eye(6, dtype=D) / 2) for w in row] for row in W], dtype=D)
    assert torch.allclose(rho, direct, rtol=1e-14, atol=0)
    assert (rho < 1).any() and (rho > 1).any()  # both sides of the boundary
    J = jacobian_at_zero(W)
    assert J.shape == W.shape and all(torch.equal(J[i, j], jacobian_at_zero(W[i, j])) for i in range(3) for j in range(4))
    assert torch.allclose(spectral_radius_J(W.float()), rho, rtol=1e-6)  # float32 in, float64 out
    with pytest.raises(ValueError, match="W_hh"):
        spectral_radius_J(torch.zeros(2, 3, 4))
    with pytest.raises(TypeError, match="W_hh"):
        spectral_radius_J(torch.eye(3, dtype=torch.complex128)[None])


@pytest.mark.parametrize("kind", MATRIX_KINDS)
def test_random_matrices_have_the_asked_spectral_norm(gen, kind):
    target = torch.linspace(0.5, 3.0, 6, dtype=D)
    W = random_matrices(kind, 6, 7, target, gen)
    assert W.shape == (6, 7, 7)
    assert torch.allclose(torch.linalg.matrix_norm(W, 2), target, rtol=1e-12)
    if kind == "orthogonal":
        assert torch.allclose(torch.linalg.svdvals(W), target[:, None].expand(6, 7), rtol=1e-12)
    if kind == "symmetric":
        assert torch.equal(W, W.transpose(-1, -2))
    if kind == "rank1":
        assert (torch.linalg.svdvals(W)[:, 1] < 1e-12).all()
    with pytest.raises(ValueError, match="sigma1"):
        random_matrices(kind, 6, 7, torch.ones(5), gen)


def test_random_matrices_checks_kind():
    with pytest.raises(ValueError, match="kind"):
        random_matrices("hermitian", 2, 3, 1.0, torch.Generator())
