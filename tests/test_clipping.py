"""reprolib.clipping against torch.nn.utils.clip_grad_norm_, torch.clamp and the rules of
Algorithm 1 and supp. §2.1."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from reprolib import clipping
from reprolib.clipping import (
    FALLBACK_SCALE,
    clip_by_norm,
    clip_elementwise,
    needs_fallback,
    nonfinite_fallback,
    total_norm,
)

D = torch.float64
TORCH_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ scales by max_norm / (norm + 1e-6)


def make_grads(gen, scale=1.0, N=5, M=3):
    """A gradient dict with the keys of RNN.parameters() plus a read-out weight."""
    shapes = {"W_rec": (N, N), "W_in": (N, M), "b": (N,), "W_out": (2, N)}
    return {k: scale * torch.randn(*s, generator=gen, dtype=D) for k, s in shapes.items()}


def flat(grads):
    return torch.cat([g.reshape(-1) for g in grads.values()])


def torch_clip(grads, max_norm):
    """clip_grad_norm_ applied to parameters holding copies of ``grads``."""
    params = []
    for g in grads.values():
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        params.append(p)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return {k: p.grad for k, p in zip(grads, params)}, norm


def test_total_norm_is_the_norm_of_all_entries(gen):
    g = make_grads(gen)
    assert torch.allclose(total_norm(g), flat(g).norm(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("scale", [0.01, 0.3, 3.0, 1e4])
def test_matches_clip_grad_norm_up_to_torch_eps(gen, scale):
    """Above the threshold torch = ours · ‖g‖/(‖g‖ + 1e-6); below it both leave g unchanged."""
    g = make_grads(gen, scale)
    threshold = 1.0
    ours, norm = clip_by_norm(g, threshold)
    ref, ref_norm = torch_clip(g, threshold)
    assert torch.allclose(norm, ref_norm, rtol=1e-14, atol=0)
    factor = norm / (norm + TORCH_EPS) if norm >= threshold else 1.0
    for k in g:
        assert torch.allclose(ours[k] * factor, ref[k], rtol=1e-13, atol=0), k


def test_exact_algorithm_1_not_torch_eps(gen):
    """The ε matters in the last digits: ours has norm exactly `threshold`, torch's is below it."""
    g = make_grads(gen, scale=10.0)
    threshold = 2.0
    ours, norm = clip_by_norm(g, threshold)
    ref, _ = torch_clip(g, threshold)
    assert abs(flat(ours).norm().item() - threshold) < 1e-14
    assert flat(ref).norm().item() < threshold - 0.5 * TORCH_EPS * threshold / norm.item()


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(1e-3, 1e6), threshold=st.floats(1e-2, 1e2), seed=st.integers(0, 2**31 - 1))
def test_direction_kept_and_norm_capped(scale, threshold, seed):
    g = make_grads(torch.Generator().manual_seed(seed), scale)
    clipped, norm = clip_by_norm(g, threshold)
    a, b = flat(g), flat(clipped)
    cosine = (a @ b) / (a.norm() * b.norm())
    assert abs(cosine.item() - 1) < 1e-12
    if norm >= threshold:
        assert math.isclose(b.norm().item(), threshold, rel_tol=1e-12)
    else:
        assert torch.equal(a, b)


def test_below_threshold_unchanged_new_tensors_inputs_untouched(gen):
    g = make_grads(gen, scale=0.01)
    copy = {k: v.clone() for k, v in g.items()}
    clipped, norm = clip_by_norm(g, 100.0)
    assert norm < 100
    for k in g:
        assert torch.equal(clipped[k], copy[k]) and clipped[k] is not g[k]
    big = make_grads(gen, scale=100.0)
    big_copy = {k: v.clone() for k, v in big.items()}
    clip_by_norm(big, 1.0)
    clip_elementwise(big, 1.0)
    nonfinite_fallback(big, torch.eye(5, dtype=D), limit=1.0)
    for k in big:
        assert torch.equal(big[k], big_copy[k])


def test_norm_equal_to_threshold_is_a_no_op(gen):
    g = make_grads(gen)
    threshold = total_norm(g).item()
    clipped, _ = clip_by_norm(g, threshold)
    for k in g:
        assert torch.allclose(clipped[k], g[k], rtol=1e-15, atol=0)


@pytest.mark.parametrize("threshold", [0.05, 1.0, 50.0])
def test_elementwise_is_clamp(gen, threshold):
    g = make_grads(gen, scale=3.0)
    clipped = clip_elementwise(g, threshold)
    for k in g:
        assert torch.equal(clipped[k], torch.clamp(g[k], -threshold, threshold))
        assert clipped[k].abs().max() <= threshold


def test_elementwise_changes_direction(gen):
    """Why Algorithm 1 rescales instead: clamping entries turns the gradient."""
    g = make_grads(gen, scale=3.0)
    a, b = flat(g), flat(clip_elementwise(g, 0.5))
    assert (a @ b) / (a.norm() * b.norm()) < 0.99


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e11])
def test_fallback_triggers(gen, bad):
    g = make_grads(gen)
    g["W_in"][0, 0] = bad
    W_rec = torch.randn(5, 5, generator=gen, dtype=D)
    out = nonfinite_fallback(g, W_rec)
    assert torch.equal(out["W_rec"], FALLBACK_SCALE * W_rec)
    assert FALLBACK_SCALE == 0.02
    for k in ("W_in", "b", "W_out"):
        assert torch.equal(out[k], torch.zeros_like(g[k]))
    assert set(out) == set(g)


def test_fallback_not_triggered_below_limit(gen):
    g = make_grads(gen)
    g["W_in"][0, 0] = 1e9
    out = nonfinite_fallback(g, torch.randn(5, 5, generator=gen, dtype=D))
    for k in g:
        assert torch.equal(out[k], g[k]) and out[k] is not g[k]


def test_fallback_uses_the_given_pre_clip_norm(gen):
    """The original code tests the pre-clipping norm and replaces the clipped gradient."""
    g = make_grads(gen)
    g["b"][0] = 1e11
    W_rec = torch.randn(5, 5, generator=gen, dtype=D)
    clipped, norm = clip_by_norm(g, 1.0)
    assert total_norm(clipped) < 1.0 + 1e-12  # clipped alone would not trigger
    out = nonfinite_fallback(clipped, W_rec, norm=norm)
    assert torch.equal(out["W_rec"], 0.02 * W_rec)
    assert not needs_fallback(norm, limit=1e12)
    assert torch.equal(nonfinite_fallback(clipped, W_rec, limit=1e12, norm=norm)["b"], clipped["b"])


@pytest.mark.parametrize("norm, expected", [(0.0, False), (1e9, False), (1e10, False), (1e11, True),
                                            (float("nan"), True), (float("inf"), True), (-1.0, True)])
def test_needs_fallback(norm, expected):
    assert needs_fallback(norm) is expected
    assert needs_fallback(torch.tensor(norm)) is expected


@pytest.mark.parametrize("threshold", [0, -1.0, float("nan"), float("inf")])
def test_bad_threshold_raises_value_error(gen, threshold):
    g = make_grads(gen)
    for f in (clip_by_norm, clip_elementwise):
        with pytest.raises(ValueError, match="threshold"):
            f(g, threshold)


def test_bad_arguments(gen):
    g = make_grads(gen)
    with pytest.raises(TypeError, match="threshold"):
        clip_by_norm(g, "1")
    with pytest.raises(TypeError, match="threshold"):
        clip_by_norm(g, True)
    with pytest.raises(TypeError, match="grads"):
        clip_by_norm(list(g.values()), 1.0)
    with pytest.raises(ValueError, match="grads"):
        clip_by_norm({}, 1.0)
    with pytest.raises(TypeError, match="grads"):
        clip_by_norm({"W_rec": [1.0]}, 1.0)
    with pytest.raises(TypeError, match="grads"):
        clip_by_norm({"W_rec": torch.ones(2, dtype=torch.int64)}, 1.0)
    with pytest.raises(ValueError, match="grads"):
        clip_by_norm({"W_rec": torch.ones(2, dtype=D), "b": torch.ones(2)}, 1.0)
    W_rec = torch.eye(5, dtype=D)
    with pytest.raises(ValueError, match="W_rec"):
        nonfinite_fallback({k: v for k, v in g.items() if k != "W_rec"}, W_rec)
    with pytest.raises(ValueError, match="W_rec"):
        nonfinite_fallback(g, torch.eye(4, dtype=D))
    with pytest.raises(ValueError, match="limit"):
        nonfinite_fallback(g, W_rec, limit=-1.0)
    with pytest.raises(TypeError, match="norm"):
        needs_fallback("big")


def test_half_precision_gradients_above_65504_are_clipped_not_zeroed():
    g = {"W": torch.full((4,), 60000.0, dtype=torch.float16)}  # norm 120000 > float16's largest value
    clipped, norm = clipping.clip_by_norm(g, 1.0)
    assert math.isfinite(norm.item()) and abs(norm.item() - 120000.0) < 1.0
    assert torch.allclose(clipped["W"].float(), torch.full((4,), 0.5), atol=1e-3)
