"""reprolib.dynamics against independent routes: scipy root finders, closed forms, autograd,
finite differences, and a decoupled network whose fixed points are products of 1-D ones."""

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st
from scipy.optimize import brentq, fsolve
from scipy.special import expit

from reprolib import dynamics
from reprolib.rnn import RNN

D = torch.float64
NP_SIGMA = {"sigmoid": expit, "tanh": np.tanh}


def scipy_fixed_points(w, b, sigma, n=200001):
    """Roots of w σ(x) + b − x by sign changes on a dense grid and brentq."""
    g = lambda x: w * NP_SIGMA[sigma](x) + b - x  # noqa: E731
    x = np.linspace(b - abs(w) - 1, b + abs(w) + 1, n)
    v = g(x)
    idx = np.nonzero(v[:-1] * v[1:] < 0)[0]
    return np.sort(np.concatenate([x[v == 0], [brentq(g, x[i], x[i + 1], xtol=1e-15) for i in idx]]))


@settings(deadline=None, max_examples=60)
@given(w=st.floats(-12, 12), b=st.floats(-12, 12), sigma=st.sampled_from(dynamics.BOUNDED))
@example(w=0.0, b=5e-324, sigma="sigmoid")  # g(0) * g(next node) underflowed to -0.0 and the root was missed
def test_fixed_points_match_scipy(w, b, sigma):
    ours = dynamics.fixed_points(w, b, sigma).numpy()
    ref = scipy_fixed_points(w, b, sigma)
    if len(ours) != len(ref):  # only a near-tangency can make the dense grid miss a pair
        pytest.skip("near-tangent case")
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    assert np.abs(w * NP_SIGMA[sigma](ours) + b - ours).max() < 1e-12


@pytest.mark.parametrize("sigma, w", [("sigmoid", 5.0), ("sigmoid", 8.0), ("tanh", 2.0), ("tanh", 5.0)])
def test_saddle_nodes_solve_the_fold_equations(sigma, w):
    """Closed form vs fsolve on F(x) = x, F′(x) = 1 in the unknowns (x, b)."""
    b_fold, x_fold = dynamics.saddle_nodes(w, sigma)
    assert b_fold[0] > b_fold[1]  # the paper's order: b1 > b2
    for b, x in zip(b_fold.tolist(), x_fold.tolist()):
        x_t = torch.tensor(x, dtype=D)
        assert abs(dynamics.F(x_t, w, b, sigma).item() - x) < 1e-12
        assert abs(dynamics.slope(x_t, w, sigma).item() - 1) < 1e-12

        def eqs(z):
            h = NP_SIGMA[sigma](z[0])
            dh = h * (1 - h) if sigma == "sigmoid" else 1 - h**2
            return [w * h + z[1] - z[0], w * dh - 1]

        x_ref, b_ref = fsolve(eqs, [x + 0.1, b + 0.1], xtol=1e-12)
        assert abs(x_ref - x) < 1e-8 and abs(b_ref - b) < 1e-8


@pytest.mark.parametrize("sigma, w", [("sigmoid", 5.0), ("tanh", 3.0)])
def test_tangency_is_one_double_root(sigma, w):
    b_fold, x_fold = dynamics.saddle_nodes(w, sigma)
    for b, x in zip(b_fold.tolist(), x_fold.tolist()):
        roots = dynamics.fixed_points(w, b, sigma)
        assert len(roots) == 2 and (roots - x).abs().min() < 1e-7
    b1, b2 = b_fold.tolist()
    assert len(dynamics.fixed_points(w, b1 - 1e-6, sigma)) == 3  # just inside the bistable interval
    assert len(dynamics.fixed_points(w, b2 + 1e-6, sigma)) == 3
    assert len(dynamics.fixed_points(w, b1 + 1e-6, sigma)) == 1
    assert len(dynamics.fixed_points(w, b2 - 1e-6, sigma)) == 1


def test_coarse_grid_still_finds_close_roots():
    """Two roots 1e-4 apart between grid points: found thanks to the critical points."""
    b1 = dynamics.saddle_nodes(5.0)[0][0].item()
    roots = dynamics.fixed_points(5.0, b1 - 1e-9, "sigmoid", n_grid=2)
    assert len(roots) == 3


@pytest.mark.parametrize("sigma, w, lo, hi", [("sigmoid", 5.0, -3.0, -2.0), ("tanh", 2.0, -2.0, 2.0)])
def test_continuation_finds_the_closed_form(sigma, w, lo, hi):
    found = dynamics.locate_folds(w, torch.linspace(lo, hi, 41, dtype=D), sigma)
    b_fold, _ = dynamics.saddle_nodes(w, sigma)
    assert found.shape == (2,)
    assert (found - b_fold).abs().max() < 1e-9


def test_no_bifurcation_below_the_threshold():
    assert dynamics.locate_folds(3.9, torch.linspace(-5, 2, 41, dtype=D)).numel() == 0


def test_branches_are_ordered_and_classified():
    bs = torch.linspace(-3, -2, 51, dtype=D)
    br = dynamics.branches(5.0, bs)
    b1, b2 = dynamics.saddle_nodes(5.0)[0].tolist()
    inside = (bs > b2) & (bs < b1)
    assert torch.equal(~br["unstable"].isnan(), inside)
    assert (br["lower"][inside] < br["unstable"][inside]).all() and (br["unstable"][inside] < br["upper"][inside]).all()
    assert (dynamics.slope(br["unstable"][inside], 5.0) > 1).all()
    assert torch.equal(br["upper"].isnan(), bs < b2) and torch.equal(br["lower"].isnan(), bs > b1)


def test_bias_with_fixed_point_inverts_F():
    x = torch.linspace(-3, 3, 13, dtype=D)
    for sigma in dynamics.BOUNDED:
        b = dynamics.bias_with_fixed_point(x, 5.0, sigma)
        assert torch.allclose(dynamics.F(x, 5.0, 0.0, sigma) + b, x, atol=1e-14)
        assert abs(dynamics.bias_with_fixed_point(0.5, 5.0, sigma) - b[7].item()) < 1e-15


def test_bias_sensitivity_matches_autograd(gen):
    N, T = 3, 6
    W = torch.randn(N, N, generator=gen, dtype=D)
    W_in = torch.randn(N, 2, generator=gen, dtype=D)
    b = torch.randn(N, generator=gen, dtype=D)
    u, x0 = torch.randn(T, 1, 2, generator=gen, dtype=D), torch.randn(1, N, generator=gen, dtype=D)
    net = RNN(W, W_in, b, "tanh")
    S = dynamics.bias_sensitivity(net, net.unroll(u, x0))
    for t in (1, 3, T):
        ref = torch.autograd.functional.jacobian(lambda bb: RNN(W, W_in, bb, "tanh").unroll(u, x0)[t, 0], b)
        assert torch.allclose(S[t, 0], ref, rtol=1e-10, atol=1e-12)
    assert torch.all(S[0] == 0)


def test_unroll_over_b_matches_autograd_and_finite_differences():
    bs = torch.linspace(-2.9, -2.1, 17, dtype=D, requires_grad=True)
    xs, d = dynamics.unroll_over_b(5.0, bs.detach(), 0.5, 30)
    (g,) = torch.autograd.grad(dynamics.unroll_over_b(5.0, bs, 0.5, 30)[0][-1].sum(), bs)  # batch entries independent
    assert torch.allclose(d[-1], g, rtol=1e-10)
    h = 1e-6
    x_plus, x_minus = (dynamics.unroll_over_b(5.0, bs.detach() + s * h, 0.5, 30)[0][-1] for s in (1, -1))
    fd = (x_plus - x_minus) / (2 * h)
    assert torch.allclose(d[-1], fd, rtol=1e-5)
    # a direct loop of eq. (14)
    x = torch.full_like(bs.detach(), 0.5)
    for _ in range(30):
        x = 5.0 * torch.sigmoid(x) + bs.detach()
    assert torch.allclose(xs[-1], x, rtol=0, atol=1e-13)


@settings(deadline=None, max_examples=25)
@given(w=st.floats(0.1, 10), x0=st.floats(-5, 5))
def test_x_t_increases_with_b_when_w_is_positive(w, x0):
    """The monotonicity the chapter uses: one jump of x_infinity(b) per initial state."""
    bs = torch.linspace(-8, 3, 201, dtype=D)
    xs, d = dynamics.unroll_over_b(w, bs, x0, 40)
    assert (xs[-1, 1:] - xs[-1, :-1] >= -1e-12).all() and (d >= 0).all()


def test_spike_at_the_basin_boundary_and_the_bottleneck_law():
    bs = torch.linspace(-2.8, -2.4, 401, dtype=D)
    b_c = dynamics.bias_with_fixed_point(0.5, 5.0)
    assert abs(dynamics.locate_spike(5.0, 0.5, 100, bs) - b_c) < 1e-6  # the spike narrows like F'(x0)^-t
    assert abs(dynamics.locate_spike(5.0, 0.5, 200, bs) - b_c) < 1e-12
    # saddle-node bottleneck: (b2 − b_spike) t² → π²/a
    b2 = dynamics.saddle_nodes(5.0)[0][1].item()
    s = torch.sigmoid(dynamics.saddle_nodes(5.0)[1][1])
    a = 5.0 * abs((s * (1 - s) * (1 - 2 * s)).item()) / 2
    t = 800
    assert abs((b2 - dynamics.locate_spike(5.0, 2.0, t, bs)) * t**2 / (math.pi**2 / a) - 1) < 0.02


def test_newton_finds_the_product_fixed_points_of_a_decoupled_network():
    """W = diag(5, 6): each unit is an independent eq. (14), so the fixed points are products."""
    w, b = torch.tensor([5.0, 6.0], dtype=D), torch.tensor([-2.5, -3.2], dtype=D)
    net = RNN(torch.diag(w), torch.zeros(2, 1, dtype=D), b, "sigmoid")
    P, mu = dynamics.fixed_points_nd(net)
    r0, r1 = (dynamics.fixed_points(w[i].item(), b[i].item()) for i in range(2))
    ref = torch.cartesian_prod(r0, r1)
    assert len(P) == len(ref) == 9
    assert torch.cdist(P, ref).min(dim=1).values.max() < 1e-10
    assert int((mu.abs().max(dim=1).values < 1).sum()) == 4  # stable in both units


def test_newton_multipliers_match_the_autograd_jacobian():
    W = torch.tensor([[5.0, 2.0], [2.0, 3.0]], dtype=D)
    net = RNN(W, torch.eye(2, dtype=D), -W.sum(1) / 2, "sigmoid")
    P, mu = dynamics.fixed_points_nd(net)
    assert len(P) == 3
    for p, m in zip(P, mu):
        J = torch.autograd.functional.jacobian(lambda x: W @ torch.sigmoid(x) + net.b, p)
        ev = torch.linalg.eigvals(J)
        assert torch.allclose(ev.abs().sort().values, m.abs().sort().values, atol=1e-12)
        assert (W @ torch.sigmoid(p) + net.b - p).norm() < 1e-10


def test_switch_point_is_the_unstable_fixed_point():
    w, bs = 5.0, torch.tensor([-2.6, -2.5, -2.4], dtype=D)
    roots = [dynamics.fixed_points(w, b) for b in bs.tolist()]
    A = torch.stack([r[[0, 2]] for r in roots])[..., None]
    s = dynamics.switch_points(dynamics.one_unit(w), bs[None, :, None].expand(150, -1, 1), A[:, 0], A[:, 1], A)
    x = A[:, 0, 0] + s * (A[:, 1, 0] - A[:, 0, 0])
    assert torch.allclose(x, torch.stack([r[1] for r in roots]), atol=1e-9)


def test_input_driven_boundaries_stay_in_the_band(gen):
    w, b, u_max = 5.0, -2.5, 0.1
    net = dynamics.one_unit(w, b)
    roots = dynamics.fixed_points(w, b)
    A = roots[[0, 2]][:, None]
    u = u_max * (2 * torch.rand(80, 20, 1, generator=gen, dtype=D) - 1)
    s = dynamics.switch_points(net, u, A[0], A[1], A)
    x = A[0, 0] + s * (A[1, 0] - A[0, 0])
    lo, hi = dynamics.fixed_points(w, b + u_max)[1], dynamics.fixed_points(w, b - u_max)[1]
    assert ((x >= lo) & (x <= hi)).all()
    # and the two sides of each switch do end on different attractors
    xs = net.unroll(u[:, :1].expand(-1, 2, -1), torch.stack([x[:1] - 1e-6, x[:1] + 1e-6]))
    labels, _ = dynamics.nearest_attractor(xs[-1], A)
    assert labels.tolist() == [0, 1]


def test_final_attractor_and_nearest_attractor():
    A = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=D)
    label, dist = dynamics.nearest_attractor(torch.tensor([[-0.9, 0.1], [2.0, 0.0]], dtype=D), A)
    assert label.tolist() == [0, 1] and torch.allclose(dist, torch.tensor([math.sqrt(0.02), 1.0], dtype=D))
    W = torch.tensor([[5.0, 2.0], [2.0, 3.0]], dtype=D)
    net = RNN(W, torch.eye(2, dtype=D), -W.sum(1) / 2, "sigmoid")
    P, mu = dynamics.fixed_points_nd(net)
    A2 = P[mu.abs().max(dim=1).values < 1]
    label, dist = dynamics.final_attractor(net, A2 + 0.3, A2, 100)
    assert label.tolist() == [0, 1] and (dist < 1e-12).all()


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="n_grid"):
        dynamics.fixed_points(5.0, -2.5, n_grid=0)
    with pytest.raises(ValueError, match="w"):
        dynamics.fixed_points(float("nan"), -2.5)
    with pytest.raises(ValueError, match="b"):
        dynamics.fixed_points(5.0, float("inf"))
    with pytest.raises(ValueError, match="sigma"):
        dynamics.fixed_points(5.0, -2.5, sigma="identity")
    with pytest.raises(ValueError, match="w"):
        dynamics.saddle_nodes(3.0)
    with pytest.raises(ValueError, match="T"):
        dynamics.unroll_over_b(5.0, torch.zeros(3, dtype=D), 0.5, 0)
    with pytest.raises(ValueError, match="bs"):
        dynamics.unroll_over_b(5.0, torch.zeros(0, dtype=D), 0.5, 10)
    with pytest.raises(ValueError, match="x0"):
        dynamics.unroll_over_b(5.0, torch.zeros(3, dtype=D), float("nan"), 10)
    with pytest.raises(ValueError, match="bs"):
        dynamics.locate_folds(5.0, torch.zeros(1, dtype=D))
    with pytest.raises(ValueError, match="bs"):
        dynamics.locate_spike(5.0, 0.5, 10, torch.tensor([float("nan"), 0.0], dtype=D))
    with pytest.raises(ValueError, match="n_zoom"):
        dynamics.locate_spike(5.0, 0.5, 10, torch.linspace(-3, -2, 5, dtype=D), n_zoom=2)
    with pytest.raises(ValueError, match="x"):
        dynamics.F(torch.tensor([float("nan")], dtype=D), 5.0, 0.0)
    with pytest.raises(TypeError, match="net"):
        dynamics.fixed_points_nd("not a network")
    with pytest.raises(ValueError, match="n_per_axis"):
        dynamics.fixed_points_nd(dynamics.one_unit(5.0, -2.5), n_per_axis=1)
    with pytest.raises(ValueError, match="w"):
        dynamics.one_unit(float("nan"))  # NaN weights
    with pytest.raises(ValueError, match="W_rec"):
        RNN(torch.full((2, 2), float("nan"), dtype=D), torch.eye(2, dtype=D), torch.zeros(2, dtype=D))
    with pytest.raises(ValueError, match="attractors"):
        dynamics.nearest_attractor(torch.zeros(2, 2, dtype=D), torch.zeros(3, 3, dtype=D))
    with pytest.raises(ValueError, match="T_settle"):
        dynamics.final_attractor(dynamics.one_unit(5.0, -2.5), torch.zeros(2, 1, dtype=D), torch.zeros(2, 1, dtype=D), -1)
    A = dynamics.fixed_points(5.0, -2.5)[[0, 2]][:, None]
    with pytest.raises(ValueError, match="x_a"):
        dynamics.switch_points(dynamics.one_unit(5.0, -2.5), torch.zeros(50, 1, 1, dtype=D), A[1], A[1] + 0.1, A)


@pytest.mark.parametrize("w", [1e17, 1e20, 1e30, 1e300, 1.7e308, -1e20, -1.7e308])
def test_fixed_points_at_huge_weights(w):
    """At |w| ≥ 1e17 the tangency tolerance (scaled by |w|) made the sigmoid's critical point near
    x = -ln w a spurious root, and at 1.7e308 the grid's width overflowed ([nan]). Independent routes:
    the fold biases of saddle_nodes say how many roots the sigmoid has (three only between them); for
    tanh, the root near 0 is -b/(w - 1) to first order; every root leaves a residual within round-off."""
    b = 0.5
    for sigma, f in (("sigmoid", expit), ("tanh", np.tanh)):
        roots = dynamics.fixed_points(w, b, sigma)
        assert torch.isfinite(roots).all()
        for x in roots.tolist():
            assert abs(w * f(x) + b - x) <= 1e-12 * (1 + abs(w * f(x)) + abs(x)), (sigma, x)
        if sigma == "sigmoid":
            if w > 0:
                b_fold, _ = dynamics.saddle_nodes(w)
                assert not (b_fold[1] < b < b_fold[0])
            assert len(roots) == 1
        else:
            middle = roots[len(roots) // 2].item()
            assert len(roots) == (3 if w > 1 else 1) and middle == pytest.approx(-b / (w - 1), rel=1e-9)


def test_weights_whose_grid_would_overflow_are_refused():
    with pytest.raises(ValueError, match=r"\|w\| \+ \|b\|"):
        dynamics.fixed_points(1.7e308, 1e308)
