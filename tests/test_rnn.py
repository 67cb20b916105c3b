"""reprolib.rnn against independent routes: autograd, torch.nn.RNN, finite differences."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from reprolib.rnn import GAMMA, RNN, SIGMAS, activation

D = torch.float64


def make(gen, N=6, M=3, sigma="tanh", scale=1.2, requires_grad=False):
    W_rec = (scale * torch.randn(N, N, generator=gen, dtype=D) / math.sqrt(N)).requires_grad_(requires_grad)
    W_in = torch.randn(N, M, generator=gen, dtype=D).requires_grad_(requires_grad)
    b = (0.1 * torch.randn(N, generator=gen, dtype=D)).requires_grad_(requires_grad)
    return RNN(W_rec, W_in, b, sigma)


def data(gen, net, T=7, B=4):
    u = torch.randn(T, B, net.n_in, generator=gen, dtype=D)
    x0 = 0.5 * torch.randn(B, net.n_hidden, generator=gen, dtype=D)
    return u, x0


def loss_last(x_T, y):
    """A nonlinear cost on the last state only: E_t with t = T."""
    return (torch.sin(x_T) * y).sum() + 0.5 * (x_T**2).sum()


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("sigma", SIGMAS)
def test_activation_derivative_matches_autograd(sigma):
    f, df = activation(sigma)
    x = torch.linspace(-4, 4, 41, dtype=D, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    assert torch.allclose(df(x), g, rtol=1e-12, atol=1e-14)
    assert df(x).abs().max() <= GAMMA[sigma] + 1e-15  # γ bounds |σ′| (summary eq. 8)


def test_unroll_matches_torch_nn_rnn(gen):
    """h_t = σ(x_t) obeys h_t = tanh(W_rec h_{t−1} + W_in u_t + b): torch.nn.RNN's form."""
    net = make(gen)
    u, _ = data(gen, net)
    h0 = 0.5 * torch.rand(u.shape[1], net.n_hidden, generator=gen, dtype=D)
    xs = net.unroll(u, torch.atanh(h0))
    ref = torch.nn.RNN(net.n_in, net.n_hidden, nonlinearity="tanh", dtype=D)
    with torch.no_grad():
        ref.weight_hh_l0.copy_(net.W_rec)
        ref.weight_ih_l0.copy_(net.W_in)
        ref.bias_ih_l0.copy_(net.b)
        ref.bias_hh_l0.zero_()
        hs, _ = ref(u, h0[None])
    assert torch.allclose(torch.tanh(xs[1:]), hs, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_temporal_contributions_sum_to_autograd_gradient(gen, sigma):
    """Eq. (4): Σ_k ∂E_t/∂x_t ∂x_t/∂x_k ∂⁺x_k/∂θ equals ∂E_t/∂θ."""
    net = make(gen, sigma=sigma, requires_grad=True)
    u, x0 = data(gen, net)
    y = torch.randn(u.shape[1], net.n_hidden, generator=gen, dtype=D)
    xs = net.unroll(u, x0)
    x_T = xs[-1].detach().requires_grad_(True)
    (dE_dxt,) = torch.autograd.grad(loss_last(x_T, y), x_T)
    grads = torch.autograd.grad(loss_last(xs[-1], y), list(net.parameters().values()))
    contrib = net.temporal_contributions(u, x0, dE_dxt)
    for (name, g_ref) in zip(net.parameters(), grads):
        assert contrib[name].shape[0] == u.shape[0]
        assert rel_err(contrib[name].sum(0), g_ref) < 1e-10, name


def test_contributions_over_all_t_give_gradient_of_sum_cost(gen):
    """Eq. (3): ∂E/∂θ = Σ_t ∂E_t/∂θ, each E_t split by eq. (4) on the prefix u_1..u_t."""
    net = make(gen, sigma="sigmoid", scale=5.0, requires_grad=True)
    u, x0 = data(gen, net, T=6, B=3)
    xs = net.unroll(u, x0)
    total = sum((xs[t] ** 2).sum() for t in range(1, u.shape[0] + 1))
    grads = torch.autograd.grad(total, list(net.parameters().values()))
    acc = {name: 0 for name in net.parameters()}
    for t in range(1, u.shape[0] + 1):
        c = net.temporal_contributions(u[:t], x0, 2 * xs[t].detach())
        for name in acc:
            acc[name] = acc[name] + c[name].sum(0)
    for name, g_ref in zip(net.parameters(), grads):
        assert rel_err(acc[name], g_ref) < 1e-10, name


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("t,k", [(7, 0), (7, 3), (5, 4), (4, 4)])
def test_jacobian_product_matches_autograd_jacobian(gen, sigma, t, k):
    """Eq. (5) against torch.autograd.functional.jacobian of the map x_k ↦ x_t."""
    net = make(gen, sigma=sigma)
    u, x0 = data(gen, net, B=2)
    xs = net.unroll(u, x0)
    P = net.jacobian_product(xs, t, k)
    for b in range(u.shape[1]):
        def x_t_of_x_k(x_k):
            return net.unroll(u[k:t, b : b + 1], x_k[None])[-1, 0] if t > k else x_k
        ref = torch.autograd.functional.jacobian(x_t_of_x_k, xs[k, b])
        assert torch.allclose(P[b], ref, rtol=1e-11, atol=1e-12)


def test_backprop_equals_row_vector_times_jacobian_product(gen):
    net = make(gen, sigma="sigmoid", scale=4.0)
    u, x0 = data(gen, net)
    xs = net.unroll(u, x0)
    g = torch.randn(u.shape[1], net.n_hidden, generator=gen, dtype=D)
    deltas = net.backprop(xs, g)
    T = u.shape[0]
    for k in range(T + 1):
        ref = torch.einsum("bi,bij->bj", g, net.jacobian_product(xs, T, k))
        assert torch.allclose(deltas[k], ref, rtol=1e-11, atol=1e-13)


def test_gradient_matches_central_finite_differences(gen):
    net = make(gen, sigma="tanh", scale=1.5)
    u, x0 = data(gen, net)
    y = torch.randn(u.shape[1], net.n_hidden, generator=gen, dtype=D)
    x_T = net.unroll(u, x0)[-1].requires_grad_(True)
    (dE_dxt,) = torch.autograd.grad(loss_last(x_T, y), x_T)
    contrib = net.temporal_contributions(u, x0, dE_dxt)
    h = 1e-6
    for name in ("W_rec", "W_in", "b"):
        direction = torch.randn(net.parameters()[name].shape, generator=gen, dtype=D)

        def E(s):
            p = dict(net.parameters())
            p[name] = p[name] + s * direction
            return loss_last(RNN(**p, sigma=net.sigma).unroll(u, x0)[-1], y).item()

        fd = (E(h) - E(-h)) / (2 * h)
        analytic = (contrib[name].sum(0) * direction).sum().item()
        assert abs(fd - analytic) <= 1e-7 * max(1.0, abs(analytic)), name


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 7), M=st.integers(1, 4), T=st.integers(1, 9), B=st.integers(1, 3),
       sigma=st.sampled_from(SIGMAS), seed=st.integers(0, 2**31 - 1))
def test_contributions_sum_property(N, M, T, B, sigma, seed):
    """Eq. (4) holds for every size, batch and nonlinearity (hypothesis-driven)."""
    g = torch.Generator().manual_seed(seed)
    net = make(g, N=N, M=M, sigma=sigma, requires_grad=True)
    u, x0 = data(g, net, T=T, B=B)
    xs = net.unroll(u, x0)
    grads = torch.autograd.grad((xs[-1] ** 2).sum(), list(net.parameters().values()))
    contrib = net.temporal_contributions(u, x0, 2 * xs[-1].detach())
    for name, g_ref in zip(net.parameters(), grads):
        err = (contrib[name].sum(0) - g_ref).norm()
        assert err <= 1e-10 * max(1.0, g_ref.norm().item()), name


def test_x0_broadcasts_over_batch(gen):
    net = make(gen)
    u, _ = data(gen, net, B=3)
    x0 = torch.randn(net.n_hidden, generator=gen, dtype=D)
    assert torch.equal(net.unroll(u, x0), net.unroll(u, x0.expand(3, -1)))


@pytest.mark.parametrize("kwargs,arg", [
    (dict(W_rec=torch.zeros(3, 4)), "W_rec"),
    (dict(W_in=torch.zeros(4, 2)), "W_in"),
    (dict(b=torch.zeros(2)), "b"),
    (dict(W_rec=torch.full((3, 3), float("nan"))), "W_rec"),
    (dict(sigma="relu"), "sigma"),
    (dict(b=torch.zeros(3, dtype=torch.float64)), "b"),
])
def test_bad_model_arguments_raise_value_error_naming_them(kwargs, arg):
    base = dict(W_rec=torch.zeros(3, 3), W_in=torch.zeros(3, 2), b=torch.zeros(3), sigma="tanh")
    base.update(kwargs)
    with pytest.raises(ValueError, match=arg):
        RNN(**base)


def test_non_tensor_weight_raises_type_error():
    with pytest.raises(TypeError, match="W_rec"):
        RNN([[0.0]], torch.zeros(1, 1), torch.zeros(1))


def test_bad_call_arguments_raise_value_error_naming_them(gen):
    net = make(gen)
    u, x0 = data(gen, net)
    xs = net.unroll(u, x0)
    T = u.shape[0]
    cases = [
        (lambda: net.unroll(u[0], x0), "u"),
        (lambda: net.unroll(u[:0], x0), "u"),
        (lambda: net.unroll(u[..., :2], x0), "u"),
        (lambda: net.unroll(u, x0[:, :2]), "x0"),
        (lambda: net.unroll(u, x0[:2]), "x0"),
        (lambda: net.unroll(u.float(), x0), "u"),
        (lambda: net.jacobian_product(xs, T + 1, 0), "t"),
        (lambda: net.jacobian_product(xs, 2, 3), "k"),
        (lambda: net.jacobian_product(xs[:1], 0, 0), "xs"),
        (lambda: net.backprop(xs, x0[:, :2]), "dE_dxt"),
        (lambda: net.temporal_contributions(u, x0, torch.full_like(x0, float("inf"))), "dE_dxt"),
    ]
    for call, arg in cases:
        with pytest.raises(ValueError, match=arg):
            call()
