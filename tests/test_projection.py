"""reprolib.projection against independent routes: eigen and polar decompositions, the optimality
condition of a convex projection (Lemma 5), Weyl's inequality (Lemma 6), the full SVD for the
truncated form (eq. 15), the two known bugs of a public port of Kanai's projection, and eq. (10)'s
bound on the input matrices of a multi-layer GRU checked along a training step by the eigenvectors
of WᵀW."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings, strategies as st
from scipy.sparse.linalg import ArpackNoConvergence

from reprolib import gru as G
from reprolib import projection
from reprolib.lm_training import train_language_model, update_step
from reprolib.projection import (TruncatedProjection, clip_singular_values, project_input_weight,
                                 project_spectral_norm, top_singular_triplets)

D = torch.float64


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
    for P in (project_spectral_norm(W, delta), TruncatedProjection(delta)(W)):
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
    assert torch.allclose(project_spectral_norm(W, 0.5), ref, rtol=1e-12, atol=1e-12)


def test_projection_by_the_polar_decomposition(gen):
    """W = Q H (Q orthogonal, H = (WᵀW)^½): P_δ(W) = Q f(H), f clipping the eigenvalues of H."""
    W = spiked(gen, 15, [4.0, 2.2, 1.9, 1.85])
    Q, H = scipy.linalg.polar(W.numpy())
    mu, E = np.linalg.eigh(H)
    ref = Q @ (E * np.minimum(mu, 1.8)) @ E.T
    assert np.allclose(project_spectral_norm(W, 0.2).numpy(), ref, rtol=1e-11, atol=1e-11)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), delta=st.floats(0.05, 1.95), scale=st.floats(0.5, 3.0))
def test_lemma5_projection_is_the_frobenius_nearest_feasible_matrix(seed, delta, scale):
    """A projection onto the convex set {σ₁ ≤ c} is characterised by ⟨W − P, Y − P⟩ ≤ 0 for
    every feasible Y; and ‖W − P‖²_F = Σ (σ_i − c)₊²."""
    g = torch.Generator().manual_seed(seed)
    n, c = 8, 2 - delta
    W = scale * torch.randn(n, n, generator=g, dtype=D) / math.sqrt(n) * 2
    P = project_spectral_norm(W, delta)
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
    assert torch.allclose(project_spectral_norm(W, 0.2), W, rtol=0, atol=1e-13)
    P = project_spectral_norm(3 * W, 0.2)
    assert torch.allclose(project_spectral_norm(P, 0.2), P, rtol=0, atol=1e-13)


def test_projection_checks_its_arguments(gen):
    W = torch.randn(4, 4, generator=gen, dtype=D)
    for bad in (0.0, 2.0, -0.5, 2.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delta"):
            project_spectral_norm(W, bad)
    with pytest.raises(TypeError, match="delta"):
        project_spectral_norm(W, "0.2")
    with pytest.raises(ValueError, match="square"):
        project_spectral_norm(W[:3], 0.2)
    with pytest.raises(ValueError, match="W"):
        project_spectral_norm(W[0], 0.2)
    W[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        project_spectral_norm(W, 0.2)
    with pytest.raises(TypeError, match="W"):
        project_spectral_norm(torch.eye(3, dtype=torch.complex128), 0.2)


# ----------------------------------------------------------------------------- truncated SVD (§3.3, eq. 15, Lemma 6)
@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 30), eta=st.floats(1e-3, 10.0))
def test_lemma6_weyl_bound_on_the_updated_singular_values(seed, n, eta):
    g = torch.Generator().manual_seed(seed)
    W, grad = torch.randn(2, n, n, generator=g, dtype=D)
    lhs = torch.linalg.svdvals(W - eta * grad)
    assert (lhs <= torch.linalg.svdvals(W) + eta * grad.norm() + 1e-12).all()


def test_top_singular_triplets_match_the_full_svd(gen):
    W = spiked(gen, 50, [3.0, 2.0, 2.0, 1.5])  # with an exactly repeated singular value
    U, S, V = top_singular_triplets(W, 4)
    S_ref = torch.linalg.svdvals(W)[:4]
    assert torch.allclose(S, S_ref, rtol=0, atol=1e-13)
    assert torch.allclose(W @ V, U * S, rtol=0, atol=1e-12)  # W v_i = σ_i u_i
    assert torch.allclose(U.T @ U, torch.eye(4, dtype=D), atol=1e-12)
    with pytest.raises(ValueError, match="k"):
        top_singular_triplets(W, 50)


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
    P = TruncatedProjection(delta, max_rank=8)
    W = spiked(gen, n, [1.6, 1.5, 1.4], bulk=(0.1, 1.0))
    for k in range(40):
        W_hat = drift(gen, W, eta=0.01, push=0.03 if k < 20 else None)
        W = P(W_hat)
        assert (W - project_spectral_norm(W_hat, delta)).abs().max() < 1e-10
        assert (torch.linalg.svdvals(W) <= P.bounds + 1e-12).all()  # the carried bounds hold
    c = P.counts
    assert c["skipped"] > 3 and c["truncated"] > 10 and P.fallbacks == 0 and c["full_first"] == 1


def test_truncated_projection_starts_and_falls_back_with_a_full_svd(gen, monkeypatch):
    delta = 0.5
    P = TruncatedProjection(delta, max_rank=2)
    W = P(spiked(gen, 20, [2.5], bulk=(0.1, 1.0)))  # first call: no bounds yet
    assert P.counts["full_first"] == 1
    W_hat = W + 0.2 * torch.outer(*torch.randn(2, 20, generator=gen, dtype=D))  # a big step: s > 2
    W = P(W_hat)
    assert torch.allclose(W, project_spectral_norm(W_hat, delta), rtol=0, atol=1e-10)
    assert P.counts["full_rank"] == 1 and P.last_s > 2
    assert torch.allclose(P(W), W, rtol=0, atol=1e-12)  # no step: only the values at 2 − δ are candidates
    assert P.counts["truncated"] == 1 and P.last_s <= 2

    def no_convergence(W, k):
        raise ArpackNoConvergence("test", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(projection, "top_singular_triplets", no_convergence)
    W_hat = drift(gen, W, eta=0.01)
    assert torch.allclose(P(W_hat), project_spectral_norm(W_hat, delta), rtol=0, atol=1e-10)
    assert P.counts["full_arpack"] == 1 and P.fallbacks == 2


def test_truncated_projection_with_trigger_2_leaves_values_between_2_minus_delta_and_2(gen):
    """§3.3's cheaper variant: only σ_i > 2 are clipped (to 2 − δ)."""
    delta = 0.5
    P = TruncatedProjection(delta, trigger=2.0, max_rank=4)
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
    P = TruncatedProjection(0.2, max_rank=6)
    W = spiked(gen, 40, [1.85, 1.7]).float()
    for _ in range(10):
        W_hat = (drift(gen, W.double(), eta=0.01, push=0.02)).float()
        W = P(W_hat)
        assert W.dtype == torch.float32
        assert (W.double() - project_spectral_norm(W_hat.double(), 0.2)).abs().max() < 1e-5
    assert P.counts["truncated"] > 0


def test_truncated_projection_checks_its_arguments(gen):
    with pytest.raises(ValueError, match="delta"):
        TruncatedProjection(2.0)
    with pytest.raises(ValueError, match="trigger"):
        TruncatedProjection(0.2, trigger=2.5)
    with pytest.raises(ValueError, match="trigger"):
        TruncatedProjection(0.2, trigger=1.0)
    with pytest.raises(ValueError, match="max_rank"):
        TruncatedProjection(0.2, max_rank=0)
    P = TruncatedProjection(0.2)
    P(torch.eye(5, dtype=D))
    with pytest.raises(ValueError, match="shape"):
        P(torch.eye(6, dtype=D))
    with pytest.raises(ValueError, match="dtype"):
        P(torch.eye(5))
    with pytest.raises(ValueError, match="square"):
        P(torch.zeros(5, 4, dtype=D))
    P.reset()
    assert P.bounds is None and sum(P.counts.values()) == 0


# ----------------------------------------------------------------------------- eq. (10): σ₁(W_{l,xh}) ≤ 2
def clipped_by_eigh(W, cap=2.0):
    """W V diag(min(1, cap/σ_i)) Vᵀ with WᵀW = V diag(σ_i²) Vᵀ: the singular values clipped at
    ``cap`` through the eigendecomposition of WᵀW instead of an SVD of W."""
    lam, V = torch.linalg.eigh(W.T @ W)
    return W @ (V * (cap / lam.clamp(min=1e-300).sqrt()).clamp(max=1.0)) @ V.T


def with_singular_values(gen, n, m, s):
    """An n×m matrix with the singular values ``s`` (min(n, m) of them) and random singular vectors."""
    k = len(s)
    U = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=D))[0]
    V = torch.linalg.qr(torch.randn(m, k, generator=gen, dtype=D))[0]
    return (U * torch.tensor(s, dtype=D)) @ V.T


@pytest.mark.parametrize("shape", [(6, 6), (7, 4), (4, 7)])
def test_input_weight_projection_clips_at_2_and_keeps_the_smaller_singular_values(gen, shape):
    s = [5.0, 2.5, 1.9, 1.0, 0.3, 0.1][: min(shape)]
    W = with_singular_values(gen, *shape, s)
    P = project_input_weight(W)
    assert torch.allclose(P, clipped_by_eigh(W), rtol=0, atol=1e-12)
    S = torch.linalg.svdvals(P)
    assert torch.allclose(S, torch.tensor(s, dtype=D).clamp(max=2.0), rtol=0, atol=1e-12)
    assert S[0].item() <= projection.INPUT_BOUND + 1e-12
    feasible = with_singular_values(gen, *shape, [1.99, 1.0, 0.5, 0.1][: min(shape)])
    assert torch.allclose(project_input_weight(feasible), feasible, rtol=0, atol=1e-13)
    square = with_singular_values(gen, 6, 6, [3.0, 2.0, 1.7, 1.0, 0.5, 0.1])  # P_δ is the same clipping at 2 − δ
    assert torch.equal(project_spectral_norm(square, 0.3), clip_singular_values(square, 1.7))


def input_lm(n_layers, singular_values=(5.0, 3.0, 1.9, 1.0, 0.5, 0.2)):
    """A language model (6 units, float64) whose every W_{l,xh} has the given singular values (some
    above 2, some below) and whose W_{l,hh} is infeasible too (σ₁ = 3)."""
    g = torch.Generator().manual_seed(3)
    model = G.GRULanguageModel(20, 6, n_layers, generator=torch.Generator().manual_seed(0), dtype=D)
    with torch.no_grad():
        for cell in model.gru.cells:
            cell.W_xh.copy_(with_singular_values(g, 6, 6, singular_values))
            cell.W_hh.mul_(3.0)
    return model


def one_step(model, method="project", **kw):
    tokens = torch.randint(20, (12, 3), generator=torch.Generator().manual_seed(4))
    train_language_model(model, tokens, 1, method=method, lr=0.5, delta=0.2, seq_len=5,
                         generator=torch.Generator().manual_seed(1), **kw)
    return dict(model.named_parameters())


@pytest.mark.parametrize("n_layers", [2, 3])
def test_project_inputs_keeps_sigma1_of_every_W_xh_at_most_2_and_touches_nothing_else(n_layers):
    on = one_step(input_lm(n_layers), project_inputs=True)
    off = one_step(input_lm(n_layers))
    sgd = one_step(input_lm(n_layers), method="sgd")
    xh = [f"gru.cells.{l}.W_xh" for l in range(n_layers)]  # layer 1 (input x_t) included: eq. (10) has l = 1..L
    for n in xh:
        assert torch.equal(off[n], sgd[n])  # flag off: the SGD step only, no projection
        S_off, S_on = torch.linalg.svdvals(off[n]), torch.linalg.svdvals(on[n])
        assert S_off[0] > 3.0 and S_on[0] <= 2.0 + 1e-12
        assert torch.allclose(S_on, S_off.clamp(max=2.0), rtol=0, atol=1e-12)  # those below 2 unchanged
        assert torch.allclose(on[n], clipped_by_eigh(off[n]), rtol=0, atol=1e-12)
    for n in set(on) - set(xh):  # W_emb, W_xz, W_xr, W_hz, W_hr, W_hh (projected by P_δ), W_out, b_out
        assert torch.equal(on[n], off[n]), n
    assert torch.linalg.matrix_norm(on["gru.cells.0.W_hh"], 2) <= 1.8 + 1e-12


def test_project_inputs_does_nothing_to_a_one_layer_gru():
    on = one_step(input_lm(1), project_inputs=True)
    off = one_step(input_lm(1))
    assert on.keys() == off.keys() and all(torch.equal(on[n], off[n]) for n in on)
    assert torch.linalg.matrix_norm(on["gru.cells.0.W_xh"], 2) > 3.0


def test_input_weight_projection_checks_its_arguments(gen):
    W = torch.randn(4, 3, generator=gen, dtype=D)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="cap"):
            clip_singular_values(W, bad)
    with pytest.raises(TypeError, match="cap"):
        clip_singular_values(W, "2")
    with pytest.raises(ValueError, match="W"):
        project_input_weight(W[0])
    with pytest.raises(TypeError, match="W"):
        project_input_weight(torch.eye(3, dtype=torch.complex128))
    model = input_lm(2)
    with pytest.raises(TypeError, match="project_inputs"):
        one_step(model, project_inputs=1)
    with pytest.raises(ValueError, match="project_inputs"):
        one_step(model, method="clip", project_inputs=True)
    params = {"a": torch.nn.Parameter(W.clone()), "W": torch.nn.Parameter(torch.eye(3, dtype=D))}
    grads = {n: torch.zeros_like(p) for n, p in params.items()}
    with pytest.raises(ValueError, match="input_projections"):
        update_step(params, grads, method="sgd", lr=0.1, input_projections={"a": project_input_weight})
    with pytest.raises(ValueError, match="input_projections"):
        update_step(params, grads, method="project", lr=0.1, projections={"W": TruncatedProjection(0.2)},
                    input_projections={"W": project_input_weight})
