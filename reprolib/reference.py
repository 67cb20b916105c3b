"""The readable route of one training update, which the batched engine is tested against update by update.

One run, one minibatch: the network of Pascanu eq. (2) unrolled by :mod:`reprolib.rnn`, the task's cost
(:func:`cost`), its gradient by autograd, Ω's immediate gradient (supp. §2.2, :mod:`reprolib.omega`),
clipping (Algorithm 1 or element-wise) and the non-finite fallback (supp. §2.1, :mod:`reprolib.clipping`),
then plain SGD and the optional L2 penalty on W_rec (:class:`reprolib.engine.Run`). Every step is a call of
a function that is tested on its own; nothing here is fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import clipping, omega, tasks
from .initializations import Params


def cost(head: str, hs: torch.Tensor, W_out: torch.Tensor, b_out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The cost of the original code's three output heads, from the states ``hs [T+1, B, N]`` (h_0 first):

    * ``"last_softmax"``: cross-entropy of a soft-max read-out of h_T, mean over the minibatch;
    * ``"every_softmax"``: cross-entropy at every step t ≥ 1, mean over steps × minibatch (``y [T, B]``);
    * ``"last_linear"``: squared error of the linear read-out of h_T, mean over the minibatch.
    """
    if head == "every_softmax":
        logits = hs[1:] @ W_out.T + b_out
        return F.cross_entropy(logits.reshape(-1, W_out.shape[0]), y.reshape(-1))
    out = hs[-1] @ W_out.T + b_out
    if head == "last_softmax":
        return F.cross_entropy(out, y)
    if head == "last_linear":
        return ((out[:, 0] - y) ** 2).mean()
    raise ValueError(f"head must be one of {tuple(tasks.HEADS)}, got {head!r}")


def update(task, run, params: dict[str, torch.Tensor], sigma: str, u: torch.Tensor, y: torch.Tensor, x0: torch.Tensor,
           t: int = 0, omega_form: str = "x", omega_norms: str = "squared"):
    """One update of one :class:`reprolib.engine.Run` on the minibatch ``(u, y)`` from the state ``x0``.

    Returns ``(new params, loss, Ω, norm)``: Ω is computed whatever α, ``norm`` is the gradient's
    norm before clipping (with α ∂⁺Ω/∂W_rec added when α > 0, as in the original code).
    """
    task = tasks.get_task(task)
    P = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    act = torch.sigmoid if sigma == "sigmoid" else torch.tanh
    xs = Params(P["W_rec"], P["W_in"], P["b"], P["W_out"], P["b_out"], sigma).rnn().unroll(u, x0)
    loss = cost(task.head, act(xs), P["W_out"], P["b_out"], y)
    grads = dict(zip(P, torch.autograd.grad(loss, list(P.values()))))
    rnn_d = Params(*(p.detach() for p in P.values()), sigma).rnn()
    W_out, b_out = P["W_out"].detach(), P["b_out"].detach()
    xs_d, dx, dh = omega.total_state_gradients(rnn_d, u, x0, lambda hs: cost(task.head, hs, W_out, b_out, y))
    dE = dx if omega_form == "x" else dh
    Om = omega.omega(rnn_d.W_rec, xs_d, dE, sigma, form=omega_form, norms=omega_norms)
    alpha = run.alpha_at(t)
    if alpha > 0:
        grads["W_rec"] = grads["W_rec"] + alpha * omega.omega_grad(rnn_d.W_rec, xs_d, dE, sigma, form=omega_form,
                                                                   norms=omega_norms)
    norm = clipping.total_norm(grads)
    if run.threshold is not None:
        grads = clipping.clip_by_norm(grads, run.threshold)[0] if run.clip_kind == "norm" else \
            clipping.clip_elementwise(grads, run.threshold)
    if run.fallback:
        grads = clipping.nonfinite_fallback(grads, params["W_rec"], norm=norm)
    new = {k: params[k] - run.lr * grads[k] for k in params}
    new["W_rec"] = new["W_rec"] * (1 - run.lr * run.l2)  # the L2 penalty's step (Run.l2): W_rec -= lr λ W_rec
    return new, loss.detach(), Om, norm
