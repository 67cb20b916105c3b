"""reprolib.seq_engine: R runs in one update, checked against R calls of the readable route."""

import math

import pytest
import torch

from reprolib import initializations, seq_engine, sequence
from sequence_helpers import cycle_pieces

D = torch.float64


def _runs(kind, R=3, n=7, n_in=88, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = []
    for r in range(R):
        P = initializations.initialize("basic_tanh", n_in, n, n_in, g, dtype=D)
        p = {k: v.clone() for k, v in P.as_dict().items()}
        p["b"], p["b_out"] = 0.1 * torch.randn(n, generator=g, dtype=D), 0.1 * torch.randn(n_in, generator=g, dtype=D)
        params.append(p)
    return params, g


@pytest.mark.parametrize("sigma", ["tanh", "sigmoid"])
def test_r_runs_at_once_equal_r_readable_updates_on_music(sigma):
    params, g = _runs("music")
    T, B, n = 8, 3, 7
    notes = (torch.rand(T + 1, B, 88, generator=g, dtype=D) < 0.15).to(D)
    u, target = notes[:-1], notes[1:]
    mask = torch.ones(T, B, dtype=D)
    mask[5:, 2] = 0  # a piece that ended
    h0 = 0.3 * torch.rand(3, B, n, generator=g, dtype=D)
    lr = torch.tensor([0.1, 0.5, 0.2], dtype=D)
    threshold = torch.tensor([math.inf, 1e-2, 8.0], dtype=D)  # MSGD, a threshold that clips, one that may not
    alpha = torch.tensor([0.0, 0.5, 2.0], dtype=D)
    leak = torch.ones(3, n, dtype=D)
    leak[2, :3] = sequence.leak_factors(n, 3, g, dtype=D)[:3]  # the third run has leaky units
    new, E, Om, norm, hT = seq_engine.update("music", seq_engine.stack(params), sigma, u, target, h0, lr=lr,
                                             threshold=threshold, alpha=alpha, mask=mask, leak=leak)
    for r in range(3):
        ref = sequence.update("music", params[r], sigma, u, target, h0[r], lr=lr[r].item(),
                              threshold=None if math.isinf(threshold[r]) else threshold[r].item(), alpha=alpha[r].item(),
                              mask=mask, leak=leak[r] if r == 2 else None)
        for k in seq_engine.NAMES:
            torch.testing.assert_close(new[k][r], ref[0][k], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(E[r], ref[1], rtol=1e-12, atol=0)
        torch.testing.assert_close(Om[r], ref[2], rtol=1e-11, atol=1e-15)
        torch.testing.assert_close(norm[r], ref[3], rtol=1e-12, atol=0)
        torch.testing.assert_close(hT[r], ref[4], rtol=1e-12, atol=1e-15)
    assert norm[1] > 1e-2  # the second run was clipped


def test_r_runs_at_once_on_characters_with_the_summed_cost():
    params, g = _runs("chars", R=2, n=6, n_in=5, seed=1)
    ids = torch.randint(5, (7, 4), generator=g)
    u = torch.nn.functional.one_hot(ids[:-1], 5).to(D)
    target = ids[1:]
    h0 = torch.zeros(2, 4, 6, dtype=D)
    kw = dict(lr=torch.tensor([0.01, 0.05], dtype=D), threshold=torch.tensor([45.0, 45.0], dtype=D),
              alpha=torch.tensor([0.0, 0.01], dtype=D), reduction="sum")
    new, E, Om, norm, _ = seq_engine.update("chars", seq_engine.stack(params), "sigmoid", u, target, h0, **kw)
    for r in range(2):
        ref = sequence.update("chars", params[r], "sigmoid", u, target, h0[r], lr=kw["lr"][r].item(), threshold=45.0,
                              alpha=kw["alpha"][r].item(), reduction="sum")
        for k in seq_engine.NAMES:
            torch.testing.assert_close(new[k][r], ref[0][k], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(Om[r], ref[2], rtol=1e-11, atol=1e-15)
    # Ω is needed by a run with α > 0 whatever omega_value says; without one, it is skipped (NaN), not the step
    again = seq_engine.update("chars", seq_engine.stack(params), "sigmoid", u, target, h0, **kw, omega_value=False)
    assert torch.equal(again[2], Om) and all(torch.equal(again[0][k], new[k]) for k in seq_engine.NAMES)
    kw["alpha"] = torch.zeros(2, dtype=D)
    on = seq_engine.update("chars", seq_engine.stack(params), "sigmoid", u, target, h0, **kw)
    off = seq_engine.update("chars", seq_engine.stack(params), "sigmoid", u, target, h0, **kw, omega_value=False)
    assert torch.isnan(off[2]).all() and torch.isfinite(on[2]).all()
    assert all(torch.equal(off[0][k], on[0][k]) for k in seq_engine.NAMES) and torch.equal(off[3], on[3])


def test_a_non_finite_gradient_takes_the_fallback_step():
    params, g = _runs("music", R=2)
    notes = (torch.rand(5, 2, 88, generator=g, dtype=D) < 0.2).to(D)
    p = seq_engine.stack(params)
    p["W_out"][1, 0, 0] = float("nan")  # the second run's gradient is NaN
    new, _, _, norm, _ = seq_engine.update("music", p, "tanh", notes[:-1], notes[1:], torch.zeros(2, 2, 7, dtype=D),
                                           lr=torch.tensor([0.1, 0.1], dtype=D), threshold=torch.tensor([8.0, 8.0], dtype=D),
                                           alpha=torch.zeros(2, dtype=D))
    assert torch.isnan(norm[1]) and torch.isfinite(norm[0])
    torch.testing.assert_close(new["W_rec"][1], p["W_rec"][1] * (1 - 0.1 * 0.02))  # W_rec -= lr * 0.02 W_rec
    torch.testing.assert_close(new["W_in"][1], p["W_in"][1])  # the other gradients replaced by 0


def test_fitting_runs_together_gives_each_run_its_readable_fit():
    train, valid = cycle_pieces(5, 11, 0), cycle_pieces(2, 11, 1)
    common = dict(n_hidden=6, sigma="sigmoid", init="basic_tanh", segment=4, batch_size=2, data_seed=3)
    runs = [sequence.SeqRun(seed=0, lr=3.0, threshold=None, **common),             # MSGD
            sequence.SeqRun(seed=1, lr=3.0, threshold=2.0, **common),              # MSGD-C
            sequence.SeqRun(seed=2, lr=60.0, threshold=None, alpha=0.5, n_leaky=2, **common)]  # Omega, leaky, lr halving
    together = seq_engine.fit("music", train, valid, runs, epochs=5)
    for run, got in zip(runs, together):
        ref = sequence.fit("music", train, valid, run, epochs=5)
        assert got.best_epoch == ref.best_epoch
        for a, b in zip(got.history, ref.history):
            assert a["lr"] == b["lr"] and a["alpha"] == b["alpha"] and a["clipped"] == b["clipped"]
            assert a["train"] == pytest.approx(b["train"], rel=1e-10) and a["valid"] == pytest.approx(b["valid"], rel=1e-10)
            assert a["norms"] == pytest.approx(b["norms"], rel=1e-10)
        for k in seq_engine.NAMES:
            torch.testing.assert_close(got.params[k], ref.params[k], rtol=1e-10, atol=1e-12)
    assert any(a["lr"] < runs[2].lr for a in together[2].history)  # the halving acted on the third run only
    with pytest.raises(ValueError, match="same segment"):
        seq_engine.fit("music", train, valid, [runs[0], sequence.SeqRun(seed=3, lr=1.0, threshold=None,
                                                                        **{**common, "segment": 5})], epochs=1)


def test_a_fit_resumed_from_its_checkpoint_equals_an_uninterrupted_one(tmp_path):
    train, valid = cycle_pieces(5, 11, 0), cycle_pieces(2, 11, 1)
    common = dict(n_hidden=6, sigma="sigmoid", init="basic_tanh", segment=4, batch_size=2, data_seed=3)
    runs = [sequence.SeqRun(seed=0, lr=3.0, threshold=2.0, **common),
            sequence.SeqRun(seed=2, lr=60.0, threshold=None, alpha=0.5, n_leaky=2, **common)]  # lr halving, leaky
    whole = seq_engine.fit("music", train, valid, runs, epochs=4)
    path = tmp_path / "fit.pt"
    seq_engine.fit("music", train, valid, runs, epochs=1, checkpoint=path)  # stopped after one epoch
    resumed = seq_engine.fit("music", train, valid, runs, epochs=4, checkpoint=path)
    for a, b in zip(resumed, whole):
        assert a.best_epoch == b.best_epoch and a.history == b.history  # exactly: the same operations
        for k in seq_engine.NAMES:
            assert torch.equal(a.params[k], b.params[k])
    assert [(x["from"], x["to"]) for x in resumed[0].sessions] == [(0, 1), (1, 4)]
    assert [(x["from"], x["to"]) for x in whole[0].sessions] == [(0, 4)]
    with pytest.raises(ValueError, match="written for other runs, data or code"):
        seq_engine.fit("music", train, valid, runs[:1], epochs=4, checkpoint=path)
    with pytest.raises(ValueError, match="written for other runs, data or code"):
        seq_engine.fit("music", cycle_pieces(5, 11, 9), valid, runs, epochs=4, checkpoint=path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="fit.pt cannot be read|fit.pt is damaged"):
        seq_engine.fit("music", train, valid, runs, epochs=4, checkpoint=path)


@pytest.mark.parametrize("kind", ["music", "chars"])
def test_evaluating_runs_together_gives_each_run_its_readable_cost(kind):
    n_in = 88 if kind == "music" else 11
    params, g = _runs(kind, R=3, n=7, n_in=n_in)
    run = sequence.SeqRun(seed=0, lr=1.0, threshold=None, n_hidden=7, sigma="tanh", segment=5, batch_size=2)
    data = cycle_pieces(5, 13, 2) if kind == "music" else torch.randint(0, n_in, (157,), generator=g)
    leaks = [None, sequence.leak_factors(7, 3, g, dtype=D), None]  # one run with leaky units
    leak = seq_engine.stacked_leak(leaks, 7, D)
    got = seq_engine.evaluate(kind, seq_engine.stack(params), "tanh", data, run, leak, n_in)
    want = [sequence.evaluate(kind, p, "tanh", data, run, lk, n_in) for p, lk in zip(params, leaks)]
    assert got == pytest.approx(want, rel=1e-12)
    assert seq_engine.stacked_leak([None, None], 7, D) is None


def test_a_fit_on_a_named_device_equals_the_default_and_returns_cpu_parameters():
    train, valid = cycle_pieces(4, 11, 0), cycle_pieces(2, 11, 1)
    common = dict(n_hidden=6, sigma="sigmoid", init="basic_tanh", segment=4, batch_size=2, data_seed=3)
    runs = [sequence.SeqRun(seed=0, lr=3.0, threshold=2.0, **common),
            sequence.SeqRun(seed=1, lr=3.0, threshold=None, alpha=0.5, n_leaky=2, **common)]
    a = seq_engine.fit("music", train, valid, runs, epochs=2)
    b = seq_engine.fit("music", train, valid, runs, epochs=2, device=torch.device("cpu"))
    for x, y in zip(a, b):
        assert x.history == y.history and all(torch.equal(x.params[k], y.params[k]) for k in seq_engine.NAMES)
        assert all(v.device.type == "cpu" for v in y.params.values())
    if torch.cuda.is_available():  # where there is a GPU, the same runs there agree to float64 rounding
        c = seq_engine.fit("music", train, valid, runs, epochs=2, device="cuda")
        for x, y in zip(a, c):
            assert y.best_epoch == x.best_epoch
            for k in seq_engine.NAMES:
                torch.testing.assert_close(y.params[k], x.params[k], rtol=1e-9, atol=1e-12)
