"""reprolib.omega against independent routes: explicit Jacobians (RNN.step_jacobians), a
transcription of the original code's row-vector formula, autograd, and RNN.backprop."""

import itertools
import math

import numpy as np
import pytest
import torch

from reprolib.omega import (
    BOUND,
    SCHEDULES,
    AlphaSchedule,
    omega,
    omega_and_grad,
    omega_grad,
    omega_ratios,
    total_state_gradients,
)
from reprolib.rnn import RNN, SIGMAS, activation

D = torch.float64
VARIANTS = list(itertools.product(("x", "h"), ("squared", "plain"), ("mean", "sum")))


def make(gen, N=6, M=3, sigma="tanh", scale=1.3):
    W_rec = scale * torch.randn(N, N, generator=gen, dtype=D) / math.sqrt(N)
    W_in = torch.randn(N, M, generator=gen, dtype=D)
    b = 0.1 * torch.randn(N, generator=gen, dtype=D)
    return RNN(W_rec, W_in, b, sigma)


def data(gen, net, T=8, B=4):
    u = torch.randn(T, B, net.n_in, generator=gen, dtype=D)
    x0 = 0.3 * torch.randn(B, net.n_hidden, generator=gen, dtype=D)
    return u, x0


def readout(gen, net, C=3, B=4):
    W_out = torch.randn(C, net.n_hidden, generator=gen, dtype=D)
    target = torch.randint(C, (B,), generator=gen)
    return W_out, target


def last_step_cost(W_out, target, weights=None):
    """Cross-entropy of a soft-max read-out of h_T only (the code's `lastSoftmax`)."""
    def cost(hs):
        nll = torch.nn.functional.cross_entropy(hs[-1] @ W_out.T, target, reduction="none")
        return (nll if weights is None else nll * weights).mean()
    return cost


def every_step_cost(W_out, target):
    """Cross-entropy at every step t = 1..T (the code's `softmax` head)."""
    def cost(hs):
        logits = hs[1:] @ W_out.T
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 target.repeat(logits.shape[0]))
    return cost


def setup(gen, sigma="tanh", T=8, B=4, cost="last", scale=1.3):
    net = make(gen, sigma=sigma, scale=scale)
    u, x0 = data(gen, net, T, B)
    W_out, target = readout(gen, net, B=B)
    f = last_step_cost(W_out, target) if cost == "last" else every_step_cost(W_out, target)
    xs, dx, dh = total_state_gradients(net, u, x0, f)
    return net, u, x0, f, xs, dx, dh


def dE_for(form, dx, dh):
    return dx if form == "x" else dh


# ------------------------------------------------------------------ total δ_k
@pytest.mark.parametrize("sigma", SIGMAS)
def test_total_gradients_match_backprop_for_a_last_step_cost(gen, sigma):
    net, u, x0, f, xs, dx, dh = setup(gen, sigma)
    assert torch.allclose(xs, net.unroll(u, x0), rtol=1e-14, atol=1e-14)
    _, dsigma = activation(sigma)
    assert torch.allclose(dx, dh * dsigma(xs), rtol=1e-13, atol=1e-16)  # δ_k = g_k ⊙ σ′(x_k)
    ref = net.backprop(xs, dx[-1])  # δ_k = δ_{k+1} W_rec ⊙ σ′(x_k), a hand-written backward
    assert torch.allclose(dx, ref, rtol=1e-12, atol=1e-16)


def test_total_gradient_is_immediate_plus_recurrence(gen):
    """g_k = ∂⁺E/∂h_k + δ_{k+1} W_rec for a cost at every step."""
    net, u, x0, f, xs, dx, dh = setup(gen, cost="every")
    hs = torch.tanh(xs).requires_grad_(True)
    (immediate,) = torch.autograd.grad(f(hs), hs)
    assert torch.allclose(dh[:-1], immediate[:-1] + dx[1:] @ net.W_rec, rtol=1e-12, atol=1e-16)
    assert torch.allclose(dh[-1], immediate[-1], rtol=1e-14, atol=0)


def test_stacked_states_give_only_the_immediate_derivative(gen):
    """The mistake of a public PyTorch port: autograd.grad(E, torch.stack(states)) is zero before
    the last step for a last-step cost, so every Ω_k but the last is dropped. Ours is not."""
    net, u, x0, f, xs, dx, dh = setup(gen, T=10)
    W_rec = net.W_rec
    # the port's route: run the network, stack the states, differentiate with respect to the stack
    stacked = net.unroll(u, x0).detach().requires_grad_(True)
    (wrong_dx,) = torch.autograd.grad(f(torch.tanh(stacked)), stacked)
    assert torch.all(wrong_dx[:-1] == 0)
    assert torch.allclose(wrong_dx[-1], dx[-1], rtol=1e-14, atol=0)  # the two agree only at t = T
    assert (dx[:-1].norm(dim=-1) > 1e-8).all()  # the total derivative reaches every earlier step
    _, included = omega_ratios(W_rec, xs, wrong_dx, "tanh")
    assert included[:-1].sum() == 0 and included[-1].all()  # only k = T−1 survives the 1e-20 guard
    _, included = omega_ratios(W_rec, xs, dx, "tanh")
    assert included.all()


# ------------------------------------------------------------------ Ω: independent references
def omega_from_jacobians(net, xs, dE, form, norms, reduction, bound=BOUND):
    """Ω term by term from explicit Jacobian matrices, with Python loops."""
    _, dsigma = activation(net.sigma)
    J = net.step_jacobians(xs)  # J[k] = ∂x_{k+1}/∂x_k = W_rec diag(σ′(x_k))
    T, B = xs.shape[0] - 1, xs.shape[1]
    p = 2 if norms == "squared" else 1
    total, n_included = 0.0, 0
    for k in range(T):
        for b in range(B):
            v = dE[k + 1, b]
            if form == "x":
                jac = J[k, b]
            else:  # ∂h_{k+1}/∂h_k = diag(σ′(x_{k+1})) W_rec
                jac = torch.diag(dsigma(xs[k + 1, b])) @ net.W_rec
            if v.norm() ** 2 < bound:
                continue
            r = (v @ jac).norm() ** p / v.norm() ** p
            total += (r - 1) ** 2
            n_included += 1
    Z = n_included if reduction == "mean" else B
    return total / Z if Z else 0.0


@pytest.mark.parametrize("form, norms, reduction", VARIANTS)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_omega_matches_explicit_jacobians(gen, form, norms, reduction, sigma):
    net, u, x0, f, xs, dx, dh = setup(gen, sigma, cost="every")
    dE = dE_for(form, dx, dh)
    got = omega(net.W_rec, xs, dE, sigma, form=form, norms=norms, reduction=reduction)
    ref = omega_from_jacobians(net, xs, dE, form, norms, reduction)
    assert got.dtype == D and got.shape == ()
    assert math.isclose(got.item(), float(ref), rel_tol=1e-11)
    assert got.item() > 1e-3  # a non-trivial value


def omega_original_code(W_hh, h, gH, sigma, bound=1e-20):
    """A numpy transcription of the original code's expression (row vectors, W_hh = W_recᵀ,
    h = [h_1..h_T] post-activations, gH = ∂E/∂h_k for k = 0..T, σ′ written through h)."""
    if sigma == "tanh":
        tmp_x = gH[1:] * (1 - h**2)
    elif sigma == "sigmoid":
        tmp_x = gH[1:] * h * (1 - h)
    else:
        tmp_x = gH[1:]
    tmp_x = ((tmp_x @ W_hh.T) ** 2).sum(2)
    tmp_y = (gH[1:] ** 2).sum(2)
    ok = tmp_y >= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        tmp_reg = (np.where(ok, tmp_x / tmp_y, 1.0) - 1.0) ** 2
    n_elems = ok.mean(axis=1)
    return tmp_reg.mean(1).sum() / n_elems.sum()


@pytest.mark.parametrize("sigma", SIGMAS)
def test_form_h_is_the_original_code(gen, sigma):
    net, u, x0, f, xs, dx, dh = setup(gen, sigma, cost="every")
    sig, _ = activation(sigma)
    ref = omega_original_code(net.W_rec.T.numpy(), sig(xs[1:]).numpy(), dh.numpy(), sigma)
    got = omega(net.W_rec, xs, dh, sigma, form="h")  # squared norms and mean are the defaults
    assert math.isclose(got.item(), ref, rel_tol=1e-12)


def test_forms_agree_for_identity_sigma_and_differ_otherwise(gen):
    net, u, x0, f, xs, dx, dh = setup(gen, "identity", scale=0.9)
    a = omega(net.W_rec, xs, dx, "identity", form="x")
    b = omega(net.W_rec, xs, dh, "identity", form="h")
    assert math.isclose(a.item(), b.item(), rel_tol=1e-12)
    net, u, x0, f, xs, dx, dh = setup(gen, "tanh")
    a = omega(net.W_rec, xs, dx, "tanh", form="x")
    b = omega(net.W_rec, xs, dh, "tanh", form="h")
    assert abs(a.item() - b.item()) > 1e-3 * abs(b.item())


@pytest.mark.parametrize("form", ["x", "h"])
def test_plain_ratio_is_the_square_root_of_the_squared_one(gen, form):
    net, u, x0, f, xs, dx, dh = setup(gen)
    r2, inc2 = omega_ratios(net.W_rec, xs, dE_for(form, dx, dh), "tanh", form=form, norms="squared")
    r1, inc1 = omega_ratios(net.W_rec, xs, dE_for(form, dx, dh), "tanh", form=form, norms="plain")
    assert torch.equal(inc1, inc2) and r1.shape == (xs.shape[0] - 1, xs.shape[1])
    assert torch.allclose(r1**2, r2, rtol=1e-13, atol=0)


@pytest.mark.parametrize("form, norms", [("x", "squared"), ("x", "plain"), ("h", "squared"), ("h", "plain")])
def test_orthogonal_W_rec_and_identity_sigma_give_zero(gen, form, norms):
    """‖v Q‖ = ‖v‖ for orthogonal Q: every ratio is exactly 1, Ω = 0 and ∂⁺Ω/∂W_rec = 0."""
    N = 6
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=D))
    net = RNN(Q, torch.randn(N, 3, generator=gen, dtype=D), torch.zeros(N, dtype=D), "identity")
    u, x0 = data(gen, net)
    W_out, target = readout(gen, net)
    xs, dx, dh = total_state_gradients(net, u, x0, every_step_cost(W_out, target))
    dE = dE_for(form, dx, dh)
    r, included = omega_ratios(Q, xs, dE, "identity", form=form, norms=norms)
    assert included.all() and torch.allclose(r, torch.ones_like(r), rtol=0, atol=1e-13)
    assert omega(Q, xs, dE, "identity", form=form, norms=norms).item() < 1e-25
    assert omega_grad(Q, xs, dE, "identity", form=form, norms=norms).abs().max() < 1e-12


# ------------------------------------------------------------------ the 1e-20 guard
@pytest.mark.parametrize("form, norms, reduction", VARIANTS)
def test_an_element_with_zero_delta_contributes_nothing(gen, form, norms, reduction):
    """Batch element 0 has no cost, so δ = 0 there: no NaN, and Ω and ∂⁺Ω are those of the others."""
    net = make(gen)
    B = 4
    u, x0 = data(gen, net, B=B)
    W_out, target = readout(gen, net, B=B)
    weights = torch.tensor([0.0, 1.0, 1.0, 1.0], dtype=D)
    xs, dx, dh = total_state_gradients(net, u, x0, last_step_cost(W_out, target, weights))
    dE = dE_for(form, dx, dh)
    assert torch.all(dE[:, 0] == 0)
    kw = dict(form=form, norms=norms, reduction=reduction)
    full = omega(net.W_rec, xs, dE, "tanh", **kw)
    grad = omega_grad(net.W_rec, xs, dE, "tanh", **kw)
    assert torch.isfinite(full) and torch.isfinite(grad).all()
    # the same network without element 0 (the sum over k of the batch mean has B − 1 elements there)
    rest = omega(net.W_rec, xs[:, 1:], dE[:, 1:], "tanh", **kw)
    rest_grad = omega_grad(net.W_rec, xs[:, 1:], dE[:, 1:], "tanh", **kw)
    factor = 1.0 if reduction == "mean" else (B - 1) / B
    assert math.isclose(full.item(), factor * rest.item(), rel_tol=1e-12)
    assert torch.allclose(grad, factor * rest_grad, rtol=1e-12, atol=1e-15)
    # autograd through omega() is NaN-free too
    W = net.W_rec.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(omega(W, xs, dE, "tanh", **kw), W)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("form, norms, reduction", VARIANTS)
def test_nothing_included_gives_zero_not_nan(gen, form, norms, reduction):
    """The code would compute 0/0 here; the book returns Ω = 0 and a zero gradient."""
    net = make(gen)
    u, x0 = data(gen, net)
    xs = net.unroll(u, x0)
    dE = torch.full_like(xs, 1e-11)  # ‖dE‖² = N·1e-22 < 1e-20
    kw = dict(form=form, norms=norms, reduction=reduction)
    assert omega(net.W_rec, xs, dE, "tanh", **kw).item() == 0.0
    assert torch.equal(omega_grad(net.W_rec, xs, dE, "tanh", **kw), torch.zeros_like(net.W_rec))
    r, included = omega_ratios(net.W_rec, xs, dE, "tanh", form=form, norms=norms)
    assert not included.any() and torch.all(r == 1)


def test_bound_is_inclusive_and_on_the_squared_norm(gen):
    net = make(gen)
    u, x0 = data(gen, net, T=2, B=1)
    xs = net.unroll(u, x0)
    dE = torch.zeros_like(xs)
    dE[1:, 0, 0] = 1e-10
    bound = (dE[1, 0] ** 2).sum().item()  # ‖∂E/∂x_{k+1}‖² itself, about 1e-20
    for norms in ("squared", "plain"):
        _, included = omega_ratios(net.W_rec, xs, dE, "tanh", norms=norms, bound=bound)
        assert included.all()
        _, included = omega_ratios(net.W_rec, xs, dE, "tanh", norms=norms, bound=bound * (1 + 1e-12))
        assert not included.any()


# ------------------------------------------------------------------ ∂⁺Ω/∂W_rec
@pytest.mark.parametrize("form, norms, reduction", VARIANTS)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_closed_form_gradient_matches_autograd(gen, form, norms, reduction, sigma):
    """∂⁺Ω/∂W_rec with δ and the states held constant (detached)."""
    net, u, x0, f, xs, dx, dh = setup(gen, sigma, cost="every")
    dE = dE_for(form, dx, dh)
    dE = dE.clone()
    dE[3:5, 1] = 0  # some excluded terms
    kw = dict(form=form, norms=norms, reduction=reduction)
    W = net.W_rec.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(omega(W, xs.detach(), dE.detach(), sigma, **kw), W)
    got = omega_grad(net.W_rec, xs, dE, sigma, **kw)
    assert got.shape == net.W_rec.shape
    assert torch.allclose(got, ref, rtol=1e-11, atol=1e-14 * ref.abs().max().item())
    assert ref.abs().max() > 1e-6


def test_gradient_step_decreases_omega(gen):
    """A small step against ∂⁺Ω (δ and states fixed) lowers Ω: the direction α∂⁺Ω is meant to push."""
    net, u, x0, f, xs, dx, dh = setup(gen, cost="every")
    G = omega_grad(net.W_rec, xs, dx, "tanh")
    before = omega(net.W_rec, xs, dx, "tanh")
    after = omega(net.W_rec - 1e-4 * G / G.norm(), xs, dx, "tanh")
    assert after < before


# ------------------------------------------------------------------ α schedules
def test_alpha_schedules():
    assert [AlphaSchedule(2.0)(t) for t in (0, 1, 10**6)] == [2.0, 2.0, 2.0]
    s = AlphaSchedule(5.0, "1/t", t0=10)  # Nottingham: 1/max(1, t − 10) after 10 epochs
    assert [s(t) for t in (0, 10, 11, 12, 20)] == [5.0, 5.0, 5.0, 2.5, 0.5]
    s = AlphaSchedule(0.5, "1/(2t)")  # Piano-midi.de
    assert [s(t) for t in (0, 1, 2, 5)] == [0.5, 0.25, 0.125, 0.05]
    s = AlphaSchedule(0.05, "1/(1+t/beta)", beta=2800)  # 5th-character prediction
    assert s(0) == 0.05 and math.isclose(s(2800), 0.025) and math.isclose(s(28000), 0.05 / 11)
    s = AlphaSchedule(0.05, "1/(1+t/beta)", t0=28108, beta=500)
    assert s(28108) == 0.05 and math.isclose(s(28608), 0.025)
    assert AlphaSchedule(0.0, "1/t")(3) == 0.0
    assert set(SCHEDULES) == {"constant", "1/t", "1/(2t)", "1/(1+t/beta)"}


def test_alpha_schedule_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        AlphaSchedule(1.0, "exp")
    with pytest.raises(ValueError, match="alpha0"):
        AlphaSchedule(-1.0)
    with pytest.raises(TypeError, match="alpha0"):
        AlphaSchedule("1")
    with pytest.raises(ValueError, match="beta"):
        AlphaSchedule(1.0, "1/(1+t/beta)")
    with pytest.raises(ValueError, match="beta"):
        AlphaSchedule(1.0, "1/(1+t/beta)", beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        AlphaSchedule(1.0, "1/t", beta=10.0)
    with pytest.raises(TypeError, match="t0"):
        AlphaSchedule(1.0, "1/t", t0=1.5)
    with pytest.raises(ValueError, match="t0"):
        AlphaSchedule(1.0, "1/t", t0=-1)
    with pytest.raises(ValueError, match="t"):
        AlphaSchedule(1.0)(-1)
    with pytest.raises(TypeError, match="t"):
        AlphaSchedule(1.0)(True)


# ------------------------------------------------------------------ bad inputs
def test_bad_inputs(gen):
    net, u, x0, f, xs, dx, dh = setup(gen)
    W = net.W_rec
    for fn in (omega, omega_grad, omega_ratios):
        with pytest.raises(TypeError, match="W_rec"):
            fn(W.numpy(), xs, dx)
        with pytest.raises(ValueError, match="W_rec"):
            fn(W[:, :-1], xs, dx)
        with pytest.raises(ValueError, match="xs"):
            fn(W, xs[0], dx)
        with pytest.raises(ValueError, match="xs"):
            fn(W, xs[:1], dx[:1])
        with pytest.raises(ValueError, match="xs"):
            fn(W, xs[..., :-1], dx[..., :-1])
        with pytest.raises(ValueError, match="dE"):
            fn(W, xs, dx[:-1])
        with pytest.raises(ValueError, match="dE"):
            fn(W, xs, dx.float())
        bad = dx.clone()
        bad[2, 0, 0] = float("nan")
        with pytest.raises(ValueError, match="dE"):
            fn(W, xs, bad)
        with pytest.raises(ValueError, match="sigma"):
            fn(W, xs, dx, "relu")
        with pytest.raises(ValueError, match="form"):
            fn(W, xs, dx, form="y")
        with pytest.raises(ValueError, match="norms"):
            fn(W, xs, dx, norms="l1")
        with pytest.raises(ValueError, match="bound"):
            fn(W, xs, dx, bound=0.0)
    for fn in (omega, omega_grad):
        with pytest.raises(ValueError, match="reduction"):
            fn(W, xs, dx, reduction="max")
    with pytest.raises(TypeError, match="rnn"):
        total_state_gradients(W, u, x0, f)
    with pytest.raises(TypeError, match="cost"):
        total_state_gradients(net, u, x0, 3.0)
    with pytest.raises(ValueError, match="cost"):
        total_state_gradients(net, u, x0, lambda hs: hs.sum(0))
    with pytest.raises(ValueError, match="u"):
        total_state_gradients(net, u[..., :-1], x0, f)


def test_float32_agrees_with_float64(gen):
    net, u, x0, f, xs, dx, dh = setup(gen, cost="every")
    W32, xs32, dx32 = net.W_rec.float(), xs.float(), dx.float()
    assert omega(W32, xs32, dx32).dtype == torch.float32
    assert math.isclose(omega(W32, xs32, dx32).item(), omega(net.W_rec, xs, dx).item(), rel_tol=1e-4)
    assert torch.allclose(omega_grad(W32, xs32, dx32).double(), omega_grad(net.W_rec, xs, dx), rtol=1e-3, atol=1e-6)


# ------------------------------------------------------------------ leaky-integration units (form "h")
def leaky_setup(gen, sigma="tanh", T=6, B=3, N=5, M=2):
    """A leaky network h_{k+1} = (1 − a) ⊙ h_k + a ⊙ σ(z_{k+1}), z_{k+1} = W h_k + W_in u_{k+1} + b, with a
    cost at every step; returns W, the pre-activations zs [T+1, B, N] (zs[0] unused), the total
    ∂E/∂h_k [T+1, B, N] by autograd, the leak factors and the one-step map."""
    W = 1.2 * torch.randn(N, N, generator=gen, dtype=D) / math.sqrt(N)
    W_in, b = torch.randn(N, M, generator=gen, dtype=D), 0.1 * torch.randn(N, generator=gen, dtype=D)
    a = torch.tensor([0.05, 0.15, 1.0, 0.1, 1.0], dtype=D)
    u = torch.randn(T, B, M, generator=gen, dtype=D)
    W_out = torch.randn(4, N, generator=gen, dtype=D)
    target = torch.randint(4, (T, B), generator=gen)
    sig, _ = activation(sigma)
    hs = [(0.3 * torch.randn(B, N, generator=gen, dtype=D)).requires_grad_(True)]
    zs = [torch.zeros(B, N, dtype=D)]
    for t in range(T):
        zs.append(hs[-1] @ W.T + u[t] @ W_in.T + b)
        hs.append((1 - a) * hs[-1] + a * sig(zs[-1]))
    E = sum(torch.nn.functional.cross_entropy(h @ W_out.T, target[t]) for t, h in enumerate(hs[1:])) / T
    dE = torch.stack(torch.autograd.grad(E, hs))
    step = lambda k, j: (lambda h: (1 - a) * h + a * sig(W @ h + u[k, j] @ W_in.T + b))  # noqa: E731
    return W, torch.stack(zs).detach(), dE, a, [h.detach() for h in hs], step


@pytest.mark.parametrize("sigma", ["tanh", "sigmoid"])
def test_leaky_units_omega_matches_explicit_jacobians(gen, sigma):
    W, zs, dE, a, hs, step = leaky_setup(gen, sigma)
    total, n = 0.0, 0
    for k in range(zs.shape[0] - 1):
        for j in range(zs.shape[1]):
            J = torch.autograd.functional.jacobian(step(k, j), hs[k][j])  # ∂h_{k+1}/∂h_k, the map itself
            g = dE[k + 1, j]
            total += ((g @ J).pow(2).sum() / g.pow(2).sum() - 1) ** 2
            n += 1
    got = omega(W, zs, dE, sigma, form="h", leak=a)
    assert math.isclose(got.item(), (total / n).item(), rel_tol=1e-11) and got.item() > 1e-3
    ones = torch.ones_like(a)  # factors of 1: ordinary units, the code's form "h"
    assert math.isclose(omega(W, zs, dE, sigma, form="h", leak=ones).item(), omega(W, zs, dE, sigma, form="h").item(),
                        rel_tol=1e-13)


def test_leaky_units_immediate_gradient_matches_autograd_through_the_jacobian_matrix(gen):
    """∂⁺Ω/∂W_rec with the states and ∂E/∂h held constant: J(W) = diag(1 − a) + diag(a ⊙ σ′(z_{k+1})) W."""
    W, zs, dE, a, _, _ = leaky_setup(gen)
    _, dsig = activation("tanh")
    Wv = W.clone().requires_grad_(True)
    terms = []
    for k in range(zs.shape[0] - 1):
        for j in range(zs.shape[1]):
            J = torch.diag(1 - a) + torch.diag(a * dsig(zs[k + 1, j])) @ Wv
            g = dE[k + 1, j]
            terms.append(((g @ J).pow(2).sum() / g.pow(2).sum() - 1) ** 2)
    (ref,) = torch.autograd.grad(torch.stack(terms).mean(), Wv)
    got = omega_grad(W, zs, dE, "tanh", form="h", leak=a)
    assert torch.allclose(got, ref, rtol=1e-11, atol=1e-14) and ref.abs().max() > 1e-6


def test_leak_is_for_form_h_and_must_be_factors_in_0_1(gen):
    W, zs, dE, a, _, _ = leaky_setup(gen)
    with pytest.raises(ValueError, match="form 'h'"):
        omega(W, zs, dE, "tanh", form="x", leak=a)
    with pytest.raises(ValueError, match="factors in"):
        omega(W, zs, dE, "tanh", form="h", leak=torch.zeros_like(a))
    with pytest.raises(ValueError, match="factors in"):
        omega(W, zs, dE, "tanh", form="h", leak=a[:3])


# ------------------------------------------------------------------ R networks at once
@pytest.mark.parametrize("form,norms,reduction", VARIANTS)
def test_stacked_networks_give_each_network_its_own_omega(gen, form, norms, reduction):
    """W_rec [R, N, N] with states [R, T+1, B, N]: run r's Ω, ratios and ∂⁺Ω/∂W_rec are those of its own call."""
    setups = [setup(gen) for _ in range(3)]
    W = torch.stack([net.W_rec for net, *_ in setups])
    xs = torch.stack([s[4] for s in setups])
    dE = torch.stack([dE_for(form, s[5], s[6]) for s in setups])
    dE[2, 3:] = 0  # the third run has excluded terms
    leak = 0.05 + 0.95 * torch.rand(3, W.shape[-1], generator=gen, dtype=D) if form == "h" else None
    kw = dict(form=form, norms=norms, reduction=reduction, leak=leak)
    value, grad = omega_and_grad(W, xs, dE, "tanh", **kw)
    r, included = omega_ratios(W, xs, dE, "tanh", form=form, norms=norms, leak=leak)
    for k in range(3):
        one = dict(kw, leak=None if leak is None else leak[k])
        torch.testing.assert_close(value[k], omega(W[k], xs[k], dE[k], "tanh", **one), rtol=1e-13, atol=0)
        torch.testing.assert_close(grad[k], omega_grad(W[k], xs[k], dE[k], "tanh", **one), rtol=1e-13, atol=1e-16)
        torch.testing.assert_close(r[k], omega_ratios(W[k], xs[k], dE[k], "tanh", form=form, norms=norms,
                                                      leak=one["leak"])[0], rtol=1e-13, atol=0)
    assert not included[2, 3:].any() and included[:2].all()
    torch.testing.assert_close(omega(W, xs, dE, "tanh", **kw), value, rtol=1e-13, atol=0)
    torch.testing.assert_close(omega_grad(W, xs, dE, "tanh", **kw), grad, rtol=1e-13, atol=0)


def test_a_stacked_network_with_nothing_included_gets_zero(gen):
    net, _, _, _, xs, dx, _ = setup(gen)
    W, xs2, dE = torch.stack([net.W_rec] * 2), torch.stack([xs] * 2), torch.stack([dx, torch.zeros_like(dx)])
    value, grad = omega_and_grad(W, xs2, dE, "tanh")
    assert value[1] == 0 and torch.all(grad[1] == 0) and value[0] > 0


def test_stacked_arguments_must_agree(gen):
    net, _, _, _, xs, dx, _ = setup(gen)
    W, X, dE = torch.stack([net.W_rec] * 2), torch.stack([xs] * 2), torch.stack([dx] * 2)
    with pytest.raises(ValueError, match="xs"):
        omega(W, xs, dx)  # stacked W_rec, one network's states
    with pytest.raises(ValueError, match="xs"):
        omega(W[:1], X, dE)  # one run's W_rec, two runs' states
    with pytest.raises(ValueError, match="W_rec"):
        omega(torch.stack([W] * 2), X[None], dE[None])  # two leading axes
    with pytest.raises(ValueError, match="factors in"):
        omega(W, X, dE, form="h", leak=torch.ones(3, net.n_hidden, dtype=D))
    with pytest.raises(ValueError, match="dE"):
        omega(W, X, dE.clone().fill_(float("nan")))
    bad = dE.clone()
    bad[1] = float("nan")  # a diverged run: the training step's route accepts it (omega refuses it, above)
    torch.testing.assert_close(omega_and_grad(W, X, bad)[1][0], omega_grad(W[0], X[0], dE[0]), rtol=1e-13, atol=0)
    with pytest.raises(TypeError, match="W_rec"):
        omega_and_grad(W.numpy(), X, dE)
