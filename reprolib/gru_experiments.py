"""The experiments of Kanai, Fujiwara & Iwamura (2017, §4) as sweeps.

    python -m reprolib.experiments kanai_readings --profile cpu   (writes results/kanai_readings_cpu.json)
    python -m reprolib.experiments kanai_fig1 --profile cpu       (writes results/kanai_fig1_cpu.json)

Fig. 1 (§4.3): the word-level PTB language model of §4.1.1, trained for its first iterations with gradient
clipping and with the projection P_δ, recording the gradient norm and ρ(J) at every iteration
(:func:`reprolib.lm_training.train_language_model`). §4.1.1 leaves open how some of its set-up is read
(the cost's reduction, what "N(0, 1/650)" means, ...); each reading (:class:`reprolib.settings.Reading`)
is a row of the grid, so that its gradient scale can be set against the text's "about 10"
(``kanai_readings``: clipping only, several readings; ``kanai_fig1``: both methods, the paper's length).

A cell is one (reading, method, seed): one model trained for ``iterations`` updates. The two methods of a
seed start from the same weights and see the same dropout masks.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import numpy as np
import torch

from . import lm_training, profiles, provenance, ptb, settings, sweeps
from .gru import GRULanguageModel

#: Kanai §4.1.1: "the average norm of the gradient was about 10" (PTB; the reason for thresholds 5-20)
PAPER_AVERAGE_NORM = 10.0
#: Kanai §4.3, Fig. 1(a): the iterations of the explosions with clipping at 650 units
PAPER_EXPLOSIONS = (63, 79, 141)


def model(s: settings.KanaiFig1, reading: settings.Reading, seed: int) -> GRULanguageModel:
    """The language model of ``reading`` at the size of ``s``, drawn from ``profiles.generator(2 seed)``."""
    n = s.n_hidden
    return GRULanguageModel(len(ptb.load().words), n, generator=profiles.generator(2 * seed), dropout=s.dropout,
                            input_scale=reading.input_scale, init_std=reading.init_std / math.sqrt(n),
                            emb_std=reading.emb_std, W_hh_init=reading.W_hh_init, dropout_at=reading.dropout_at,
                            dtype=getattr(torch, s.dtype), device=profiles.pick_device(s.device))


def _listed(x) -> list:
    """An array as JSON data, NaN as ``None``."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(x, dtype=float).tolist()]


def fig1_cell(experiment: str, data: dict, index: int, method: str, seed: int) -> dict:
    """One cell of ``experiment`` (``kanai_readings`` or ``kanai_fig1``): reading ``index`` of the settings ``data`` (:meth:`Sweep.to_dict`) trained
    by ``method`` from seed ``seed`` (weights from ``generator(2 seed)``, dropout masks from
    ``generator(2 seed + 1)``). Returns ``{"rows", "train_seconds", "sessions"}`` with one row: the trace
    (cost, gradient norm, ‖∇W_hh‖, ρ(J) and σ₁(W_hh) per iteration; layer 1) and where training stopped."""
    s = settings.from_dict(experiment, data)
    if s.threads:
        torch.set_num_threads(s.threads)
    reading = s.readings[index]
    net = model(s, reading, seed)
    train = ptb.batchify(ptb.load().train, s.batch_size)
    start = time.perf_counter()
    trace = lm_training.train_language_model(net, train, s.iterations, method=method, lr=reading.lr,
                                             generator=profiles.generator(2 * seed + 1), threshold=s.threshold,
                                             delta=s.delta, seq_len=s.seq_len, reduction=reading.reduction)
    seconds = time.perf_counter() - start
    row = {"reading": reading.name, "method": method, "seed": seed, "stopped_at": trace.stopped_at,
           "loss": _listed(trace.loss), "grad_norm": _listed(trace.grad_norm),
           "grad_norm_W_hh": _listed(trace.grad_norm_W_hh[:, 0]), "rho_J": _listed(trace.rho_J[:, 0]),
           "sigma1": _listed(trace.sigma1[:, 0])}
    return {"rows": [row], "train_seconds": round(seconds, 1),
            "sessions": [{"seconds": round(seconds, 1), "iterations": s.iterations}]}


def cells(experiment: str, s: settings.KanaiFig1) -> list[sweeps.Cell]:
    """One cell per (reading, method, seed), keyed ``<reading>_<method>_s<seed>``. A cell's tag hashes the
    shared settings, its reading and the code that runs it."""
    data = s.to_dict()
    shared = {k: v for k, v in data.items() if k not in ("readings", "methods")}
    shared["code"] = provenance.code_hash("gru_experiments")
    out = []
    for k, r in enumerate(s.readings):
        for method in s.methods:
            for seed in range(s.seeds):
                out.append(sweeps.Cell(f"{r.name}_{method}_s{seed}", fig1_cell, (experiment, data, k, method, seed),
                                       sweeps.tag([shared, dataclasses.asdict(r), method, seed])))
    return out


def cost(experiment: str, s: settings.KanaiFig1, updates: int = 2) -> dict[str, float]:
    """Each cell's cost in worker-hours, measured here: the median time of ``updates`` iterations (after one
    to warm up) of the first reading's model with each method, × ``iterations``."""
    per_iteration = {}
    train = ptb.batchify(ptb.load().train, s.batch_size)
    for method in s.methods:
        times = []
        for _ in range(updates + 1):
            net = model(s, s.readings[0], 0)
            begin = time.perf_counter()
            lm_training.train_language_model(net, train, 1, method=method, lr=s.readings[0].lr,
                                             generator=profiles.generator(1), threshold=s.threshold,
                                             delta=s.delta, seq_len=s.seq_len)
            times.append(time.perf_counter() - begin)
        per_iteration[method] = statistics.median(times[1:])
    return {c.key: per_iteration[c.args[3]] * s.iterations / 3600 for c in cells(experiment, s)}


def choices(s: settings.KanaiFig1) -> dict:
    """What a results file records besides the settings: each reading's modelling choices in words."""
    return {r.name: {"cost": f"cross-entropy {'summed' if r.reduction == 'sum' else 'averaged'} over the "
                             f"{s.seq_len} steps, averaged over the minibatch",
                     "init": f"matrices but W_hh N(0, ({r.init_std:g}/sqrt(n))^2); W_hh {r.W_hh_init}; "
                             f"embedding std {'as the others' if r.emb_std is None else f'{r.emb_std:g}'}",
                     "input_scale": r.input_scale, "dropout_at": list(r.dropout_at), "lr": r.lr,
                     "dtype": s.dtype} for r in s.readings}


def gradient_scale(rows: list[dict], threshold: float, factor: float = 3.0, window: int = 20) -> dict:
    """Per (reading, method, seed): the gradient norm's mean, median and maximum over the iterations, the
    share of iterations above ``threshold``, the largest ρ(J), the explosions
    (:func:`reprolib.lm_training.explosions` with ``factor`` and ``window``) and the upward crossings of
    ρ(J) = 1 (:func:`reprolib.lm_training.upward_crossings`)."""
    threshold = float(threshold)
    out = {}
    for r in rows:
        g = np.array([np.nan if v is None else v for v in r["grad_norm"]], dtype=float)
        rho = np.array([np.nan if v is None else v for v in r["rho_J"]], dtype=float)
        out[(r["reading"], r["method"], r["seed"])] = {
            "mean": float(np.nanmean(g)), "median": float(np.nanmedian(g)), "max": float(np.nanmax(g)),
            "above_threshold": float(np.nanmean(g > threshold)), "max_rho": float(np.nanmax(rho)),
            "explosions": lm_training.explosions(g, factor, window).tolist(),
            "crossings": lm_training.upward_crossings(rho, 1.0).tolist(), "stopped_at": r["stopped_at"]}
    return out
