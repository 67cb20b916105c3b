"""reprolib.sequence: the network of eq. 2 with outputs at every step, its costs and the segments."""

import math

import pytest
import torch

from reprolib import initializations, omega, ptb, sequence
from sequence_helpers import cycle_pieces
from reprolib.rnn import RNN

D = torch.float64


def _params(sigma="tanh", n_in=3, n=5, n_out=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    init = "basic_tanh" if sigma == "tanh" else "sigmoid"
    return initializations.initialize(init, n_in, n, n_out, g, dtype=D)


def test_without_leaky_units_the_states_are_those_of_eq_2():
    """h_t = σ(x_t), with x_t from reprolib.rnn (the pre-activation form of eq. 2)."""
    P = _params()
    g = torch.Generator().manual_seed(1)
    u, h0 = torch.randn(7, 2, 3, generator=g, dtype=D), 0.5 * torch.rand(2, 5, generator=g, dtype=D)
    hs = sequence.unroll(P, u, h0)
    xs = RNN(P.W_rec, P.W_in, P.b, "tanh").unroll(u, torch.atanh(h0))
    torch.testing.assert_close(hs, torch.tanh(xs[1:]), rtol=1e-12, atol=1e-12)


def test_a_leaky_unit_relaxes_geometrically_to_its_input():
    """With W_rec = W_in = 0 every unit's new value is σ(b), so h_t = (1 − a)^t h_0 + (1 − (1 − a)^t) σ(b)."""
    P = _params(sigma="sigmoid")
    P = initializations.Params(torch.zeros_like(P.W_rec), torch.zeros_like(P.W_in), torch.full((5,), 0.3, dtype=D),
                               P.W_out, P.b_out, "sigmoid")
    a = sequence.leak_factors(5, 3, torch.Generator().manual_seed(2), dtype=D)
    h0 = torch.full((1, 5), 0.9, dtype=D)
    hs = sequence.unroll(P, torch.zeros(6, 1, 3, dtype=D), h0, a)
    t = torch.arange(1, 7, dtype=D)[:, None]
    keep = (1 - a) ** t
    torch.testing.assert_close(hs[:, 0], keep * 0.9 + (1 - keep) * torch.sigmoid(torch.tensor(0.3, dtype=D)))
    assert bool(((a[:3] >= 0.02) & (a[:3] <= 0.2)).all()) and bool((a[3:] == 1).all())


def test_the_music_cost_is_the_bernoulli_nll_summed_over_keys_and_averaged_over_frames():
    g = torch.Generator().manual_seed(3)
    y = torch.randn(4, 2, 88, generator=g, dtype=D)
    target = (torch.rand(4, 2, 88, generator=g, dtype=D) < 0.1).to(D)
    p = 1 / (1 + torch.exp(-y))
    by_hand = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).sum(-1)
    torch.testing.assert_close(sequence.music_nll(y, target), by_hand.mean())
    mask = torch.tensor([[1, 1], [1, 1], [1, 0], [0, 0]], dtype=D)  # padded frames do not count
    torch.testing.assert_close(sequence.music_nll(y, target, mask), (by_hand * mask).sum() / 5)


def test_bits_per_character_are_the_mean_negative_log2_probability():
    g = torch.Generator().manual_seed(4)
    y = torch.randn(5, 3, 7, generator=g, dtype=D)
    target = torch.randint(7, (5, 3), generator=g)
    p = torch.softmax(y, -1).gather(-1, target[..., None])[..., 0]
    torch.testing.assert_close(sequence.bits_per_char(y, target), -(torch.log(p) / math.log(2)).mean())
    uniform = torch.zeros(2, 1, 8, dtype=D)
    assert sequence.bits_per_char(uniform, torch.zeros(2, 1, dtype=torch.int64)).item() == pytest.approx(3.0)


def test_segments_predict_every_next_frame_once_and_mark_the_first():
    piece = torch.arange(11)
    parts = list(sequence.segments(piece, 4))
    assert [(x.tolist(), y.tolist(), first) for x, y, first in parts] == [
        ([0, 1, 2, 3], [1, 2, 3, 4], True), ([4, 5, 6, 7], [5, 6, 7, 8], False), ([8, 9], [9, 10], False)]
    with pytest.raises(ValueError, match="at least 2 frames"):
        list(sequence.segments(torch.zeros(1, 88), 4))


def test_bad_arguments_are_named():
    P = _params()
    with pytest.raises(ValueError, match="u must be"):
        sequence.unroll(P, torch.zeros(3, 2, 4, dtype=D), torch.zeros(2, 5, dtype=D))
    with pytest.raises(ValueError, match="leak must be"):
        sequence.unroll(P, torch.zeros(3, 2, 3, dtype=D), torch.zeros(2, 5, dtype=D), torch.zeros(5, dtype=D))
    with pytest.raises(ValueError, match="n_leaky must be at most"):
        sequence.leak_factors(4, 5, torch.Generator())
    with pytest.raises(ValueError, match="same shape"):
        sequence.music_nll(torch.zeros(2, 1, 88), torch.zeros(2, 1, 87))
    run = sequence.SeqRun(seed=0, n_hidden=5, lr=1.0, threshold=None)
    with pytest.raises(ValueError, match="kind"):
        sequence.FitLog("words", [], run, None, 88)
    with pytest.raises(TypeError, match="run"):
        sequence.FitLog("music", [], {"lr": 1.0}, None, 88)


def test_music_batches_predict_every_frame_of_every_piece_once():
    """Each piece of f frames gives f − 1 targets, found in the batches at their place under the mask."""
    g = torch.Generator().manual_seed(5)
    pieces = [(torch.rand(f, 88, generator=g) < 0.1).float() for f in (5, 9, 3, 12, 7)]
    seen = {}
    batches = list(sequence.music_batches(pieces, batch_size=2, length=4))
    assert [first for *_, first in batches].count(True) == 3  # three groups, each starts from a reset state
    group, offset = -1, 0
    for u, target, mask, first in batches:
        if first:
            group, offset = group + 1, 0
        for j in range(u.shape[1]):
            piece = 2 * group + j
            for t in range(u.shape[0]):
                if mask[t, j]:
                    assert torch.equal(u[t, j], pieces[piece][offset + t]) and torch.equal(target[t, j], pieces[piece][offset + t + 1])
                    seen[(piece, offset + t)] = seen.get((piece, offset + t), 0) + 1
        offset += u.shape[0]
    assert seen == {(k, t): 1 for k, p in enumerate(pieces) for t in range(p.shape[0] - 1)}
    shuffled = list(sequence.music_batches(pieces, 2, 4, torch.Generator().manual_seed(0)))
    assert sum(m.sum().item() for _, _, m, _ in shuffled) == sum(p.shape[0] - 1 for p in pieces)
    with pytest.raises(ValueError, match="piece 1 must be"):
        list(sequence.music_batches([pieces[0], torch.zeros(1, 88)], 2, 4))


def test_the_cost_is_a_mean_over_frames_or_a_sum_over_steps():
    g = torch.Generator().manual_seed(6)
    y, target = torch.randn(4, 3, 88, generator=g, dtype=D), (torch.rand(4, 3, 88, generator=g, dtype=D) < 0.1).to(D)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 0, 0]], dtype=D)
    per_frame = torch.nn.functional.binary_cross_entropy_with_logits(y, target, reduction="none").sum(-1)
    torch.testing.assert_close(sequence.cost("music", y, target, mask), (per_frame * mask).sum() / mask.sum())
    torch.testing.assert_close(sequence.cost("music", y, target, mask, "sum"), (per_frame * mask).sum() / 3)
    logits, chars = torch.randn(5, 2, 7, generator=g, dtype=D), torch.randint(7, (5, 2), generator=g)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), chars.flatten(), reduction="none").view(5, 2)
    torch.testing.assert_close(sequence.cost("chars", logits, chars), ce.mean())
    torch.testing.assert_close(sequence.cost("chars", logits, chars, reduction="sum"), ce.sum(0).mean())
    with pytest.raises(ValueError, match="kind must be"):
        sequence.cost("speech", y, target)
    with pytest.raises(ValueError, match="reduction must be"):
        sequence.cost("music", y, target, reduction="max")


def _music_case(seed=7, n=6, T=9, B=2):
    g = torch.Generator().manual_seed(seed)
    P = initializations.initialize("basic_tanh", 88, n, 88, g, dtype=D)
    params = {k: v.clone() for k, v in P.as_dict().items()}
    params["b"] = 0.1 * torch.randn(n, generator=g, dtype=D)
    notes = (torch.rand(T + 1, B, 88, generator=g, dtype=D) < 0.15).to(D)
    h0 = 0.4 * torch.rand(B, n, generator=g, dtype=D) - 0.2
    return params, notes[:-1], notes[1:], h0


def test_an_update_equals_the_pre_activation_route_of_eq_2():
    """Independent route: reprolib.rnn unrolls x_t (eq. 2) from x_0 = atanh(h_0); the cost is taken on
    h = tanh(x); omega.total_state_gradients gives ∂E/∂h_k; the step is written out."""
    params, u, target, h0 = _music_case()
    lr, alpha = 0.05, 0.7
    new, E, Om, norm, hT = sequence.update("music", params, "tanh", u, target, h0, lr=lr, threshold=None, alpha=alpha)
    P = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    rnn = RNN(P["W_rec"], P["W_in"], P["b"], "tanh")
    x0 = torch.atanh(h0)
    f = lambda hs: sequence.music_nll(hs[1:] @ P["W_out"].T + P["b_out"], target)  # noqa: E731
    E_ref = f(torch.tanh(rnn.unroll(u, x0)))
    grads = dict(zip(P, torch.autograd.grad(E_ref, list(P.values()))))
    rnn_d = RNN(params["W_rec"], params["W_in"], params["b"], "tanh")
    W_out, b_out = params["W_out"], params["b_out"]
    xs, _, dh = omega.total_state_gradients(rnn_d, u, x0, lambda hs: sequence.music_nll(hs[1:] @ W_out.T + b_out, target))
    grads["W_rec"] = grads["W_rec"] + alpha * omega.omega_grad(params["W_rec"], xs, dh, "tanh", form="h")
    torch.testing.assert_close(E, E_ref.detach())
    torch.testing.assert_close(Om, omega.omega(params["W_rec"], xs, dh, "tanh", form="h"))
    for k in params:
        torch.testing.assert_close(new[k], params[k] - lr * grads[k], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(hT, torch.tanh(xs[-1]))
    assert Om.item() > 1e-3


def test_clipping_bounds_the_step_and_the_norm_is_taken_before_it():
    params, u, target, h0 = _music_case(seed=8)
    new, _, _, norm, _ = sequence.update("music", params, "tanh", u, target, h0, lr=0.1, threshold=1e-3, alpha=0.5)
    step = torch.sqrt(sum(((new[k] - params[k]) / 0.1).pow(2).sum() for k in params))
    assert norm.item() > 1e-3 and step.item() == pytest.approx(1e-3, rel=1e-9)


def test_leaky_units_change_the_state_and_omega_but_not_the_update_rules():
    params, u, target, h0 = _music_case(seed=9)
    a = sequence.leak_factors(6, 3, torch.Generator().manual_seed(1), dtype=D)
    _, E, Om, _, hT = sequence.update("music", params, "tanh", u, target, h0, lr=0.1, threshold=8.0, alpha=0.5, leak=a)
    _, E1, Om1, _, hT1 = sequence.update("music", params, "tanh", u, target, h0, lr=0.1, threshold=8.0, alpha=0.5)
    net = initializations.Params(params["W_rec"], params["W_in"], params["b"], params["W_out"], params["b_out"], "tanh")
    torch.testing.assert_close(hT, sequence.unroll(net, u, h0, a)[-1])
    assert not torch.allclose(hT, hT1) and abs(Om.item() - Om1.item()) > 1e-6


def test_fit_learns_a_predictable_corpus_and_keeps_the_best_validation_epoch():
    train, valid = cycle_pieces(6, 13, 0), cycle_pieces(2, 13, 1)
    run = sequence.SeqRun(seed=0, n_hidden=8, lr=3.0, threshold=8.0, alpha=0.1, sigma="sigmoid", init="basic_tanh",
                          segment=5, batch_size=3, n_leaky=2)
    res = sequence.fit("music", train, valid, run, epochs=20)
    valid_costs = [r["valid"] for r in res.history]
    assert len(res.history) == 20 and valid_costs[-1] < 0.1 * valid_costs[0]  # it learns the cycle (8.9 -> 0.3 nats)
    assert res.best_epoch == min(range(20), key=valid_costs.__getitem__)
    again = sequence.evaluate("music", res.params, "sigmoid", valid, run, res.leak)
    assert again == pytest.approx(valid_costs[res.best_epoch], rel=1e-12)
    assert all(len(r["norms"]) == 2 * 3 for r in res.history)  # 2 groups x 3 segments of 5 steps per epoch


def test_fit_halves_the_learning_rate_after_an_epoch_whose_error_rose():
    train = cycle_pieces(4, 9, 2)
    run = sequence.SeqRun(seed=1, n_hidden=6, lr=40.0, threshold=None, sigma="tanh", init="basic_tanh", segment=4,
                          batch_size=2)
    h = sequence.fit("music", train, train, run, epochs=6).history
    for prev, row, nxt in zip(h, h[1:], h[2:]):
        assert nxt["lr"] == (row["lr"] / 2 if row["train"] > prev["train"] else row["lr"])
    assert any(b["lr"] < a["lr"] for a, b in zip(h, h[1:]))  # the rule acted at least once


def test_fit_on_characters_carries_the_state_and_can_freeze_the_biases():
    text = torch.tensor([0, 1, 2, 1] * 60)  # "abcb..." : the next symbol depends on the previous two
    run = sequence.SeqRun(seed=2, n_hidden=10, lr=0.5, threshold=45.0, sigma="sigmoid", init="basic_tanh",
                          biases=False, segment=10, batch_size=4, reduction="sum", alpha=0.01, alpha_per="update")
    res = sequence.fit("chars", text, text[:80], run, epochs=4, n_in=3)
    assert res.history[-1]["valid"] < 0.5 * math.log2(3)  # well below the uniform 1.58 bits
    assert not res.params["b"].any() and not res.params["b_out"].any()


@pytest.mark.parametrize("horizon", [1, 5])
def test_character_segments_target_the_character_horizon_steps_ahead(horizon):
    ids = torch.arange(103)
    streams = ptb.batchify(ids, 4)
    seen = []
    for x, y in sequence.char_segments(streams, 7, horizon):
        assert x.shape == y.shape and torch.equal(y, x + horizon)  # ids are positions: y is x shifted by the horizon
        seen += x[:, 0].tolist()
    assert seen == list(range(streams.shape[0] - horizon))  # every input position once, in order
    with pytest.raises(ValueError, match="longer than horizon"):
        list(sequence.char_segments(streams[:3], 7, 5))
    if horizon == 1:  # the next character: the segments of Zaremba's batching (reprolib.ptb)
        pairs = list(zip(sequence.char_segments(streams, 7), ptb.bptt_batches(streams, 7)))
        assert pairs and all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in pairs)
