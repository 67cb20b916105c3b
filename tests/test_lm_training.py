"""reprolib.lm_training against independent routes: the gradient of the cost by autograd on a copy
of the model, Algorithm 1 written out, the closed form of P_δ on a diagonal matrix, and events in
hand-made series."""

import numpy as np
import pytest
import torch

from reprolib import gru as G
from reprolib import ptb
from reprolib.gru_stability import spectral_radius_J
from reprolib.lm_training import (Schedule, batchify_frames, cost_of, evaluate, explosions, fig1_events, frame_cost,
                                  lm_cost, train_epochs, train_language_model, update_step, upward_crossings)
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


def test_fig1_events_relates_explosions_to_crossings():
    # a hand-made trace: the norm is 1 but for spikes at 25 (after the crossing at 24; rho then falls back),
    # 40 (no crossing: rho stays below 1) and 52 (rho crossed at 50, stays above 1 after the update)
    g = np.ones(60)
    g[[25, 40, 52]] = 10.0
    rho = np.full(61, 0.8)
    rho[24:26] = 1.1
    rho[50:] = 1.05
    ev = fig1_events(g, rho, factor=3, window=20, lag=5)
    assert ev.explosions == [25, 40, 52]
    assert ev.crossings == [24, 50]
    assert ev.unstable == [25, 52]
    assert ev.followed == [24, 50]
    assert ev.back_below == [True, False]
    # with a lag of 1 the crossing at 50 is not followed by the explosion at 52
    assert fig1_events(g, rho, factor=3, window=20, lag=1).followed == [24]
    with pytest.raises(ValueError, match="rho_J"):
        fig1_events(g, rho[:-1])
    with pytest.raises(ValueError, match="lag"):
        fig1_events(g, rho, lag=-1)
    with pytest.raises(ValueError, match="grad_norm"):
        fig1_events(np.ones((2, 2)), rho)


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


# ----------------------------------------------------------------------------- whole trainings
def small_lm64(seed=0, n=8, vocab=30, dropout=0.0):
    return G.GRULanguageModel(vocab, n, generator=torch.Generator().manual_seed(seed), dropout=dropout,
                              dtype=torch.float64)


def test_evaluate_is_the_cross_entropy_of_one_pass_over_the_whole_split():
    """Carrying the state over segments of 7 equals running the whole stream in one segment."""
    model, data = small_lm64(), lm_data(steps=50)
    model.train()
    with torch.no_grad():
        model.eval()
        logits, _ = model(data[:-1])
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 30), data[1:].reshape(-1)).item()
    model.train()
    assert evaluate(model, data, seq_len=7) == pytest.approx(ref, rel=1e-12)
    assert model.training  # the mode is restored
    with pytest.raises(TypeError, match="model"):
        evaluate(torch.nn.Linear(2, 2), data)


def test_schedule_step_and_plateau():
    s = Schedule(lr=1.0, factor=1.1, after=10)
    assert [s.lr_at(e, []) for e in (0, 9)] == [1.0, 1.0]
    assert s.lr_at(10, []) == pytest.approx(1 / 1.1) and s.lr_at(12, []) == pytest.approx(1.1 ** -3)
    p = Schedule(lr=0.1, factor=1.25, after=2, kind="plateau", min_lr=1e-4)
    # improvements at epochs 0 and 1, then 2 stale epochs (divide), 1 stale, an improvement, 2 stale (divide)
    valid = [5.0, 4.0, 4.5, 4.2, 4.1, 3.9, 4.0, 3.95]
    assert [p.lr_at(e, valid[:e]) for e in range(9)] == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.08, 0.08, 0.08, 0.08, 0.064])
    with pytest.raises(ValueError, match="valid"):
        p.lr_at(3, valid[:2])
    for bad in ({"factor": 0.5}, {"after": 0}, {"kind": "cosine"}, {"lr": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Schedule(**{"lr": 1.0, "factor": 1.1, "after": 10, **bad})


def test_train_epochs_one_epoch_is_train_language_model_over_every_segment():
    """One epoch of train_epochs = train_language_model over all the segments (same masks, same updates);
    the epoch's mean cost, the validation loss and the best model's test loss follow from it."""
    train, valid, test = lm_data(steps=120), lm_data(steps=40), lm_data(steps=30)
    a, b = small_lm64(dropout=0.5), small_lm64(dropout=0.5)
    n = ptb.n_batches(train, 7, drop_last=True)
    ref = train_language_model(a, train, n, method="clip", lr=0.5, threshold=1.0, seq_len=7,
                               generator=torch.Generator().manual_seed(3))
    tr = train_epochs(b, train, valid, test, 1, method="clip", schedule=Schedule(0.5, 1.1, 10), threshold=1.0,
                      seq_len=7, generator=torch.Generator().manual_seed(3))
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na
    (h,) = tr.history
    assert h["train"] == pytest.approx(np.mean(ref.loss) / 7, rel=1e-12)
    assert h["norm_max"] == pytest.approx(np.max(ref.grad_norm), rel=1e-12)
    assert h["clipped"] == pytest.approx(np.mean(ref.grad_norm > 1.0))
    assert h["valid"] == pytest.approx(evaluate(a, valid, 7), rel=1e-12) and tr.best_epoch == 0
    assert tr.test == pytest.approx(evaluate(a, test, 7), rel=1e-12)
    assert tr.initial_valid == pytest.approx(evaluate(small_lm64(dropout=0.5), valid, 7), rel=1e-12)
    assert tr.success == (h["valid"] <= tr.initial_valid) and tr.stopped is None


def test_train_epochs_keeps_the_best_epoch_and_applies_the_success_criterion():
    train, valid, test = lm_data(steps=120), lm_data(steps=40), lm_data(steps=30)
    good = train_epochs(small_lm64(), train, valid, test, 3, method="project", delta=0.2,
                        schedule=Schedule(0.5, 1.1, 1), seq_len=7, generator=torch.Generator().manual_seed(1))
    assert [h["lr"] for h in good.history] == pytest.approx([0.5, 0.5 / 1.1, 0.5 / 1.1 ** 2])
    assert all(max(h["sigma1"]) <= 1.8 + 1e-9 for h in good.history)
    best = min(range(3), key=lambda e: good.history[e]["valid"])
    assert good.best_epoch == best and good.best_valid == good.history[best]["valid"]
    # an absurd learning rate sends the validation loss above its initial value: the run fails
    bad = train_epochs(small_lm64(), train, valid, test, 2, method="sgd", schedule=Schedule(300.0, 1.1, 10),
                       seq_len=7, generator=torch.Generator().manual_seed(1))
    assert not bad.success and (bad.stopped == "non-finite" or max(h["valid"] for h in bad.history) > bad.initial_valid)
    stop = train_epochs(small_lm64(), train, valid, test, 5, method="sgd", seq_len=7,
                        schedule=Schedule(0.1, 2.0, 1, kind="plateau", min_lr=0.2), generator=torch.Generator())
    assert stop.stopped == "min_lr" and stop.history == [] and stop.test is None
    with pytest.raises(TypeError, match="schedule"):
        train_epochs(small_lm64(), train, valid, test, 1, method="clip", schedule=0.5, generator=torch.Generator())
    with pytest.raises(ValueError, match="epochs"):
        train_epochs(small_lm64(), train, valid, test, 0, method="clip", schedule=Schedule(0.5, 1.1, 1),
                     generator=torch.Generator())


def test_train_epochs_full_and_truncated_svd_give_the_same_training():
    """P_δ by eq. (15) with the truncated SVD equals eq. (12)-(14) with the full SVD (Lemma 6 picks every
    singular value above 2 - δ), so the two routes train the same model."""
    train, valid, test = lm_data(steps=120), lm_data(steps=40), lm_data(steps=30)
    runs = {svd: train_epochs(small_lm64(), train, valid, test, 2, method="project", delta=1.2, svd=svd,
                              schedule=Schedule(3.0, 1.1, 5), seq_len=7, generator=torch.Generator().manual_seed(4))
            for svd in ("truncated", "full")}
    a, b = runs["truncated"], runs["full"]
    assert max(a.history[-1]["sigma1"]) == pytest.approx(0.8, abs=1e-9)  # active: the orthogonal W_hh has sigma1 1
    assert [h["valid"] for h in a.history] == pytest.approx([h["valid"] for h in b.history], rel=1e-9)
    assert a.test == pytest.approx(b.test, rel=1e-9)
    with pytest.raises(ValueError, match="svd"):
        train_epochs(small_lm64(), train, valid, test, 1, method="project", svd="randomized",
                     schedule=Schedule(1.0, 1.1, 5), seq_len=7, generator=torch.Generator())


# ----------------------------------------------------------------------------- the music task (Kanai §4.1.2)
def music_pieces(keys=10, lengths=(30, 17, 41), seed=6):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, keys, generator=g) < 0.2).float() for n in lengths]


def small_music64(seed=0, keys=10, n=6, dropout=0.0):
    return G.GRUMusicModel(keys, n, generator=torch.Generator().manual_seed(seed), dropout=dropout, dtype=torch.float64,
                           init_std=0.3)


def test_frame_cost_is_the_bernoulli_nll_summed_over_keys_and_steps_and_averaged_over_the_batch(gen):
    logits = torch.randn(5, 3, 4, generator=gen, dtype=torch.float64)
    y = (torch.rand(5, 3, 4, generator=gen) < 0.5).double()
    p = torch.sigmoid(logits)
    nll = -(y * p.log() + (1 - y) * (1 - p).log())  # written out
    assert frame_cost(logits, y).item() == pytest.approx(nll.sum().item() / 3, rel=1e-12)
    assert frame_cost(logits, y, "mean").item() == pytest.approx(nll.sum(-1).mean().item(), rel=1e-12)  # per frame
    with pytest.raises(ValueError, match="reduction"):
        frame_cost(logits, y, "max")
    with pytest.raises(ValueError, match="shape"):
        frame_cost(logits, y[..., :3])
    assert cost_of(small_music64()) is frame_cost and cost_of(small_lm()) is lm_cost
    with pytest.raises(TypeError, match="model"):
        cost_of(torch.nn.Linear(2, 2))


def test_batchify_frames_plays_the_pieces_in_order_and_cuts_the_stream_into_columns():
    pieces = music_pieces()
    data = batchify_frames(pieces, 4, dtype=torch.float64)
    stream = torch.cat(pieces).double()
    n = stream.shape[0] // 4
    assert data.shape == (n, 4, 10) and data.dtype == torch.float64
    for b in range(4):
        assert torch.equal(data[:, b], stream[b * n:(b + 1) * n])
    assert ptb.n_batches(data, 7) == -(-(n - 1) // 7)
    x, y = next(ptb.bptt_batches(data, 7))
    assert torch.equal(x, data[:7]) and torch.equal(y, data[1:8])
    for bad in ([], [torch.zeros(3, 10), torch.zeros(3, 9)], "x"):
        with pytest.raises(ValueError, match="pieces"):
            batchify_frames(bad, 4)
    with pytest.raises(ValueError, match="frames"):
        batchify_frames([torch.zeros(5, 10)], 4)
    with pytest.raises(ValueError, match="keys"):
        ptb.n_batches(torch.zeros(5, 4), 7)  # floating-point data must be frames [n_steps, B, keys]


def test_evaluate_on_music_is_the_nll_per_frame_of_one_pass():
    model, data = small_music64(), batchify_frames(music_pieces(), 2, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        logits, _ = model(data[:-1])
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, data[1:], reduction="none").sum(-1).mean()
    model.train()
    assert evaluate(model, data, seq_len=7) == pytest.approx(ref.item(), rel=1e-12)


def test_train_epochs_trains_the_music_model_with_the_plateau_schedule_and_eq_10():
    """One epoch on frames = train_language_model over every segment (same masks, same updates); with eq. (10)
    sigma_1 of every W_xh of the two layers ends <= 2, the second layer's from 10."""
    pieces = music_pieces(lengths=(60, 45, 70))
    train = batchify_frames(pieces, 3, dtype=torch.float64)
    valid = test = batchify_frames(music_pieces(seed=7), 3, dtype=torch.float64)
    a, b = small_music64(dropout=0.5), small_music64(dropout=0.5)
    with torch.no_grad():  # an input matrix above eq. (10)'s bound, so that the constraint acts
        for m in (a, b):
            m.gru.cells[1].W_xh.mul_(10 / torch.linalg.matrix_norm(m.gru.cells[1].W_xh, 2))
    n = ptb.n_batches(train, 7, drop_last=True)
    ref = train_language_model(a, train, n, method="project", lr=0.1, delta=0.2, seq_len=7, project_inputs=True,
                               generator=torch.Generator().manual_seed(3))
    tr = train_epochs(b, train, valid, test, 1, method="project", delta=0.2, project_inputs=True, seq_len=7,
                      schedule=Schedule(0.1, 1.25, 10, kind="plateau", min_lr=1e-4),
                      generator=torch.Generator().manual_seed(3))
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na
    (h,) = tr.history
    assert h["train"] == pytest.approx(np.mean(ref.loss) / 7, rel=1e-12)
    assert h["valid"] == pytest.approx(evaluate(a, valid, 7), rel=1e-12)
    assert torch.linalg.matrix_norm(b.gru.cells[1].W_xh.detach(), 2).item() <= 2 + 1e-9
    assert torch.linalg.matrix_norm(b.gru.cells[0].W_xh.detach(), 2).item() <= 2 + 1e-9
    with pytest.raises(ValueError, match="valid"):
        train_epochs(b, train, valid[..., :5], test, 1, method="clip", schedule=Schedule(0.1, 1.25, 10),
                     generator=torch.Generator().manual_seed(3))
