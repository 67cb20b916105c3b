"""reprolib.initializations: the sigmoid, basic tanh and smart tanh initializations."""

import pytest
import torch

from reprolib import initializations
from reprolib.initializations import INITS, Params, basic_tanh, initialize, sigmoid, smart_tanh
from reprolib.linear import spectral_radius
from reprolib.rnn import RNN

D = torch.float64


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(INITS))
def test_shapes_book_convention_and_zero_biases(name):
    p = initialize(name, 6, 40, 4, seeded())
    assert p.W_rec.shape == (40, 40) and p.W_in.shape == (40, 6) and p.b.shape == (40,)
    assert p.W_out.shape == (4, 40) and p.b_out.shape == (4,)
    assert (p.n_in, p.n_hidden, p.n_out) == (6, 40, 4)
    assert all(t.dtype == torch.float32 for t in p.as_dict().values())
    assert torch.equal(p.b, torch.zeros(40)) and torch.equal(p.b_out, torch.zeros(4))
    assert p.sigma == ("sigmoid" if name == "sigmoid" else "tanh")


@pytest.mark.parametrize("fn, std", [(sigmoid, 0.01), (basic_tanh, 0.1)])
def test_dense_inits_std(fn, std):
    p = fn(100, 300, 100, seeded(1), dtype=D)
    for W in (p.W_rec, p.W_in, p.W_out):  # 30,000 to 90,000 entries each: std within ~1 %
        assert W.std().item() == pytest.approx(std, rel=0.02)
        assert abs(W.mean().item()) < 0.02 * std
        assert (W != 0).all()


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_smart_tanh_sparsity_radius_and_scales(variant):
    p = smart_tanh(100, 60, 100, seeded(2), variant=variant, dtype=D)
    nonzero = p.W_rec != 0
    # paper: 15 incoming weights per unit = 15 per row of W_rec;
    # code: 15 per row of W_hh = W_rec^T = 15 per column of W_rec
    per_row, per_col = nonzero.sum(1), nonzero.sum(0)
    kept, other = (per_row, per_col) if variant == "paper" else (per_col, per_row)
    assert (kept == 15).all()
    assert not (other == 15).all() and other.sum() == 15 * 60
    assert abs(spectral_radius(p.W_rec) - 0.95) < 1e-12
    for W in (p.W_in, p.W_out):
        assert W.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.equal(p.b, torch.zeros(60, dtype=D))


def test_smart_tanh_radius_in_float32_and_the_kept_weights_are_gaussian():
    p = smart_tanh(6, 50, 4, seeded(3))
    assert p.W_rec.dtype == torch.float32
    assert abs(spectral_radius(p.W_rec.double()) - 0.95) < 1e-6
    w = smart_tanh(6, 400, 4, seeded(4), dtype=D).W_rec
    w = w[w != 0]
    kurtosis = ((w - w.mean()) ** 4).mean() / w.var() ** 2  # 3 for a Gaussian, 1.8 for a uniform
    assert w.numel() == 15 * 400 and kurtosis.item() == pytest.approx(3.0, abs=0.3)


def test_smart_tanh_at_the_minimum_size_is_dense():
    p = smart_tanh(2, 15, 2, seeded(5), dtype=D)
    assert (p.W_rec != 0).all() and abs(spectral_radius(p.W_rec) - 0.95) < 1e-12


@pytest.mark.parametrize("name", list(INITS))
def test_determinism(name):
    a = initialize(name, 3, 20, 2, seeded(6)).as_dict()
    b = initialize(name, 3, 20, 2, seeded(6)).as_dict()
    c = initialize(name, 3, 20, 2, seeded(7)).as_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["W_rec"], c["W_rec"])


def test_initialize_matches_the_named_function():
    a = initialize("smart_tanh", 3, 20, 2, seeded(8), variant="code", dtype=D)
    b = smart_tanh(3, 20, 2, seeded(8), variant="code", dtype=D)
    assert all(torch.equal(x, y) for x, y in zip(a.as_dict().values(), b.as_dict().values()))


def test_params_build_an_rnn():
    p = basic_tanh(3, 8, 2, seeded(9), dtype=D)
    net = p.rnn()
    assert isinstance(net, RNN) and net.W_rec is p.W_rec and net.sigma == "tanh"
    u = torch.randn(5, 4, 3, generator=seeded(10), dtype=D)
    xs = net.unroll(u, torch.zeros(8, dtype=D))
    y = torch.tanh(xs[-1]) @ p.W_out.T + p.b_out
    assert y.shape == (4, 2)


def test_params_check_output_shapes():
    p = sigmoid(3, 8, 2, seeded(11))
    with pytest.raises(ValueError, match="W_out"):
        Params(p.W_rec, p.W_in, p.b, p.W_out.T, p.b_out, p.sigma)
    with pytest.raises(ValueError, match="sigma"):
        Params(p.W_rec, p.W_in, p.b, p.W_out, p.b_out, "relu")


@pytest.mark.parametrize("call, match", [
    (lambda g: smart_tanh(3, 14, 2, g), "n_hidden"),
    (lambda g: sigmoid(0, 10, 2, g), "n_in"),
    (lambda g: basic_tanh(3, 0, 2, g), "n_hidden"),
    (lambda g: sigmoid(3, 10, 0, g), "n_out"),
    (lambda g: smart_tanh(3, 20, 2, g, variant="columns"), "variant"),
    (lambda g: initialize("orthogonal", 3, 20, 2, g), "name"),
    (lambda g: sigmoid(3, 10, 2, g, device="nodevice"), "device"),
])
def test_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call(seeded())


@pytest.mark.parametrize("call, match", [
    (lambda g: sigmoid(3, 10, 2, None), "generator"),
    (lambda g: smart_tanh(3, 20.0, 2, g), "n_hidden"),
    (lambda g: basic_tanh(3, 10, 2, g, dtype=torch.int64), "dtype"),
])
def test_bad_types(call, match):
    with pytest.raises(TypeError, match=match):
        call(seeded())


def test_constants():
    assert initializations.SMART_TANH_NONZERO == 15 and initializations.SMART_TANH_RHO == 0.95
