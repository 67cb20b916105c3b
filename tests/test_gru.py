"""reprolib.gru against independent routes: eq. (1)–(4) written per sample, torch.nn.GRU with the
weights mapped (equal exactly where the reset-gate placement does not matter), and the layer-by-layer
definition of the stack and of the language model."""

import math

import pytest
import torch

from gru_helpers import cell_with_biases, randomize_
from reprolib import gru as G

D = torch.float64


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


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_constrained_input_weights_are_every_W_xh_of_a_multi_layer_gru(gen, n_layers):
    """Eq. (10): σ₁(W_{l,xh}) ≤ 2 for l = 1..L; a one-layer GRU is eq. (8), which has none."""
    net = G.GRU(3, 5, n_layers, generator=gen, dtype=D)
    Ws = net.constrained_input_weights()
    if n_layers == 1:
        assert Ws == []
        return
    assert len(Ws) == n_layers and all(W is cell.W_xh for W, cell in zip(Ws, net.cells))
    assert [tuple(W.shape) for W in Ws] == [(5, 3)] + [(5, 5)] * (n_layers - 1)
    model = G.GRULanguageModel(30, 6, n_layers, generator=gen, dtype=D)
    Ws = model.constrained_input_weights()
    assert all(W is cell.W_xh for W, cell in zip(Ws, model.gru.cells))
    assert not any(W is model.W_emb for W in Ws)


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


def test_dropout_acts_only_at_the_places_named(gen):
    """Dropout at the input changes every layer's state, between layers only the second layer's, at the
    output only the logits (the states are those of eval mode); with no place, training equals eval."""
    tokens = torch.randint(0, 30, (5, 3), generator=gen)
    out = {}
    for places in ((), ("input",), ("between",), ("output",)):
        model = G.GRULanguageModel(30, 6, 2, generator=torch.Generator().manual_seed(4), dropout=0.5,
                                   dropout_at=places, dtype=D)
        model.eval()
        ref_logits, ref_state = model(tokens)
        model.train()
        logits, state = model(tokens, generator=torch.Generator().manual_seed(9))
        out[places] = (torch.equal(logits, ref_logits), [torch.equal(state[l], ref_state[l]) for l in range(2)])
    assert out[()] == (True, [True, True])
    assert out[("input",)] == (False, [False, False])
    assert out[("between",)] == (False, [True, False])
    assert out[("output",)] == (False, [True, True])
    assert G.GRULanguageModel(30, 6, generator=gen, dropout_at=["output", "input"]).dropout_at == ("input", "output")
    with pytest.raises(ValueError, match="dropout_at"):
        G.GRULanguageModel(30, 6, generator=gen, dropout_at=["recurrent"])
    with pytest.raises(TypeError, match="dropout_at"):
        G.GRULanguageModel(30, 6, generator=gen, dropout_at="input")


def test_other_readings_of_the_initialization_draw_what_they_name():
    """init_std sets every matrix but W_hh (and W_out, W_emb), emb_std the embedding alone, W_hh_init
    'normal' draws W_hh like the others (not orthogonal); the default is N(0, 1/n) as a variance."""
    n = 200
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    m = G.GRULanguageModel(500, n, generator=g(), init_std=0.01, emb_std=2.0, W_hh_init="normal", dtype=D)
    c = m.gru.cells[0]
    for W, std in ((c.W_xz, 0.01), (c.W_hr, 0.01), (c.W_hh, 0.01), (m.W_out, 0.01), (m.W_emb, 2.0)):
        assert abs(W.std().item() / std - 1) < 0.02  # 40,000 draws or more
    assert not torch.allclose(c.W_hh.T @ c.W_hh, torch.eye(n, dtype=D), atol=0.1)
    default = G.GRULanguageModel(500, n, generator=g(), dtype=D)
    assert abs(default.W_emb.std().item() * n ** 0.5 - 1) < 0.02
    assert torch.allclose(default.gru.cells[0].W_hh.T @ default.gru.cells[0].W_hh, torch.eye(n, dtype=D), atol=1e-12)
    with pytest.raises(ValueError, match="W_hh_init"):
        G.GRUCell(3, 4, generator=g(), W_hh_init="identity")
    with pytest.raises(ValueError, match="init_std"):
        G.GRUCell(3, 4, generator=g(), init_std=0.0)
    with pytest.raises(ValueError, match="emb_std"):
        G.GRULanguageModel(5, 4, generator=g(), emb_std=-1.0)


# ----------------------------------------------------------------------------- the music model (Kanai §4.1.2)
def test_music_model_on_one_hot_frames_is_the_language_model_with_the_same_weights(gen):
    """x_t W_emb for a one-hot frame is the embedding's row: the music model reads frames as the language model
    reads words; a chord adds the rows of its keys (the input layer is linear and bias-free)."""
    keys, n = 12, 6
    music = G.GRUMusicModel(keys, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lm = G.GRULanguageModel(keys, n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                            init_std=math.sqrt(G.MUSIC_INIT_VARIANCE))
    for (a, pa), (b, pb) in zip(music.named_parameters(), lm.named_parameters()):
        assert a == b and torch.equal(pa, pb)
    tokens = torch.randint(keys, (9, 3), generator=gen)
    frames = torch.nn.functional.one_hot(tokens, keys).double()
    assert torch.equal(music(frames)[0], lm(tokens)[0])
    chord = frames.clone()
    chord[..., 0] = 1.0
    x = music.input_scale * (chord @ music.W_emb)
    ref = music.gru(x)[0] @ music.W_out.T + music.b_out
    assert torch.allclose(music(chord)[0], ref, rtol=0, atol=1e-15)


def test_music_model_draws_the_papers_initialization_and_checks_its_frames(gen):
    music = G.GRUMusicModel(88, 200, generator=torch.Generator().manual_seed(0))
    assert music.keys == 88 and music.gru.n_layers == 2 and music.input_scale == 0.01
    std = math.sqrt(1e-4 / 200)  # N(0, 1e-4/200), a variance
    for W in (music.W_emb, music.W_out, music.gru.cells[0].W_xz, music.gru.cells[1].W_xh):
        assert W.std().item() == pytest.approx(std, rel=0.05)
    W = music.gru.cells[1].W_hh.double()
    assert torch.allclose(W @ W.T, torch.eye(200, dtype=torch.float64), atol=1e-5)  # orthogonal
    with pytest.raises(TypeError, match="frames"):
        music(torch.zeros(3, 2, 88, dtype=torch.long))
    with pytest.raises(ValueError, match="frames"):
        music(torch.zeros(3, 2, 93))
    with pytest.raises(TypeError, match="frames"):
        music([[0.0] * 88])
