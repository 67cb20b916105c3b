"""reprolib.gru against independent routes: eq. (1)–(4) written per sample, torch.nn.GRU,
autograd Jacobians, eigen/polar decompositions, the optimality condition of a convex
projection, and the two known bugs of a public port of Kanai's projection."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings, strategies as st
from scipy.sparse.linalg import ArpackNoConvergence

from reprolib import gru as G

D = torch.float64


def randomize_(module, gen, scale=0.7):
    """Give every parameter (biases too) random values, so that no test relies on the init."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def cell_with_biases(gen, m=3, n=5):
    return randomize_(G.GRUCell(m, n, generator=gen, bias=True, dtype=D), gen)


def reference_step(cell, x, h, reset="inside"):
    """Eq. (1)–(4) one sample at a time with column vectors. ``reset="outside"`` moves the
    reset gate after the product, r ⊙ (W_hh h): torch.nn.GRU's candidate with b_hn = 0."""
    def sigm(a):
        return 1 / (1 + torch.exp(-a))

    def b(name):
        p = getattr(cell, name)
        return torch.zeros(cell.n_hidden, dtype=D) if p is None else p

    out = []
    for xb, hb in zip(x, h):
        z = sigm(torch.mv(cell.W_xz, xb) + torch.mv(cell.W_hz, hb) + b("b_z"))
        r = sigm(torch.mv(cell.W_xr, xb) + torch.mv(cell.W_hr, hb) + b("b_r"))
        rec = torch.mv(cell.W_hh, r * hb) if reset == "inside" else r * torch.mv(cell.W_hh, hb)
        h_tilde = torch.tanh(torch.mv(cell.W_xh, xb) + rec + b("b_h"))
        out.append(z * hb + (1 - z) * h_tilde)
    return torch.stack(out)


def batch(gen, cell, B=4):
    return (torch.randn(B, cell.n_in, generator=gen, dtype=D), torch.randn(B, cell.n_hidden, generator=gen, dtype=D))


# ----------------------------------------------------------------------------- the cell
def test_cell_follows_equations_1_to_4(gen):
    cell = cell_with_biases(gen)
    x, h = batch(gen, cell)
    assert torch.allclose(cell(x, h), reference_step(cell, x, h), rtol=1e-13, atol=1e-14)


def test_parameters_are_named_as_in_the_paper(gen):
    names = {n for n, _ in G.GRUCell(3, 5, generator=gen).named_parameters()}
    assert names == {"W_xz", "W_hz", "W_xr", "W_hr", "W_xh", "W_hh"}  # eq. (1)–(4) have no biases
    names = {n for n, _ in G.GRUCell(3, 5, generator=gen, bias=True).named_parameters()}
    assert names >= {"b_z", "b_r", "b_h"} and len(names) == 9


def test_init_is_deterministic_orthogonal_and_has_variance_one_over_n():
    a = G.GRUCell(40, 200, generator=torch.Generator().manual_seed(3), dtype=D)
    b = G.GRUCell(40, 200, generator=torch.Generator().manual_seed(3), dtype=D)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.allclose(a.W_hh.T @ a.W_hh, torch.eye(200, dtype=D), atol=1e-12)
    W = torch.cat([a.W_hz.flatten(), a.W_hr.flatten()])
    assert abs(W.var().item() * 200 - 1) < 0.02  # 80,000 draws of N(0, 1/200)


def test_cell_differs_from_torch_exactly_by_the_reset_gate_placement(gen):
    cell = cell_with_biases(gen)
    x, h = batch(gen, cell)
    ref = G.to_torch(cell)
    ours, theirs = cell(x, h), ref(x, h)
    assert torch.allclose(theirs, reference_step(cell, x, h, reset="outside"), rtol=1e-13, atol=1e-14)
    assert (ours - theirs).abs().max() > 1e-2  # a generic cell: W_hh (r ⊙ h) ≠ r ⊙ (W_hh h)


def test_cell_equals_torch_when_W_hh_is_diagonal(gen):
    """W_hh diag(r) = diag(r) W_hh for every r when W_hh is diagonal."""
    cell = cell_with_biases(gen)
    with torch.no_grad():
        cell.W_hh.copy_(torch.diag(torch.randn(cell.n_hidden, generator=gen, dtype=D)))
    x, h = batch(gen, cell)
    assert torch.allclose(cell(x, h), G.to_torch(cell)(x, h), rtol=1e-13, atol=1e-14)


def test_cell_equals_torch_when_the_reset_gate_is_uniform(gen):
    """r = sigm(c)·1 in every unit (W_xr = W_hr = 0, constant b_r): diag(r) commutes with W_hh."""
    cell = cell_with_biases(gen)
    with torch.no_grad():
        cell.W_xr.zero_(), cell.W_hr.zero_(), cell.b_r.fill_(0.3)
    x, h = batch(gen, cell)
    assert torch.allclose(cell(x, h), G.to_torch(cell)(x, h), rtol=1e-13, atol=1e-14)
    with torch.no_grad():
        cell.b_r[0] = -2.0  # r no longer uniform: the two cells part
    assert (cell(x, h) - G.to_torch(cell)(x, h)).abs().max() > 1e-3


def test_from_torch_inverts_to_torch_and_folds_the_biases(gen):
    cell = cell_with_biases(gen)
    back = G.from_torch(G.to_torch(cell))
    assert all(torch.equal(p, q) for p, q in zip(cell.parameters(), back.parameters()))
    ref = torch.nn.GRUCell(3, 5, dtype=D)
    randomize_(ref, gen)
    with torch.no_grad():
        ref.weight_hh[10:].copy_(torch.diag(torch.randn(5, generator=gen, dtype=D)))  # diagonal W_hn
        ref.bias_hh[10:].zero_()  # b_hn = 0
    ours = G.from_torch(ref)
    assert torch.allclose(ours.b_r, ref.bias_ih[:5] + ref.bias_hh[:5])
    x, h = batch(gen, ours)
    assert torch.allclose(ours(x, h), ref(x, h), rtol=1e-13, atol=1e-14)
    with torch.no_grad():
        ref.bias_hh[12] = 0.1
    with pytest.raises(ValueError, match="b_hn"):
        G.from_torch(ref)


def test_cell_checks_its_arguments(gen):
    cell = G.GRUCell(3, 5, generator=gen, dtype=D)
    x, h = batch(gen, cell)
    with pytest.raises(ValueError, match="x"):
        cell(x[:, :2], h)
    with pytest.raises(ValueError, match="h"):
        cell(x, h[:, :4])
    with pytest.raises(ValueError, match="batch"):
        cell(x, h[:3])
    with pytest.raises(ValueError, match="h"):
        cell(x, h.float())
    with pytest.raises(TypeError, match="generator"):
        G.GRUCell(3, 5, generator=None)
    with pytest.raises(ValueError, match="n_hidden"):
        G.GRUCell(3, 0, generator=gen)


# ----------------------------------------------------------------------------- stacks
def test_gru_stack_is_the_cells_applied_layer_by_layer(gen):
    net = randomize_(G.GRU(3, 5, 3, generator=gen, bias=True, dtype=D), gen)
    x = torch.randn(6, 4, 3, generator=gen, dtype=D)
    h0 = torch.randn(3, 4, 5, generator=gen, dtype=D)
    out, hT = net(x, h0)
    inp = x
    for l, cell in enumerate(net.cells):
        h, hs = h0[l], []
        for t in range(x.shape[0]):
            h = reference_step(cell, inp[t], h)
            hs.append(h)
        inp = torch.stack(hs)
        assert torch.allclose(hT[l], h, rtol=1e-12, atol=1e-13)
    assert torch.allclose(out, inp, rtol=1e-12, atol=1e-13)
    assert torch.equal(net(x)[0], net(x, torch.zeros(3, 4, 5, dtype=D))[0])  # h_0 = 0 by default


def test_gru_stack_equals_torch_nn_gru_when_every_W_hh_is_diagonal(gen):
    net = randomize_(G.GRU(3, 5, 2, generator=gen, bias=True, dtype=D), gen)
    with torch.no_grad():
        for W in net.recurrent_weights():
            W.copy_(torch.diag(torch.randn(5, generator=gen, dtype=D)))
    x = torch.randn(6, 4, 3, generator=gen, dtype=D)
    h0 = torch.randn(2, 4, 5, generator=gen, dtype=D)
    ref = G.to_torch(net)
    (a, ha), (b, hb) = net(x, h0), ref(x, h0)
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-13) and torch.allclose(ha, hb, rtol=1e-12, atol=1e-13)
    back = G.from_torch(ref)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), back.parameters()))


def test_gru_stack_checks_its_arguments(gen):
    net = G.GRU(3, 5, 2, generator=gen, dtype=D)
    with pytest.raises(ValueError, match="h0"):
        net(torch.zeros(4, 2, 3, dtype=D), torch.zeros(1, 2, 5, dtype=D))
    with pytest.raises(ValueError, match="x"):
        net(torch.zeros(4, 2, 4, dtype=D))
    with pytest.raises(ValueError, match="dropout"):
        G.GRU(3, 5, 2, generator=gen, dropout=1.0)


def lm(gen, dropout=0.0):
    return randomize_(G.GRULanguageModel(30, 6, 2, generator=gen, dropout=dropout, dtype=D), gen, scale=0.5)


def test_language_model_is_scaled_embedding_gru_and_linear_readout(gen):
    model = lm(gen)
    tokens = torch.randint(0, 30, (7, 3), generator=gen)
    logits, state = model(tokens)
    x = 0.01 * model.W_emb[tokens]  # the bias-free input layer times 0.01 (§4.1.1)
    hs, hT = model.gru(x)
    assert logits.shape == (7, 3, 30) and state.shape == (2, 3, 6)
    assert torch.allclose(logits, hs @ model.W_out.T + model.b_out, rtol=1e-13, atol=1e-14)
    assert torch.equal(state, hT)


def test_language_model_carries_its_state_across_segments(gen):
    model = lm(gen)
    tokens = torch.randint(0, 30, (10, 3), generator=gen)
    whole, s_whole = model(tokens)
    first, s = model(tokens[:4])
    second, s = model(tokens[4:], s)
    assert torch.allclose(torch.cat([first, second]), whole, rtol=1e-12, atol=1e-13)
    assert torch.allclose(s, s_whole, rtol=1e-12, atol=1e-13)


def test_language_model_dropout_is_seeded_and_off_in_eval(gen):
    model = lm(gen, dropout=0.5)
    tokens = torch.randint(0, 30, (5, 3), generator=gen)
    model.train()
    with pytest.raises(ValueError, match="generator"):
        model(tokens)
    a, _ = model(tokens, generator=torch.Generator().manual_seed(9))
    b, _ = model(tokens, generator=torch.Generator().manual_seed(9))
    c, _ = model(tokens, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    model.eval()
    plain, _ = model(tokens)
    model.dropout = model.gru.dropout = 0.0
    model.train()
    assert torch.equal(plain, model(tokens)[0])


def test_language_model_checks_tokens(gen):
    model = lm(gen)
    with pytest.raises(TypeError, match="tokens"):
        model(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="tokens"):
        model(torch.full((4, 2), 30))
    with pytest.raises(ValueError, match="tokens"):
        model(torch.zeros(4, dtype=torch.int64))


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
    assert torch.allclose(J, G.jacobian_at_zero(cell.W_hh.detach()), rtol=1e-14, atol=1e-15)


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
    assert (J - G.jacobian_at_zero(W)).abs().max() > 1e-2


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
    rho = spectral_radius(G.jacobian_at_zero(W))
    assert rho <= sigma1 / 4 + 0.5 + 1e-12  # |λ₁(J)| ≤ ‖J‖₂ ≤ σ₁/4 + ½, the lemma's argument
    assert rho < 1


def test_lemma3_is_sharp_and_only_sufficient():
    I = torch.eye(4, dtype=D)
    for eps in (1e-1, 1e-3):
        assert abs(spectral_radius(G.jacobian_at_zero((2 - eps) * I)) - (1 - eps / 4)) < 1e-14
    assert spectral_radius(G.jacobian_at_zero(-3 * I)) == pytest.approx(0.25)  # σ₁ = 3, yet stable


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


# ----------------------------------------------------------------------------- the projection P_δ
def spiked(gen, n, top, bulk=(0.2, 1.2)):
    """A non-symmetric matrix with the given top singular values above a uniform bulk."""
    U = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=D))[0]
    V = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=D))[0]
    s = torch.empty(n, dtype=D).uniform_(*bulk, generator=gen)
    s[: len(top)] = torch.tensor(top, dtype=D)
    return (U * s) @ V.T


def tf_port(W, delta):
    """The two formulas of the public TensorFlow port (book/original_code.md, "Known mistakes of public ports")."""
    U, S, Vh = torch.linalg.svd(W)
    V = Vh.T
    wrong_rebuild = U @ V @ torch.diag(S.clamp(max=2 - delta))     # u·v·diag(s), not u·diag(s)·vᵀ
    wrong_shift = W - (U * (S - 2).clamp(min=0)) @ Vh                # subtracts σ − 2, not σ − (2 − δ)
    return wrong_rebuild, wrong_shift


@pytest.mark.parametrize("delta", [0.2, 0.8, 1.4])
def test_projection_clips_sigma_max_exactly_and_differs_from_the_port_bugs(gen, delta):
    W = spiked(gen, 12, [3.0, 2.5, 1.95])
    assert (W - W.T).abs().max() > 0.1
    for P in (G.project_spectral_norm(W, delta), G.TruncatedProjection(delta)(W)):
        S = torch.linalg.svdvals(P)
        assert abs(S[0].item() - (2 - delta)) < 1e-13  # σ_max = 2 − δ exactly when clipped
        wrong_rebuild, wrong_shift = tf_port(W, delta)
        assert (P - wrong_rebuild).norm() > 1.0
        assert (P - wrong_shift).norm() > 0.1
        assert torch.linalg.svdvals(wrong_shift)[0].item() == pytest.approx(2.0)  # the port's σ_max


def test_projection_of_a_symmetric_matrix_clips_its_eigenvalues(gen):
    A = torch.randn(10, 10, generator=gen, dtype=D)
    W = A + A.T
    lam, Q = torch.linalg.eigh(W)
    ref = (Q * (lam.sign() * lam.abs().clamp(max=1.5))) @ Q.T
    assert torch.allclose(G.project_spectral_norm(W, 0.5), ref, rtol=1e-12, atol=1e-12)


def test_projection_by_the_polar_decomposition(gen):
    """W = Q H (Q orthogonal, H = (WᵀW)^½): P_δ(W) = Q f(H), f clipping the eigenvalues of H."""
    W = spiked(gen, 15, [4.0, 2.2, 1.9, 1.85])
    Q, H = scipy.linalg.polar(W.numpy())
    mu, E = np.linalg.eigh(H)
    ref = Q @ (E * np.minimum(mu, 1.8)) @ E.T
    assert np.allclose(G.project_spectral_norm(W, 0.2).numpy(), ref, rtol=1e-11, atol=1e-11)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), delta=st.floats(0.05, 1.95), scale=st.floats(0.5, 3.0))
def test_lemma5_projection_is_the_frobenius_nearest_feasible_matrix(seed, delta, scale):
    """A projection onto the convex set {σ₁ ≤ c} is characterised by ⟨W − P, Y − P⟩ ≤ 0 for
    every feasible Y; and ‖W − P‖²_F = Σ (σ_i − c)₊²."""
    g = torch.Generator().manual_seed(seed)
    n, c = 8, 2 - delta
    W = scale * torch.randn(n, n, generator=g, dtype=D) / math.sqrt(n) * 2
    P = G.project_spectral_norm(W, delta)
    assert torch.linalg.matrix_norm(P, 2) <= c + 1e-12
    S = torch.linalg.svdvals(W)
    assert abs((W - P).norm().item() ** 2 - ((S - c).clamp(min=0) ** 2).sum().item()) < 1e-10
    for _ in range(20):
        Y = torch.randn(n, n, generator=g, dtype=D)
        Y = c * torch.rand(1, generator=g, dtype=D).item() ** 0.1 * Y / torch.linalg.matrix_norm(Y, 2)
        assert torch.sum((W - P) * (Y - P)).item() <= 1e-10
        assert (W - P).norm() <= (W - Y).norm() + 1e-12


def test_projection_keeps_feasible_matrices_and_is_idempotent(gen):
    W = spiked(gen, 9, [1.7, 1.2], bulk=(0.1, 1.0))
    assert torch.allclose(G.project_spectral_norm(W, 0.2), W, rtol=0, atol=1e-13)
    P = G.project_spectral_norm(3 * W, 0.2)
    assert torch.allclose(G.project_spectral_norm(P, 0.2), P, rtol=0, atol=1e-13)


def test_projection_checks_its_arguments(gen):
    W = torch.randn(4, 4, generator=gen, dtype=D)
    for bad in (0.0, 2.0, -0.5, 2.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delta"):
            G.project_spectral_norm(W, bad)
    with pytest.raises(TypeError, match="delta"):
        G.project_spectral_norm(W, "0.2")
    with pytest.raises(ValueError, match="square"):
        G.project_spectral_norm(W[:3], 0.2)
    with pytest.raises(ValueError, match="W"):
        G.project_spectral_norm(W[0], 0.2)
    W[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        G.project_spectral_norm(W, 0.2)
    with pytest.raises(TypeError, match="W"):
        G.project_spectral_norm(torch.eye(3, dtype=torch.complex128), 0.2)


def test_jacobian_at_zero_checks_its_argument():
    with pytest.raises(ValueError, match="W_hh"):
        G.jacobian_at_zero(torch.zeros(2, 3))


# ----------------------------------------------------------------------------- truncated SVD (§3.3)
@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 30), eta=st.floats(1e-3, 10.0))
def test_lemma6_weyl_bound_on_the_updated_singular_values(seed, n, eta):
    g = torch.Generator().manual_seed(seed)
    W, grad = torch.randn(2, n, n, generator=g, dtype=D)
    lhs = torch.linalg.svdvals(W - eta * grad)
    assert (lhs <= torch.linalg.svdvals(W) + eta * grad.norm() + 1e-12).all()


def test_top_singular_triplets_match_the_full_svd(gen):
    W = spiked(gen, 50, [3.0, 2.0, 2.0, 1.5])  # with an exactly repeated singular value
    U, S, V = G.top_singular_triplets(W, 4)
    S_ref = torch.linalg.svdvals(W)[:4]
    assert torch.allclose(S, S_ref, rtol=0, atol=1e-13)
    assert torch.allclose(W @ V, U * S, rtol=0, atol=1e-12)  # W v_i = σ_i u_i
    assert torch.allclose(U.T @ U, torch.eye(4, dtype=D), atol=1e-12)
    with pytest.raises(ValueError, match="k"):
        G.top_singular_triplets(W, 50)


def drift(gen, W, eta, push=None):
    """An SGD-like step: random noise of Frobenius norm η, plus an optional push along the
    top singular direction of W (grows σ₁ by `push`)."""
    N = torch.randn(W.shape, generator=gen, dtype=D)
    step = eta * N / N.norm()
    if push:
        U, _, Vh = torch.linalg.svd(W)
        step = step + push * torch.outer(U[:, 0], Vh[0])
    return W + step


def test_truncated_projection_equals_the_full_one_along_random_updates(gen):
    delta, n = 0.2, 60
    P = G.TruncatedProjection(delta, max_rank=8)
    W = spiked(gen, n, [1.6, 1.5, 1.4], bulk=(0.1, 1.0))
    for k in range(40):
        W_hat = drift(gen, W, eta=0.01, push=0.03 if k < 20 else None)
        W = P(W_hat)
        assert (W - G.project_spectral_norm(W_hat, delta)).abs().max() < 1e-10
        assert (torch.linalg.svdvals(W) <= P.bounds + 1e-12).all()  # the carried bounds hold
    c = P.counts
    assert c["skipped"] > 3 and c["truncated"] > 10 and P.fallbacks == 0 and c["full_first"] == 1


def test_truncated_projection_starts_and_falls_back_with_a_full_svd(gen, monkeypatch):
    delta = 0.5
    P = G.TruncatedProjection(delta, max_rank=2)
    W = P(spiked(gen, 20, [2.5], bulk=(0.1, 1.0)))  # first call: no bounds yet
    assert P.counts["full_first"] == 1
    W_hat = W + 0.2 * torch.outer(*torch.randn(2, 20, generator=gen, dtype=D))  # a big step: s > 2
    W = P(W_hat)
    assert torch.allclose(W, G.project_spectral_norm(W_hat, delta), rtol=0, atol=1e-10)
    assert P.counts["full_rank"] == 1 and P.last_s > 2
    assert torch.allclose(P(W), W, rtol=0, atol=1e-12)  # no step: only the values at 2 − δ are candidates
    assert P.counts["truncated"] == 1 and P.last_s <= 2

    def no_convergence(W, k):
        raise ArpackNoConvergence("test", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(G, "top_singular_triplets", no_convergence)
    W_hat = drift(gen, W, eta=0.01)
    assert torch.allclose(P(W_hat), G.project_spectral_norm(W_hat, delta), rtol=0, atol=1e-10)
    assert P.counts["full_arpack"] == 1 and P.fallbacks == 2


def test_truncated_projection_with_trigger_2_leaves_values_between_2_minus_delta_and_2(gen):
    """§3.3's cheaper variant: only σ_i > 2 are clipped (to 2 − δ)."""
    delta = 0.5
    P = G.TruncatedProjection(delta, trigger=2.0, max_rank=4)
    W = P(spiked(gen, 30, [2.6, 1.9, 1.7], bulk=(0.1, 1.0)))
    for _ in range(15):
        W_hat = drift(gen, W, eta=0.02, push=0.04)
        U, S, Vh = torch.linalg.svd(W_hat)
        ref = (U * torch.where(S > 2, torch.full_like(S, 1.5), S)) @ Vh
        W = P(W_hat)
        assert (W - ref).abs().max() < 1e-10
        assert torch.linalg.matrix_norm(W, 2) <= 2 + 1e-12
    assert torch.linalg.svdvals(W)[0] > 1.5 + 1e-3  # some σ in (2 − δ, 2] was left alone
    assert P.counts["skipped"] > 0


def test_truncated_projection_in_float32(gen):
    P = G.TruncatedProjection(0.2, max_rank=6)
    W = spiked(gen, 40, [1.85, 1.7]).float()
    for _ in range(10):
        W_hat = (drift(gen, W.double(), eta=0.01, push=0.02)).float()
        W = P(W_hat)
        assert W.dtype == torch.float32
        assert (W.double() - G.project_spectral_norm(W_hat.double(), 0.2)).abs().max() < 1e-5
    assert P.counts["truncated"] > 0


def test_truncated_projection_checks_its_arguments(gen):
    with pytest.raises(ValueError, match="delta"):
        G.TruncatedProjection(2.0)
    with pytest.raises(ValueError, match="trigger"):
        G.TruncatedProjection(0.2, trigger=2.5)
    with pytest.raises(ValueError, match="trigger"):
        G.TruncatedProjection(0.2, trigger=1.0)
    with pytest.raises(ValueError, match="max_rank"):
        G.TruncatedProjection(0.2, max_rank=0)
    P = G.TruncatedProjection(0.2)
    P(torch.eye(5, dtype=D))
    with pytest.raises(ValueError, match="shape"):
        P(torch.eye(6, dtype=D))
    with pytest.raises(ValueError, match="dtype"):
        P(torch.eye(5))
    with pytest.raises(ValueError, match="square"):
        P(torch.zeros(5, 4, dtype=D))
    P.reset()
    assert P.bounds is None and sum(P.counts.values()) == 0


# ----------------------------------------------------------------------------- Chapter 7 helpers
def test_spectral_radius_J_and_critical_scale(gen):
    W = torch.randn(7, 7, generator=gen, dtype=D)
    assert G.spectral_radius_J(W) == pytest.approx(spectral_radius(G.jacobian_at_zero(W)), rel=1e-14)
    c = G.critical_scale(W)
    assert G.spectral_radius_J(c * W) == pytest.approx(1.0, abs=1e-12)  # on the boundary
    assert G.spectral_radius_J(0.999 * c * W) < 1 < G.spectral_radius_J(1.001 * c * W)
    assert c >= 2 / torch.linalg.matrix_norm(W, 2).item()  # Lemma 3: the relaxed bound is inside
    I = torch.eye(3, dtype=D)
    assert G.critical_scale(2 * I) == pytest.approx(1.0) and G.critical_scale(-2 * I) == pytest.approx(3.0)
    assert G.critical_scale(torch.triu(torch.ones(4, 4, dtype=D), 1)) == math.inf  # nilpotent
    with pytest.raises(ValueError, match="W"):
        G.critical_scale(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="W_hh"):
        G.spectral_radius_J(torch.zeros(3))


def test_explosions_and_upward_crossings():
    x = np.array([1.0, 1.1, 0.9, 1.0, 5.0, 1.0, 1.2, 2.0])
    assert G.explosions(x, factor=3, window=3).tolist() == [4]
    assert G.explosions(x, factor=1.5, window=3).tolist() == [4, 7]
    assert G.explosions(x[:3], window=5).tolist() == []
    assert G.upward_crossings([0.9, 1.2, 0.8, 1.0, 1.01, 1.3], 1.0).tolist() == [1, 4]
    with pytest.raises(ValueError, match="norms"):
        G.explosions(np.ones((2, 2)))
    with pytest.raises(ValueError, match="factor"):
        G.explosions(x, factor=0)
    with pytest.raises(TypeError, match="window"):
        G.explosions(x, window=2.5)
    with pytest.raises(ValueError, match="x"):
        G.upward_crossings(np.ones((2, 2)))


def small_lm(seed=0, n=8, vocab=30, dropout=0.0):
    return G.GRULanguageModel(vocab, n, generator=torch.Generator().manual_seed(seed), dropout=dropout)


def lm_data(vocab=30, B=4, steps=200):
    return torch.randint(vocab, (steps, B), generator=torch.Generator().manual_seed(5))


def test_train_language_model_clip_records_the_pre_clip_norm_and_steps_like_algorithm_1():
    model, data = small_lm(), lm_data()
    ref = small_lm()
    tr = G.train_language_model(model, data, 1, method="clip", lr=0.5, threshold=1e-3, seq_len=7,
                                generator=torch.Generator().manual_seed(1))
    logits, _ = ref(data[:7])
    cost = F_ce(logits, data[1:8])
    grads = torch.autograd.grad(cost, list(ref.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
    assert tr.grad_norm[0] == pytest.approx(norm, rel=1e-5) and tr.loss[0] == pytest.approx(cost.item(), rel=1e-6)
    with torch.no_grad():
        for p, q, g in zip(model.parameters(), ref.parameters(), grads):
            assert torch.allclose(p, q - 0.5 * 1e-3 * g / norm, atol=1e-6)
    assert tr.rho_J.shape == (2, 1) and tr.rho_J[0, 0] == pytest.approx(G.spectral_radius_J(ref.gru.cells[0].W_hh))
    assert tr.stopped_at is None and tr.routes == [] and tr.lemma6_slack.shape == (0, 1)


def F_ce(logits, y):
    """Σ_t mean_b CE: Zaremba's cost."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / y.shape[1]


def test_train_language_model_project_keeps_sigma1_and_checks_lemma6_and_eq15():
    model = small_lm(n=12)
    with torch.no_grad():
        model.gru.cells[0].W_hh.mul_(2.5)  # start infeasible: the first update projects
    tr = G.train_language_model(model, lm_data(), 20, method="project", lr=2.0, delta=0.2, seq_len=5,
                                generator=torch.Generator().manual_seed(1), check_projection=True)
    assert tr.sigma1[0, 0] == pytest.approx(2.5, rel=1e-5)
    assert (tr.sigma1[1:] <= 1.8 + 1e-5).all() and (tr.rho_J[1:] <= 0.95 + 1e-5).all()
    assert (tr.lemma6_slack >= -1e-5).all() and (tr.eq15_error < 1e-5).all()
    assert tr.s_bound[0, 0] == -1 and (tr.s_true[1:] <= tr.s_bound[1:]).all()  # the bounds never miss a value
    assert sum(tr.routes[0].values()) == 20 and tr.routes[0]["full_first"] == 1


def test_train_language_model_is_reproducible_and_stops_on_non_finite_costs():
    a = G.train_language_model(small_lm(dropout=0.5), lm_data(), 5, method="sgd", lr=1.0, seq_len=6,
                               generator=torch.Generator().manual_seed(2))
    b = G.train_language_model(small_lm(dropout=0.5), lm_data(), 5, method="sgd", lr=1.0, seq_len=6,
                               generator=torch.Generator().manual_seed(2))
    assert np.array_equal(a.grad_norm, b.grad_norm) and np.array_equal(a.rho_J, b.rho_J)
    model = small_lm()
    with torch.no_grad():
        model.b_out[0] = float("inf")
    tr = G.train_language_model(model, lm_data(), 3, method="sgd", lr=1.0, seq_len=6,
                                generator=torch.Generator().manual_seed(2))
    assert tr.stopped_at == 0 and np.isnan(tr.grad_norm).all()


def test_train_language_model_checks_its_arguments():
    gen2 = torch.Generator().manual_seed(0)
    model, data = small_lm(), lm_data(steps=20)
    with pytest.raises(TypeError, match="model"):
        G.train_language_model(G.GRU(3, 4, generator=gen2), data, 1, method="clip", lr=1.0, generator=gen2)
    with pytest.raises(ValueError, match="method"):
        G.train_language_model(model, data, 1, method="adam", lr=1.0, generator=gen2)
    with pytest.raises(ValueError, match="iterations"):
        G.train_language_model(model, data, 3, method="clip", lr=1.0, generator=gen2, seq_len=7)
    with pytest.raises(ValueError, match="lr"):
        G.train_language_model(model, data, 1, method="clip", lr=-1.0, generator=gen2)
    with pytest.raises(ValueError, match="delta"):
        G.train_language_model(model, data, 1, method="project", lr=1.0, delta=2.0, generator=gen2)
    with pytest.raises(TypeError, match="generator"):
        G.train_language_model(model, data, 1, method="clip", lr=1.0, generator=0)


def test_projected_matrix_and_measure_update_costs(gen):
    W = G.projected_matrix(20, 0.2, gen, top=3)
    S = torch.linalg.svdvals(W.double())
    assert W.dtype == torch.float32 and torch.allclose(S[:3], torch.full((3,), 1.8, dtype=D), atol=1e-5)
    assert S[3] <= 1.2 + 1e-5
    with pytest.raises(ValueError, match="top"):
        G.projected_matrix(4, 0.2, gen, top=5)
    rows = G.measure_update_costs(generator=gen, vocab=30, n_hidden=60, reps=1)  # max_rank 6 >= 5
    assert [r["label"][:4] for r in rows] == ["(a) ", "(b) ", "(c) ", "(c2)", "(c3)", "(d) ", "(e) "]
    assert rows[0]["ratio"] == 1.0 and all(r["ms"] > 0 for r in rows)
    assert "truncated" in rows[2]["note"] and "full_rank" in rows[3]["note"] and "skipped" in rows[4]["note"]
    with pytest.raises(ValueError, match="reps"):
        G.measure_update_costs(generator=gen, vocab=30, n_hidden=40, reps=0)


@pytest.mark.parametrize("kind", G.MATRIX_KINDS)
def test_random_matrices_have_the_asked_spectral_norm(gen, kind):
    target = torch.linspace(0.5, 3.0, 6, dtype=D)
    W = G.random_matrices(kind, 6, 7, target, gen)
    assert W.shape == (6, 7, 7)
    assert torch.allclose(torch.linalg.matrix_norm(W, 2), target, rtol=1e-12)
    if kind == "orthogonal":
        assert torch.allclose(torch.linalg.svdvals(W), target[:, None].expand(6, 7), rtol=1e-12)
    if kind == "symmetric":
        assert torch.equal(W, W.transpose(-1, -2))
    if kind == "rank1":
        assert (torch.linalg.svdvals(W)[:, 1] < 1e-12).all()
    with pytest.raises(ValueError, match="sigma1"):
        G.random_matrices(kind, 6, 7, torch.ones(5), gen)


def test_random_matrices_checks_kind():
    with pytest.raises(ValueError, match="kind"):
        G.random_matrices("hermitian", 2, 3, 1.0, torch.Generator())
