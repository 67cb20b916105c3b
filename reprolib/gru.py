"""Gated recurrent units and the spectral-norm projection that keeps them locally stable
(Kanai, Fujiwara & Iwamura, 2017, §2.1 eq. 1–4, §3 eq. 8–15, Lemmas 1–6, Theorem 1).

Kanai et al. published no code: this module is an independent implementation written from
the paper's text.

The GRU of eq. (1)–(4), with column vectors as in the paper::

    z_t = sigm(W_xz x_t + W_hz h_{t−1})                  (1)  update gate
    r_t = sigm(W_xr x_t + W_hr h_{t−1})                  (2)  reset gate
    h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t                (3)
    h̃_t = tanh(W_xh x_t + W_hh (r_t ⊙ h_{t−1}))          (4)  candidate state

The code works on row-vector batches (``h`` is ``[B, n]``), so ``W x`` is written ``x @ W.T``.
The paper's equations have **no biases**, and Lemmas 1–2 need none: with x = 0, h_* = 0 is
a fixed point only if the candidate has no bias, and z = r = ½ at h = 0 gives the Jacobian
J = ¼W_hh + ½I. ``bias=True`` adds b_z, b_r, b_h inside sigm/tanh (not in the paper).

**Relation to torch.nn.GRU.** torch (like cuDNN) applies the reset gate *after* the
recurrent product: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
Eq. (4) applies it *before*: W_hh (r ⊙ h). The update rule (3) is the same. With the weights
mapped by :func:`to_torch` / :func:`from_torch`, the two cells agree for every h exactly when
b_hn = 0 and W_hh diag(r) = diag(r) W_hh, i.e. (W_hh)_ij (r_i − r_j) = 0 for all i, j: for
instance when W_hh is diagonal, or when r is the same in every unit (W_xr = W_hr = 0 and a
constant bias). At h = 0 with x = 0 and no biases both have r = ½·1, so both have Lemma 2's
Jacobian ¼W_hh + ½I; away from h = 0 they are different networks.

**The projection.** Training keeps σ₁(W_hh) ≤ 2 − δ (eq. 8, 11) by the Frobenius-nearest
projection P_δ (Lemma 5, eq. 12–14): :func:`project_spectral_norm` (full SVD) and
:class:`TruncatedProjection` (eq. 15 with the top singular triplets only, §3.3 and Lemma 6).

**Chapter 7's experiments.** :func:`spectral_radius_J`, :func:`critical_scale` (the exact stability
boundary along a ray, against Lemma 3's relaxation) and :func:`random_matrices`;
:func:`train_language_model` (§4.3, Fig. 1: clipping or projection, recording the gradient norm and
ρ(J) per iteration, and checking Lemma 6 and eq. 15 along the run) with :func:`explosions` and
:func:`upward_crossings`; :func:`measure_update_costs` (§4.4, Table 3; also run by
``benchmarks/bench_projection.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, svds

from . import _checks
from .linear import spectral_radius

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


def _normal(shape, n_hidden, generator, dtype, device) -> torch.Tensor:
    """N(0, 1/n_hidden) entries (variance), drawn on the CPU with ``generator``."""
    std = math.sqrt(INIT_VARIANCE_NUMERATOR / n_hidden)
    return (std * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(dtype=dtype, device=device)


def _dropout(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    """Inverted dropout with masks from an explicit generator (deterministic)."""
    if generator is None:
        raise ValueError("generator is required for dropout in training mode (pass a torch.Generator)")
    _checks.generator("generator", generator)
    keep = torch.empty(x.shape, dtype=x.dtype).bernoulli_(1 - p, generator=generator).to(x.device)
    return x * keep / (1 - p)


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
        dtype, device: of the parameters.

    Parameters (named as in the paper): ``W_xz, W_xr, W_xh`` ``[n, m]``; ``W_hz, W_hr, W_hh``
    ``[n, n]``; ``b_z, b_r, b_h`` ``[n]`` when ``bias`` (else ``None``).
    """

    def __init__(self, n_in: int, n_hidden: int, *, generator: torch.Generator, bias: bool = False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        m = _checks.positive_int("n_in", n_in)
        n = _checks.positive_int("n_hidden", n_hidden)
        _checks.generator("generator", generator)
        device = _checks.dtype_device(dtype, device)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        P = torch.nn.Parameter
        self.W_xz = P(_normal((n, m), n, generator, dtype, device))
        self.W_hz = P(_normal((n, n), n, generator, dtype, device))
        self.W_xr = P(_normal((n, m), n, generator, dtype, device))
        self.W_hr = P(_normal((n, n), n, generator, dtype, device))
        self.W_xh = P(_normal((n, m), n, generator, dtype, device))
        self.W_hh = P(orthogonal(n, generator, dtype, device))
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
        bias: as :class:`GRUCell`.
        dropout: dropout on the input of layers 2..L in training mode (as ``torch.nn.GRU``);
            the recurrent connections never get dropout (Zaremba et al. 2014).
        dtype, device: of the parameters.

    ``cells[l]`` is the :class:`GRUCell` of layer l + 1.
    """

    def __init__(self, n_in: int, n_hidden: int, n_layers: int = 1, *, generator: torch.Generator,
                 bias: bool = False, dropout: float = 0.0, dtype=torch.float32, device="cpu"):
        super().__init__()
        _checks.positive_int("n_layers", n_layers)
        _checks.positive_int("n_in", n_in)
        self.dropout = _check_dropout(dropout)
        self.cells = torch.nn.ModuleList(
            GRUCell(n_in if l == 0 else n_hidden, n_hidden, generator=generator, bias=bias, dtype=dtype, device=device)
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
    every layer except the recurrent connections (Zaremba et al. 2014): the scaled embedding,
    between GRU layers, and the top GRU output.

    Args:
        vocab: vocabulary size (10,000 for PTB).
        n_hidden: units per layer (650 in §4.1.1); also the embedding size.
        n_layers: GRU layers (1 in §4.1.1).
        generator: draws the initial weights (keyword, required): W_emb, W_out ~ N(0, 1/n);
            b_out = 0; GRU as :class:`GRU`.
    """

    def __init__(self, vocab: int, n_hidden: int, n_layers: int = 1, *, generator: torch.Generator,
                 dropout: float = 0.0, input_scale: float = INPUT_SCALE, bias: bool = False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        V = _checks.positive_int("vocab", vocab)
        n = _checks.positive_int("n_hidden", n_hidden)
        _checks.generator("generator", generator)
        device = _checks.dtype_device(dtype, device)
        self.dropout = _check_dropout(dropout)
        self.input_scale = _checks.positive_float("input_scale", input_scale)
        self.W_emb = torch.nn.Parameter(_normal((V, n), n, generator, dtype, device))
        self.gru = GRU(n, n, n_layers, generator=generator, bias=bias, dropout=dropout, dtype=dtype, device=device)
        self.W_out = torch.nn.Parameter(_normal((V, n), n, generator, dtype, device))
        self.b_out = torch.nn.Parameter(torch.zeros(V, dtype=dtype, device=device))

    @property
    def vocab(self) -> int:
        return self.W_emb.shape[0]

    def recurrent_weights(self) -> list[torch.nn.Parameter]:
        """W_{l,hh} of every GRU layer (see :meth:`GRU.recurrent_weights`)."""
        return self.gru.recurrent_weights()

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
        drop = self.training and self.dropout > 0
        x = self.input_scale * torch.nn.functional.embedding(tokens, self.W_emb)
        if drop:
            x = _dropout(x, self.dropout, generator)
        hs, state = self.gru(x, state, generator=generator)
        if drop:
            hs = _dropout(hs, self.dropout, generator)
        return hs @ self.W_out.T + self.b_out, state


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


# ----------------------------------------------------------------------------- stability
def jacobian_at_zero(W_hh: torch.Tensor) -> torch.Tensor:
    """J = ¼ W_hh + ½ I (Lemma 2, eq. 9): the Jacobian ∂h_t/∂h_{t−1} of a bias-free GRU
    without input (x = 0) at its fixed point h = 0 (Lemma 1). There z = r = sigm(0) = ½ and
    h̃ = 0, so eq. (3)–(4) linearize to ½h + ½ W_hh (½h). The fixed point is locally stable
    when |λ₁(J)| < 1, which σ₁(W_hh) < 2 implies (Lemma 3, Theorem 1)."""
    _checks.square("W_hh", W_hh)
    I = torch.eye(W_hh.shape[0], dtype=W_hh.dtype, device=W_hh.device)
    return W_hh / 4 + I / 2


# ----------------------------------------------------------------------------- projection
def _check_delta(delta) -> float:
    delta = _checks.finite_float("delta", delta)
    if not 0 < delta < 2:
        raise ValueError(f"delta must be in the open interval (0, 2), got {delta}")
    return delta


def _check_matrix(name: str, W) -> torch.Tensor:
    _checks.square(name, W)
    if W.is_complex():
        raise TypeError(f"{name} must be real, got dtype {W.dtype}")
    return W


def project_spectral_norm(W: torch.Tensor, delta: float) -> torch.Tensor:
    """P_δ(W) of eq. (12)–(14): the matrix nearest to W in Frobenius norm with
    σ₁ ≤ 2 − δ (Lemma 5).

        W = U Σ Vᵀ   (12)      Σ̄ = diag(min(σ_i, 2 − δ))   (13)      P_δ(W) = U Σ̄ Vᵀ   (14)

    (The paper prints eq. 12 and 14 as U Σ V, with V standing for Vᵀ; eq. 15's u_i v_iᵀ fixes
    the reading.) Returns a new tensor, detached from autograd.

    Args:
        W: a real, finite, square matrix (W_hh).
        delta: δ in the open interval (0, 2).
    """
    _check_matrix("W", W)
    c = 2 - _check_delta(delta)
    with torch.no_grad():
        U, S, Vh = torch.linalg.svd(W)       # (12); torch's Vh is Vᵀ
        return (U * S.clamp(max=c)) @ Vh     # (13)–(14)


def top_singular_triplets(W: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k largest singular values of W and their vectors, ``(U [n, k], S [k], V [n, k])``
    with S non-increasing, in float64.

    Computed by ARPACK's implicitly restarted Lanczos method (``scipy.sparse.linalg.svds``)
    with tolerance 0 (machine precision) and a fixed start vector, so the result is exact to
    rounding and deterministic. Requires 1 ≤ k < n. Raises ``ArpackNoConvergence`` if ARPACK
    does not converge. (Kanai §3.3 cites the randomized SVD of Halko et al.; with its usual
    2 power iterations its error is far above 1e-10, see the book's Deviations page.)
    """
    _check_matrix("W", W)
    n = W.shape[0]
    _checks.positive_int("k", k)
    if k >= n:
        raise ValueError(f"k must be < n = {n} for a truncated SVD, got {k}")
    A = W.detach().to(device="cpu", dtype=torch.float64).numpy()
    v0 = np.random.default_rng(0).standard_normal(n)
    u, s, vt = svds(A, k=k, tol=0, v0=v0, solver="arpack")
    order = np.argsort(s)[::-1].copy()
    return (torch.from_numpy(u[:, order].copy()), torch.from_numpy(s[order].copy()),
            torch.from_numpy(vt[order].T.copy()))


class TruncatedProjection:
    """P_δ through eq. (15) and a truncated SVD (Kanai §3.3), for one W_hh across updates.

        P_δ(Ŵ) = Ŵ − Σ_{i ≤ s} (σ_i(Ŵ) − (2 − δ)) u_i v_iᵀ,   s = #{i : σ_i(Ŵ) > 2 − δ}     (15)

    Call it once per update with Ŵ = W − η∇ (the SGD step of eq. 11); it returns P_δ(Ŵ) and
    remembers, for the next call, that matrix and upper bounds b_i ≥ σ_i of its singular values.

    How s is found without an SVD (Lemma 6, Weyl's inequality): σ_i(Ŵ) ≤ σ_i(W) + ‖Ŵ − W‖₂
    ≤ b_i + ‖Ŵ − W‖_F, where W is the previous result. For SGD ‖Ŵ − W‖_F = |η|‖∇‖_F, the
    paper's term; it is *measured* here (O(n²)), so the bound also holds for any other
    optimizer or extra change of W. Bounds accumulate over calls that skip the SVD, as in the
    paper's σ_i(W^(τ−K−1)) + Σ_k |η|‖∇_{τ−k}‖_F. Then, with t the trigger (2 − δ by default):

    * no bound above t: no singular value can exceed t; Ŵ is returned unchanged (``"skipped"``);
    * s bounds above t, s ≤ ``max_rank``: the top s triplets by :func:`top_singular_triplets`,
      eq. (15) on those above t (``"truncated"``). σ_{s+1} ≤ b_{s+1} ≤ t is guaranteed by the
      bounds, so no singular value above t is missed;
    * otherwise a full SVD (``"full_first"`` on the first call, ``"full_rank"`` when the
      bounds are too loose — s > ``max_rank`` — and ``"full_arpack"`` if ARPACK fails).
      A full SVD also renews every bound exactly.

    With the default trigger the result equals :func:`project_spectral_norm` to rounding.
    Since the singular values clipped at 2 − δ sit exactly at the trigger, any later step may
    push them over, so the truncated SVD runs at almost every update. The paper's cheaper
    variant (§3.3: count the σ_i above 2 instead of 2 − δ) is ``trigger=2``: singular values
    above 2 are set to 2 − δ and those in (2 − δ, 2] are left alone, so σ₁ ≤ 2 (eq. 8 with ≤)
    but not ≤ 2 − δ, and clipped values need a step of δ before they trigger again.

    Args:
        delta: δ in (0, 2).
        trigger: t in [2 − δ, 2] (default 2 − δ, exact P_δ).
        max_rank: largest s handled by the truncated SVD (default max(1, n // 10)).

    Attributes:
        counts: how many calls took each route (keys above); :attr:`fallbacks` sums the full
            SVDs after the first call.
        bounds: non-increasing upper bounds of the singular values of the last result.
        last_s: the s of the last call (``None`` after a full SVD without estimate).
    """

    ROUTES = ("skipped", "truncated", "full_first", "full_rank", "full_arpack")

    def __init__(self, delta: float, *, trigger: float | None = None, max_rank: int | None = None):
        self.delta = _check_delta(delta)
        self.threshold = 2 - self.delta
        if trigger is None:
            trigger = self.threshold
        self.trigger = _checks.finite_float("trigger", trigger)
        if not self.threshold <= self.trigger <= 2:
            raise ValueError(f"trigger must be in [2 - delta, 2] = [{self.threshold}, 2], got {self.trigger}")
        self.max_rank = None if max_rank is None else _checks.positive_int("max_rank", max_rank)
        self.reset()

    def reset(self) -> None:
        """Forget the previous matrix, the bounds and the counts."""
        self._W_prev: torch.Tensor | None = None
        self.bounds: torch.Tensor | None = None
        self.last_s: int | None = None
        self.counts = dict.fromkeys(self.ROUTES, 0)

    @property
    def fallbacks(self) -> int:
        """Full SVDs after the first call: the truncated route could not be used."""
        return self.counts["full_rank"] + self.counts["full_arpack"]

    def _remember(self, W_out: torch.Tensor, bounds: torch.Tensor, route: str) -> torch.Tensor:
        self._W_prev = W_out.clone()
        self.bounds = torch.sort(bounds.to(torch.float64).cpu(), descending=True).values
        self.counts[route] += 1
        return W_out

    def _full(self, W_hat: torch.Tensor, route: str) -> torch.Tensor:
        c, t = self.threshold, self.trigger
        U, S, Vh = torch.linalg.svd(W_hat)
        m = S > t
        W_out = W_hat - (U[:, m] * (S[m] - c)) @ Vh[m]  # (15) with every triplet known
        return self._remember(W_out, torch.where(m, torch.full_like(S, c), S), route)

    def __call__(self, W_hat: torch.Tensor) -> torch.Tensor:
        """P_δ(Ŵ) (or the ``trigger`` variant), a new tensor detached from autograd.

        Args:
            W_hat: Ŵ, the updated W_hh: real, finite, square, and of the same shape, dtype and
                device at every call (use one TruncatedProjection per matrix).
        """
        _check_matrix("W_hat", W_hat)
        with torch.no_grad():
            W_hat = W_hat.detach()
            if self._W_prev is None:
                self.last_s = None
                return self._full(W_hat, "full_first")
            if W_hat.shape != self._W_prev.shape:
                raise ValueError(f"W_hat has shape {tuple(W_hat.shape)} but this projection was used with "
                                 f"{tuple(self._W_prev.shape)}; use one TruncatedProjection per matrix")
            _checks.same_kind(W_hat=W_hat, previous_W=self._W_prev)
            n = W_hat.shape[0]
            c, t = self.threshold, self.trigger
            step = torch.linalg.matrix_norm(W_hat - self._W_prev).item()  # = |η| ‖∇‖_F for SGD
            slack = 8 * math.sqrt(n) * torch.finfo(W_hat.dtype).eps * max(1.0, self.bounds[0].item())  # rounding
            ub = self.bounds + (step + slack)                                 # Lemma 6
            s = int((ub > t).sum())
            self.last_s = s
            if s == 0:
                return self._remember(W_hat.clone(), ub, "skipped")
            max_rank = self.max_rank if self.max_rank is not None else max(1, n // 10)
            if s > max_rank or s >= n:
                return self._full(W_hat, "full_rank")
            try:
                U, S, V = top_singular_triplets(W_hat, s)
            except ArpackNoConvergence:
                return self._full(W_hat, "full_arpack")
            m = S > t
            W64 = W_hat.to(device="cpu", dtype=torch.float64)
            W_out = (W64 - (U[:, m] * (S[m] - c)) @ V[:, m].T).to(dtype=W_hat.dtype, device=W_hat.device)  # (15)
            # the other singular values are unchanged: each ≤ its bound and ≤ σ_s
            rest = ub[s:].clamp(max=S[-1].item())
            return self._remember(W_out, torch.cat([torch.where(m, torch.full_like(S, c), S), rest]), "truncated")


# ----------------------------------------------------------------------------- how conservative is Lemma 3
def spectral_radius_J(W_hh: torch.Tensor) -> float:
    """ρ(J) = |λ₁(¼W_hh + ½I)| (Lemma 2), computed in float64 on the CPU."""
    _check_matrix("W_hh", W_hh)
    return spectral_radius(jacobian_at_zero(W_hh.detach().to(device="cpu", dtype=torch.float64)))


def critical_scale(W: torch.Tensor) -> float:
    """The largest c such that ρ(¼cW + ½I) ≤ 1: the exact stability boundary along the ray cW.

    For an eigenvalue λ = a + ib of W, |cλ/4 + ½| ≤ 1 ⇔ c²|λ|² + 4ac − 12 ≤ 0, so
    c ≤ c(λ) = (−2a + √(4a² + 12|λ|²)) / |λ|², and the answer is min over the eigenvalues
    (``inf`` when W is nilpotent: every eigenvalue 0). Lemma 3's sufficient condition
    σ₁(cW) < 2 allows only c < 2/σ₁(W) ≤ the returned value; their ratio measures how
    conservative the relaxation of eq. (8) is along this ray.
    """
    _check_matrix("W", W)
    lam = torch.linalg.eigvals(W.detach().to(device="cpu", dtype=torch.float64))
    a, m2 = lam.real, lam.abs() ** 2
    nz = m2 > 0
    if not nz.any():
        return math.inf
    c = (-2 * a[nz] + torch.sqrt(4 * a[nz] ** 2 + 12 * m2[nz])) / m2[nz]
    return c.min().item()


MATRIX_KINDS = ("gaussian", "orthogonal", "symmetric", "triangular", "rank1")


def random_matrices(kind: str, count: int, n: int, sigma1, generator: torch.Generator) -> torch.Tensor:
    """``count`` random n×n float64 matrices of one family, each rescaled to the spectral norm
    ``sigma1`` (a number, or a tensor of ``count`` numbers): the test matrices of Chapter 7.

    Kinds: ``"gaussian"`` (i.i.d. N(0, 1) entries: non-normal, eigenvalues spread over a disk of
    radius ≈ σ₁/2), ``"orthogonal"`` (Haar, all singular values equal), ``"symmetric"``
    ((A + Aᵀ)/2: real eigenvalues, σ₁ = max |λ|), ``"triangular"`` (upper part of a Gaussian:
    eigenvalues are the diagonal, σ₁ much larger) and ``"rank1"`` (uvᵀ).
    """
    if kind not in MATRIX_KINDS:
        raise ValueError(f"kind must be one of {MATRIX_KINDS}, got {kind!r}")
    count = _checks.positive_int("count", count)
    n = _checks.positive_int("n", n)
    _checks.generator("generator", generator)
    target = torch.as_tensor(sigma1, dtype=torch.float64).reshape(-1)
    if target.numel() not in (1, count) or not torch.isfinite(target).all() or (target < 0).any():
        raise ValueError(f"sigma1 must be a finite number >= 0 or a tensor of {count} such numbers")
    A = torch.randn(count, n, n, generator=generator, dtype=torch.float64)
    if kind == "orthogonal":
        Q, R = torch.linalg.qr(A)
        A = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar: fix the signs
    elif kind == "symmetric":
        A = (A + A.transpose(-1, -2)) / 2
    elif kind == "triangular":
        A = torch.triu(A)
    elif kind == "rank1":
        A = A[:, :, :1] @ A[:, :1, :]
    return A * (target / torch.linalg.matrix_norm(A, 2)).view(-1, 1, 1)


# ----------------------------------------------------------------------------- Fig. 1: training traces
TRAIN_METHODS = ("clip", "project", "sgd")


@dataclass
class LMTrace:
    """What :func:`train_language_model` records, one row per iteration τ = 0..iterations−1.

    Attributes:
        loss: the minibatch cost Σ_t mean_b CE (the cost that is differentiated) ``[I]``.
        grad_norm: ‖∇_θ C‖ over all parameters, before clipping or projection ``[I]``.
        grad_norm_W_hh: ‖∇_{W_hh} C‖_F of each layer ``[I, L]``.
        rho_J, sigma1: ρ(¼W_hh + ½I) and σ₁(W_hh) of each layer at the weights the gradient of
            iteration τ is computed at; the last row is after the last update ``[I + 1, L]``.
        lemma6_slack: min_i [σ_i(W^(τ−1)) + |η|‖∇_{W_hh}‖_F − σ_i(Ŵ^(τ))] (Lemma 6 holds when
            ≥ 0), ``project`` with ``check_projection`` only ``[I, L]`` (else empty).
        eq15_error: max |P_δ by eq. (15) and the truncated SVD − P_δ by the full SVD| ``[I, L]``.
        s_bound, s_true: the number of singular values of Ŵ that the Lemma 6 bounds flag above
            2 − δ (the s of the truncated SVD; 0 when it was skipped) and the true number ``[I, L]``.
        routes: :attr:`TruncatedProjection.counts` of each layer (``project`` only).
        stopped_at: the iteration whose cost or gradient was not finite (training stopped
            there, its row is NaN), or ``None``.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    grad_norm_W_hh: np.ndarray
    rho_J: np.ndarray
    sigma1: np.ndarray
    lemma6_slack: np.ndarray
    eq15_error: np.ndarray
    s_bound: np.ndarray
    s_true: np.ndarray
    routes: list
    stopped_at: int | None


def _layer_stats(Ws) -> tuple[list[float], list[float]]:
    rho = [spectral_radius_J(W) for W in Ws]
    s1 = [torch.linalg.matrix_norm(W.detach().to(device="cpu", dtype=torch.float64), 2).item() for W in Ws]
    return rho, s1


def train_language_model(model: GRULanguageModel, data: torch.Tensor, iterations: int, *, method: str, lr: float,
                         generator: torch.Generator, threshold: float = 5.0, delta: float = 0.2, seq_len: int = 35,
                         check_projection: bool = False, progress: bool = False) -> LMTrace:
    """Train ``model`` by SGD on consecutive BPTT segments of ``data`` and record, at every
    iteration, the gradient norm and ρ(J) of every W_hh (Kanai §4.3, Fig. 1).

    One iteration τ: the next segment of :func:`reprolib.ptb.bptt_batches` (the state is carried
    over and detached, as Zaremba et al.), the cost C = Σ_t mean_b CE(logits_t, y_t) (Zaremba's
    convention: summed over the ``seq_len`` steps, averaged over the batch), its gradient, then

    * ``"clip"``: Algorithm 1 of Pascanu et al. (:func:`reprolib.clipping.clip_by_norm`, all
      parameters together, ``threshold``) and the SGD step;
    * ``"project"``: eq. (11): the SGD step, then P_δ of every W_hh by :class:`TruncatedProjection`
      (eq. 15 with Lemma 6; equal to eq. 12–14). No clipping;
    * ``"sgd"``: the plain SGD step.

    The model is in training mode (dropout, if any, with masks from ``generator``). If the cost
    or the gradient norm is not finite, training stops and :attr:`LMTrace.stopped_at` says where.

    Args:
        model: a :class:`GRULanguageModel` (trained in place).
        data: token ids ``[n_steps, B]`` from :func:`reprolib.ptb.batchify`.
        iterations: updates (at most the number of segments of ``data``).
        method: ``"clip"``, ``"project"`` or ``"sgd"``.
        lr: the learning rate η > 0.
        generator: draws the dropout masks (keyword, required).
        threshold: the clipping threshold (``"clip"``).
        delta: δ of P_δ (``"project"``).
        seq_len: BPTT length (35 in §4.1.1).
        check_projection: (``"project"``) also compute, per iteration and layer, the exact
            singular values of W^(τ−1) and Ŵ^(τ) (Lemma 6's slack, the true s) and the full-SVD
            P_δ(Ŵ) (eq. 15's error). Three SVDs per layer and iteration.
        progress: show a tqdm bar.
    """
    from tqdm import tqdm

    from . import clipping, ptb

    if not isinstance(model, GRULanguageModel):
        raise TypeError(f"model must be a GRULanguageModel, got {type(model).__name__}")
    iterations = _checks.positive_int("iterations", iterations)
    if method not in TRAIN_METHODS:
        raise ValueError(f"method must be one of {TRAIN_METHODS}, got {method!r}")
    lr = _checks.positive_float("lr", lr)
    _checks.generator("generator", generator)
    threshold = _checks.positive_float("threshold", threshold)
    delta = _check_delta(delta)
    seq_len = _checks.positive_int("seq_len", seq_len)
    available = ptb.n_batches(data, seq_len, drop_last=True)  # validates data
    if iterations > available:
        raise ValueError(f"iterations must be <= {available}, the number of full segments of data "
                         f"(seq_len {seq_len}), got {iterations}")
    Ws = model.recurrent_weights()
    L, dev = len(Ws), Ws[0].device
    params = dict(model.named_parameters())
    W_names = [n for n, p in params.items() if any(p is W for W in Ws)]
    projections = [TruncatedProjection(delta) for _ in Ws] if method == "project" else []
    checking = check_projection and method == "project"

    nan = float("nan")
    loss_t, norm_t = np.full(iterations, nan), np.full(iterations, nan)
    norm_W = np.full((iterations, L), nan)
    rho_t, s1_t = np.full((iterations + 1, L), nan), np.full((iterations + 1, L), nan)
    shape = (iterations, L) if checking else (0, L)
    slack, err15 = np.full(shape, nan), np.full(shape, nan)
    s_bound, s_true = np.full(shape, -1, dtype=np.int64), np.full(shape, -1, dtype=np.int64)
    stopped_at = None
    model.train()
    state = None
    segments = ptb.bptt_batches(data, seq_len, drop_last=True)
    for tau in tqdm(range(iterations), disable=not progress, desc=f"{method}, {iterations} iterations", mininterval=30):
        rho_t[tau], s1_t[tau] = _layer_stats(Ws)
        x, y = (t.to(dev) for t in next(segments))
        logits, state = model(x, state, generator=generator)
        state = state.detach()
        cost = torch.nn.functional.cross_entropy(logits.reshape(-1, model.vocab), y.reshape(-1),
                                                 reduction="sum") / y.shape[1]
        model.zero_grad(set_to_none=True)
        cost.backward()
        grads = {n: p.grad for n, p in params.items()}
        norm = clipping.total_norm(grads)
        loss_t[tau], norm_t[tau] = cost.item(), norm.item()
        norm_W[tau] = [grads[n].norm().item() for n in W_names]
        if not (math.isfinite(loss_t[tau]) and math.isfinite(norm_t[tau])):
            stopped_at = tau
            loss_t[tau] = norm_t[tau] = nan
            norm_W[tau] = nan
            break
        if method == "clip":
            grads, _ = clipping.clip_by_norm(grads, threshold)
        with torch.no_grad():
            for n, p in params.items():
                if method == "project" and n in W_names:
                    continue
                p -= lr * grads[n]
            for l, (n, P) in enumerate(zip(W_names, projections)):
                W = params[n]
                W_hat = W - lr * grads[n]
                if checking:
                    s_prev = torch.linalg.svdvals(W.to(torch.float64))
                    s_hat = torch.linalg.svdvals(W_hat.to(torch.float64))
                    slack[tau, l] = (s_prev + lr * norm_W[tau, l] - s_hat).min().item()
                    s_true[tau, l] = int((s_hat > 2 - delta).sum())
                W_new = P(W_hat)
                if checking:
                    s_bound[tau, l] = P.last_s if P.last_s is not None else -1
                    full = project_spectral_norm(W_hat.to(torch.float64), delta)
                    err15[tau, l] = (W_new.to(torch.float64) - full).abs().max().item()
                W.copy_(W_new)
    else:
        rho_t[iterations], s1_t[iterations] = _layer_stats(Ws)
    return LMTrace(loss_t, norm_t, norm_W, rho_t, s1_t, slack, err15, s_bound, s_true,
                   [dict(P.counts) for P in projections], stopped_at)


def explosions(norms, factor: float = 3.0, window: int = 20) -> np.ndarray:
    """Indices τ ≥ ``window`` where ``norms[τ]`` exceeds ``factor`` × the median of the
    ``window`` values before it: a gradient explosion relative to the recent typical norm.
    NaN entries are never flagged."""
    x = np.asarray(norms, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"norms must be 1-D, got shape {x.shape}")
    factor = _checks.positive_float("factor", factor)
    window = _checks.positive_int("window", window)
    out = [t for t in range(window, len(x)) if x[t] > factor * np.nanmedian(x[t - window:t])]
    return np.array(out, dtype=np.int64)


def upward_crossings(x, level: float = 1.0) -> np.ndarray:
    """Indices τ ≥ 1 with ``x[τ − 1] ≤ level < x[τ]``: where a series crosses ``level`` upwards."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    level = _checks.finite_float("level", level)
    return np.flatnonzero((x[:-1] <= level) & (x[1:] > level)) + 1


# ----------------------------------------------------------------------------- §4.4, Table 3: cost of one update
def _timed(fn, reps: int) -> float:
    """Mean wall time of ``fn()`` in ms over ``reps`` calls, after one warm-up call."""
    import time

    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1e3


def projected_matrix(n: int, delta: float, generator: torch.Generator, top: int = 5,
                     bulk: tuple[float, float] = (0.1, 1.2)) -> torch.Tensor:
    """A float32 W_hh as it looks after P_δ during training: ``top`` singular values at
    2 − δ, the others uniform in ``bulk``, random orthogonal singular vectors (float64 QR)."""
    n = _checks.positive_int("n", n)
    c = 2 - _check_delta(delta)
    _checks.generator("generator", generator)
    top = _checks.positive_int("top", top, minimum=0)
    if top > n:
        raise ValueError(f"top must be <= n = {n}, got {top}")
    U = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))[0]
    s = torch.empty(n, dtype=torch.float64).uniform_(*bulk, generator=generator)
    s[:top] = c
    return ((U * s) @ V.T).float()


def measure_update_costs(*, generator: torch.Generator, vocab: int = 10_000, n_hidden: int = 650,
                         n_layers: int = 1, delta: float = 0.2, threshold: float = 5.0, grad_norm: float = 10.0,
                         reps: int = 20, seq_len: int = 35, batch_size: int = 20,
                         forward_backward: bool = True) -> list[dict]:
    """Wall time of one update of each way of taming the gradient, for the language model of
    Kanai §4.1.1 (CPU, float32; Table 3's setting is δ = 0.2, threshold 5).

    The model's gradients are random numbers of total norm ``grad_norm`` (the paper's average
    norm is about 10); forward and backward passes are not timed, only the operation that
    differs between the methods:

    (a) ``torch.nn.utils.clip_grad_norm_`` on all parameters (the baseline);
    (b) P_δ of every W_hh by a full SVD (:func:`project_spectral_norm`);
    (c) :class:`TruncatedProjection` in the typical case: W_hh already projected, 5 singular
        values at 2 − δ (:func:`projected_matrix`), SGD steps of Frobenius norm 0.01;
    (c2) the same with steps of norm 1 (the Lemma 6 bounds become loose: full SVDs);
    (c3) the variant ``trigger=2`` with the steps of (c);
    (d) the plain SGD step on all parameters, for scale;
    (e) (if ``forward_backward``) one forward and backward pass of the model on random tokens
        ``[seq_len, batch_size]`` with the cost of :func:`train_language_model`: the rest of an
        iteration, which turns the per-update costs into per-iteration ratios (Table 3 times
        whole trainings).

    Returns:
        one dict per row with ``label``, ``ms`` (mean over ``reps`` calls after a warm-up),
        ``ratio`` (ms / ms of (a)) and ``note`` (for (c)–(c3): the mean s and the routes taken).
    """
    import time

    _checks.generator("generator", generator)
    vocab = _checks.positive_int("vocab", vocab)
    n = _checks.positive_int("n_hidden", n_hidden, minimum=2)
    delta = _check_delta(delta)
    threshold = _checks.positive_float("threshold", threshold)
    grad_norm = _checks.positive_float("grad_norm", grad_norm)
    reps = _checks.positive_int("reps", reps)
    model = GRULanguageModel(vocab, n, n_layers, generator=generator)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    scale = grad_norm / torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    for p in params:
        p.grad.mul_(scale)
    W_hh = model.recurrent_weights()
    with torch.no_grad():
        for W in W_hh:
            W.copy_(projected_matrix(n, delta, generator, top=min(5, n)))
    opt = torch.optim.SGD(params, lr=1e-12)  # a negligible lr keeps the weights as they are

    def clip():
        torch.nn.utils.clip_grad_norm_(params, threshold)

    def full():
        for W in W_hh:
            project_spectral_norm(W.detach() - W.grad, delta)

    def truncated(step_norm, trigger):
        projections = [TruncatedProjection(delta, trigger=trigger) for _ in W_hh]
        Ws = [P(projected_matrix(n, delta, generator, top=min(5, n))) for P in projections]  # full SVD, exact bounds
        total, s_values = 0.0, []
        for k in range(reps + 1):
            steps = [torch.randn(n, n, generator=generator) for _ in W_hh]
            W_hats = [W - step_norm * s / s.norm() for W, s in zip(Ws, steps)]  # the SGD step is not timed
            start = time.perf_counter()
            Ws = [P(W_hat) for P, W_hat in zip(projections, W_hats)]
            if k > 0:  # the first is a warm-up
                total += time.perf_counter() - start
                s_values += [P.last_s for P in projections]
        routes = {}
        for P in projections:
            for key, v in P.counts.items():
                if v and key != "full_first":
                    routes[key] = routes.get(key, 0) + v
        return total / reps * 1e3, f"mean s {sum(s_values) / len(s_values):.1f}; routes {routes}"

    rows = [("(a) clip_grad_norm_, all parameters", _timed(clip, reps), ""),
            ("(b) P_delta, full SVD of every W_hh", _timed(full, reps), "")]
    for label, step_norm, trigger in [("(c) P_delta, truncated SVD, small steps", 0.01, None),
                                      ("(c2) P_delta, truncated SVD, large steps", 1.0, None),
                                      ("(c3) trigger = 2 variant, small steps", 0.01, 2.0)]:
        rows.append((label, *truncated(step_norm, trigger)))
    rows.append(("(d) SGD step, all parameters", _timed(opt.step, reps), ""))
    if forward_backward:
        seq_len = _checks.positive_int("seq_len", seq_len)
        batch_size = _checks.positive_int("batch_size", batch_size)
        tokens = torch.randint(vocab, (seq_len + 1, batch_size), generator=generator)

        def fb():
            logits, _ = model(tokens[:-1])
            cost = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), tokens[1:].reshape(-1),
                                                     reduction="sum") / batch_size
            torch.autograd.grad(cost, params)

        rows.append((f"(e) forward + backward, {seq_len} x {batch_size} tokens", _timed(fb, reps), ""))
    base = rows[0][1]
    return [dict(label=label, ms=ms, ratio=ms / base, note=note) for label, ms, note in rows]
