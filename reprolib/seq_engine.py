"""Several runs of sequence prediction in one update: the fast route of :mod:`reprolib.sequence`.

R runs (seeds × methods) that see the same minibatch have their parameters stacked along a first
axis ``[R, ...]``, and one forward pass and one backward pass serve them all. The backward pass is
written by hand (:func:`_bptt`; autograd differentiates only the read-out and the cost): it gives the
gradient of every parameter, each weight's as one matrix product over all steps, and the total
derivatives ∂E/∂h_k that Ω needs. (The readable route runs a second pass for these.) Ω of supp. eq. 5 and its immediate gradient (form h,
leaky units included) are then computed for the R runs at once by :func:`reprolib.omega.omega_and_grad`. Clipping
at each run's threshold, the non-finite fallback and the SGD step are the batched engine's
(:func:`reprolib.bptt.clip_and_step`).

:func:`update` is tested against R calls of :func:`reprolib.sequence.update`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import _checks, files, omega, provenance
from .bptt import NAMES, clip_and_step
from .rnn import activation
from .sequence import KINDS, N_KEYS, FitLog, FitResult, SeqRun, batches, cost, init, inputs, training_segments


#: a hash of the sources this module runs: a checkpoint is resumed only by the same code
CODE_HASH = provenance.code_hash("seq_engine")


def stack(params: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The parameters of R runs stacked along a new first axis."""
    return {k: torch.stack([p[k] for p in params]) for k in NAMES}


def _unroll(P: dict, sigma: str, u: torch.Tensor, h0: torch.Tensor, leak: torch.Tensor | None):
    """The states h_0 … h_T ``[R, B, N]`` and pre-activations z_0 = 0, z_1 … z_T of R stacked runs driven
    by ``u [T, B, K]`` (eq. 2 with leaky units), as two lists."""
    act, _ = activation(sigma)
    hs, zs = [h0], [torch.zeros_like(h0)]
    inputs = torch.einsum("lbk,rnk->lrbn", u, P["W_in"])  # W_in u_t for every run, once for all steps
    W_recT = P["W_rec"].transpose(1, 2).contiguous()  # a contiguous operand makes the products faster
    for t in range(u.shape[0]):
        zs.append(torch.baddbmm(inputs[t] + P["b"][:, None], hs[-1], W_recT))
        new = act(zs[-1])
        hs.append(new if leak is None else (1 - leak[:, None]) * hs[-1] + leak[:, None] * new)
    return hs, zs


def _bptt(P: dict, sigma: str, u: torch.Tensor, hs: list, zs: list, direct: torch.Tensor, leak: torch.Tensor | None):
    """Back-propagation through time by hand for R stacked runs (eq. 2 with leaky units): from the direct
    derivatives ``direct [R, T, B, N]`` = ∂⁺E/∂h_t (t = 1..T), the total ∂E/∂h_k (k = 0..T) stacked as
    ``[R, T+1, B, N]``, and the gradients of W_rec, W_in and b, each one product over every step:

        ∂E/∂h_t = ∂⁺E/∂h_t + ∂E/∂h_{t+1} ∂h_{t+1}/∂h_t,   δ_t = ∂E/∂x_t = ∂E/∂h_t ⊙ a ⊙ σ′(x_t),
        ∂h_{t+1}/∂h_t = diag(1 − a) + diag(a ⊙ σ′(x_{t+1})) W_rec,   ∂E/∂W_rec = Σ_t δ_tᵀ h_{t−1}.
    """
    _, dsigma = activation(sigma)
    W_rec, T = P["W_rec"], direct.shape[1]
    d = dsigma(torch.stack(zs[1:], 1))  # σ′(x_t), t = 1..T
    if leak is not None:
        d = d * leak[:, None, None]
    total, delta = [None] * (T + 1), [None] * T
    g = direct[:, T - 1]
    for t in range(T, 0, -1):
        total[t] = g
        delta[t - 1] = g * d[:, t - 1]
        back = torch.bmm(delta[t - 1], W_rec)  # the recurrent part of ∂E/∂h_{t−1}
        if leak is not None:
            back = back + g * (1 - leak[:, None])
        g = back + direct[:, t - 2] if t > 1 else back
    total[0] = g
    D = torch.stack(delta, 1).flatten(1, 2)  # [R, T·B, N]
    H_prev = torch.stack(hs[:-1], 1).flatten(1, 2)
    grads = {"W_rec": torch.bmm(D.transpose(1, 2), H_prev), "b": D.sum(1),
             "W_in": torch.bmm(D.transpose(1, 2), u.flatten(0, 1).expand(D.shape[0], -1, -1))}
    return grads, torch.stack(total, 1)


def _outputs(P: dict, H: torch.Tensor) -> torch.Tensor:
    """y_t = W_out h_t + b_out of R runs for their states ``H [R, T, B, N]``: ``[R, T, B, K]``, one product
    of each run's T·B rows (a W_out broadcast over the steps would be copied T times)."""
    return (H.flatten(1, 2) @ P["W_out"].transpose(1, 2)).unflatten(1, H.shape[1:3]) + P["b_out"][:, None, None]


def evaluate(kind: str, params: dict[str, torch.Tensor], sigma: str, data, run: SeqRun,
             leak: torch.Tensor | None = None, n_symbols: int | None = None) -> list[float]:
    """:func:`reprolib.sequence.evaluate` for R stacked runs (``params``: :func:`stack`; ``leak``: ``[R, N]``
    or None) in one pass over ``data``: each run's cost, nats per frame (music) or bits per character."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    R, N, dtype, device = params["W_rec"].shape[0], params["W_rec"].shape[-1], params["W_rec"].dtype, params["W_rec"].device
    total, count = torch.zeros(R, dtype=torch.float64), 0.0
    with torch.no_grad():
        h = None
        for x, y, mask, reset in batches(kind, data, run, None):
            if reset or h is None or h.shape[1] != x.shape[1]:
                h = torch.zeros(R, x.shape[1], N, dtype=dtype, device=device)
            x, y, mask = x.to(device), y.to(device), None if mask is None else mask.to(device)
            hs, _ = _unroll(params, sigma, inputs(kind, x, n_symbols, dtype), h, leak)
            h = hs[-1]
            out = _outputs(params, torch.stack(hs[1:], 1))
            target = y.to(dtype) if kind == "music" else y
            n = float(x.shape[0] * x.shape[1]) if mask is None else float(mask.sum())
            total += torch.tensor([cost(kind, out[r], target, mask).item() for r in range(R)], dtype=torch.float64) * n
            count += n
    per_step = total / count
    return (per_step if kind == "music" else per_step / math.log(2)).tolist()


def stacked_leak(leaks: list, n_hidden: int, dtype) -> torch.Tensor | None:
    """The leak factors of R runs as ``[R, N]`` (1 for the units of a run without leaky units), or None
    when no run has any."""
    if all(lk is None for lk in leaks):
        return None
    return torch.stack([torch.ones(n_hidden, dtype=dtype) if lk is None else lk for lk in leaks])


def update(kind: str, params: dict[str, torch.Tensor], sigma: str, u: torch.Tensor, target: torch.Tensor,
           h0: torch.Tensor, *, lr: torch.Tensor, threshold: torch.Tensor, alpha: torch.Tensor,
           mask: torch.Tensor | None = None, leak: torch.Tensor | None = None, reduction: str = "mean",
           fallback: bool = True, omega_value: bool = True):
    """One update of R runs on the same segment ``(u [L, B, K], target)`` from their states ``h0 [R, B, N]``.

    ``params``: stacked (:func:`stack`); ``lr``, ``threshold`` (``inf`` for no clipping) and ``alpha``: ``[R]``;
    ``leak``: ``[R, N]`` or None. Returns ``(new params, cost [R], Ω [R], norm [R] before clipping, h_T [R, B, N])``,
    each run's as :func:`reprolib.sequence.update` gives it. With ``omega_value=False`` and no run with α > 0,
    Ω is not computed (it is then NaN; the step does not need it).
    """
    R = params["W_rec"].shape[0]
    with torch.no_grad():
        hs, zs = _unroll(params, sigma, u, h0.detach(), leak)
    # the read-out and the cost by autograd: the gradients of W_out, b_out and the direct ∂⁺E/∂h_t
    out = {k: params[k].detach().clone().requires_grad_(True) for k in ("W_out", "b_out")}
    H = torch.stack(hs[1:], 1).requires_grad_(True)  # [R, T, B, N]
    y = _outputs(out, H)
    E = torch.stack([cost(kind, y[r], target, mask, reduction) for r in range(R)])
    g_out, g_bout, direct = torch.autograd.grad(E.sum(), [out["W_out"], out["b_out"], H])
    g, dh = _bptt(params, sigma, u, hs, zs, direct, leak)
    g.update(W_out=g_out, b_out=g_bout)
    if omega_value or bool((alpha != 0).any()):
        Om, G = omega.omega_and_grad(params["W_rec"], torch.stack(zs, 1), dh, sigma, form="h", leak=leak)  # supp. eq. 5
        g["W_rec"] = g["W_rec"] + alpha[:, None, None] * G
    else:
        Om = torch.full((R,), math.nan, dtype=E.dtype, device=E.device)
    new = {k: v.detach().clone() for k, v in params.items()}
    no = torch.zeros(R, dtype=torch.bool, device=E.device)
    norm, _, _ = clip_and_step(new, g, lr, threshold, no, torch.full((R,), fallback, device=E.device))  # the engine's step
    return new, E.detach(), Om, norm, hs[-1].detach()


#: the settings that runs sharing an update must have in common (their data and their network's shape)
SHARED = ("n_hidden", "sigma", "biases", "segment", "batch_size", "reduction", "alpha_per", "horizon", "data_seed")


def fit(kind: str, train, valid, runs: list[SeqRun], epochs: int, *, n_in: int | None = None,
        dtype=torch.float64, checkpoint=None, progress: bool = False, device="cpu") -> list[FitResult]:
    """:func:`reprolib.sequence.fit` for several runs at once: they see the same minibatches (same
    ``data_seed``) and share every update (:func:`update`); each keeps its own learning rate, halved
    after its epochs whose training error rose, and its own best validation epoch. Returns one
    :class:`reprolib.sequence.FitResult` per run, each what ``sequence.fit`` returns for that run.

    With ``checkpoint`` (a path), the state after every epoch is written there, and a call that finds
    it continues from it, with the same result as an uninterrupted call; the results' ``sessions`` list
    the calls (epochs from, to, seconds). A checkpoint of other runs, data or code is refused with a
    ``ValueError`` naming the file. The runs compute on ``device`` (the data stays on the CPU and goes
    there segment by segment; the parameters returned are on the CPU)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not runs or not all(isinstance(r, SeqRun) for r in runs):
        raise TypeError("runs must be a non-empty list of sequence.SeqRun")
    for name in SHARED:
        if len({getattr(r, name) for r in runs}) > 1:
            raise ValueError(f"runs that share an update must have the same {name}")
    _checks.positive_int("epochs", epochs)
    n_sym = N_KEYS if kind == "music" else _checks.positive_int("n_in", n_in)
    first, R, device = runs[0], len(runs), torch.device(device)
    inits = [init(r, n_sym, dtype) for r in runs]  # drawn on the CPU: the same weights on every device
    params = _to(stack([p for p, _ in inits]), device)
    logs = [FitLog(kind, valid, run, lk, n_sym) for run, (_, lk) in zip(runs, inits)]
    leak = stacked_leak([log.leak for log in logs], first.n_hidden, dtype)
    leak = None if leak is None else leak.to(device)
    threshold = torch.tensor([math.inf if r.threshold is None else r.threshold for r in runs], dtype=dtype, device=device)
    g = torch.Generator().manual_seed(first.data_seed)
    updates, start, sessions = 0, 0, []
    mine = _fingerprint(kind, train, valid, runs, n_sym, dtype)
    if checkpoint is not None and Path(checkpoint).is_file():
        state = files.read_checkpoint(checkpoint)
        if state.get("fingerprint") != mine:
            raise ValueError(f"checkpoint {checkpoint} was written for other runs, data or code; delete it to start again")
        params, updates, start, sessions = _to(state["params"], device), state["updates"], state["epoch"], state["sessions"]
        g.set_state(state["generator"])
        for log, s in zip(logs, state["logs"]):
            log.load_state_dict(s)
    began = time.perf_counter()
    for epoch in tqdm(range(start, epochs), desc="epochs", disable=not progress, initial=start, total=epochs):
        lr = torch.tensor([log.lr for log in logs], dtype=dtype, device=device)  # each run's, halved by its log (supp. §3.2.1)
        for u, y, mask, reset in training_segments(kind, train, first, g, n_sym, dtype):
            u, y, mask = u.to(device), y.to(device), None if mask is None else mask.to(device)
            if reset:
                h = torch.zeros(R, u.shape[1], first.n_hidden, dtype=dtype, device=device)
            alpha = torch.tensor([log.alpha(epoch, updates) for log in logs], dtype=dtype, device=device)
            new, E, _, norm, h = update(kind, params, first.sigma, u, y, h, lr=lr, threshold=threshold, alpha=alpha,
                                        mask=mask, leak=leak, reduction=first.reduction, omega_value=False)
            if not first.biases:
                new["b"], new["b_out"] = params["b"], params["b_out"]
            params, updates = new, updates + 1
            for log, E_r, norm_r in zip(logs, E.tolist(), norm.tolist()):
                log.add(E_r, norm_r)
        valid_costs = evaluate(kind, params, first.sigma, valid, first, leak, n_sym if kind == "chars" else None)
        on_cpu = _to(params, torch.device("cpu"))
        for r, log in enumerate(logs):
            log.end_epoch(epoch, updates, {k: v[r] for k, v in on_cpu.items()}, valid=valid_costs[r])
        if checkpoint is not None:
            now = [*sessions, {"from": start, "to": epoch + 1, "seconds": round(time.perf_counter() - began, 1)}]
            files.write_checkpoint(checkpoint, {"fingerprint": mine, "params": on_cpu, "updates": updates,
                                                "epoch": epoch + 1, "generator": g.get_state(), "sessions": now,
                                                "logs": [log.state_dict() for log in logs]})
    sessions = [*sessions, {"from": start, "to": epochs, "seconds": round(time.perf_counter() - began, 1)}]
    return [dataclasses.replace(log.result(), sessions=sessions) for log in logs]


def _to(params: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in params.items()}


def _fingerprint(kind, train, valid, runs, n_sym, dtype) -> dict:
    """What a checkpoint must have been written for: the runs, the data (sizes and a checksum), the
    dtype and the code of this module and the modules it uses."""
    def digest(split):
        parts = split if isinstance(split, list) else [split]
        h = hashlib.sha256()
        for p in parts:
            h.update(p.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]
    return {"kind": kind, "runs": [repr(r) for r in runs], "n_symbols": n_sym, "dtype": str(dtype),
            "train": digest(train), "valid": digest(valid), "code": CODE_HASH}
