"""The three initializations of the pathological tasks: *sigmoid*, *basic tanh* and
*smart tanh* (Pascanu et al., 2013, supp. §3.1 and Fig. 7).

The supplement names them; their definitions, as in the paper and the original code:

* ``sigmoid``: sigmoid units, every weight from N(0, 0.01);
* ``basic_tanh``: tanh units, every weight from N(0, 0.1);
* ``smart_tanh``: tanh units, W_in and W_out from N(0, 0.01); W_rec sparse, 15 non-zero
  weights per unit drawn from N(0, 0.01), then rescaled to spectral radius 0.95.

The second argument of N is a **standard deviation**, as in the code (numpy's ``scale``).
Biases are 0. Parameters are returned in the book's column-vector convention
``x_t = W_rec σ(x_{t−1}) + W_in u_t + b`` and ``y = W_out σ(x_T) + b_out``; the original
code's row-vector matrices are ``W_hh = W_recᵀ``, ``W_uh = W_inᵀ``, ``W_hy = W_outᵀ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _checks
from .linear import scale_to_spectral_radius
from .rnn import RNN

#: ``"paper"``: the text's reading; ``"code"``: the original code (see :func:`smart_tanh`).
VARIANTS = ("paper", "code")

#: smart tanh: non-zero recurrent weights kept per unit, and the spectral radius of W_rec.
SMART_TANH_NONZERO = 15
SMART_TANH_RHO = 0.95


@dataclass(frozen=True)
class Params:
    """Initial parameters of the network of eq. (2) with an output layer.

    ``W_rec [N, N]``, ``W_in [N, M]``, ``b [N]``, ``W_out [n_out, N]``, ``b_out [n_out]``,
    and ``sigma``, the name of the nonlinearity (``"sigmoid"`` or ``"tanh"``).
    """

    W_rec: torch.Tensor
    W_in: torch.Tensor
    b: torch.Tensor
    W_out: torch.Tensor
    b_out: torch.Tensor
    sigma: str

    def __post_init__(self):
        self.rnn()  # checks W_rec, W_in, b and sigma
        _checks.tensor("W_out", self.W_out, ndim=2)
        _checks.tensor("b_out", self.b_out, ndim=1)
        _checks.same_kind(W_rec=self.W_rec, W_out=self.W_out, b_out=self.b_out)
        if self.W_out.shape[1] != self.n_hidden or self.b_out.shape[0] != self.W_out.shape[0]:
            raise ValueError(f"W_out must be [n_out, {self.n_hidden}] and b_out [n_out], got "
                             f"{tuple(self.W_out.shape)} and {tuple(self.b_out.shape)}")

    @property
    def n_hidden(self) -> int:
        return self.W_rec.shape[0]

    @property
    def n_in(self) -> int:
        return self.W_in.shape[1]

    @property
    def n_out(self) -> int:
        return self.W_out.shape[0]

    def rnn(self) -> RNN:
        """The recurrent part as a :class:`reprolib.rnn.RNN` (same tensors, not copies)."""
        return RNN(self.W_rec, self.W_in, self.b, self.sigma)

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The five tensors by name."""
        return {"W_rec": self.W_rec, "W_in": self.W_in, "b": self.b, "W_out": self.W_out, "b_out": self.b_out}


def _check_args(n_in, n_hidden, n_out, generator, dtype, device, min_hidden=1) -> torch.device:
    _checks.positive_int("n_in", n_in)
    _checks.positive_int("n_hidden", n_hidden, minimum=min_hidden)
    _checks.positive_int("n_out", n_out)
    _checks.generator("generator", generator)
    return _checks.dtype_device(dtype, device)


def _normal(std, shape, generator) -> torch.Tensor:
    """N(0, std²) entries, drawn in float64 on the generator's device."""
    return std * torch.randn(*shape, generator=generator, dtype=torch.float64, device=generator.device)


def _params(W_rec, W_in, W_out, sigma, dtype, device) -> Params:
    to = dict(dtype=dtype, device=device)
    return Params(W_rec=W_rec.to(**to), W_in=W_in.to(**to), b=torch.zeros(W_rec.shape[0], **to),
                  W_out=W_out.to(**to), b_out=torch.zeros(W_out.shape[0], **to), sigma=sigma)


def _dense(std, sigma, n_in, n_hidden, n_out, generator, dtype, device) -> Params:
    device = _check_args(n_in, n_hidden, n_out, generator, dtype, device)
    W_in = _normal(std, (n_hidden, n_in), generator)  # drawn in the code's order: W_uh, W_hh, W_hy
    W_rec = _normal(std, (n_hidden, n_hidden), generator)
    W_out = _normal(std, (n_out, n_hidden), generator)
    return _params(W_rec, W_in, W_out, sigma, dtype, device)


def sigmoid(n_in: int, n_hidden: int, n_out: int, generator: torch.Generator, *,
            dtype: torch.dtype = torch.float32, device="cpu") -> Params:
    """The *sigmoid* initialization (supp. §3.1, Fig. 7): sigmoid units, W_in, W_rec and
    W_out with entries from N(0, 0.01) (standard deviation 0.01), biases 0."""
    return _dense(0.01, "sigmoid", n_in, n_hidden, n_out, generator, dtype, device)


def basic_tanh(n_in: int, n_hidden: int, n_out: int, generator: torch.Generator, *,
               dtype: torch.dtype = torch.float32, device="cpu") -> Params:
    """The *basic tanh* initialization (supp. §3.1, Fig. 7): tanh units, W_in, W_rec and
    W_out with entries from N(0, 0.1) (standard deviation 0.1), biases 0."""
    return _dense(0.1, "tanh", n_in, n_hidden, n_out, generator, dtype, device)


def smart_tanh(n_in: int, n_hidden: int, n_out: int, generator: torch.Generator, *, variant: str = "paper",
               dtype: torch.dtype = torch.float32, device="cpu") -> Params:
    """The *smart tanh* initialization (supp. §3.1, Fig. 7), after Sutskever et al. (2013).

    Tanh units; W_in and W_out from N(0, 0.01); W_rec from N(0, 0.01) with only 15 random
    non-zero weights per unit, then rescaled so that ρ(W_rec) = 0.95 exactly (computed in
    float64, then cast to ``dtype``); biases 0.

    Args:
        n_hidden: N >= 15.
        variant: ``"paper"`` keeps 15 *incoming* weights per unit, i.e. 15 non-zeros in
            every **row** of W_rec; ``"code"`` keeps 15 per row of the code's
            ``W_hh = W_recᵀ``, i.e. 15 *outgoing* weights, 15 non-zeros in every **column**
            of W_rec.
    """
    device = _check_args(n_in, n_hidden, n_out, generator, dtype, device, min_hidden=SMART_TANH_NONZERO)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    W_in = _normal(0.01, (n_hidden, n_in), generator)
    W_rec = _normal(0.01, (n_hidden, n_hidden), generator)
    # 15 random entries kept in each row: a random permutation per row, as in the code
    order = torch.rand(n_hidden, n_hidden, generator=generator, dtype=torch.float64,
                       device=generator.device).argsort(dim=1)
    mask = torch.zeros_like(W_rec).scatter_(1, order[:, :SMART_TANH_NONZERO], 1.0)
    W_rec = W_rec * (mask if variant == "paper" else mask.T)
    W_rec = scale_to_spectral_radius(W_rec, SMART_TANH_RHO)
    W_out = _normal(0.01, (n_out, n_hidden), generator)
    return _params(W_rec, W_in, W_out, "tanh", dtype, device)


#: The three initializations by name (the code's ``state['init']``).
INITS = {"sigmoid": sigmoid, "basic_tanh": basic_tanh, "smart_tanh": smart_tanh}


def initialize(name: str, n_in: int, n_hidden: int, n_out: int, generator: torch.Generator, **kwargs) -> Params:
    """``INITS[name](n_in, n_hidden, n_out, generator, **kwargs)``."""
    if name not in INITS:
        raise ValueError(f"name must be one of {tuple(INITS)}, got {name!r}")
    return INITS[name](n_in, n_hidden, n_out, generator, **kwargs)
