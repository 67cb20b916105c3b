"""The experiments of Kanai, Fujiwara & Iwamura (2017, §4) as sweeps.

    python -m reprolib.experiments kanai_readings --profile cpu   (writes results/kanai_readings_cpu.json)
    python -m reprolib.experiments kanai_fig1 --profile cpu       (writes results/kanai_fig1_cpu.json)
    python -m reprolib.experiments kanai_table1 --profile cpu     (writes results/kanai_table1_cpu.json)
    python -m reprolib.experiments kanai_table2 --profile cpu     (writes results/kanai_table2_cpu.json)
    python -m reprolib.experiments kanai_table3 --profile cpu --workers 1   (Table 3: whole-training times)

Fig. 1 (§4.3): the word-level PTB language model of §4.1.1, trained for its first iterations with gradient
clipping and with the projection P_δ, recording the gradient norm and ρ(J) at every iteration
(:func:`reprolib.lm_training.train_language_model`). §4.1.1 leaves open how some of its set-up is read
(the cost's reduction, what "N(0, 1/650)" means, ...); each reading (:class:`reprolib.settings.Reading`)
is a row of the grid, so that its gradient scale can be set against the text's "about 10"
(``kanai_readings``: clipping only, several readings; ``kanai_fig1``: both methods, the paper's length).

A cell is one (reading, method, seed): one model trained for ``iterations`` updates. The two methods of a
seed start from the same weights and see the same dropout masks.

Table 1 (§4.1.1-4.2, ``kanai_table1``): the same model trained for whole epochs
(:func:`reprolib.lm_training.train_epochs`) with the projection at each δ and with clipping at each
threshold; a cell is one (method, δ or threshold, seed), and every cell of a seed starts from the same
weights and dropout masks. Table 2 (§4.1.2-4.2, ``kanai_table2``): the same columns for the two-layer music
model on Nottingham (:class:`reprolib.gru.GRUMusicModel`, the plateau schedule, eq. 10 with the projection).
Table 3 (§4.4, ``kanai_table3``): the same cells with the projection by the full and by
the truncated SVD and with clipping, timed over the whole training.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time

import numpy as np
import torch

from . import _checks, data, lm_training, profiles, provenance, ptb, settings, sweeps
from .gru import GRULanguageModel, GRUMusicModel

#: Kanai §4.1.1: "the average norm of the gradient was about 10" (PTB; the reason for thresholds 5-20)
PAPER_AVERAGE_NORM = 10.0
#: Kanai §4.3, Fig. 1(a): the iterations of the explosions with clipping at 650 units
PAPER_EXPLOSIONS = (63, 79, 141)
#: the whole-training experiments: Table 1 (success and perplexity), Table 2 (music) and Table 3 (time)
TABLES = ("kanai_table1", "kanai_table2", "kanai_table3")
#: Kanai Table 3 (PTB, δ 0.2, threshold 5): the whole training's computation time in seconds
PAPER_TABLE3 = {"project-full": 5.02e4, "project": 4.55e4, "clip": 4.96e4}
#: Kanai Table 1 (PTB, 650 units, 5 runs): per (method, δ or threshold), the success rate and the validation
#: and test perplexity (mean, std over the successful runs; None: "N/A", no successful run)
PAPER_TABLE1 = {
    ("project", 0.2): {"success": 1.0, "valid": (102.0, 0.3), "test": (97.6, 0.4)},
    ("project", 0.5): {"success": 1.0, "valid": (102.8, 0.3), "test": (98.4, 0.3)},
    ("project", 0.8): {"success": 1.0, "valid": (103.7, 0.2), "test": (99.0, 0.4)},
    ("project", 1.1): {"success": 1.0, "valid": (105.2, 0.2), "test": (100.3, 0.2)},
    ("project", 1.4): {"success": 1.0, "valid": (107.0, 0.4), "test": (102.1, 0.2)},
    ("clip", 5.0): {"success": 1.0, "valid": (109.3, 0.4), "test": (106.9, 0.4)},
    ("clip", 10.0): {"success": 0.4, "valid": (103.1, 0.4), "test": (100.4, 0.5)},
    ("clip", 15.0): {"success": 0.0, "valid": None, "test": None},
    ("clip", 20.0): {"success": 0.0, "valid": None, "test": None},
}


#: Kanai Table 2 (Nottingham, 2 x 200 units, 5 runs): per (method, δ or threshold), the success rate and the
#: validation and test negative log-likelihood per frame (mean, std over the runs)
PAPER_TABLE2 = {
    ("project", 0.2): {"success": 1.0, "valid": (3.46, 0.05), "test": (3.53, 0.04)},
    ("project", 0.5): {"success": 1.0, "valid": (3.47, 0.07), "test": (3.53, 0.04)},
    ("project", 0.8): {"success": 1.0, "valid": (3.59, 0.1), "test": (3.64, 0.2)},
    ("project", 1.1): {"success": 1.0, "valid": (4.58, 0.2), "test": (4.56, 0.2)},
    ("project", 1.4): {"success": 1.0, "valid": (4.64, 0.2), "test": (4.62, 0.2)},
    ("clip", 15.0): {"success": 1.0, "valid": (3.57, 0.01), "test": (3.64, 0.04)},
    ("clip", 30.0): {"success": 1.0, "valid": (3.61, 0.2), "test": (3.64, 0.2)},
    ("clip", 45.0): {"success": 1.0, "valid": (3.88, 0.2), "test": (3.89, 0.2)},
    ("clip", 60.0): {"success": 1.0, "valid": (5.26, 3.0), "test": (5.36, 3.0)},
}


def model(s: settings.KanaiFig1, reading: settings.Reading, seed: int) -> GRULanguageModel:
    """The language model of ``reading`` at the size of ``s``, drawn from ``profiles.generator(2 seed)``."""
    n = s.n_hidden
    return GRULanguageModel(len(ptb.load().words), n, generator=profiles.generator(2 * seed), dropout=s.dropout,
                            input_scale=reading.input_scale, init_std=reading.init_std / math.sqrt(n),
                            emb_std=reading.emb_std, W_hh_init=reading.W_hh_init, dropout_at=reading.dropout_at,
                            dtype=getattr(torch, s.dtype), device=profiles.pick_device(s.device))


def as_array(values, missing: float = math.nan) -> np.ndarray:
    """A row's per-iteration list (``None`` where JSON holds NaN, :func:`_listed`) as a float array, ``None`` as
    ``missing``."""
    return np.array([missing if v is None else v for v in values], dtype=float)


def table_key(method: str, value: float, seed: int) -> str:
    """The key of a ``kanai_table1``/``kanai_table3`` cell (and of its entry in a results file's provenance)."""
    return f"{method}-{value:g}_s{seed}"


def _listed(x) -> list:
    """An array as JSON data, NaN as ``None``."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(x, dtype=float).tolist()]


def fig1_cell(experiment: str, sweep: dict, index: int, method: str, seed: int) -> dict:
    """One cell of ``experiment`` (``kanai_readings`` or ``kanai_fig1``): reading ``index`` of the settings ``sweep`` (:meth:`Sweep.to_dict`) trained
    by ``method`` from seed ``seed`` (weights from ``generator(2 seed)``, dropout masks from
    ``generator(2 seed + 1)``). Returns ``{"rows", "train_seconds", "sessions"}`` with one row: the trace
    (cost, gradient norm, ‖∇W_hh‖, ρ(J) and σ₁(W_hh) per iteration; layer 1) and where training stopped."""
    s = settings.from_dict(experiment, sweep)
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


def table_model(s: settings.KanaiTable, seed: int) -> GRULanguageModel:
    """The model of a whole-training table, drawn from ``profiles.generator(2 seed)``: Table 1's (and 3's) language
    model of ``s.reading``, or Table 2's music model (88 keys)."""
    if isinstance(s, settings.KanaiTable2):
        return GRUMusicModel(data.N_KEYS, s.n_hidden, s.n_layers, generator=profiles.generator(2 * seed),
                             dropout=s.dropout, dtype=getattr(torch, s.dtype), device=profiles.pick_device(s.device))
    return model(s, s.reading, seed)


def _streams(s: settings.KanaiTable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The train, validation and test streams of ``s``: PTB's token ids, or ``s.corpus``'s tunes played one after
    the other as frames ``[frames, 88]``; cut to their first ``train_tokens`` and ``eval_tokens`` (Table 2:
    ``train_frames`` and ``eval_frames``; 0: whole)."""
    if isinstance(s, settings.KanaiTable2):
        streams = [torch.cat(data.load_music(s.corpus, split)) for split in ("train", "valid", "test")]
        keep = (s.train_frames, s.eval_frames, s.eval_frames)
    else:
        corpus = ptb.load()
        streams, keep = [corpus.train, corpus.valid, corpus.test], (s.train_tokens, s.eval_tokens, s.eval_tokens)
    return tuple(x if n == 0 else x[:n] for x, n in zip(streams, keep))


def _batched(s: settings.KanaiTable, stream: torch.Tensor) -> torch.Tensor:
    """``stream`` in columns of ``s.batch_size`` (:func:`reprolib.ptb.batchify`, or
    :func:`reprolib.lm_training.batchify_frames` in ``s.dtype`` for frames)."""
    if isinstance(s, settings.KanaiTable2):
        return lm_training.batchify_frames([stream], s.batch_size, dtype=getattr(torch, s.dtype))
    return ptb.batchify(stream, s.batch_size)


def splits(s: settings.KanaiTable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The train, validation and test data of ``s`` (:func:`_streams`), batched."""
    return tuple(_batched(s, x) for x in _streams(s))


def _train_args(s: settings.KanaiTable, column: str, value: float) -> dict:
    """The keyword arguments of :func:`reprolib.lm_training.train_epochs` for a column of Table 1, 2 or 3: the
    method (clipping at threshold ``value``, or the projection with δ = ``value`` by the truncated or, for
    ``"project-full"``, the full SVD), then the cost's reduction of ``s.reading`` (Tables 1, 3) or eq. (10) with
    the projection (Table 2)."""
    if column == "clip":
        method = {"method": "clip", "threshold": value}
    else:
        method = {"method": "project", "delta": value, "svd": "full" if column == "project-full" else "truncated"}
    extra = ({"project_inputs": column == "project"} if isinstance(s, settings.KanaiTable2) else
             {"reduction": s.reading.reduction})
    return {**method, **extra}


def table_cell(experiment: str, sweep: dict, method: str, value: float, seed: int) -> dict:
    """One cell of ``kanai_table1``, ``kanai_table2`` or ``kanai_table3``: the model of the settings ``sweep``
    (:meth:`Sweep.to_dict`) trained for its epochs (Table 2: until the learning rate falls below ``min_lr``, at most
    ``epochs``) by ``method`` (``"project"`` with δ = ``value`` by the truncated SVD, with eq. 10 in Table 2;
    ``"project-full"`` by the full SVD; ``"clip"`` with threshold ``value``) from seed ``seed`` (weights from
    ``generator(2 seed)``, dropout masks from ``generator(2 seed + 1)``). Returns
    ``{"rows", "train_seconds", "sessions"}`` with one row: the run's :class:`reprolib.lm_training.EpochTrace`."""
    s = settings.from_dict(experiment, sweep)
    if s.threads:
        torch.set_num_threads(s.threads)
    net = table_model(s, seed)
    train, valid, test = splits(s)
    start = time.perf_counter()
    trace = lm_training.train_epochs(net, train, valid, test, s.epochs, schedule=s.schedule(),
                                     generator=profiles.generator(2 * seed + 1), seq_len=s.seq_len,
                                     **_train_args(s, method, value))
    seconds = time.perf_counter() - start
    row = {"method": method, "value": value, "seed": seed, **dataclasses.asdict(trace)}
    return {"rows": [row], "train_seconds": round(seconds, 1),
            "sessions": [{"seconds": round(seconds, 1), "epochs": len(trace.history)}]}


def table3_times(rows: list[dict], provenance: dict) -> dict:
    """Kanai's Table 3 from a ``kanai_table3`` results file: per column (method, value), the whole-training
    times of its runs (seconds, :func:`table_cell`'s ``train_seconds`` in the provenance), their mean, and the
    ratio of that mean to clipping's."""
    times = {}
    for r in rows:
        key = table_key(r["method"], r["value"], r["seed"])
        times.setdefault((r["method"], r["value"]), []).append(provenance["cells"][key]["train_seconds"])
    clip = [v for (m, _), v in times.items() if m == "clip"]
    base = float(np.mean(clip[0])) if clip else None
    return {k: {"seconds": v, "mean": float(np.mean(v)), "ratio": None if base is None else float(np.mean(v)) / base}
            for k, v in times.items()}


def table1_summary(rows: list[dict], perplexity: bool = True) -> dict:
    """Table 1's cells from the rows of ``kanai_table1``: per (method, value), the number of runs, the success
    rate (Kanai §4.1's criterion) and the validation and test perplexity, exp of the loss at the best
    epoch, as (mean, std over the successful runs) or ``None`` when no run succeeded, as the paper prints them.
    Table 2's (``kanai_table2``, ``perplexity=False``): the negative log-likelihood per frame itself."""
    unit = math.exp if perplexity else float
    out = {}
    for r in rows:
        out.setdefault((r["method"], r["value"]), []).append(r)
    table = {}
    for key, runs in out.items():
        ok = [r for r in runs if r["success"] and r["best_valid"] is not None]
        stat = lambda name: None if not ok else (  # noqa: E731
            float(np.mean([unit(r[name]) for r in ok])), float(np.std([unit(r[name]) for r in ok])))
        table[key] = {"runs": len(runs), "success": len(ok) / len(runs), "valid": stat("best_valid"),
                      "test": stat("test")}
    return table


def cells(experiment: str, s: settings.KanaiFig1 | settings.KanaiTable1) -> list[sweeps.Cell]:
    """One cell per (reading, method, seed), keyed ``<reading>_<method>_s<seed>`` (``kanai_readings``,
    ``kanai_fig1``), or per (method, δ or threshold, seed), keyed ``<method>-<value>_s<seed>``
    (``kanai_table1``). A cell's tag hashes the shared settings, its grid point and the code that runs it."""
    sweep = s.to_dict()
    if experiment in TABLES:
        shared = {k: v for k, v in sweep.items() if k not in ("deltas", "thresholds")}
        shared["code"] = provenance.code_hash("gru_experiments")
        return [sweeps.Cell(table_key(method, value, seed), table_cell, (experiment, sweep, method, value, seed),
                            sweeps.tag([shared, method, value, seed]))
                for method, value in s.settings() for seed in range(s.seeds)]
    shared = {k: v for k, v in sweep.items() if k not in ("readings", "methods")}
    shared["code"] = provenance.code_hash("gru_experiments")
    out = []
    for k, r in enumerate(s.readings):
        for method in s.methods:
            for seed in range(s.seeds):
                out.append(sweeps.Cell(f"{r.name}_{method}_s{seed}", fig1_cell, (experiment, sweep, k, method, seed),
                                       sweeps.tag([shared, dataclasses.asdict(r), method, seed])))
    return out


def cost(experiment: str, s: settings.KanaiFig1 | settings.KanaiTable1, updates: int = 2) -> dict[str, float]:
    """Each cell's cost in worker-hours, measured here. ``kanai_readings``, ``kanai_fig1``: the median time of
    ``updates`` iterations (after one to warm up) of the first reading's model with each method, ×
    ``iterations``. ``kanai_table1``: the time per update of one epoch of ``updates`` + 1 segments with each
    method (the projection at the first δ), × the updates of all epochs, plus the validation passes counted
    as a third of an update per segment (a forward pass)."""
    if experiment in TABLES:
        return _table_cost(experiment, s, updates)
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


def _table_cost(experiment: str, s: settings.KanaiTable, updates: int) -> dict[str, float]:
    """:func:`cost` of a whole-training table: the time per update of one epoch of ``updates`` + 1 segments with
    each column's method, × the updates of ``epochs`` epochs (Table 2: at most; the plateau schedule may stop
    sooner), plus the validation passes counted as a third of an update per segment."""
    train_stream, valid_stream, _ = _streams(s)
    train, valid = _batched(s, train_stream), _batched(s, valid_stream)
    segment = s.seq_len * s.batch_size
    few = _batched(s, train_stream[: (updates + 1) * segment + s.batch_size])
    one = _batched(s, valid_stream[: segment + s.batch_size])
    per_update = {}
    for column, value in {m: v for m, v in reversed(s.settings())}.items():
        begin = time.perf_counter()
        lm_training.train_epochs(table_model(s, 0), few, one, one, 1, schedule=s.schedule(),
                                 generator=profiles.generator(1), seq_len=s.seq_len, **_train_args(s, column, value))
        per_update[column] = (time.perf_counter() - begin) / (updates + 1)
    n_train = ptb.n_batches(train, s.seq_len, drop_last=True)
    n_valid = ptb.n_batches(valid, s.seq_len)
    return {c.key: per_update[c.args[2]] * s.epochs * (n_train + n_valid / 3) / 3600 for c in cells(experiment, s)}


def choices(s: settings.KanaiFig1 | settings.KanaiTable) -> dict:
    """What a results file records besides the settings: each reading's modelling choices in words."""
    if isinstance(s, settings.KanaiTable2):
        return {"music": {"cost": f"Bernoulli NLL summed over the 88 keys and the {s.seq_len} steps, averaged "
                                  f"over the minibatch; reported per frame",
                          "init": "matrices but W_hh N(0, 1e-4/200) (a variance); W_hh orthogonal",
                          "input_scale": 0.01, "data": f"{s.corpus}, the pieces of a split played one after "
                                                       f"the other, 88 keys (the paper: 93)",
                          "eq10": "the projection also keeps sigma_1(W_xh) <= 2 in every layer", "dtype": s.dtype}}
    readings = (s.reading,) if isinstance(s, settings.KanaiTable1) else s.readings
    return {r.name: {"cost": f"cross-entropy {'summed' if r.reduction == 'sum' else 'averaged'} over the "
                             f"{s.seq_len} steps, averaged over the minibatch",
                     "init": f"matrices but W_hh N(0, ({r.init_std:g}/sqrt(n))^2); W_hh {r.W_hh_init}; "
                             f"embedding std {'as the others' if r.emb_std is None else f'{r.emb_std:g}'}",
                     "input_scale": r.input_scale, "dropout_at": list(r.dropout_at), "lr": r.lr,
                     "dtype": s.dtype} for r in readings}


def changed(reading: settings.Reading, base: settings.Reading) -> dict:
    """The fields (but the name) in which ``reading`` differs from ``base``, with ``reading``'s values."""
    a, b = dataclasses.asdict(reading), dataclasses.asdict(base)
    return {k: v for k, v in a.items() if k != "name" and v != b[k]}


def largest_at_unstable(rows: list[dict], k: int = 10) -> dict:
    """Per (reading, method, seed): how many of the ``k`` largest gradient norms of the run were computed at
    weights with ρ(J) > 1 (Kanai §4.3: "the norm of the gradient significantly increased when the spectral
    radius crossed one")."""
    k = _checks.positive_int("k", k)
    out = {}
    for r in rows:
        g = as_array(r["grad_norm"], -np.inf)
        rho = as_array(r["rho_J"])[: len(g)]
        top = np.argsort(g, kind="stable")[::-1][:k]
        out[(r["reading"], r["method"], r["seed"])] = int((rho[top] > 1).sum())
    return out


def gradient_scale(rows: list[dict], threshold: float, factor: float = 3.0, window: int = 20, lag: int = 5) -> dict:
    """Per (reading, method, seed): the gradient norm's mean, median and maximum over the iterations, the
    share of iterations above ``threshold``, the largest ρ(J), and the events of Fig. 1
    (:func:`reprolib.lm_training.fig1_events` with ``factor``, ``window`` and ``lag``): the explosions, the
    upward crossings of ρ(J) = 1, the explosions at ρ(J) > 1, the crossings followed by an explosion, and
    whether ρ(J) fell below 1 after each explosion at ρ(J) > 1."""
    threshold = float(threshold)
    out = {}
    for r in rows:
        g, rho = as_array(r["grad_norm"]), as_array(r["rho_J"])
        ev = lm_training.fig1_events(g, rho, factor, window, lag)
        out[(r["reading"], r["method"], r["seed"])] = {
            "mean": float(np.nanmean(g)), "median": float(np.nanmedian(g)), "max": float(np.nanmax(g)),
            "above_threshold": float(np.nanmean(g > threshold)), "max_rho": float(np.nanmax(rho)),
            **dataclasses.asdict(ev), "stopped_at": r["stopped_at"]}
    return out
