"""reprolib.surface against independent routes: autograd, finite differences, numpy, closed forms."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from reprolib import clipping, surface
from reprolib.rnn import RNN

D = torch.float64


def E_autograd(w, b, T, x0, y):
    """E_T of eq. (14) at one point, by a plain loop (autograd differentiates it)."""
    x = torch.full_like(w, x0)
    for _ in range(T):
        x = w * torch.sigmoid(x) + b
    return (torch.sigmoid(x) - y) ** 2


def E_float(w, b, T, x0, y):
    """The same with Python floats only (no torch)."""
    x = x0
    for _ in range(T):
        x = w / (1 + math.exp(-x)) + b
    return (1 / (1 + math.exp(-x)) - y) ** 2


# ------------------------------------------------------------------ one unit (eq. 14)
@settings(deadline=None, max_examples=25)
@given(w=st.floats(-3, 8), b=st.floats(-6, 3), T=st.integers(1, 60), x0=st.floats(-1, 1), y=st.floats(0.05, 0.95))
def test_surface_gradient_and_hessian_match_autograd(w, b, T, x0, y):
    S = surface.one_unit_surface(torch.tensor(w, dtype=D), torch.tensor(b, dtype=D), T, x0, y)
    th = torch.tensor([w, b], dtype=D)
    f = lambda th: E_autograd(th[0], th[1], T, x0, y)  # noqa: E731
    g = torch.autograd.functional.jacobian(f, th)
    H = torch.autograd.functional.hessian(f, th)
    assert S.E.item() == pytest.approx(E_float(w, b, T, x0, y), rel=1e-9, abs=1e-15)
    assert torch.allclose(S.grad, g, rtol=1e-8, atol=1e-14 * (1 + g.abs().max()))
    assert torch.allclose(S.hessian, H, rtol=1e-8, atol=1e-14 * (1 + H.abs().max()))


def test_surface_gradient_matches_finite_differences():
    w, b, h = torch.tensor([2.0, 4.0, 5.0], dtype=D), torch.tensor([-1.0, -1.5, -3.0], dtype=D), 1e-6
    S = surface.one_unit_surface(w, b)
    dw = (surface.one_unit_surface(w + h, b).E - surface.one_unit_surface(w - h, b).E) / (2 * h)
    db = (surface.one_unit_surface(w, b + h).E - surface.one_unit_surface(w, b - h).E) / (2 * h)
    assert torch.allclose(S.grad, torch.stack([dw, db], -1), rtol=1e-6, atol=1e-10)
    dgw = (surface.one_unit_surface(w + h, b).grad - surface.one_unit_surface(w - h, b).grad) / (2 * h)
    assert torch.allclose(S.hessian[..., 0, :], dgw, rtol=1e-5, atol=1e-9)


def test_surface_is_vectorised_over_a_grid_and_broadcasts():
    W, B = surface.grid((1.0, 9.0), (-6.0, 2.0), 7, 5)
    assert W.shape == B.shape == (7, 5) and W[0, 0] == 1.0 and B[-1, -1] == 2.0
    S = surface.one_unit_surface(W, B)
    assert S.E.shape == (7, 5) and S.grad.shape == (7, 5, 2) and S.hessian.shape == (7, 5, 2, 2)
    for i, j in ((0, 0), (3, 2), (6, 4)):
        assert S.E[i, j].item() == pytest.approx(E_float(W[i, j].item(), B[i, j].item(), 50, 0.5, 0.7), rel=1e-10)
    Sb = surface.one_unit_surface(W[:, :1], B[:1, :])  # broadcast [7, 1] with [1, 5]
    assert torch.equal(Sb.E, S.E)
    assert surface.one_unit_surface(W, B, hessian=False).hessian is None
    assert torch.equal(surface.one_unit_surface(W, B, hessian=False).grad, S.grad)
    xs = surface.one_unit_states(W, B, 50)
    assert xs.shape == (51, 7, 5) and torch.equal(xs[-1], S.x_T)


def test_wall_is_a_fixed_point_and_separates_two_basins():
    w = torch.linspace(4.5, 8.0, 8, dtype=D)
    bw = surface.wall_b(w)
    xs = surface.one_unit_states(w, bw, 10)
    assert torch.allclose(xs, torch.full_like(xs, 0.5), atol=1e-10)  # x_t = x_0 on the wall
    alpha = surface.wall_alpha(w)
    assert (alpha > 1).all() and alpha[0].item() == pytest.approx(4.5 * math.exp(-0.5) / (1 + math.exp(-0.5)) ** 2)
    w, bw = w[2:], bw[2:]  # w >= 5.5: alpha^50 > 1e5, so 1e-3 off the wall is enough to escape in 50 steps
    for side in (-1, 1):  # x_50 sits on a different attractor on each side
        x_T = surface.one_unit_surface(w, bw + side * 1e-3).x_T
        assert (side * (x_T - 0.5) > 1).all()
        assert torch.allclose(w * torch.sigmoid(x_T) + bw + side * 1e-3, x_T, atol=1e-6)


def test_wall_gradient_closed_form_matches_the_recursion_and_is_normal_to_the_wall():
    w = torch.tensor([4.0, 1 / 0.2350037122015945, 5.0, 7.0], dtype=D)  # alpha < 1, = 1, > 1
    for T in (1, 7, 50):
        S = surface.one_unit_surface(w, surface.wall_b(w), T)
        g = surface.wall_gradient(w, T)
        assert torch.allclose(S.grad, g, rtol=1e-9, atol=0)
    s = 1 / (1 + math.exp(-0.5))
    assert torch.allclose(surface.abs_cos(g, torch.tensor([[s, 1.0]], dtype=D).expand(4, 2)), torch.ones(4, dtype=D))
    assert torch.allclose(torch.stack([torch.ones_like(w), -s * torch.ones_like(w)], -1) @ torch.tensor([s, 1.0], dtype=D),
                          torch.zeros(4, dtype=D))  # (1, -s) runs along b = x0 - w s; (s, 1) is its normal


def test_descend_is_gradient_descent_and_clipping_is_algorithm_1():
    start = torch.tensor([[5.0, -1.0], [6.0, -1.0], [3.0, -0.5]], dtype=D)
    path, norms = surface.descend(start, 0.7, 5)
    theta = start.clone()
    for k in range(5):
        g = surface.one_unit_surface(theta[:, 0], theta[:, 1]).grad
        assert torch.allclose(norms[k], g.norm(dim=1), rtol=1e-12)
        theta = theta - 0.7 * g
        assert torch.allclose(path[k + 1], theta, rtol=1e-12)
    path_c, norms_c = surface.descend(start, 0.7, 300, threshold=0.05)
    steps = (path_c[1:] - path_c[:-1]).norm(dim=-1)
    assert (steps <= 0.7 * 0.05 * (1 + 1e-12)).all() and (norms_c > 0.05).any()
    for k in (0, 100, 299):  # each step is -lr times clip_by_norm of the gradient
        for p in range(3):
            g = surface.one_unit_surface(path_c[k, p, 0], path_c[k, p, 1]).grad
            c, _ = clipping.clip_by_norm({"w": g[0], "b": g[1]}, 0.05)
            assert torch.allclose(path_c[k + 1, p], path_c[k, p] - 0.7 * torch.stack([c["w"], c["b"]]), rtol=1e-12)
    assert torch.equal(surface.descend(start, 0.7, 20, threshold=1e9)[0], surface.descend(start, 0.7, 20)[0])


# ------------------------------------------------------------ the summary's linear unit
@pytest.mark.parametrize("w", [0.9, 1.1, -1.3, 0.0])
def test_linear_unit_matches_autograd_of_the_recursion(w):
    ws = torch.tensor(w, dtype=D, requires_grad=True)
    x = torch.tensor(0.5, dtype=D)
    for t in range(1, 30):
        x = ws * x
        (d1,) = torch.autograd.grad(x, ws, create_graph=True)
        d2 = torch.autograd.grad(d1, ws, retain_graph=True)[0] if d1.requires_grad else torch.zeros(())
        x_c, d1_c, d2_c = surface.linear_unit(ws.detach(), 0.5, t)
        assert x_c.item() == pytest.approx(x.item(), rel=1e-12, abs=1e-300)
        assert d1_c.item() == pytest.approx(d1.item(), rel=1e-12, abs=1e-300)
        assert d2_c.item() == pytest.approx(d2.item(), rel=1e-12, abs=1e-300)
        if t >= 2 and w != 0:
            assert (d2_c / d1_c).item() == pytest.approx((t - 1) / w, rel=1e-12)


# ------------------------------------------------------------------------- alignment
def test_leading_eigenpair_and_abs_cos_match_numpy(gen):
    A = torch.randn(30, 5, 5, generator=gen, dtype=D)
    H = A + A.transpose(1, 2)
    lam, v = surface.leading_eigenpair(H)
    for k in range(30):
        mu, V = np.linalg.eigh(H[k].numpy())
        i = np.abs(mu).argmax()
        assert lam[k].item() == pytest.approx(mu[i], rel=1e-12)
        assert abs(v[k].numpy() @ V[:, i]) == pytest.approx(1.0, abs=1e-10)
    a, b = torch.randn(30, 5, generator=gen, dtype=D), torch.randn(30, 5, generator=gen, dtype=D)
    ref = np.abs((a * b).sum(1).numpy()) / (np.linalg.norm(a.numpy(), axis=1) * np.linalg.norm(b.numpy(), axis=1))
    assert np.allclose(surface.abs_cos(a, b).numpy(), ref, rtol=1e-12)
    neg = torch.diag(torch.tensor([-5.0, 4.9, 1.0], dtype=D))  # the largest |λ| is negative
    lam_n, v_n = surface.leading_eigenpair(neg)
    assert lam_n.item() == -5.0 and abs(v_n[0].item()) == 1.0


def test_random_cos_median_matches_monte_carlo(gen):
    assert surface.random_cos_median(2) == pytest.approx(1 / math.sqrt(2), rel=1e-12)
    for dim in (3, 40):
        v = torch.randn(40000, dim, generator=gen, dtype=D)
        mc = (v[:, 0].abs() / v.norm(dim=1)).median().item()
        assert surface.random_cos_median(dim) == pytest.approx(mc, rel=0.02)


def test_alignment_by_gradient_splits_at_the_top_decile():
    g = torch.arange(1, 101, dtype=D)
    c = torch.where(g > 90, torch.tensor(0.9, dtype=D), torch.tensor(0.2, dtype=D))
    c[0] = float("nan")  # a zero gradient is left out
    s = surface.alignment_by_gradient(g, c, top=0.1)
    assert s["top"] == 0.9 and s["rest"] == 0.2 and s["n_top"] + s["n_rest"] == 99


# --------------------------------------------------------------- an N-unit network
def make_cost(gen, N=4, M=2, T=6, sigma="tanh"):
    cost = surface.LastStateCost(torch.randn(T, M, generator=gen, dtype=D), 0.5 * torch.randn(N, generator=gen, dtype=D),
                                 0.3 * torch.randn(N, generator=gen, dtype=D), sigma)
    nets = [RNN(1.5 * torch.randn(N, N, generator=gen, dtype=D) / math.sqrt(N), torch.randn(N, M, generator=gen, dtype=D),
                0.1 * torch.randn(N, generator=gen, dtype=D), sigma) for _ in range(3)]
    return cost, nets, torch.stack([cost.flatten(n) for n in nets])


@pytest.mark.parametrize("sigma", ["tanh", "sigmoid"])
def test_last_state_cost_matches_rnn_unroll(gen, sigma):
    cost, nets, theta = make_cost(gen, sigma=sigma)
    f = torch.tanh if sigma == "tanh" else torch.sigmoid
    E = cost(theta)
    for p, net in enumerate(nets):
        x_T = net.unroll(cost.u[:, None, :], cost.x0)[-1, 0]
        assert E[p].item() == pytest.approx(((f(x_T) - cost.y) ** 2).sum().item(), rel=1e-12)
        W_rec, W_in, b = cost.unflatten(theta[p : p + 1])
        assert torch.equal(W_rec[0], net.W_rec) and torch.equal(W_in[0], net.W_in) and torch.equal(b[0], net.b)
    assert cost.dim == 4 * 4 + 4 * 2 + 4


def test_gradient_and_hvp_match_the_full_hessian_and_finite_differences(gen):
    cost, _, theta = make_cost(gen)
    g, hvp = surface.gradient_and_hvp(cost, theta)
    V = torch.randn(2, *theta.shape, generator=gen, dtype=D)
    HV = hvp(V)
    for p in range(theta.shape[0]):
        f = lambda th: cost(th[None])[0]  # noqa: E731
        H = torch.autograd.functional.hessian(f, theta[p])
        assert torch.allclose(g[p], torch.autograd.functional.jacobian(f, theta[p]), rtol=1e-10, atol=1e-12)
        assert torch.allclose(HV[:, p], V[:, p] @ H, rtol=1e-9, atol=1e-11)
    h = 1e-5  # central difference of the gradient along V[0]
    g_plus, _ = surface.gradient_and_hvp(cost, theta + h * V[0])
    g_minus, _ = surface.gradient_and_hvp(cost, theta - h * V[0])
    assert torch.allclose(hvp(V[0]), (g_plus - g_minus) / (2 * h), rtol=1e-5, atol=1e-7)


def test_top_eigenpair_matches_eigh_and_separates_plus_minus_pairs(gen):
    cost, _, theta = make_cost(gen)
    _, hvp = surface.gradient_and_hvp(cost, theta)
    lam, v, res = surface.top_eigenpair(hvp, tuple(theta.shape), gen, iters=300, block=4)
    for p in range(theta.shape[0]):
        H = torch.autograd.functional.hessian(lambda th: cost(th[None])[0], theta[p])
        mu, V = torch.linalg.eigh(H)
        i = mu.abs().argmax()
        assert lam[p].item() == pytest.approx(mu[i].item(), rel=1e-8)
        assert surface.abs_cos(v[p], V[:, i]).item() == pytest.approx(1.0, abs=1e-8)
        assert res[p].item() < 1e-8
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=D))
    spectrum = torch.tensor([-3.0, 3.0 - 1e-3, 1.0, 0.5] + [0.1] * 8, dtype=D)  # λ2 ≈ -λ1: power iteration stalls
    A = Q @ torch.diag(spectrum) @ Q.T
    lam, v, _ = surface.top_eigenpair(lambda V: V @ A, (1, 12), gen, iters=50, block=4)
    assert lam.item() == pytest.approx(-3.0, rel=1e-10)
    assert surface.abs_cos(v[0], Q[:, 0]).item() == pytest.approx(1.0, abs=1e-10)


# ------------------------------------------------------------------------ bad input
def test_bad_inputs_raise_naming_the_argument(gen):
    w, b = torch.ones(3, dtype=D), torch.zeros(3, dtype=D)
    with pytest.raises(ValueError, match="T"):
        surface.one_unit_surface(w, b, T=0)
    with pytest.raises(ValueError, match="at least one point"):
        surface.one_unit_surface(torch.ones(0, dtype=D), torch.zeros(0, dtype=D))
    with pytest.raises(ValueError, match="w contains NaN"):
        surface.one_unit_surface(torch.tensor([1.0, float("nan")], dtype=D), torch.zeros(2, dtype=D))
    with pytest.raises(ValueError, match="broadcast"):
        surface.one_unit_surface(torch.ones(3, dtype=D), torch.ones(2, dtype=D))
    with pytest.raises(ValueError, match="x0"):
        surface.one_unit_surface(w, b, x0=float("nan"))
    with pytest.raises(TypeError, match="target"):
        surface.one_unit_surface(w, b, target="0.7")
    with pytest.raises(ValueError, match="n_w"):
        surface.grid((0, 1), (0, 1), 1, 5)
    with pytest.raises(ValueError, match="b_range"):
        surface.grid((0, 1), (1, 0), 5, 5)
    with pytest.raises(ValueError, match="start"):
        surface.descend(torch.ones(2, 3, dtype=D), 0.1, 5)
    with pytest.raises(ValueError, match="lr"):
        surface.descend(torch.ones(2, 2, dtype=D), 0.0, 5)
    with pytest.raises(ValueError, match="threshold"):
        surface.descend(torch.ones(2, 2, dtype=D), 0.1, 5, threshold=-1.0)
    with pytest.raises(ValueError, match="steps"):
        surface.descend(torch.ones(2, 2, dtype=D), 0.1, 0)
    with pytest.raises(ValueError, match="t must"):
        surface.linear_unit(w, 0.5, 0)
    with pytest.raises(ValueError, match="H must be symmetric"):
        surface.leading_eigenpair(torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=D))
    with pytest.raises(ValueError, match="dim"):
        surface.random_cos_median(1)
    with pytest.raises(ValueError, match="top"):
        surface.alignment_by_gradient(w, w, top=1.5)
    with pytest.raises(ValueError, match="y must"):
        surface.LastStateCost(torch.ones(5, 2, dtype=D), torch.zeros(3, dtype=D), torch.zeros(4, dtype=D))
    cost, _, theta = make_cost(gen)
    with pytest.raises(ValueError, match="theta"):
        cost(theta[:, :-1])
    _, hvp = surface.gradient_and_hvp(cost, theta)
    with pytest.raises(ValueError, match="block"):
        surface.top_eigenpair(hvp, tuple(theta.shape), gen, block=theta.shape[1] + 1)
    with pytest.raises(TypeError, match="generator"):
        surface.top_eigenpair(hvp, tuple(theta.shape), 0)


def test_a_float32_hessian_is_accepted_and_an_asymmetric_one_is_not(gen):
    """A Hessian computed by autograd in float32 is symmetric only up to float32 rounding; its leading
    eigenpair matches numpy's of the float64 Hessian of the same function."""
    A = torch.randn(6, 6, generator=gen, dtype=D)
    x = torch.randn(6, generator=gen, dtype=D)
    f = lambda z: torch.tanh(z @ A.to(z.dtype) @ z) + (z ** 4).sum() * torch.sin(z.sum())  # noqa: E731
    H32 = torch.autograd.functional.hessian(f, x.float())
    H64 = torch.autograd.functional.hessian(f, x)
    lam, v = surface.leading_eigenpair(H32)
    mu, V = np.linalg.eigh(H64.numpy())
    i = np.abs(mu).argmax()
    assert lam.item() == pytest.approx(mu[i], rel=1e-4) and abs(v.double().numpy() @ V[:, i]) == pytest.approx(1, abs=1e-4)
    with pytest.raises(ValueError, match="H must be symmetric"):
        surface.leading_eigenpair(H32 + 1e-3 * torch.triu(torch.ones(6, 6), 1) * H32.abs().max())


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, "float64"])
def test_grid_refuses_a_dtype_that_is_not_floating(dtype):
    with pytest.raises(TypeError, match="dtype"):
        surface.grid((-1.5, 1.5), (0, 1), 4, 3, dtype=dtype)
