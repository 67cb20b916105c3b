"""The recurrent network of Pascanu et al. (2013), eq. (2), and its gradient anatomy.

    x_t = W_rec σ(x_{t−1}) + W_in u_t + b                                   (eq. 2)

``x_t`` is the *pre-activation* state; ``h_t = σ(x_t)`` gives the usual form
``h_t = σ(W_rec h_{t−1} + W_in u_t + b)`` (see the notation page).

Conventions (used by every chapter):

* sequences are time-major: inputs ``u`` have shape ``[T, B, M]``; states ``xs`` returned
  by :meth:`RNN.unroll` have shape ``[T+1, B, N]`` with ``xs[0] = x_0``;
* Jacobians are in numerator layout, ``(∂x_t/∂x_k)[a, c] = ∂x_t^a / ∂x_k^c``, so the
  one-step Jacobian is ``∂x_i/∂x_{i−1} = W_rec diag(σ′(x_{i−1}))``;
* gradients with respect to states are row vectors and act from the left:
  ``∂E_t/∂x_k = ∂E_t/∂x_t · ∂x_t/∂x_k``.

The paper's eq. (5) writes the factor as ``W_recᵀ diag(σ′(x_{i−1}))``; the deviations
page explains why the two agree in everything the paper derives from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import _checks

#: the element-wise nonlinearities σ of eq. (2)
SIGMAS = ("sigmoid", "tanh", "identity")

#: γ, the bound on |σ′(x)| used by the vanishing condition ‖W_rec‖ < 1/γ
#: (summary eq. 8): 1 for tanh, 1/4 for the logistic sigmoid, 1 for the identity.
GAMMA = {"sigmoid": 0.25, "tanh": 1.0, "identity": 1.0}


def activation(sigma: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """Return ``(σ, σ′)`` for ``sigma`` in :data:`SIGMAS`."""
    if sigma == "sigmoid":
        return torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))
    if sigma == "tanh":
        return torch.tanh, lambda x: 1 - torch.tanh(x) ** 2
    if sigma == "identity":
        return (lambda x: x), torch.ones_like
    raise ValueError(f"sigma must be one of {SIGMAS}, got {sigma!r}")


@dataclass(frozen=True)
class RNN:
    """x_t = W_rec σ(x_{t−1}) + W_in u_t + b (eq. 2 of Pascanu et al.).

    Args:
        W_rec: recurrent weights ``[N, N]``.
        W_in: input weights ``[N, M]``.
        b: bias ``[N]``.
        sigma: one of :data:`SIGMAS`.

    The tensors may require grad: every method is built from differentiable torch ops.
    """

    W_rec: torch.Tensor
    W_in: torch.Tensor
    b: torch.Tensor
    sigma: str = "tanh"

    def __post_init__(self):
        _checks.square("W_rec", self.W_rec)
        _checks.tensor("W_in", self.W_in, ndim=2)
        _checks.tensor("b", self.b, ndim=1)
        _checks.same_kind(W_rec=self.W_rec, W_in=self.W_in, b=self.b)
        n = self.W_rec.shape[0]
        if self.W_in.shape[0] != n:
            raise ValueError(f"W_in must have {n} rows (one per unit of W_rec), got shape {tuple(self.W_in.shape)}")
        if self.b.shape[0] != n:
            raise ValueError(f"b must have {n} entries, got shape {tuple(self.b.shape)}")
        activation(self.sigma)  # validates the name

    @property
    def n_hidden(self) -> int:
        return self.W_rec.shape[0]

    @property
    def n_in(self) -> int:
        return self.W_in.shape[1]

    def parameters(self) -> dict[str, torch.Tensor]:
        """θ = (W_rec, W_in, b), by name."""
        return {"W_rec": self.W_rec, "W_in": self.W_in, "b": self.b}

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, u: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        _checks.tensor("u", u, ndim=3)
        _checks.tensor("x0", x0, ndim=(1, 2))
        _checks.same_kind(W_rec=self.W_rec, u=u, x0=x0)
        T, B, M = u.shape
        if T < 1:
            raise ValueError("u must hold at least one time step (T >= 1)")
        if M != self.n_in:
            raise ValueError(f"u must have {self.n_in} input channels (the columns of W_in), got {M}")
        if x0.shape[-1] != self.n_hidden:
            raise ValueError(f"x0 must have {self.n_hidden} units, got shape {tuple(x0.shape)}")
        if x0.ndim == 2 and x0.shape[0] != B:
            raise ValueError(f"x0 has batch {x0.shape[0]} but u has batch {B}")
        return x0.expand(B, self.n_hidden)

    def unroll(self, u: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Apply eq. (2) for t = 1..T.

        Args:
            u: inputs ``[T, B, M]``.
            x0: initial state ``[B, N]`` or ``[N]`` (broadcast over the batch).

        Returns:
            all states ``[T+1, B, N]``, ``xs[0] = x0``.
        """
        x = self._check_inputs(u, x0)
        sigma, _ = activation(self.sigma)
        drive = u @ self.W_in.T + self.b  # W_in u_t + b for every t at once
        xs = [x]
        for t in range(u.shape[0]):
            x = sigma(x) @ self.W_rec.T + drive[t]
            xs.append(x)
        return torch.stack(xs)

    # --------------------------------------------------------------- Jacobians
    def _check_states(self, xs: torch.Tensor) -> None:
        _checks.tensor("xs", xs, ndim=3)
        _checks.same_kind(W_rec=self.W_rec, xs=xs)
        if xs.shape[0] < 2 or xs.shape[2] != self.n_hidden:
            raise ValueError(f"xs must have shape [T+1, B, {self.n_hidden}] with T >= 1, got {tuple(xs.shape)}")

    def step_jacobians(self, xs: torch.Tensor) -> torch.Tensor:
        """∂x_i/∂x_{i−1} = W_rec diag(σ′(x_{i−1})) for i = 1..T (the factors of eq. 5).

        Args:
            xs: states ``[T+1, B, N]`` from :meth:`unroll`.

        Returns:
            ``[T, B, N, N]``; entry ``i−1`` is ∂x_i/∂x_{i−1}.
        """
        self._check_states(xs)
        _, dsigma = activation(self.sigma)
        return self.W_rec * dsigma(xs[:-1]).unsqueeze(-2)  # scales column c by σ′(x_{i−1})_c

    def jacobian_product(self, xs: torch.Tensor, t: int, k: int) -> torch.Tensor:
        """∂x_t/∂x_k = Π_{t ≥ i > k} ∂x_i/∂x_{i−1}, eq. (5), for 0 ≤ k ≤ t ≤ T.

        Returns ``[B, N, N]`` (the identity when k = t).
        """
        self._check_states(xs)
        T = xs.shape[0] - 1
        _checks.positive_int("t", t, minimum=0)
        _checks.positive_int("k", k, minimum=0)
        if t > T:
            raise ValueError(f"t must be <= T = {T}, got {t}")
        if k > t:
            raise ValueError(f"k must be <= t = {t}, got {k}")
        J = self.step_jacobians(xs)
        P = torch.eye(self.n_hidden, dtype=xs.dtype, device=xs.device).expand(xs.shape[1], -1, -1)
        for i in range(k + 1, t + 1):  # left-multiply the later factors
            P = J[i - 1] @ P
        return P

    def backprop(self, xs: torch.Tensor, dE_dxt: torch.Tensor) -> torch.Tensor:
        """The row vectors δ_k = ∂E_t/∂x_t · ∂x_t/∂x_k for k = 0..t, with t = T.

        Computed by the recursion δ_{k} = (δ_{k+1} W_rec) ⊙ σ′(x_k), i.e. eq. (5) applied
        one factor at a time, never forming the matrix product.

        Args:
            xs: states ``[T+1, B, N]``.
            dE_dxt: ∂E_t/∂x_t at t = T, ``[B, N]``.

        Returns:
            ``[T+1, B, N]``; entry k is δ_k.
        """
        self._check_states(xs)
        _checks.tensor("dE_dxt", dE_dxt, ndim=2)
        _checks.same_kind(xs=xs, dE_dxt=dE_dxt)
        if dE_dxt.shape != xs.shape[1:]:
            raise ValueError(f"dE_dxt must have shape {tuple(xs.shape[1:])}, got {tuple(dE_dxt.shape)}")
        _, dsigma = activation(self.sigma)
        deltas = [dE_dxt]
        for k in range(xs.shape[0] - 2, -1, -1):
            deltas.append((deltas[-1] @ self.W_rec) * dsigma(xs[k]))
        return torch.stack(deltas[::-1])

    def temporal_contributions(self, u: torch.Tensor, x0: torch.Tensor, dE_dxt: torch.Tensor) -> dict[str, torch.Tensor]:
        """The temporal contributions of eq. (4) for the cost E_t at t = T:

            ∂E_t/∂θ = Σ_{1≤k≤t} ∂E_t/∂x_t · ∂x_t/∂x_k · ∂⁺x_k/∂θ,

        where ∂⁺x_k/∂θ holds x_{k−1} fixed. For eq. (2) the k-th term is
        δ_k ⊗ σ(x_{k−1}) for W_rec, δ_k ⊗ u_k for W_in and δ_k for b, summed over the batch.

        Args:
            u: inputs ``[T, B, M]``; x0: initial state; dE_dxt: ∂E_t/∂x_t ``[B, N]``.

        Returns:
            a dict with ``"W_rec"`` ``[T, N, N]``, ``"W_in"`` ``[T, N, M]``, ``"b"`` ``[T, N]``;
            entry ``k−1`` is the contribution of step k. Their sum over k is ∂E_t/∂θ.
        """
        xs = self.unroll(u, x0)
        sigma, _ = activation(self.sigma)
        deltas = self.backprop(xs, dE_dxt)[1:]  # δ_1..δ_T
        return {
            "W_rec": torch.einsum("kbi,kbj->kij", deltas, sigma(xs[:-1])),
            "W_in": torch.einsum("kbi,kbj->kij", deltas, u),
            "b": deltas.sum(dim=1),
        }
