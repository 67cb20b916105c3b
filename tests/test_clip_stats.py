"""reprolib.clip_stats against independent routes: numpy, brute-force loops, the engine's own
update and autograd through reprolib.rnn."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolib import clip_stats, clipping, tasks
from reprolib import initializations
from reprolib.engine import Engine, Run

D = torch.float64


def random_grads(gen, scale=1.0):
    shapes = {"W_rec": (5, 5), "W_in": (5, 3), "b": (5,), "W_out": (2, 5), "b_out": (2,)}
    return {n: scale * torch.randn(*s, generator=gen, dtype=D) for n, s in shapes.items()}


def test_cosine_matches_numpy(gen):
    a, b = random_grads(gen), random_grads(gen)
    x = np.concatenate([a[n].numpy().ravel() for n in a])
    y = np.concatenate([b[n].numpy().ravel() for n in a])
    assert clip_stats.cosine(a, b) == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y), rel=1e-12)
    assert clip_stats.cosine(a, a) == pytest.approx(1.0, abs=1e-15)
    assert clip_stats.cosine(a, {n: -t for n, t in a.items()}) == pytest.approx(-1.0, abs=1e-15)


def test_cosine_bad_inputs(gen):
    a = random_grads(gen)
    with pytest.raises(TypeError, match="a and b"):
        clip_stats.cosine(a, [1])
    with pytest.raises(ValueError, match="same keys"):
        clip_stats.cosine(a, {"W_rec": a["W_rec"]})
    with pytest.raises(ValueError, match="shape"):
        clip_stats.cosine(a, {**a, "b": torch.zeros(4, dtype=D)})


@settings(deadline=None, max_examples=30)
@given(scale=st.floats(1e-3, 1e3), threshold=st.floats(1e-2, 1e2), lr=st.floats(1e-4, 1.0))
def test_effective_lr_is_the_length_of_the_clipped_step(scale, threshold, lr):
    g = random_grads(torch.Generator().manual_seed(7), scale)
    clipped, norm = clipping.clip_by_norm(g, threshold)
    step = lr * clipping.total_norm(clipped).item()
    assert clip_stats.effective_lr([norm.item()], lr, threshold)[0] * norm.item() == pytest.approx(step, rel=1e-12)
    assert clip_stats.cosine(clipped, g) == pytest.approx(1.0, abs=1e-12)  # Algorithm 1 keeps the direction


def test_effective_lr_edges_and_bad_inputs():
    assert clip_stats.effective_lr([math.inf], 0.01, 6.0)[0] == 0.0
    assert np.isnan(clip_stats.effective_lr([math.nan], 0.01, 6.0)[0])
    assert clip_stats.effective_lr([0.0, 6.0, 12.0], 0.1, 6.0).tolist() == [0.1, 0.1, 0.05]
    with pytest.raises(ValueError, match="threshold"):
        clip_stats.effective_lr([1.0], 0.01, 0.0)
    with pytest.raises(ValueError, match="lr"):
        clip_stats.effective_lr([1.0], -1.0, 1.0)
    with pytest.raises(ValueError, match="norms"):
        clip_stats.effective_lr([-1.0], 0.01, 1.0)


def test_norm_statistics_against_a_sorted_list():
    g = np.arange(1, 101, dtype=float) / 10  # 0.1 .. 10
    s = clip_stats.norm_statistics(g, thresholds=(1, 6))
    assert s["mean"] == pytest.approx(5.05) and s["median"] == pytest.approx(5.05) and s["max"] == 10
    assert s["clipped@1"] == 0.91 and s["clipped@6"] == 0.41  # 1.0 .. 10.0 and 6.0 .. 10.0
    with pytest.raises(ValueError, match="norms"):
        clip_stats.norm_statistics([1.0, math.inf])
    with pytest.raises(ValueError, match="norms"):
        clip_stats.norm_statistics([])
    with pytest.raises(ValueError, match="thresholds"):
        clip_stats.norm_statistics([1.0], thresholds=(0,))


def test_spike_ratios_against_a_loop():
    rng = np.random.default_rng(0)
    g = rng.lognormal(0, 1.5, 500)
    idx, ratios = clip_stats.spike_ratios(g, 6.0, 20)
    ref = [(t, g[t] / g[t - 20:t].mean()) for t in range(20, 500) if g[t] >= 6.0]
    assert idx.tolist() == [t for t, _ in ref]
    np.testing.assert_allclose(ratios, [r for _, r in ref], rtol=1e-12)
    with pytest.raises(ValueError, match="window"):
        clip_stats.spike_ratios(g, 6.0, 0)


def test_clipped_cosines(gen):
    g = random_grads(gen, 10.0)
    r = clip_stats.clipped_cosines([g], 1.0)
    e = np.concatenate([t.numpy().ravel() for t in g.values()])
    c = np.clip(e, -1, 1)
    assert r["cos_norm"][0] == pytest.approx(1.0, abs=1e-12)
    assert r["cos_elem"][0] == pytest.approx(e @ c / np.linalg.norm(e) / np.linalg.norm(c), rel=1e-12)
    assert r["length_ratio"][0] == pytest.approx(np.linalg.norm(c) / 1.0, rel=1e-12)
    assert 0 < r["cos_elem"][0] < 1  # element-wise clipping turns the gradient, but keeps each sign
    with pytest.raises(ValueError, match="grads"):
        clip_stats.clipped_cosines([], 1.0)


