"""reprolib.lm_training against independent routes: the gradient of the cost by autograd on a copy
of the model, Algorithm 1 written out, the closed form of P_δ on a diagonal matrix, and events in
hand-made series."""

import numpy as np
import pytest
import torch

from reprolib import gru as G
from reprolib.gru_stability import spectral_radius_J
from reprolib.lm_training import explosions, lm_cost, train_language_model, update_step, upward_crossings
from reprolib.projection import TruncatedProjection


def small_lm(seed=0, n=8, vocab=30, dropout=0.0):
    return G.GRULanguageModel(vocab, n, generator=torch.Generator().manual_seed(seed), dropout=dropout)


def lm_data(vocab=30, B=4, steps=200):
    return torch.randint(vocab, (steps, B), generator=torch.Generator().manual_seed(5))


def F_ce(logits, y):
    """Σ_t mean_b CE: Zaremba's cost."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / y.shape[1]


def test_lm_cost_sums_over_time_and_averages_over_the_batch(gen):
    logits = torch.randn(5, 3, 7, generator=gen, dtype=torch.float64)
    y = torch.randint(7, (5, 3), generator=gen)
    ref = sum(sum(-torch.log_softmax(logits[t, b], 0)[y[t, b]] for b in range(3)) / 3 for t in range(5))
    assert lm_cost(logits, y).item() == pytest.approx(ref.item(), rel=1e-14)
    assert lm_cost(logits, y).item() == pytest.approx(F_ce(logits, y).item(), rel=1e-14)


def test_update_step_follows_sgd_algorithm_1_and_eq_11():
    """SGD: θ − ηg; clip: θ − η (threshold/‖g‖) g (Algorithm 1, ‖g‖ over all parameters); project:
    the SGD step, then P_δ of W, here on Ŵ = diag(3, 1, 0.5, 2.5) whose P_δ is diag(1.8, 1, 0.5, 1.8)."""
    D = torch.float64
    a0, W0 = torch.arange(3.0, dtype=D), torch.diag(torch.tensor([3.5, 1.5, 1.0, 3.0], dtype=D))
    grads = {"a": torch.tensor([1.0, -2.0, 2.0], dtype=D), "W": torch.eye(4, dtype=D)}  # ‖g‖ = √(9 + 4) = √13

    def params():
        return {"a": torch.nn.Parameter(a0.clone()), "W": torch.nn.Parameter(W0.clone())}

    p = params()
    update_step(p, grads, method="sgd", lr=0.5)
    assert torch.equal(p["a"], a0 - 0.5 * grads["a"]) and torch.equal(p["W"], W0 - 0.5 * grads["W"])
    p = params()
    update_step(p, grads, method="clip", lr=0.5, threshold=1.0)
    for n, x0 in (("a", a0), ("W", W0)):
        assert torch.allclose(p[n], x0 - 0.5 * grads[n] / 13 ** 0.5, rtol=1e-15, atol=1e-15)
    p, seen = params(), []
    update_step(p, grads, method="project", lr=0.5, projections={"W": TruncatedProjection(0.2)},
                on_projection=lambda l, W, W_hat, W_new, P: seen.append((l, W.clone(), W_hat, W_new)))
    assert torch.equal(p["a"], a0 - 0.5 * grads["a"])
    assert torch.allclose(p["W"], torch.diag(torch.tensor([1.8, 1.0, 0.5, 1.8], dtype=D)), rtol=0, atol=1e-14)
    (l, W_before, W_hat, W_new), = seen
    assert l == 0 and torch.equal(W_before, W0) and torch.equal(W_hat, W0 - 0.5 * grads["W"]) and torch.equal(W_new, p["W"])
    with pytest.raises(ValueError, match="projections"):
        update_step(params(), grads, method="project", lr=0.5)
    with pytest.raises(ValueError, match="projections"):
        update_step(params(), grads, method="sgd", lr=0.5, projections={"W": TruncatedProjection(0.2)})
    with pytest.raises(ValueError, match="method"):
        update_step(params(), grads, method="adam", lr=0.5)


def test_train_language_model_clip_records_the_pre_clip_norm_and_steps_like_algorithm_1():
    model, data = small_lm(), lm_data()
    ref = small_lm()
    tr = train_language_model(model, data, 1, method="clip", lr=0.5, threshold=1e-3, seq_len=7,
                                generator=torch.Generator().manual_seed(1))
    logits, _ = ref(data[:7])
    cost = F_ce(logits, data[1:8])
    grads = torch.autograd.grad(cost, list(ref.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
    assert tr.grad_norm[0] == pytest.approx(norm, rel=1e-5) and tr.loss[0] == pytest.approx(cost.item(), rel=1e-6)
    with torch.no_grad():
        for p, q, g in zip(model.parameters(), ref.parameters(), grads):
            assert torch.allclose(p, q - 0.5 * 1e-3 * g / norm, atol=1e-6)
    assert tr.rho_J.shape == (2, 1) and tr.rho_J[0, 0] == pytest.approx(spectral_radius_J(ref.gru.cells[0].W_hh))
    assert tr.stopped_at is None and tr.routes == [] and tr.lemma6_slack.shape == (0, 1)


def test_train_language_model_project_keeps_sigma1_and_checks_lemma6_and_eq15():
    model = small_lm(n=12)
    with torch.no_grad():
        model.gru.cells[0].W_hh.mul_(2.5)  # start infeasible: the first update projects
    tr = train_language_model(model, lm_data(), 20, method="project", lr=2.0, delta=0.2, seq_len=5,
                                generator=torch.Generator().manual_seed(1), check_projection=True)
    assert tr.sigma1[0, 0] == pytest.approx(2.5, rel=1e-5)
    assert (tr.sigma1[1:] <= 1.8 + 1e-5).all() and (tr.rho_J[1:] <= 0.95 + 1e-5).all()
    assert (tr.lemma6_slack >= -1e-5).all() and (tr.eq15_error < 1e-5).all()
    assert tr.s_bound[0, 0] == -1 and (tr.s_true[1:] <= tr.s_bound[1:]).all()  # the bounds never miss a value
    assert sum(tr.routes[0].values()) == 20 and tr.routes[0]["full_first"] == 1


def test_train_language_model_is_reproducible_and_stops_on_non_finite_costs():
    a = train_language_model(small_lm(dropout=0.5), lm_data(), 5, method="sgd", lr=1.0, seq_len=6,
                               generator=torch.Generator().manual_seed(2))
    b = train_language_model(small_lm(dropout=0.5), lm_data(), 5, method="sgd", lr=1.0, seq_len=6,
                               generator=torch.Generator().manual_seed(2))
    assert np.array_equal(a.grad_norm, b.grad_norm) and np.array_equal(a.rho_J, b.rho_J)
    model = small_lm()
    with torch.no_grad():
        model.b_out[0] = float("inf")
    tr = train_language_model(model, lm_data(), 3, method="sgd", lr=1.0, seq_len=6,
                                generator=torch.Generator().manual_seed(2))
    assert tr.stopped_at == 0 and np.isnan(tr.grad_norm).all()


def test_train_language_model_checks_its_arguments():
    gen2 = torch.Generator().manual_seed(0)
    model, data = small_lm(), lm_data(steps=20)
    with pytest.raises(TypeError, match="model"):
        train_language_model(G.GRU(3, 4, generator=gen2), data, 1, method="clip", lr=1.0, generator=gen2)
    with pytest.raises(ValueError, match="method"):
        train_language_model(model, data, 1, method="adam", lr=1.0, generator=gen2)
    with pytest.raises(ValueError, match="iterations"):
        train_language_model(model, data, 3, method="clip", lr=1.0, generator=gen2, seq_len=7)
    with pytest.raises(ValueError, match="lr"):
        train_language_model(model, data, 1, method="clip", lr=-1.0, generator=gen2)
    with pytest.raises(ValueError, match="delta"):
        train_language_model(model, data, 1, method="project", lr=1.0, delta=2.0, generator=gen2)
    with pytest.raises(TypeError, match="generator"):
        train_language_model(model, data, 1, method="clip", lr=1.0, generator=0)


def test_explosions_and_upward_crossings():
    x = np.array([1.0, 1.1, 0.9, 1.0, 5.0, 1.0, 1.2, 2.0])
    assert explosions(x, factor=3, window=3).tolist() == [4]
    assert explosions(x, factor=1.5, window=3).tolist() == [4, 7]
    assert explosions(x[:3], window=5).tolist() == []
    assert upward_crossings([0.9, 1.2, 0.8, 1.0, 1.01, 1.3], 1.0).tolist() == [1, 4]
    with pytest.raises(ValueError, match="norms"):
        explosions(np.ones((2, 2)))
    with pytest.raises(ValueError, match="factor"):
        explosions(x, factor=0)
    with pytest.raises(TypeError, match="window"):
        explosions(x, window=2.5)
    with pytest.raises(ValueError, match="x"):
        upward_crossings(np.ones((2, 2)))


def test_lm_cost_mean_is_torchs_per_token_mean_and_scales_the_gradient_by_one_over_T(gen):
    logits = torch.randn(5, 3, 7, generator=gen, dtype=torch.float64)
    y = torch.randint(7, (5, 3), generator=gen)
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), y.reshape(-1))  # torch's default: mean over tokens
    assert lm_cost(logits, y, "mean").item() == pytest.approx(ref.item(), rel=1e-14)
    with pytest.raises(ValueError, match="reduction"):
        lm_cost(logits, y, "max")
    data = lm_data()
    runs = {r: train_language_model(small_lm(dropout=0.5), data, 1, method="sgd", lr=0.1, seq_len=10,
                                    generator=torch.Generator().manual_seed(2), reduction=r) for r in ("sum", "mean")}
    assert runs["mean"].grad_norm[0] == pytest.approx(runs["sum"].grad_norm[0] / 10, rel=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        train_language_model(small_lm(), data, 1, method="sgd", lr=0.1, generator=gen, reduction="none")
