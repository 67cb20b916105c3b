"""Gated recurrent units (Kanai, Fujiwara & Iwamura, 2017, §2.1 eq. 1–4, §3.1.2, §4.1.1) and their
relation to ``torch.nn.GRU``.

Kanai et al. published no code: this module, like :mod:`reprolib.gru_stability`,
:mod:`reprolib.projection`, :mod:`reprolib.lm_training` and :mod:`reprolib.update_costs`, is an
independent implementation written from the paper's text.

The GRU of eq. (1)–(4), with column vectors as in the paper::

    z_t = sigm(W_xz x_t + W_hz h_{t−1})                  (1)  update gate
    r_t = sigm(W_xr x_t + W_hr h_{t−1})                  (2)  reset gate
    h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t                (3)
    h̃_t = tanh(W_xh x_t + W_hh (r_t ⊙ h_{t−1}))          (4)  candidate state

The code works on row-vector batches (``h`` is ``[B, n]``), so ``W x`` is written ``x @ W.T``.
The paper's equations have **no biases**, and Lemmas 1–2 need none: with x = 0, h_* = 0 is
a fixed point only if the candidate has no bias, and z = r = ½ at h = 0 gives the Jacobian
J = ¼W_hh + ½I (:func:`reprolib.gru_stability.jacobian_at_zero`). ``bias=True`` adds b_z, b_r,
b_h inside sigm/tanh (not in the paper).

**Relation to torch.nn.GRU.** torch (like cuDNN) applies the reset gate *after* the
recurrent product: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
Eq. (4) applies it *before*: W_hh (r ⊙ h). The update rule (3) is the same. With the weights
mapped by :func:`to_torch` / :func:`from_torch`, the two cells agree for every h exactly when
b_hn = 0 and W_hh diag(r) = diag(r) W_hh, i.e. (W_hh)_ij (r_i − r_j) = 0 for all i, j: for
instance when W_hh is diagonal, or when r is the same in every unit (W_xr = W_hr = 0 and a
constant bias). At h = 0 with x = 0 and no biases both have r = ½·1, so both have Lemma 2's
Jacobian ¼W_hh + ½I; away from h = 0 they are different networks.

**Where the rest of Kanai's paper lives.** The stability results (Lemmas 1–4, Theorem 1) in
:mod:`reprolib.gru_stability`; the projection P_δ (eq. 11–15, Lemmas 5–6) and eq. (10)'s bound on
W_{l,xh} in :mod:`reprolib.projection`; the language-model training of §4.3 (Fig. 1) in
:mod:`reprolib.lm_training`; the cost of an update (§4.4, Table 3) in :mod:`reprolib.update_costs`.
"""

from __future__ import annotations

import math

import torch

from . import _checks

#: Kanai §4.1.1: every weight matrix except W_hh is drawn from N(0, 1/n) (n = 650 there),
#: read as a *variance* (standard deviation 1/√n); W_hh is orthogonal.
INIT_VARIANCE_NUMERATOR = 1.0

#: Kanai §4.1.1: the embedding output is multiplied by 0.01 ("our method assumes small inputs").
INPUT_SCALE = 0.01


# ----------------------------------------------------------------------------- init
def orthogonal(n: int, generator: torch.Generator, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """An n×n orthogonal matrix made of the left singular vectors of a standard Gaussian
    matrix (Kanai §4.1.1, after Saxe et al. 2014). Drawn on the CPU with ``generator``."""
    _checks.positive_int("n", n)
    _checks.generator("generator", generator)
    device = _checks.dtype_device(dtype, device)
    A = torch.randn(n, n, generator=generator, dtype=torch.float64)
    U, _, _ = torch.linalg.svd(A)
    return U.to(dtype=dtype, device=device)


def default_std(n_hidden: int) -> float:
    """The standard deviation of §4.1.1's N(0, 1/n) read as a variance: 1/√n."""
    return math.sqrt(INIT_VARIANCE_NUMERATOR / n_hidden)


def _normal(shape, std, generator, dtype, device) -> torch.Tensor:
    """N(0, std²) entries, drawn on the CPU with ``generator``."""
    return (std * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(dtype=dtype, device=device)


#: how W_hh is drawn: orthogonal (§4.1.1, :func:`orthogonal`) or like the other matrices
W_HH_INITS = ("orthogonal", "normal")


def _check_init(init_std, W_hh_init, n_hidden) -> float:
    """The standard deviation of the non-recurrent matrices (``None``: :func:`default_std`), checked
    with ``W_hh_init``."""
    if W_hh_init not in W_HH_INITS:
        raise ValueError(f"W_hh_init must be one of {W_HH_INITS}, got {W_hh_init!r}")
    return default_std(n_hidden) if init_std is None else _checks.positive_float("init_std", init_std)


def _dropout(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    """Inverted dropout with masks from an explicit generator (deterministic)."""
    if generator is None:
        raise ValueError("generator is required for dropout in training mode (pass a torch.Generator)")
    _checks.generator("generator", generator)
    keep = torch.empty(x.shape, dtype=x.dtype).bernoulli_(1 - p, generator=generator).to(x.device)
    return x * keep / (1 - p)


#: where :class:`GRULanguageModel` may apply dropout: the scaled embedding, between GRU layers, the top output
DROPOUT_PLACES = ("input", "between", "output")


def check_dropout_places(places) -> tuple[str, ...]:
    """``places`` as a tuple in the order of :data:`DROPOUT_PLACES`; each must be one of them."""
    if isinstance(places, str) or not isinstance(places, (list, tuple)):
        raise TypeError(f"dropout_at must be a list of places from {DROPOUT_PLACES}, got {places!r}")
    unknown = [p for p in places if p not in DROPOUT_PLACES]
    if unknown:
        raise ValueError(f"dropout_at must name places from {DROPOUT_PLACES}, got {unknown}")
    return tuple(p for p in DROPOUT_PLACES if p in places)


def _check_dropout(p) -> float:
    p = _checks.finite_float("dropout", p)
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    return p


# ----------------------------------------------------------------------------- cell
class GRUCell(torch.nn.Module):
    """One GRU step, eq. (1)–(4) of Kanai et al.

    Args:
        n_in: m, the input size.
        n_hidden: n, the number of units.
        generator: draws the initial weights (keyword, required): W_hh orthogonal
            (:func:`orthogonal`), every other matrix N(0, 1/n) (§4.1.1).
        bias: add b_z, b_r, b_h (zeros at init) inside the gates and the candidate. The
            paper has none; Lemmas 1–2 assume none.
        init_std: the standard deviation of every matrix but W_hh (``None``: 1/√n,
            :func:`default_std`); another value is another reading of §4.1.1's N(0, 1/n).
        W_hh_init: ``"orthogonal"`` (§4.1.1) or ``"normal"`` (N(0, init_std²) like the others).
        dtype, device: of the parameters.

    Parameters (named as in the paper): ``W_xz, W_xr, W_xh`` ``[n, m]``; ``W_hz, W_hr, W_hh``
    ``[n, n]``; ``b_z, b_r, b_h`` ``[n]`` when ``bias`` (else ``None``).
    """

    def __init__(self, n_in: int, n_hidden: int, *, generator: torch.Generator, bias: bool = False,
                 init_std: float | None = None, W_hh_init: str = "orthogonal", dtype=torch.float32, device="cpu"):
        super().__init__()
        m = _checks.positive_int("n_in", n_in)
        n = _checks.positive_int("n_hidden", n_hidden)
        _checks.generator("generator", generator)
        device = _checks.dtype_device(dtype, device)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        std = _check_init(init_std, W_hh_init, n)
        P = torch.nn.Parameter
        self.W_xz = P(_normal((n, m), std, generator, dtype, device))
        self.W_hz = P(_normal((n, n), std, generator, dtype, device))
        self.W_xr = P(_normal((n, m), std, generator, dtype, device))
        self.W_hr = P(_normal((n, n), std, generator, dtype, device))
        self.W_xh = P(_normal((n, m), std, generator, dtype, device))
        self.W_hh = P(orthogonal(n, generator, dtype, device) if W_hh_init == "orthogonal"
                      else _normal((n, n), std, generator, dtype, device))
        for name in ("b_z", "b_r", "b_h"):
            self.register_parameter(name, P(torch.zeros(n, dtype=dtype, device=device)) if bias else None)

    @property
    def n_in(self) -> int:
        return self.W_xz.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.W_hh.shape[0]

    @property
    def bias(self) -> bool:
        return self.b_z is not None

    def input_drive(self, x: torch.Tensor) -> torch.Tensor:
        """[W_xz x + b_z | W_xr x + b_r | W_xh x + b_h] for inputs ``x [..., m]`` → ``[..., 3n]``
        (the parts of eq. 1, 2, 4 that do not depend on h; computed for a whole sequence at once)."""
        g = x @ torch.cat([self.W_xz, self.W_xr, self.W_xh]).T
        if self.bias:
            g = g + torch.cat([self.b_z, self.b_r, self.b_h])
        return g

    def recur(self, g: torch.Tensor, h: torch.Tensor, W_hzr: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. (1)–(4) given the input drive ``g = input_drive(x)`` ``[B, 3n]`` and h_{t−1} ``[B, n]``.
        ``W_hzr`` is ``cat([W_hz, W_hr])``, passed by sequence loops to build it once."""
        n = self.n_hidden
        if W_hzr is None:
            W_hzr = torch.cat([self.W_hz, self.W_hr])
        a = h @ W_hzr.T
        z = torch.sigmoid(g[:, :n] + a[:, :n])                      # (1)
        r = torch.sigmoid(g[:, n:2 * n] + a[:, n:])                 # (2)
        h_tilde = torch.tanh(g[:, 2 * n:] + (r * h) @ self.W_hh.T)  # (4): reset gate inside
        return z * h + (1 - z) * h_tilde                            # (3)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """h_t from x_t ``[B, m]`` and h_{t−1} ``[B, n]``."""
        _checks.tensor("x", x, ndim=2)
        _checks.tensor("h", h, ndim=2)
        _checks.same_kind(W_hh=self.W_hh, x=x, h=h)
        if x.shape[1] != self.n_in:
            raise ValueError(f"x must have {self.n_in} features (n_in), got shape {tuple(x.shape)}")
        if h.shape[1] != self.n_hidden:
            raise ValueError(f"h must have {self.n_hidden} units (n_hidden), got shape {tuple(h.shape)}")
        if h.shape[0] != x.shape[0]:
            raise ValueError(f"h has batch {h.shape[0]} but x has batch {x.shape[0]}")
        return self.recur(self.input_drive(x), h)


# ----------------------------------------------------------------------------- stack
class GRU(torch.nn.Module):
    """An L-layer GRU (Kanai §3.1.2): h_{l,t} = f_l(h_{l,t−1}, h_{l−1,t}), h_{0,t} = x_t.

    Args:
        n_in, n_hidden, n_layers: m, n (every layer), L.
        generator: draws the initial weights, layer after layer (keyword, required).
        bias, init_std, W_hh_init: as :class:`GRUCell`.
        dropout: dropout on the input of layers 2..L in training mode (as ``torch.nn.GRU``);
            the recurrent connections never get dropout (Zaremba et al. 2014).
        dtype, device: of the parameters.

    ``cells[l]`` is the :class:`GRUCell` of layer l + 1.
    """

    def __init__(self, n_in: int, n_hidden: int, n_layers: int = 1, *, generator: torch.Generator,
                 bias: bool = False, dropout: float = 0.0, init_std: float | None = None,
                 W_hh_init: str = "orthogonal", dtype=torch.float32, device="cpu"):
        super().__init__()
        _checks.positive_int("n_layers", n_layers)
        _checks.positive_int("n_in", n_in)
        self.dropout = _check_dropout(dropout)
        self.cells = torch.nn.ModuleList(
            GRUCell(n_in if l == 0 else n_hidden, n_hidden, generator=generator, bias=bias, init_std=init_std,
                    W_hh_init=W_hh_init, dtype=dtype, device=device)
            for l in range(n_layers))

    @property
    def n_in(self) -> int:
        return self.cells[0].n_in

    @property
    def n_hidden(self) -> int:
        return self.cells[0].n_hidden

    @property
    def n_layers(self) -> int:
        return len(self.cells)

    def recurrent_weights(self) -> list[torch.nn.Parameter]:
        """W_{l,hh} for l = 1..L: the matrices that eq. (10) constrains and P_δ projects."""
        return [cell.W_hh for cell in self.cells]

    def constrained_input_weights(self) -> list[torch.nn.Parameter]:
        """W_{l,xh} for l = 1..L when L ≥ 2: the input matrices of the candidate state (eq. 4)
        that eq. (10) constrains, σ₁(W_{l,xh}) ≤ 2 "for l = 1, …, L" (layer 1's input is x_t,
        layer l's is h_{l−1,t}). The gate matrices W_{l,xz}, W_{l,xr} are not constrained.

        Empty for one layer: the one-layer problem, eq. (8), constrains W_hh only.
        """
        return [cell.W_xh for cell in self.cells] if self.n_layers > 1 else []

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the sequence ``x [T, B, m]`` from ``h0 [L, B, n]`` (default 0, as the paper's h_0).

        ``generator`` draws the dropout masks (required only in training mode with dropout > 0).

        Returns:
            ``(outputs, h_T)``: the top layer's states ``[T, B, n]`` and the last states of
            every layer ``[L, B, n]`` (the layout of ``torch.nn.GRU``).
        """
        W0 = self.cells[0].W_hh
        _checks.tensor("x", x, ndim=3)
        T, B, m = x.shape
        if T < 1:
            raise ValueError("x must hold at least one time step (T >= 1)")
        if m != self.n_in:
            raise ValueError(f"x must have {self.n_in} features (n_in), got shape {tuple(x.shape)}")
        shape = (self.n_layers, B, self.n_hidden)
        if h0 is None:
            h0 = torch.zeros(shape, dtype=W0.dtype, device=W0.device)
        _checks.tensor("h0", h0, ndim=3)
        if tuple(h0.shape) != shape:
            raise ValueError(f"h0 must have shape {shape} (n_layers, batch, n_hidden), got {tuple(h0.shape)}")
        _checks.same_kind(W_hh=W0, x=x, h0=h0)
        finals = []
        for l, cell in enumerate(self.cells):
            if l > 0 and self.training and self.dropout > 0:
                x = _dropout(x, self.dropout, generator)
            g = cell.input_drive(x)  # every time step at once
            W_hzr = torch.cat([cell.W_hz, cell.W_hr])
            h, hs = h0[l], []
            for t in range(T):
                h = cell.recur(g[t], h, W_hzr)
                hs.append(h)
            x = torch.stack(hs)
            finals.append(h)
        return x, torch.stack(finals)


# ----------------------------------------------------------------------------- language model
class GRULanguageModel(torch.nn.Module):
    """The word-level language model of Kanai §4.1.1: a bias-free linear input layer
    (an embedding, ``W_emb [vocab, n]``) whose output is multiplied by ``input_scale`` = 0.01,
    an L-layer :class:`GRU`, and a soft-max read-out ``logits = W_out h + b_out``.

    Dropout (rate ``dropout``; 0.5 in the paper) is applied in training mode to the output of
    every layer except the recurrent connections (Zaremba et al. 2014): the scaled embedding
    (``"input"``), between GRU layers (``"between"``), and the top GRU output (``"output"``);
    ``dropout_at`` names the places that get it.

    Args:
        vocab: vocabulary size (10,000 for PTB).
        n_hidden: units per layer (650 in §4.1.1); also the embedding size.
        n_layers: GRU layers (1 in §4.1.1).
        generator: draws the initial weights (keyword, required): W_emb, W_out ~ N(0, 1/n);
            b_out = 0; GRU as :class:`GRU`.
        init_std, W_hh_init: as :class:`GRUCell`; ``init_std`` also sets W_out's.
        emb_std: the standard deviation of W_emb (``None``: as the other matrices).
        dropout_at: the places of the dropout, a subset of :data:`DROPOUT_PLACES`.
    """

    def __init__(self, vocab: int, n_hidden: int, n_layers: int = 1, *, generator: torch.Generator,
                 dropout: float = 0.0, input_scale: float = INPUT_SCALE, bias: bool = False,
                 init_std: float | None = None, emb_std: float | None = None, W_hh_init: str = "orthogonal",
                 dropout_at=DROPOUT_PLACES, dtype=torch.float32, device="cpu"):
        super().__init__()
        V = _checks.positive_int("vocab", vocab)
        n = _checks.positive_int("n_hidden", n_hidden)
        _checks.generator("generator", generator)
        device = _checks.dtype_device(dtype, device)
        self.dropout = _check_dropout(dropout)
        self.dropout_at = check_dropout_places(dropout_at)
        self.input_scale = _checks.positive_float("input_scale", input_scale)
        std = _check_init(init_std, W_hh_init, n)
        emb_std = std if emb_std is None else _checks.positive_float("emb_std", emb_std)
        self.W_emb = torch.nn.Parameter(_normal((V, n), emb_std, generator, dtype, device))
        self.gru = GRU(n, n, n_layers, generator=generator, bias=bias,
                       dropout=dropout if "between" in self.dropout_at else 0.0, init_std=init_std,
                       W_hh_init=W_hh_init, dtype=dtype, device=device)
        self.W_out = torch.nn.Parameter(_normal((V, n), std, generator, dtype, device))
        self.b_out = torch.nn.Parameter(torch.zeros(V, dtype=dtype, device=device))

    @property
    def vocab(self) -> int:
        return self.W_emb.shape[0]

    def recurrent_weights(self) -> list[torch.nn.Parameter]:
        """W_{l,hh} of every GRU layer (see :meth:`GRU.recurrent_weights`)."""
        return self.gru.recurrent_weights()

    def constrained_input_weights(self) -> list[torch.nn.Parameter]:
        """W_{l,xh} of every GRU layer when L ≥ 2, none for one layer (see
        :meth:`GRU.constrained_input_weights`); W_emb is not among them."""
        return self.gru.constrained_input_weights()

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of x_{t+1} given x_1..x_t.

        Args:
            tokens: word ids ``[T, B]`` (integer tensor, values in [0, vocab)).
            state: GRU state ``[L, B, n]`` carried from the previous segment (default 0).
            generator: draws the dropout masks (required only in training mode with dropout > 0).

        Returns:
            ``(logits [T, B, vocab], state [L, B, n])``.
        """
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
        if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
            raise TypeError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")
        if tokens.ndim != 2:
            raise ValueError(f"tokens must have shape [T, B], got {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"tokens must be in [0, {self.vocab}), got values in "
                             f"[{tokens.min().item()}, {tokens.max().item()}]")
        return self._read_out(self.input_scale * torch.nn.functional.embedding(tokens, self.W_emb), state, generator)

    def _read_out(self, x: torch.Tensor, state: torch.Tensor | None, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Dropout on the scaled input ``x [T, B, n]``, the GRU, dropout on its output, the read-out."""
        drop = self.training and self.dropout > 0
        if drop and "input" in self.dropout_at:
            x = _dropout(x, self.dropout, generator)
        hs, state = self.gru(x, state, generator=generator)
        if drop and "output" in self.dropout_at:
            hs = _dropout(hs, self.dropout, generator)
        return hs @ self.W_out.T + self.b_out, state


#: Kanai §4.1.2: every weight matrix except W_hh is drawn from N(0, 10⁻⁴/200), read as a variance
MUSIC_INIT_VARIANCE = 1e-4 / 200


class GRUMusicModel(GRULanguageModel):
    """The polyphonic music model of Kanai §4.1.2: a bias-free linear input layer on the binary frame
    x_t ∈ {0, 1}^keys, times ``input_scale`` = 0.01 (``x_t W_emb``: the sum of the rows of ``W_emb [keys, n]``
    of the sounding keys, so that a one-hot frame gives the language model's embedding), an L-layer
    :class:`GRU` (L = 2 in §4.1.2), and ``keys`` logistic outputs ``sigm(W_out h + b_out)``, one per key.

    The paper's frames have 93 entries; the Boulanger-Lewandowski rolls of :func:`reprolib.data.load_music` have
    88 (keys 21-108). Arguments as :class:`GRULanguageModel`, ``keys`` in place of ``vocab``; ``init_std``
    defaults to √(10⁻⁴/200), the paper's N(0, 10⁻⁴/200), whatever ``n_hidden``.
    """

    def __init__(self, keys: int, n_hidden: int, n_layers: int = 2, *, generator: torch.Generator,
                 init_std: float | None = math.sqrt(MUSIC_INIT_VARIANCE), **kwargs):
        super().__init__(keys, n_hidden, n_layers, generator=generator, init_std=init_std, **kwargs)

    @property
    def keys(self) -> int:
        return self.vocab

    def forward(self, frames: torch.Tensor, state: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the keys of frame t+1 given frames 1..t.

        Args:
            frames: ``[T, B, keys]`` floating-point frames (0/1 piano rolls), of the model's dtype.
            state, generator: as :meth:`GRULanguageModel.forward`.

        Returns:
            ``(logits [T, B, keys], state [L, B, n])``.
        """
        if not isinstance(frames, torch.Tensor):
            raise TypeError(f"frames must be a torch.Tensor, got {type(frames).__name__}")
        if not frames.is_floating_point():
            raise TypeError(f"frames must be a floating-point tensor (0/1 piano rolls), got dtype {frames.dtype}")
        if frames.ndim != 3 or frames.shape[-1] != self.keys:
            raise ValueError(f"frames must have shape [T, B, {self.keys}], got {tuple(frames.shape)}")
        return self._read_out(self.input_scale * (frames.to(self.W_emb.dtype) @ self.W_emb), state, generator)


# ----------------------------------------------------------------------------- torch.nn.GRU
def torch_weights(cell: GRUCell) -> dict[str, torch.Tensor]:
    """The weights of ``torch.nn.GRUCell`` equivalent to ``cell`` (for ``torch.nn.GRU`` add the
    suffix ``_l{k}``). torch stacks the gates in the order (r, z, n)::

        weight_ih = [W_xr; W_xz; W_xh]   weight_hh = [W_hr; W_hz; W_hh]
        bias_ih   = [b_r; b_z; b_h]      bias_hh   = 0

    b_hn must be 0: torch's b_hn sits inside the reset gate, which eq. (4) has no place for.
    The results are equal only when the two cells agree (see the module docstring).
    """
    if not isinstance(cell, GRUCell):
        raise TypeError(f"cell must be a GRUCell, got {type(cell).__name__}")
    with torch.no_grad():
        out = {"weight_ih": torch.cat([cell.W_xr, cell.W_xz, cell.W_xh]).clone(),
               "weight_hh": torch.cat([cell.W_hr, cell.W_hz, cell.W_hh]).clone()}
        if cell.bias:
            out["bias_ih"] = torch.cat([cell.b_r, cell.b_z, cell.b_h]).clone()
            out["bias_hh"] = torch.zeros_like(out["bias_ih"])
    return out


def _load_torch_weights(cell: GRUCell, w: dict[str, torch.Tensor], where: str) -> None:
    n = cell.n_hidden
    with torch.no_grad():
        for k, name in enumerate("rzh"):  # torch's gate order (r, z, n)
            getattr(cell, f"W_x{name}").copy_(w["weight_ih"][k * n:(k + 1) * n])
            getattr(cell, f"W_h{name}").copy_(w["weight_hh"][k * n:(k + 1) * n])
        if cell.bias:
            b_ih, b_hh = w["bias_ih"], w["bias_hh"]
            if b_hh[2 * n:].abs().max() > 0:
                raise ValueError(f"{where}: b_hn (bias_hh[2n:]) must be 0; torch adds it inside the reset "
                                 "gate, r ⊙ (W_hn h + b_hn), which eq. (4) cannot represent")
            cell.b_r.copy_(b_ih[:n] + b_hh[:n])
            cell.b_z.copy_(b_ih[n:2 * n] + b_hh[n:2 * n])
            cell.b_h.copy_(b_ih[2 * n:])


def to_torch(module: GRUCell | GRU) -> torch.nn.GRUCell | torch.nn.GRU:
    """A ``torch.nn.GRUCell`` (from a :class:`GRUCell`) or ``torch.nn.GRU`` (from a :class:`GRU`)
    with the weights of :func:`torch_weights`. It computes r ⊙ (W_hh h), not W_hh (r ⊙ h)."""
    if isinstance(module, GRUCell):
        ref = torch.nn.GRUCell(module.n_in, module.n_hidden, bias=module.bias,
                               dtype=module.W_hh.dtype, device=module.W_hh.device)
        suffix = [""]
        cells = [module]
    elif isinstance(module, GRU):
        c0 = module.cells[0]
        ref = torch.nn.GRU(module.n_in, module.n_hidden, module.n_layers, bias=c0.bias, dropout=module.dropout,
                           dtype=c0.W_hh.dtype, device=c0.W_hh.device)
        suffix = [f"_l{l}" for l in range(module.n_layers)]
        cells = list(module.cells)
    else:
        raise TypeError(f"module must be a GRUCell or a GRU, got {type(module).__name__}")
    with torch.no_grad():
        for sfx, cell in zip(suffix, cells):
            for name, w in torch_weights(cell).items():
                getattr(ref, name + sfx).copy_(w)
    return ref


def from_torch(module: torch.nn.GRUCell | torch.nn.GRU) -> GRUCell | GRU:
    """The inverse of :func:`to_torch`: b_r = b_ir + b_hr, b_z = b_iz + b_hz, b_h = b_in.
    Raises ValueError if b_hn ≠ 0, or for bidirectional / batch-first torch GRUs."""
    gen = torch.Generator().manual_seed(0)  # placeholder init, overwritten below
    if isinstance(module, torch.nn.GRUCell):
        w = module.weight_hh
        out = GRUCell(module.input_size, module.hidden_size, generator=gen, bias=module.bias,
                      dtype=w.dtype, device=w.device)
        pairs = [("", out)]
    elif isinstance(module, torch.nn.GRU):
        if module.bidirectional or module.batch_first:
            raise ValueError("module must be a unidirectional, time-major torch.nn.GRU")
        w = module.weight_hh_l0
        out = GRU(module.input_size, module.hidden_size, module.num_layers, generator=gen, bias=module.bias,
                  dropout=module.dropout, dtype=w.dtype, device=w.device)
        pairs = [(f"_l{l}", cell) for l, cell in enumerate(out.cells)]
    else:
        raise TypeError(f"module must be a torch.nn.GRUCell or torch.nn.GRU, got {type(module).__name__}")
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
    for sfx, cell in pairs:
        _load_torch_weights(cell, {k: getattr(module, k + sfx) for k in names}, f"layer{sfx or ''}")
    return out
