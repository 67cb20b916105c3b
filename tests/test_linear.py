"""reprolib.linear against closed forms and numpy."""

import math

import numpy as np
import pytest
import torch

from reprolib import linear
from reprolib.rnn import RNN

D = torch.float64


def test_spectral_radius_and_rescaling_match_numpy(gen):
    W = torch.randn(8, 8, generator=gen, dtype=D)
    assert linear.spectral_radius(W) == pytest.approx(np.abs(np.linalg.eigvals(W.numpy())).max(), rel=1e-12)
    assert linear.spectral_radius(linear.scale_to_spectral_radius(W, 1.3)) == pytest.approx(1.3, rel=1e-12)
    Wn = linear.scale_to_spectral_norm(W, 0.7)
    assert np.linalg.norm(Wn.numpy(), 2) == pytest.approx(0.7, rel=1e-12)


def test_matrix_with_spectrum_has_that_spectrum_and_left_eigenvectors(gen):
    lam = torch.tensor([1.5, -1.1, 0.7, 0.2, -0.05], dtype=D)
    W, Q = linear.matrix_with_spectrum(lam, gen)
    assert torch.allclose(W @ Q, Q * lam, atol=1e-12)
    mu, P = linear.left_eigenvectors(W)
    assert torch.allclose(mu.real, lam, atol=1e-10)  # sorted by decreasing |λ|
    assert torch.allclose(P @ W.to(P.dtype), mu[:, None] * P, atol=1e-10)  # p_iᵀ W = λ_i p_iᵀ


def test_power_iteration_equals_explicit_matrix_powers(gen):
    W = torch.randn(5, 5, generator=gen, dtype=D)
    g = torch.randn(5, generator=gen, dtype=D)
    log_norms, dirs = linear.power_iteration(g, W, 12)
    for l in range(13):
        v = g @ torch.linalg.matrix_power(W, l)
        assert log_norms[l].item() == pytest.approx(math.log(v.norm().item()), abs=1e-11)
        assert torch.allclose(dirs[l], v / v.norm(), atol=1e-11)


def test_power_iteration_is_the_rnn_jacobian_product_for_the_identity(gen):
    """Eq. (6): for σ = identity, ∂x_t/∂x_k = W_rec^l (numerator layout)."""
    N = 4
    net = RNN(torch.randn(N, N, generator=gen, dtype=D), torch.randn(N, 2, generator=gen, dtype=D),
              torch.zeros(N, dtype=D), "identity")
    xs = net.unroll(torch.randn(6, 1, 2, generator=gen, dtype=D), torch.zeros(N, dtype=D))
    assert torch.allclose(net.jacobian_product(xs, 6, 2)[0], torch.linalg.matrix_power(net.W_rec, 4), atol=1e-12)


def test_growth_rate_follows_first_nonzero_coefficient_exactly_for_diagonal_matrix():
    """Eq. (7) with c_1 = 0: on a diagonal W no round-off can re-create c_1."""
    W = torch.diag(torch.tensor([1.5, 1.2, 0.3], dtype=D))
    log_norms, dirs = linear.power_iteration(torch.tensor([0.0, 1.0, 1.0], dtype=D), W, 400)
    assert linear.growth_rate(log_norms, 200) == pytest.approx(math.log(1.2), abs=1e-12)
    assert dirs[-1, 1].item() == pytest.approx(1.0, abs=1e-12)


def test_growth_rate_and_direction_converge_to_leading_eigenpair(gen):
    lam = torch.tensor([1.3, 0.9, -0.8, 0.5, 0.1], dtype=D)
    W, _ = linear.matrix_with_spectrum(lam, gen)
    log_norms, dirs = linear.power_iteration(torch.randn(5, generator=gen, dtype=D), W, 300)
    assert linear.growth_rate(log_norms, 150) == pytest.approx(math.log(1.3), abs=1e-9)
    _, P = linear.left_eigenvectors(W)
    assert abs(dirs[-1] @ P[0].real) == pytest.approx(1.0, abs=1e-9)


def test_growth_rate_is_exact_on_a_line():
    y = 0.3 + 0.25 * np.arange(50)
    assert linear.growth_rate(y, 10) == pytest.approx(0.25, abs=1e-12)


def test_fit_power_exponential_recovers_synthetic_parameters():
    l = np.arange(200, dtype=np.float64)
    y = np.zeros_like(l)
    y[1:] = -1.0 + 2.0 * np.log(l[1:]) - 0.1 * l[1:]
    p, r = linear.fit_power_exponential(y, 1)
    assert (p, r) == (pytest.approx(2.0, abs=1e-9), pytest.approx(-0.1, abs=1e-10))


@pytest.mark.parametrize("lam,m", [(1.0, 3), (0.9, 2), (-1.05, 4)])
def test_jordan_block_powers_follow_binomial_closed_form(lam, m):
    """J_m(λ)^l = Σ_j C(l, j) λ^{l−j} N^j, N the nilpotent shift: growth ~ l^{m−1} |λ|^l."""
    J = linear.jordan_block(lam, m)
    Nshift = J - lam * torch.eye(m, dtype=D)
    l = 9
    closed = sum(math.comb(l, j) * lam ** (l - j) * torch.linalg.matrix_power(Nshift, j) for j in range(m))
    assert torch.allclose(torch.linalg.matrix_power(J, l), closed, rtol=1e-12)
    log_norms, _ = linear.power_iteration(torch.ones(m, dtype=D), J, 20000)
    p, r = linear.fit_power_exponential(log_norms, 2000)
    assert p == pytest.approx(m - 1, abs=0.01)
    assert r == pytest.approx(math.log(abs(lam)), abs=1e-5)


@pytest.mark.parametrize("call,exc,arg", [
    (lambda: linear.spectral_radius(torch.zeros(2, 3)), ValueError, "W"),
    (lambda: linear.scale_to_spectral_radius(torch.eye(2), 0.0), ValueError, "rho"),
    (lambda: linear.scale_to_spectral_radius(torch.eye(2), float("nan")), ValueError, "rho"),
    (lambda: linear.scale_to_spectral_norm(torch.eye(2), -1.0), ValueError, "norm"),
    (lambda: linear.matrix_with_spectrum([1.0], None), TypeError, "generator"),
    (lambda: linear.matrix_with_spectrum([], torch.Generator()), ValueError, "eigenvalues"),
    (lambda: linear.jordan_block(1.0, 0), ValueError, "m"),
    (lambda: linear.power_iteration(torch.ones(2), torch.eye(2), 0), ValueError, "L"),
    (lambda: linear.power_iteration(torch.zeros(2), torch.eye(2), 3), ValueError, "g"),
    (lambda: linear.power_iteration(torch.ones(3), torch.eye(2), 3), ValueError, "g"),
    (lambda: linear.power_iteration(torch.ones(2), torch.ones(2, 3), 3), ValueError, "M"),
    (lambda: linear.growth_rate([0.0, 1.0, 2.0], 2), ValueError, "log_norms"),
    (lambda: linear.growth_rate([0.0, 1.0, 2.0], -1), ValueError, "start"),
    (lambda: linear.fit_power_exponential([0.0] * 10, 0), ValueError, "start"),
])
def test_bad_arguments_raise_naming_the_argument(call, exc, arg):
    with pytest.raises(exc, match=arg):
        call()


def test_fit_power_exponential_refuses_non_finite_input():
    y = torch.log(torch.arange(1, 30, dtype=torch.float64))
    y[10] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        linear.fit_power_exponential(y)
