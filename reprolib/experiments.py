"""Long experiments, run by a command as sweeps of cells, with their results committed under ``results/``.

    python -m reprolib.experiments fig7 --profile cpu     (writes results/fig7_cpu.json)
    python -m reprolib.experiments tables --profile cpu   (writes results/tables_cpu.json)
    python -m reprolib.experiments music --profile cpu    (the natural tasks, :mod:`reprolib.natural`)
    python -m reprolib.experiments chars --profile cpu
    python -m reprolib.experiments kanai_readings --profile cpu   (Kanai's Fig. 1 under several readings
    python -m reprolib.experiments kanai_fig1 --profile cpu        of its set-up, :mod:`reprolib.gru_experiments`)
    python -m reprolib.experiments kanai_table1 --profile cpu      (Kanai's Table 1: whole trainings on PTB words)
    python -m reprolib.experiments kanai_table2 --profile cpu      (Kanai's Table 2: on Nottingham's piano rolls)
    python -m reprolib.experiments kanai_table3 --profile cpu --workers 1   (Kanai's Table 3: their time)
    [--workers N | --scheduler ADDRESS]   (a local Dask cluster of N workers, default one per core,
                                           or a running cluster; --workers 0: this process)
    [--results-dir DIR]   (another folder for the results file, its cells/ and checkpoints/)

The settings of each profile live in ``params/<profile>/<experiment>.yaml`` (``ci``: seconds, a
smoke test; ``cpu``: at most 3 hours on 2 cores; ``paper``: the papers' budget), typed by
:mod:`reprolib.settings`. An experiment is a grid of cells (:func:`cells`), run on Dask by
:mod:`reprolib.sweeps`; before it starts, the command prints the number of cells and an upper bound
of its cost from update rates measured on the spot (:func:`cost`).
The results file holds every run's outcome (the same bytes however the cells were spread) and its
provenance: the command, the profile and its settings, the git commit, the package versions, the
machine, where the cells ran, each cell's training time (summed over resumed invocations), worker and
sessions, the wall time of the last invocation, the cells that failed (with tracebacks) or are missing.
A finished cell is stored under ``cells/`` and never run again; a cell interrupted half-way resumes
from its engine checkpoint under ``checkpoints/`` (only if the code it runs is unchanged).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from . import _checks, gru_experiments, natural, profiles, provenance, settings, sweeps
from .engine import Engine, Run
from .files import write_atomic
from .profiles import ROOT
from .settings import METHODS

RESULTS = ROOT / "results"
#: the experiments on real data (:mod:`reprolib.natural`)
NATURAL = ("music", "chars")
#: the experiments of Kanai et al. (:mod:`reprolib.gru_experiments`)
KANAI = ("kanai_readings", "kanai_fig1", "kanai_table1", "kanai_table2", "kanai_table3")
#: the supplement's Tables 1-5 (error in % of 10,000 test sequences, by test length T) and the
#: temporal-order claim of supp. §3.1.1 ("in all cases 0 sequences were misclassified"), as printed
PAPER_TABLES = {
    "temporal_order": {T: 0.0 for T in (50, 100, 150, 200, 250, 500, 1000, 2000, 3000, 5000)},
    "addition": dict(zip((50, 100, 150, 200, 250, 300, 350, 400, 600), (.08, .01, .01, 0, 0, .02, .01, .04, .52))),
    "multiplication": dict(zip((50, 100, 150, 200, 250, 300, 350, 400, 600),
                               (.55, .04, .04, .04, .08, .26, .28, .73, 2.11))),
    "temporal_order_3bit": dict(zip((50, 100, 150, 200, 250, 300, 350, 400, 600),
                                    (0, .01, 0, .06, .01, 0, 2.75, 14.13, 24.81))),
    "random_permutation": dict(zip((50, 100, 150, 200, 250, 300, 350, 400, 600),
                                   (.04, .01, .02, .03, .02, 0, .03, .02, .04))),
    "memorization": {50: 0.0, 100: 0.0, 150: 0.0, 200: 0.0},
    "memorization_extended": {50: .844, 100: .724, 150: .75, 200: .77},
}


def method_run(method: str, seed: int, s: settings.Fig7) -> Run:
    """The :class:`Run` of one method of Fig. 7 (same seed ⇒ same initialization and data for every method)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    threshold = None if method == "MSGD" else s.threshold
    alpha = s.alpha if method == "MSGD-CR" else 0.0
    return Run(seed=seed, lr=s.lr, threshold=threshold, alpha=alpha)


def _checked(experiment: str, s) -> settings.Sweep:
    if experiment not in settings.EXPERIMENTS:
        raise ValueError(f"experiment must be one of {tuple(settings.EXPERIMENTS)}, got {experiment!r}")
    cls = settings.EXPERIMENTS[experiment]
    if not isinstance(s, cls):
        raise TypeError(f"s must be {experiment} settings (reprolib.settings.{cls.__name__}, from settings.load), "
                        f"got {type(s).__name__}")
    if experiment in NATURAL:
        wrong = [m.name for m in s.models if m.kind != experiment]
        if wrong:
            raise ValueError(f"the {experiment} settings hold models of the other kind of corpus: {wrong}")
    return s


def _train(eng: Engine, s: settings.Sweep, criterion: str, ckpt: str | None):
    """Train an engine with the three cadences of the settings ``s``."""
    return eng.train(s.max_updates, test_every=s.test_every, n_test=s.n_test, criterion=criterion,
                     log_every=s.log_every, checkpoint=ckpt, checkpoint_every=s.checkpoint_every, progress=False)


def _threads(s: settings.Sweep) -> None:
    """A cell computes with the settings' torch threads (0: torch's default), wherever it runs: its
    numbers then do not depend on the worker."""
    if s.threads:
        torch.set_num_threads(s.threads)


def _fig7_engines(s: settings.Fig7, init_name: str, T: int) -> list[tuple[Engine, int]]:
    """The engines of one Fig. 7 cell and their budgets: one engine per distinct budget
    (:meth:`reprolib.settings.Fig7.budget`), holding its methods × seeds in the order of ``s.methods``."""
    out = []
    for cap in sorted({s.budget(m) for m in s.methods}):
        runs = [method_run(m, seed, s) for m in s.methods if s.budget(m) == cap for seed in range(s.seeds)]
        out.append((Engine("temporal_order", runs, init=init_name, n_hidden=s.n_hidden, batch_size=s.batch_size,
                           length=T, omega_form=s.omega_form, device=s.device), cap))
    return out


def fig7_cell(data: dict, init_name: str, T: int, checkpoint: str | None = None) -> dict:
    """One cell of Fig. 7: every method × seed of the settings ``data`` (:meth:`Sweep.to_dict`) at one
    initialization and length, trained by one engine per budget. Returns ``{"rows", "train_seconds",
    "sessions"}``, the rows in the order of the settings' methods, then seeds, and each engine session
    (:attr:`reprolib.engine.Engine.sessions`) marked with its engine's ``budget``."""
    s = settings.from_dict("fig7", data)
    _threads(s)
    rows, seconds, sessions = {}, 0.0, []
    for k, (eng, cap) in enumerate(_fig7_engines(s, init_name, T)):
        path = None if checkpoint is None else checkpoint if k == 0 else checkpoint.replace(".pt", f"_{cap}.pt")
        res = _train(eng, dataclasses.replace(s, max_updates=cap), s.criterion, path)
        methods = [m for m in s.methods if s.budget(m) == cap]
        for i, run in enumerate(eng.runs):
            method = methods[i // s.seeds]
            rows[(method, run.seed)] = {"init": init_name, "T": T, "method": method, "seed": run.seed,
                                        "solved": res.solved_at[i] is not None, "updates": res.solved_at[i],
                                        "error": res.error[i]}
        seconds += res.seconds
        sessions += [{**x, "budget": cap} for x in res.sessions]  # which engine: one per budget
    return {"rows": [rows[(m, seed)] for m in s.methods for seed in range(s.seeds)], "train_seconds": round(seconds, 1),
            "sessions": sessions}


def _tables_engine(s: settings.Tables, m: settings.Model) -> Engine:
    runs = [Run(seed=seed, lr=m.lr, threshold=m.threshold, alpha=m.alpha) for seed in range(s.seeds)]
    return Engine(m.task, runs, init=m.init, n_hidden=m.n_hidden, batch_size=s.batch_size, length=m.train,
                  omega_form=s.omega_form, device=s.device)


def tables_cell(data: dict, index: int, checkpoint: str | None = None) -> dict:
    """One cell of the supplement's Tables 1-5: model ``index`` of the settings ``data`` trains
    ``seeds`` runs of its task (MSGD-C, or MSGD-CR when its ``alpha`` > 0) on lengths ``train`` until
    the test ``criterion`` is met; then every run's final network is tested on ``n_test`` fresh
    sequences of each length in ``test``. Returns ``{"rows", "train_seconds", "sessions"}``."""
    s = settings.from_dict("tables", data)
    _threads(s)
    m = s.models[index]
    eng = _tables_engine(s, m)
    res = _train(eng, s, m.criterion, checkpoint)
    tester = _tables_engine(s, m)  # a fresh engine: test generators start again from each run's test seed
    tester.load_params(res.params)
    test = {T: [w / s.n_test for w in tester.evaluate(s.n_test, length=T).tolist()] for T in m.test}
    train = list(m.train) if isinstance(m.train, tuple) else m.train
    rows = [{"table": m.table, "task": m.task, "init": m.init, "n_hidden": m.n_hidden, "train": train,
             "seed": run.seed, "solved": res.solved_at[i] is not None, "updates": res.solved_at[i],
             "error": res.error[i], "test": {str(T): errs[i] for T, errs in test.items()}}
            for i, run in enumerate(eng.runs)]
    return {"rows": rows, "train_seconds": round(res.seconds, 1), "sessions": res.sessions}


def cells(experiment: str, s: settings.Sweep, checkpoints: Path | None = None) -> list[sweeps.Cell]:
    """The cells of ``experiment`` with settings ``s``, in the order of the grid: one per
    (initialization, length) of Fig. 7 (key ``smart_tanh_T20``), one per model of the tables (key
    ``addition_T50-200``, or ``<task>_T<train>_<k>`` when two models share task and lengths). A cell's
    tag hashes what it depends on: the shared settings, its own grid point and the code that runs it
    (:func:`reprolib.provenance.code_hash` of this module), so that adding lengths or models to the grid
    keeps the finished cells and an edit elsewhere in the library does not discard them. Engine checkpoints go to ``checkpoints``."""
    _checked(experiment, s)
    if experiment in NATURAL:
        return natural.cells(experiment, s, checkpoints)
    if experiment in KANAI:
        return gru_experiments.cells(experiment, s)
    data = s.to_dict()
    shared = {k: v for k, v in data.items() if k not in ("inits", "models")}
    shared["code"] = provenance.code_hash("experiments")
    ckpt = lambda key, tag: None if checkpoints is None else str(Path(checkpoints) / f"{experiment}_{key}_{tag}.pt")  # noqa: E731
    out = []
    if experiment == "fig7":
        for init_name, lengths in s.inits.items():
            for T in lengths:
                key, tag = f"{init_name}_T{T}", sweeps.tag([shared, init_name, T])
                out.append(sweeps.Cell(key, fig7_cell, (data, init_name, T, ckpt(key, tag)), tag))
        return out
    names = [m.name for m in s.models]
    for k, m in enumerate(s.models):
        key = m.name if names.count(m.name) == 1 else f"{m.name}_{k}"
        tag = sweeps.tag([shared, dataclasses.asdict(m)])
        out.append(sweeps.Cell(key, tables_cell, (data, k, ckpt(key, tag)), tag))
    return out


def run(experiment: str, s: settings.Sweep, *, results_dir: Path | None = None, workers: int | None = 0,
        scheduler: str | None = None, progress: bool = True,
        priority: dict | None = None) -> tuple[list[dict], sweeps.Outcome, list[sweeps.Cell]]:
    """Run the cells of ``experiment`` (:func:`cells`) as a sweep (:func:`reprolib.sweeps.run`): serially
    here with ``workers=0`` (the default), on a local Dask cluster of ``workers`` processes (``None``: one
    per core), or on the cluster at ``scheduler``. With ``results_dir``, finished cells are stored in
    ``<results_dir>/cells/<experiment>_<profile>/`` and engine checkpoints in ``<results_dir>/checkpoints/``,
    so a second call resumes. ``priority``: see :func:`reprolib.sweeps.run`. Returns the rows of every
    finished cell in the grid's order, the :class:`reprolib.sweeps.Outcome` and the cells."""
    folder = None if results_dir is None else Path(results_dir)
    grid = cells(experiment, s, None if folder is None else folder / "checkpoints")
    store = None if folder is None else folder / "cells" / f"{experiment}_{s.profile}"
    outcome = sweeps.run(grid, store=store, workers=workers, scheduler=scheduler, progress=progress,
                         desc=f"{experiment} ({s.profile})", priority=priority)
    rows = [row for c in grid if c.key in outcome.results for row in outcome.results[c.key]["rows"]]
    return rows, outcome, grid


def _serial(experiment: str, s, progress: bool) -> list[dict]:
    rows, outcome, _ = run(experiment, s, progress=progress)
    if outcome.failed:
        key, tb = next(iter(outcome.failed.items()))
        raise RuntimeError(f"{len(outcome.failed)} cell(s) of {experiment} failed; the first, {key}:\n{tb}")
    return rows


def fig7(s: settings.Fig7, progress: bool = True) -> list[dict]:
    """Every (initialization, length, method, seed) of the Fig. 7 settings ``s``, run here, one cell
    after another (:func:`run` for a cluster and for resuming); one row per run."""
    return _serial("fig7", s, progress)


def tables(s: settings.Tables, progress: bool = True) -> list[dict]:
    """Every model × seed of the Tables 1-5 settings ``s``, run here (see :func:`fig7`); one row per run."""
    return _serial("tables", s, progress)


def music(s: settings.Natural, progress: bool = True) -> list[dict]:
    """Every model × method × seed of the music settings ``s``, run here (see :func:`fig7`); one row per run."""
    return _serial("music", s, progress)


def chars(s: settings.Natural, progress: bool = True) -> list[dict]:
    """Every model × method × seed of the character settings ``s``, run here (see :func:`fig7`)."""
    return _serial("chars", s, progress)


def kanai(experiment: str, s: settings.KanaiFig1 | settings.KanaiTable1, progress: bool = True) -> list[dict]:
    """Every reading × method × seed of ``kanai_readings`` or ``kanai_fig1`` with settings ``s``, run here
    (see :func:`fig7`); one row per run, its trace per iteration (:func:`reprolib.gru_experiments.fig1_cell`);
    or every (method, δ or threshold) × seed of ``kanai_table1``, ``kanai_table2`` or ``kanai_table3``, one row per
    whole training (:func:`reprolib.gru_experiments.table_cell`)."""
    if experiment not in KANAI:
        raise ValueError(f"experiment must be one of {KANAI}, got {experiment!r}")
    return _serial(experiment, s, progress)


def cost(experiment: str, s: settings.Sweep, updates: int = 10) -> dict:
    """The cost model of a sweep, measured here: each cell's engine takes two updates to warm up, then
    ``updates`` timed ones, with the settings' threads and device; the cell's cost is the median time
    of an update × ``max_updates``, an upper bound (runs that pass the test stop earlier). A natural
    task's cell is charged its median update × the updates of its epochs, plus its evaluation passes
    (:func:`reprolib.natural.cost`). Returns
    ``{"cells", "runs", "worker_hours", "per_cell": {key: hours}, "device"}``: worker-hours, one worker
    being one process with ``s.threads`` threads (CPU-hours when that is 1)."""
    _checks.positive_int("updates", updates)
    before = torch.get_num_threads()
    _threads(s)
    try:
        if experiment in NATURAL:
            per_cell = natural.cost(_checked(experiment, s), updates)
            runs = sum(len(m.methods) * s.seeds for m in s.models if m.name in per_cell)
            return {"cells": len(per_cell), "runs": runs, "worker_hours": sum(per_cell.values()),
                    "per_cell": per_cell, "device": "cpu"}
        if experiment in KANAI:
            per_cell = gru_experiments.cost(experiment, _checked(experiment, s))
            return {"cells": len(per_cell), "runs": len(per_cell), "worker_hours": sum(per_cell.values()),
                    "per_cell": per_cell, "device": str(profiles.pick_device(s.device))}
        per_cell, runs = {}, 0
        for c in cells(experiment, s):
            engines = (_fig7_engines(s, *c.args[1:3]) if experiment == "fig7" else
                       [(_tables_engine(s, s.models[c.args[1]]), s.max_updates)])
            per_cell[c.key] = 0.0
            for eng, cap in engines:
                runs += len(eng.runs)
                times = []
                for _ in range(2 + updates):
                    start = time.perf_counter()
                    eng.step(omega_value=False)
                    if eng.device.type == "cuda":
                        torch.cuda.synchronize(eng.device)
                    times.append(time.perf_counter() - start)
                per_cell[c.key] += statistics.median(times[2:]) * cap / 3600
    finally:
        torch.set_num_threads(before)
    return {"cells": len(per_cell), "runs": runs, "worker_hours": sum(per_cell.values()), "per_cell": per_cell,
            "device": str(eng.device)}


def choices(experiment: str, s: settings.Sweep) -> dict:
    """The modelling choices behind each engine of ``experiment`` with settings ``s`` (task and
    initialization variants, loss, Ω's form, norms and reduction, dtype; :meth:`Engine.choices`),
    keyed ``"<task> / <init>"``: what a results file records besides the settings."""
    _checked(experiment, s)
    if experiment in KANAI:
        return gru_experiments.choices(s)
    if experiment in NATURAL:
        return {m.name: {"loss": "Bernoulli NLL summed over the 88 keys, mean over frames (nats per frame)"
                         if m.kind == "music" else "cross-entropy in bits per character",
                         "segment_cost": m.reduction, "omega_form": "h, on the total derivatives dE/dh_k",
                         "dtype": s.dtype} for m in s.models}
    pairs = ([("temporal_order", i) for i in s.inits] if experiment == "fig7"
             else [(m.task, m.init) for m in s.models])
    out = {}
    for task, init in pairs:
        eng = Engine(task, [Run(seed=0, lr=1.0)], init=init, n_hidden=50, batch_size=1, length=10,
                     omega_form=s.omega_form, device="cpu")
        out[f"{task} / {init}"] = eng.choices()
    return out


def results_path(experiment: str, profile: str, folder: Path = RESULTS) -> Path:
    """Where the command writes ``experiment`` at ``profile``: ``<folder>/<experiment>_<profile>.json``
    (``folder`` is ``results/`` unless ``--results-dir`` says otherwise)."""
    settings.load(experiment, profile)  # validates both names
    return Path(folder) / f"{experiment}_{profile}.json"


def load_results(experiment: str, profile: str) -> dict | None:
    """The committed results of ``experiment`` at ``profile`` (``{"provenance", "runs"}``), or
    ``None`` when the command has not been run (no file)."""
    path = results_path(experiment, profile)
    return json.loads(path.read_text()) if path.is_file() else None


def success_rates(rows: list[dict], within: int | None = None) -> dict:
    """Fig. 7's points from the rows of :func:`fig7`: ``{(init, T, method): {"solved", "runs",
    "rate", "median_updates"}}`` (the median over the solved runs, ``None`` if none solved). With
    ``within``, a run counts as solved only if it was solved within that many updates (to compare
    methods that had different budgets at the same budget)."""
    if within is not None:
        _checks.positive_int("within", within)
    groups = {}
    for r in rows:
        groups.setdefault((r["init"], r["T"], r["method"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        done = sorted(r["updates"] for r in rs if r["solved"] and (within is None or r["updates"] <= within))
        median = None if not done else (done[(len(done) - 1) // 2] + done[len(done) // 2]) / 2
        out[key] = {"solved": len(done), "runs": len(rs), "rate": len(done) / len(rs), "median_updates": median}
    return out


def table_rows(rows: list[dict]) -> list[dict]:
    """Our version of each of the supplement's tables from the rows of :func:`tables`, one entry
    per trained model group ``(task, train)``:

    * Tables 0-4 show "the same trained model": the solved run with the lowest seed, or, if no
      run was solved, the run with the lowest mean test error (``solved`` False);
    * Table 5 is the average over the seeds (supp. Table 5), ``solved`` counting the runs.

    Each entry: ``{"table", "task", "train", "seed", "solved", "runs", "test": {T: error %}}``.
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["table"], r["task"], json.dumps(r["train"])), []).append(r)
    out = []
    for (table, task, _), rs in groups.items():
        lengths = sorted(rs[0]["test"], key=int)
        if table == 5:
            test = {int(T): 100 * sum(r["test"][T] for r in rs) / len(rs) for T in lengths}
            out.append({"table": table, "task": task, "train": rs[0]["train"], "seed": None,
                        "solved": sum(r["solved"] for r in rs), "runs": len(rs), "test": test})
            continue
        solved = [r for r in rs if r["solved"]]
        best = min(solved, key=lambda r: r["seed"]) if solved else \
            min(rs, key=lambda r: (sum(r["test"].values()) / len(r["test"]), r["seed"]))
        out.append({"table": table, "task": task, "train": best["train"], "seed": best["seed"],
                    "solved": best["solved"], "runs": len(rs), "test": {int(T): 100 * best["test"][T] for T in lengths}})
    return out


def reach(test: dict, limit: float = 1.0) -> int | None:
    """The longest test length T such that the error (in %) is below ``limit`` at T and at every shorter
    tested length: how far a model generalizes beyond its training lengths (supp. Tables 1-4). ``None``
    when the shortest tested length already fails."""
    if not isinstance(test, dict) or not test:
        raise ValueError(f"test must map test lengths to errors in %, got {test!r}")
    out = None
    for T in sorted(test, key=int):
        if not test[T] < limit:
            break
        out = int(T)
    return out


def longest_train(train) -> int:
    """The longest training length of a model: ``train`` itself, or the upper end of a ``[min, max]`` range."""
    return int(train[1]) if isinstance(train, (list, tuple)) else int(train)


#: the longest training length of the supplement's models for Tables 1-4 and the temporal-order claim
PAPER_TRAIN_MAX = 200


def table_claims(entries: list[dict]) -> list[dict]:
    """The supplement's claims about its Tables 1-5, measured on our entries (:func:`table_rows`).

    * Tables 1-4 and temporal order: the paper's model, trained on lengths up to 200, stays under 1 %
      error up to a length T_paper (:func:`reach` of its row: 600 for addition, 400 for multiplication,
      300 for 3-bit temporal order, ...), i.e. up to T_paper / 200 times its longest training length.
      Ours holds the claim when its model was solved and stays under 1 % up to the same multiple of
      its own longest training length (capped at the longest length we tested).
    * Table 5: the mean error over the seeds at the training length is under 1 % (the paper: 0 % for
      memorization, 0.72-0.84 % for the extended task).

    Returns one dict per entry: ``id``, ``claim``, ``held``, ``paper`` and ``ours`` (for the Claims page)."""
    out = []
    for e in entries:
        task, paper = e["task"], PAPER_TABLES[e["task"]]
        top = longest_train(e["train"])
        if e["table"] == 5:
            err = e["test"][top] if top in e["test"] else e["test"][str(top)]
            out.append({"id": f"{task.replace('_', '-')}-T{top}", "held": err < 1.0,
                        "claim": f"{task}, trained and tested at T = {top}: mean error over the seeds under 1 %",
                        "paper": ", ".join(f"T={T}: {v:g}%" for T, v in paper.items()),
                        "ours": f"{err:.2f}% ({e['solved']}/{e['runs']} runs solved)"})
            continue
        multiple = reach(paper) / PAPER_TRAIN_MAX
        tested = max(int(T) for T in e["test"])
        target = min(int(multiple * top), tested)
        ours = reach(e["test"])
        out.append({"id": task.replace("_", "-"), "held": bool(e["solved"]) and ours is not None and ours >= target,
                    "claim": f"{task}: the model solves its training lengths and stays under 1 % error up to "
                             f"T = {target} ({target / top:g} x its longest training length {top})",
                    "paper": f"under 1 % up to T = {reach(paper)} = {multiple:g} x 200",
                    "ours": f"{'solved' if e['solved'] else 'not solved'}; under 1 % up to "
                            f"{'no tested length' if ours is None else f'T = {ours}'}"})
    return out


def describe_run(command: list[str], s: settings.Sweep, seconds: float, git: dict, outcome: sweeps.Outcome,
                 grid: list[sweeps.Cell], workers: str) -> dict:
    """The provenance of a results file: the command, the profile and its settings, the checkout
    (``git``: :func:`reprolib.provenance.git_state` when the run started), the software and machine,
    where the cells ran (``workers``), the wall time of this invocation and when it finished; per cell,
    its training time (summed over resumed invocations), worker and engine sessions, and whether this
    invocation computed it; the cells that failed, with their tracebacks, and the cells missing."""
    cells_info = {c.key: {**outcome.info[c.key], "train_seconds": outcome.results[c.key]["train_seconds"]}
                  for c in grid if c.key in outcome.results}
    return {"command": " ".join(command), "profile": s.profile, "settings": s.to_dict(), **git,
            **provenance.environment(), "threads": s.threads or torch.get_num_threads(), "workers": workers,
            "wall_seconds_last_invocation": round(seconds, 1), "finished": provenance.now(),
            "train_seconds_total": round(sum(c["train_seconds"] for c in cells_info.values()), 1),
            "cells": cells_info,
            "sessions": {key: outcome.results[key]["sessions"] for key in cells_info},
            "failed": outcome.failed, "missing": [c.key for c in grid if c.key not in outcome.results]}


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON, atomically (:func:`reprolib.files.write_atomic`)."""
    write_atomic(path, json.dumps(data, indent=1))


def results_dir(path) -> Path:
    """The folder ``--results-dir`` names, created if needed; ``ValueError`` before anything trains
    when it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--results-dir must be a folder, but {path} is a file")
    try:
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--results-dir {path} cannot be created ({err.strerror})") from None
    if not os.access(path, os.W_OK) or not os.access(path / "checkpoints", os.W_OK):
        raise ValueError(f"--results-dir {path} is not writable")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reprolib.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=tuple(settings.EXPERIMENTS))
    parser.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="single-threaded worker processes of the local Dask cluster (default: one per core); "
                            "0 runs the cells in this process, one after another")
    where.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--results-dir", default=str(RESULTS),
                        help="folder of the results file <experiment>_<profile>.json, of its finished cells "
                             "(cells/) and of its checkpoints (checkpoints/); default results/")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    s = settings.load(args.experiment, args.profile)
    folder = results_dir(args.results_dir)  # checked before anything trains
    out = results_path(args.experiment, args.profile, folder)
    est = cost(args.experiment, s)
    workers = (args.scheduler or ("this process" if args.workers == 0 else
                                  f"local cluster of {args.workers or os.cpu_count()} single-threaded workers"))
    bound = (("about", "every run trains its epochs") if args.experiment in NATURAL + gru_experiments.TABLES else
             ("about", "every run trains its iterations") if args.experiment in KANAI else
             ("at most", "runs that pass the test stop earlier"))
    print(f"{args.experiment} at {args.profile}: {est['cells']} cells, {est['runs']} runs; {bound[0]} "
          f"{est['worker_hours']:.2f} worker-hours on {est['device']} at this machine's measured update rates "
          f"({bound[1]}); cells run on: {workers}", flush=True)
    start, git = time.perf_counter(), provenance.git_state()
    rows, outcome, grid = run(args.experiment, s, results_dir=folder, workers=args.workers, scheduler=args.scheduler,
                              progress=not args.no_progress, priority=est["per_cell"])  # the costliest cells first
    command = ["python", "-m", "reprolib.experiments", *(argv if argv is not None else sys.argv[1:])]
    prov = describe_run(command, s, time.perf_counter() - start, git, outcome, grid, workers)
    prov["choices"] = choices(args.experiment, s)
    if args.experiment in NATURAL:
        prov["skipped"] = natural.skipped(s)  # models whose corpus is not on this machine
    write_json(out, {"provenance": prov, "runs": rows})
    print(f"wrote {out} ({len(rows)} runs of {len(grid) - len(prov['missing'])}/{len(grid)} cells, "
          f"{time.perf_counter() - start:.0f} s)")
    for key, tb in outcome.failed.items():
        print(f"cell {key} failed twice; its traceback is in the results file:\n{tb}", file=sys.stderr)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
