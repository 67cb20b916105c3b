"""Long synthetic experiments, run by a command, with their results committed under ``results/``.

    python -m reprolib.experiments fig7 --profile cpu     (writes results/fig7_cpu.json)
    python -m reprolib.experiments tables --profile cpu   (writes results/tables_cpu.json)
    [--results-dir DIR]   (another folder for the results file and its checkpoints/)

The settings of each profile live in ``params/<profile>/<experiment>.yaml`` (``ci``: seconds, a
smoke test; ``cpu``: at most 3 hours on 2 cores; ``paper``: the papers' budget), typed by
:mod:`reprolib.settings`.
The results file holds every run's outcome and its provenance: the command, the profile and
its settings, the git commit, the package versions, the machine, the training time (summed
over resumed invocations) and the wall time of the last invocation, and the seeds.
A long run saves a checkpoint per engine under ``results/checkpoints/`` and resumes from it
when the command is run again (only if the library's code is unchanged); the provenance lists
each engine's sessions, so it says which rows were computed by earlier invocations.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import profiles, provenance, settings
from .engine import Engine, Run
from .files import write_atomic
from .profiles import ROOT
from .settings import METHODS

RESULTS = ROOT / "results"
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


def _tag(obj) -> str:
    """A short hash of settings: other settings, other checkpoints."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _checked(experiment: str, s) -> settings.Sweep:
    if experiment not in settings.EXPERIMENTS:
        raise ValueError(f"experiment must be one of {tuple(settings.EXPERIMENTS)}, got {experiment!r}")
    cls = settings.EXPERIMENTS[experiment]
    if not isinstance(s, cls):
        raise TypeError(f"s must be {experiment} settings (reprolib.settings.{cls.__name__}, from settings.load), "
                        f"got {type(s).__name__}")
    return s


def _train(eng: Engine, s: settings.Sweep, criterion: str, ckpt: Path | None, progress: bool):
    """Train an engine with the three cadences of the settings ``s``."""
    return eng.train(s.max_updates, test_every=s.test_every, n_test=s.n_test, criterion=criterion,
                     log_every=s.log_every, checkpoint=ckpt, checkpoint_every=s.checkpoint_every, progress=progress)


def fig7(s: settings.Fig7, checkpoints: Path | None = None, progress: bool = True) -> list[dict]:
    """Train every (initialization, length, method, seed) of the settings ``s``; one row per run.

    One engine per (initialization, length) trains all methods × seeds at once.
    """
    _checked("fig7", s)
    rows = []
    tag = _tag(s.to_dict())
    for init_name, lengths in s.inits.items():
        for T in lengths:
            runs = [method_run(m, seed, s) for m in s.methods for seed in range(s.seeds)]
            eng = Engine("temporal_order", runs, init=init_name, n_hidden=s.n_hidden, batch_size=s.batch_size,
                         length=T, omega_form=s.omega_form, device=s.device)
            ckpt = None if checkpoints is None else checkpoints / f"fig7_{init_name}_T{T}_{tag}.pt"
            res = _train(eng, s, s.criterion, ckpt, progress)
            for i, run in enumerate(runs):
                rows.append({"init": init_name, "T": T, "method": s.methods[i // s.seeds], "seed": run.seed,
                             "solved": res.solved_at[i] is not None, "updates": res.solved_at[i],
                             "error": res.error[i], "engine": f"{init_name}_T{T}",
                             "engine_seconds": round(res.seconds, 1), "sessions": res.sessions})
    return rows


def tables(s: settings.Tables, checkpoints: Path | None = None, progress: bool = True) -> list[dict]:
    """Train the models of the supplement's Tables 1-5 and test them at other lengths; one row per run.

    Each model of ``s.models`` (:class:`reprolib.settings.Model`) trains ``s.seeds`` runs of one task
    (MSGD-C, or MSGD-CR when its ``alpha`` > 0) on lengths ``train`` (an int or a ``(min, max)`` range
    drawn per minibatch) until the test ``criterion`` is met, then tests every run's final network on
    ``n_test`` fresh sequences of each length in ``test``.
    """
    _checked("tables", s)
    rows = []
    common = {key: v for key, v in s.to_dict().items() if key != "models"}
    for m in s.models:
        tag = _tag([dataclasses.asdict(m), common])
        runs = [Run(seed=seed, lr=m.lr, threshold=m.threshold, alpha=m.alpha) for seed in range(s.seeds)]
        make = lambda: Engine(m.task, runs, init=m.init, n_hidden=m.n_hidden,  # noqa: E731
                              batch_size=s.batch_size, length=m.train, omega_form=s.omega_form, device=s.device)
        eng = make()
        ckpt = None if checkpoints is None else checkpoints / f"tables_{m.name}_{tag}.pt"
        res = _train(eng, s, m.criterion, ckpt, progress)
        tester = make()  # a fresh engine: test generators start again from each run's test seed
        tester.load_params(res.params)
        test = {T: [w / s.n_test for w in tester.evaluate(s.n_test, length=T).tolist()] for T in m.test}
        train = list(m.train) if isinstance(m.train, tuple) else m.train
        for i, run in enumerate(runs):
            rows.append({"table": m.table, "task": m.task, "init": m.init, "n_hidden": m.n_hidden,
                         "train": train, "seed": run.seed, "solved": res.solved_at[i] is not None,
                         "updates": res.solved_at[i], "error": res.error[i],
                         "test": {str(T): errs[i] for T, errs in test.items()}, "engine": m.name,
                         "engine_seconds": round(res.seconds, 1), "sessions": res.sessions})
    return rows


def choices(experiment: str, s: settings.Sweep) -> dict:
    """The modelling choices behind each engine of ``experiment`` with settings ``s`` (task and
    initialization variants, loss, Ω's form, norms and reduction, dtype; :meth:`Engine.choices`),
    keyed ``"<task> / <init>"``: what a results file records besides the settings."""
    _checked(experiment, s)
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


def success_rates(rows: list[dict]) -> dict:
    """Fig. 7's points from the rows of :func:`fig7`: ``{(init, T, method): {"solved", "runs",
    "rate", "median_updates"}}`` (the median over the solved runs, ``None`` if none solved)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["init"], r["T"], r["method"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        done = sorted(r["updates"] for r in rs if r["solved"])
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


def describe_run(command: list[str], s: settings.Sweep, seconds: float, git: dict) -> dict:
    """The provenance of a results file: the command, the profile and its settings, the checkout
    (``git``: :func:`reprolib.provenance.git_state` when the run started), the software and machine,
    torch's threads, the wall time of this invocation and when it finished."""
    return {"command": " ".join(command), "profile": s.profile, "settings": s.to_dict(), **git,
            **provenance.environment(), "threads": torch.get_num_threads(),
            "wall_seconds_last_invocation": round(seconds, 1), "finished": provenance.now()}


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


def sessions(rows: list[dict]) -> dict:
    """Each engine's sessions (the calls of ``Engine.train`` behind its rows, :attr:`Engine.sessions`),
    keyed by the rows' ``engine``: the provenance of rows computed by earlier invocations."""
    return {r["engine"]: r["sessions"] for r in rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reprolib.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=tuple(settings.EXPERIMENTS))
    parser.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    parser.add_argument("--results-dir", default=str(RESULTS),
                        help="folder of the results file <experiment>_<profile>.json and of its checkpoints/ "
                             "(default results/)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    s = settings.load(args.experiment, args.profile)
    folder = results_dir(args.results_dir)  # checked before anything trains
    out = results_path(args.experiment, args.profile, folder)
    torch.set_num_threads(s.threads or torch.get_num_threads())
    start, git = time.perf_counter(), provenance.git_state()
    run = {"fig7": fig7, "tables": tables}[args.experiment]
    rows = run(s, checkpoints=folder / "checkpoints", progress=not args.no_progress)
    command = ["python", "-m", "reprolib.experiments", *(argv if argv is not None else sys.argv[1:])]
    prov = describe_run(command, s, time.perf_counter() - start, git)
    # training time summed over the engines and over resumed invocations (checkpoints keep it)
    engines = {r["engine"]: r["engine_seconds"] for r in rows}
    prov["train_seconds_total"] = round(sum(engines.values()), 1)
    prov["sessions"] = sessions(rows)
    prov["choices"] = choices(args.experiment, s)
    write_json(out, {"provenance": prov, "runs": [{k: v for k, v in r.items() if k != "sessions"} for r in rows]})
    print(f"wrote {out} ({len(rows)} runs, {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
