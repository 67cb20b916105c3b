"""reprolib.nonlinear against independent routes: explicit matrix products, autograd, closed forms."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from reprolib import linear, nonlinear
from reprolib.rnn import GAMMA, RNN

D = torch.float64


def make(gen, N=6, M=2, sigma="tanh", rho=2.0, T=30):
    W = linear.scale_to_spectral_radius(torch.randn(N, N, generator=gen, dtype=D), rho)
    net = nonlinear.driven_network(W, sigma, M, gen, input_scale=0.5, bias_scale=0.3)
    u = torch.randn(T, 1, M, generator=gen, dtype=D)
    return net, u, torch.zeros(N, dtype=D)


def test_expansion_factors_multiply_to_the_jacobian_product(gen):
    """∂x_t/∂x_k v = (Π α_i) v_t, with ∂x_t/∂x_k from RNN.jacobian_product (eq. 5)."""
    net, u, x0 = make(gen)
    xs = net.unroll(u, x0)
    v = torch.randn(1, net.n_hidden, generator=gen, dtype=D)
    k = 5
    alphas, dirs = nonlinear.expansion_factors(net.step_jacobians(xs)[k:], v)
    for t in (k + 1, k + 10, 30):
        direct = net.jacobian_product(xs, t, k)[0] @ (v[0] / v[0].norm())
        assert torch.allclose(direct, alphas[: t - k, 0].prod() * dirs[t - k, 0], rtol=1e-10, atol=1e-12)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(dirs.shape[:2], dtype=D), atol=1e-14)


def test_backward_log_norms_match_rnn_backprop(gen):
    net, u, x0 = make(gen, sigma="sigmoid", rho=6.0)
    xs = net.unroll(u, x0)
    g = torch.randn(1, net.n_hidden, generator=gen, dtype=D)
    logs = nonlinear.backward_log_norms(net.step_jacobians(xs), g)
    direct = net.backprop(xs, g)[:, 0].norm(dim=-1).log().flip(0)  # index l = t − k
    assert torch.allclose(logs[:, 0], direct, atol=1e-10)


def test_backward_log_norms_do_not_overflow_where_plain_backprop_does(gen):
    """A constant Jacobian 3 I over 1000 steps: ‖g‖ 3^1000 overflows float64, its log does not."""
    J = (3 * torch.eye(4, dtype=D)).expand(1000, 1, 4, 4)
    logs = nonlinear.backward_log_norms(J, torch.ones(1, 4, dtype=D))
    assert logs[-1, 0].item() == pytest.approx(math.log(2) + 1000 * math.log(3), rel=1e-12)


def test_growth_rate_of_a_linear_network_is_log_rho(gen):
    """σ = identity: the rate is log ρ(W_rec) (eq. 7), whatever the inputs."""
    W, _ = linear.matrix_with_spectrum([1.2, 0.5, -0.3, 0.1], gen)
    net = RNN(W, torch.randn(4, 1, generator=gen, dtype=D), torch.zeros(4, dtype=D), "identity")
    u = torch.randn(400, 1, 1, generator=gen, dtype=D)
    r = nonlinear.long_term_growth_rate(net, u, torch.zeros(4, dtype=D), torch.randn(1, 4, generator=gen, dtype=D), 50)
    assert r.item() == pytest.approx(math.log(1.2), abs=2e-3)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.floats(0.05, 4.0), min_size=1, max_size=30))
def test_expansion_bound_against_a_direct_loop(values):
    alphas = torch.tensor(values, dtype=D)
    out = nonlinear.expansion_bound(alphas)
    t = len(values)
    for k in range(t):
        window = values[k:]
        P = [a for a in window if a <= 1]
        E = [a for a in window if a > 1]
        assert out["l"][k].item() == t - k and out["P"][k].item() == len(P)
        assert out["alpha"][k].item() == (min(E) if E else pytest.approx(math.nan, nan_ok=True))
        assert out["beta"][k].item() == (min(P) if P else pytest.approx(math.nan, nan_ok=True))
        log_bound = len(P) * math.log(min(P)) if P else 0.0
        log_bound += len(E) * math.log(min(E)) if E else 0.0
        assert out["log_bound"][k].item() == pytest.approx(log_bound, abs=1e-12)
        assert out["log_product"][k].item() == pytest.approx(sum(map(math.log, window)), abs=1e-12)
        assert out["log_bound"][k].item() <= out["log_product"][k].item() + 1e-12  # eq. (13)


@pytest.mark.parametrize("sigma", ["tanh", "sigmoid"])
def test_eq13_chain_on_a_trajectory(gen, sigma):
    """The equalities of the chain, the inequalities of eq. (13), and ‖g_k‖ against autograd."""
    net, u, x0 = make(gen, sigma=sigma, rho=3.0 / GAMMA[sigma], T=40)
    g = torch.randn(1, net.n_hidden, generator=gen, dtype=D)
    e = nonlinear.eq13_terms(net, u, x0, g, torch.randn(1, net.n_hidden, generator=gen, dtype=D), washout=10)
    assert torch.allclose(e["log_along_v"], e["log_product"], atol=1e-10)
    assert (e["log_bound"] <= e["log_along_v"] + 1e-10).all()
    assert (e["log_along_v"] <= e["log_contribution"] + 1e-10).all()
    assert ((e["cos"] >= 0) & (e["cos"] <= 1 + 1e-12)).all()
    # ‖g_k‖_F = γ_k ‖δ_k‖ by an independent route: the gradient of E_t = g·x_t w.r.t. W_rec at step k only
    k = 25
    W = net.W_rec.clone().requires_grad_(True)
    x = x0
    sigma_f = torch.tanh if sigma == "tanh" else torch.sigmoid
    for s in range(u.shape[0]):
        Ws = W if s == k - 1 else W.detach()  # W_rec enters only step k
        x = Ws @ sigma_f(x) + net.W_in @ u[s, 0] + net.b
    (grad,) = torch.autograd.grad(g[0] @ x, W)
    assert e["log_contribution"][k - 10].item() == pytest.approx(math.log(grad.norm().item()), abs=1e-10)


def test_gamma_k_and_immediate_norms_match_autograd(gen):
    net, u, x0 = make(gen, sigma="sigmoid", rho=8.0, T=5)
    xs = net.unroll(u, x0)
    gam, imm = nonlinear.gamma_k(net, xs), nonlinear.immediate_norms(net, xs)
    for k in range(1, 6):
        x_prev = xs[k - 1, 0]
        Jx = torch.autograd.functional.jacobian(lambda W: W @ torch.sigmoid(x_prev) + net.W_in @ u[k - 1, 0] + net.b, net.W_rec)
        Jh = torch.autograd.functional.jacobian(
            lambda W: torch.sigmoid(W @ torch.sigmoid(x_prev) + net.W_in @ u[k - 1, 0] + net.b), net.W_rec)
        Jx, Jh = Jx.reshape(net.n_hidden, -1), Jh.reshape(net.n_hidden, -1)
        assert imm["x"][k - 1, 0].item() == pytest.approx(Jx.norm().item(), rel=1e-12)
        assert imm["h"][k - 1, 0].item() == pytest.approx(Jh.norm().item(), rel=1e-12)
        assert gam[k - 1, 0].item() == pytest.approx(torch.linalg.matrix_norm(Jx, 2).item(), rel=1e-12)  # operator norm


def test_saturated_fraction_closed_form():
    x = torch.tensor([[0.0, 1.0, 2.0, -3.0]], dtype=D)  # tanh′ = 1, 0.42, 0.071, 0.0099
    assert nonlinear.saturated_fraction("tanh", x).item() == pytest.approx(0.5)
    assert nonlinear.saturated_fraction("sigmoid", 2 * x).item() == pytest.approx(0.5)  # σ′(2x) = tanh′(x)/4


@pytest.mark.parametrize("N", [3, 5, 12])
def test_eq9_witnesses_violate_eq9(gen, N):
    J = torch.randn(N, N, generator=gen, dtype=D)
    v = torch.randn(N, generator=gen, dtype=D)
    u_both, u_image = nonlinear.eq9_witnesses(J, v)
    assert abs(u_both @ v) < 1e-12 and abs(u_both @ J @ v) < 1e-12
    assert abs(u_image @ J @ v) < 1e-12 and abs(u_image @ v) > 1e-6
    assert u_both.norm().item() == pytest.approx(1.0) and u_image.norm().item() == pytest.approx(1.0)
    # for an eigenvector v, no u orthogonal to J v ∥ v has u^T v ≠ 0: the non-strict eq. (9) can hold
    _, vecs = torch.linalg.eigh(J + J.T)
    with pytest.raises(ValueError, match="eigenvector"):
        nonlinear.eq9_witnesses(J + J.T, vecs[:, -1])


def test_sigmoid_network_is_a_tanh_network_with_a_quarter_of_the_weights(gen):
    net, u, x0 = make(gen, sigma="sigmoid", rho=6.0, T=8)
    twin = nonlinear.sigmoid_as_tanh(net)
    xs, ys = net.unroll(u, x0), twin.unroll(u, x0 / 2)
    assert torch.allclose(ys, xs / 2, atol=1e-12)
    assert torch.allclose(twin.step_jacobians(ys), net.step_jacobians(xs), atol=1e-12)
    assert linear.spectral_radius(twin.W_rec) == pytest.approx(6.0 / 4)


def test_non_normal_matrix_has_the_spectral_radius_and_grows_in_norm(gen):
    W0 = nonlinear.non_normal_matrix(10, 0.5, 0.0, gen)
    assert torch.allclose(W0 @ W0.T, W0.T @ W0, atol=1e-12)  # s = 0: normal (symmetric)
    for s in (1.0, 8.0):
        W = nonlinear.non_normal_matrix(10, 0.5, s, gen)
        assert np.abs(np.linalg.eigvals(W.numpy())).max() == pytest.approx(0.5, rel=1e-8)
    assert torch.linalg.matrix_norm(W, 2) > 4  # s = 8


def test_driven_network_centring_removes_the_mean_drive(gen):
    W = torch.randn(5, 5, generator=gen, dtype=D)
    net = nonlinear.driven_network(W, "sigmoid", 2, gen, bias_scale=0.0, centred=True)
    assert torch.allclose(W @ torch.full((5,), 0.5, dtype=D) + net.b, torch.zeros(5, dtype=D), atol=1e-14)


# ------------------------------------------------------------------------------ bad input
def test_bad_inputs_name_the_argument(gen):
    net, u, x0 = make(gen)
    xs = net.unroll(u, x0)
    J = net.step_jacobians(xs)
    v = torch.randn(1, net.n_hidden, generator=gen, dtype=D)
    with pytest.raises(ValueError, match="J"):
        nonlinear.expansion_factors(J[:0], v)  # non-positive horizon
    with pytest.raises(ValueError, match="v"):
        nonlinear.expansion_factors(J, torch.zeros_like(v))
    with pytest.raises(ValueError, match="g"):
        nonlinear.backward_log_norms(J, v[:, :3])
    with pytest.raises(ValueError, match="J"):
        nonlinear.backward_log_norms(J.clone().fill_(math.nan), v)
    with pytest.raises(ValueError, match="washout"):
        nonlinear.long_term_growth_rate(net, u, x0, v, washout=u.shape[0])
    with pytest.raises(ValueError, match="washout"):
        nonlinear.eq13_terms(net, u, x0, v, v, washout=0)
    with pytest.raises(ValueError, match="alphas"):
        nonlinear.expansion_bound(torch.tensor([1.5, 0.0], dtype=D))
    with pytest.raises(ValueError, match="alphas"):
        nonlinear.expansion_bound(torch.tensor([], dtype=D))
    with pytest.raises(ValueError, match="J"):
        nonlinear.eq9_witnesses(torch.eye(2, dtype=D), torch.ones(2, dtype=D))
    with pytest.raises(ValueError, match="net"):
        nonlinear.sigmoid_as_tanh(net)
    with pytest.raises(ValueError, match="W_rec"):
        nonlinear.driven_network(torch.full((3, 3), math.nan, dtype=D), "tanh", 1, gen)
    with pytest.raises(ValueError, match="centred"):
        nonlinear.driven_network(torch.eye(3, dtype=D), "tanh", 1, gen, centred=True)
    with pytest.raises(ValueError, match="rho"):
        nonlinear.non_normal_matrix(5, -1.0, 1.0, gen)
    with pytest.raises(ValueError, match="threshold"):
        nonlinear.saturated_fraction("tanh", xs, threshold=0.0)
    with pytest.raises(TypeError, match="generator"):
        nonlinear.non_normal_matrix(5, 1.0, 1.0, 0)
