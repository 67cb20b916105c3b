"""Long synthetic experiments, run by a command, with their results committed under ``results/``.

    python -m reprolib.experiments fig7 --profile cpu     (writes results/fig7_cpu.json)
    python -m reprolib.experiments tables --profile cpu   (writes results/tables_cpu.json)
    [--results-dir DIR]   (another folder for the results file and its checkpoints/)

The settings of each profile live in ``params/experiments/<experiment>.yaml`` (``ci``:
seconds, a smoke test; ``cpu``: at most 3 hours on 2 cores; ``paper``: the papers' budget).
The results file holds every run's outcome and its provenance: the command, the profile and
its settings, the git commit, the package versions, the machine, the training time (summed
over resumed invocations) and the wall time of the last invocation, and the seeds.
A long run saves a checkpoint per engine under ``results/checkpoints/`` and resumes from it
when the command is run again (only if the library's code is unchanged); the provenance lists
each engine's sessions, so it says which rows were computed by earlier invocations.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml

from . import _checks, omega, tasks
from . import initializations
from .engine import Engine, Run
from .files import write_atomic
from .profiles import ROOT

EXPERIMENTS = ("fig7", "tables")
PROFILES = ("ci", "cpu", "paper")
RESULTS = ROOT / "results"
#: the three methods of Fig. 7: plain SGD, with norm clipping, with clipping and Ω
METHODS = ("MSGD", "MSGD-C", "MSGD-CR")
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


def settings(experiment: str, profile: str) -> dict:
    """The settings of ``experiment`` at ``profile`` from ``params/experiments/<experiment>.yaml``,
    checked by :func:`check_settings`."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {experiment!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = ROOT / "params" / "experiments" / f"{experiment}.yaml"
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or not isinstance(data.get(profile), dict):
        raise ValueError(f"{path.relative_to(ROOT)} must map the profile {profile!r} to its settings")
    return check_settings(experiment, data[profile], where=f"{path.relative_to(ROOT)}, profile {profile}")


def _int(minimum: int = 1):
    return lambda key, v: _checks.positive_int(key, v, minimum)


def _real(strict: bool = True):
    return lambda key, v: _checks.positive_float(key, v, strict)


def _one_of(options):
    def check(key, v):
        if v not in options:
            raise ValueError(f"{key} must be one of {tuple(options)}, got {v!r}")
    return check


def _lengths(minimum: int = 1):
    def check(key, v):
        if not isinstance(v, list) or not v:
            raise ValueError(f"{key} must be a non-empty list of lengths, got {v!r}")
        for T in v:
            _checks.positive_int(f"{key} entries", T, minimum)
    return check


def _train_length(minimum: int = 1):
    def check(key, v):
        if isinstance(v, list):
            if len(v) != 2 or not all(_checks.is_integer(T) and minimum <= T for T in v) or v[0] > v[1]:
                raise ValueError(f"{key} must be a length >= {minimum} or a [min, max] range of them, got {v!r}")
        else:
            _checks.positive_int(key, v, minimum)
    return check


def _inits(key, v):
    if not isinstance(v, dict) or not v:
        raise ValueError(f"{key} must map initializations to lists of lengths, got {v!r}")
    for name, lengths in v.items():
        _one_of(initializations.INITS)(f"{key} names", name)
        _lengths(tasks.MIN_LENGTH)(f"{key}[{name!r}]", lengths)


def _methods(key, v):
    if not isinstance(v, list) or not v or len(set(v)) != len(v):
        raise ValueError(f"{key} must be a non-empty list of distinct methods of {METHODS}, got {v!r}")
    for m in v:
        _one_of(METHODS)(f"{key} entries", m)


def _device(key, v):
    if not isinstance(v, str):
        raise TypeError(f"{key} must be a device name such as 'auto', 'cpu' or 'cuda:0', got {v!r}")
    _checks.device(v)


_MODEL = {"table": _int(0), "task": _one_of(tasks.TASKS), "init": _one_of(initializations.INITS), "n_hidden": _int(),
          "lr": _real(), "clip": _real(), "alpha": _real(strict=False), "train": _train_length(),
          "criterion": _one_of(tasks.CRITERIA), "test": _lengths()}


def _models(key, v):
    if not isinstance(v, list) or not v:
        raise ValueError(f"{key} must be a non-empty list of models, got {v!r}")
    for k, m in enumerate(v):
        _keys(f"{key}[{k}]", m, _MODEL)
        shortest = tasks.get_task(m["task"]).min_length  # and each task's own shortest length
        _keys(f"{key}[{k}] ({m['task']})", {n: m[n] for n in ("train", "test")},
              {"train": _train_length(shortest), "test": _lengths(shortest)})


_COMMON = {"seeds": _int(), "max_updates": _int(), "check_every": _int(), "n_test": _int(), "batch_size": _int(),
           "omega_form": _one_of(omega.FORMS), "threads": _int(0), "device": _device}
#: every key of an experiment's settings and its check
SCHEMA = {"fig7": {**_COMMON, "inits": _inits, "methods": _methods, "criterion": _one_of(tasks.CRITERIA),
                   "n_hidden": _int(), "lr": _real(), "clip": _real(), "alpha": _real(strict=False)},
          "tables": {**_COMMON, "models": _models}}


def _keys(where: str, s, schema: dict) -> None:
    if not isinstance(s, dict):
        raise ValueError(f"{where} must be a mapping of settings, got {s!r}")
    missing, unknown = sorted(set(schema) - set(s)), sorted(set(s) - set(schema))
    if missing or unknown:
        raise ValueError(f"{where}: " + "; ".join(
            ([f"missing keys {missing}"] if missing else []) + ([f"unknown keys {unknown}"] if unknown else [])))
    for key, check in schema.items():
        try:
            check(key, s[key])
        except (TypeError, ValueError) as err:
            raise type(err)(f"{where}: {err}") from None


def check_settings(experiment: str, s: dict, where: str = "settings") -> dict:
    """``s`` if it holds exactly the keys of :data:`SCHEMA` for ``experiment``, each of the right type
    and range; otherwise a ``ValueError``/``TypeError`` naming ``where`` (the file) and the key."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {experiment!r}")
    _keys(where, s, SCHEMA[experiment])
    return s


def method_run(method: str, seed: int, s: dict) -> Run:
    """The :class:`Run` of one method of Fig. 7 (same seed ⇒ same initialization and data for every method)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    clip = None if method == "MSGD" else s["clip"]
    alpha = s["alpha"] if method == "MSGD-CR" else 0.0
    return Run(seed=seed, lr=s["lr"], clip=clip, alpha=alpha)


def _tag(obj) -> str:
    """A short hash of settings: other settings, other checkpoints."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _train(eng: Engine, s: dict, criterion: str, ckpt: Path | None, progress: bool):
    """Train an engine with the test and checkpoint cadence of the settings ``s``."""
    return eng.train(s["max_updates"], check_every=s["check_every"], n_test=s["n_test"], criterion=criterion,
                     log_every=s["check_every"], checkpoint=ckpt, checkpoint_every=s["check_every"], progress=progress)


def fig7(s: dict, checkpoints: Path | None = None, progress: bool = True) -> list[dict]:
    """Train every (initialization, length, method, seed) of the settings ``s``; one row per run.

    One engine per (initialization, length) trains all methods × seeds at once.
    """
    check_settings("fig7", s)
    rows = []
    tag = _tag(s)
    for init_name, lengths in s["inits"].items():
        for T in lengths:
            _checks.positive_int("length", T)
            runs = [method_run(m, seed, s) for m in s["methods"] for seed in range(s["seeds"])]
            eng = Engine("temporal_order", runs, init=init_name, n_hidden=s["n_hidden"], batch_size=s["batch_size"],
                         length=T, omega_form=s["omega_form"], device=s["device"])
            ckpt = None if checkpoints is None else checkpoints / f"fig7_{init_name}_T{T}_{tag}.pt"
            res = _train(eng, s, s["criterion"], ckpt, progress)
            for i, run in enumerate(runs):
                rows.append({"init": init_name, "T": T, "method": s["methods"][i // s["seeds"]], "seed": run.seed,
                             "solved": res.solved_at[i] is not None, "updates": res.solved_at[i],
                             "error": res.error[i], "engine": f"{init_name}_T{T}",
                             "engine_seconds": round(res.seconds, 1), "sessions": res.sessions})
    return rows


#: the keys of one model of :func:`tables`
MODEL_KEYS = set(_MODEL)


def tables(s: dict, checkpoints: Path | None = None, progress: bool = True) -> list[dict]:
    """Train the models of the supplement's Tables 1-5 and test them at other lengths; one row per run.

    Each entry of ``s["models"]`` trains ``s["seeds"]`` runs of one task (MSGD-C, or MSGD-CR when
    its ``alpha`` > 0) on lengths ``train`` (an int or a ``[min, max]`` range drawn per minibatch)
    until the test ``criterion`` is met, then tests every run's final network on ``n_test`` fresh
    sequences of each length in ``test``.
    """
    check_settings("tables", s)
    rows = []
    for m in s["models"]:
        tag = _tag([m, {key: v for key, v in s.items() if key != "models"}])
        train = tuple(m["train"]) if isinstance(m["train"], list) else m["train"]
        runs = [Run(seed=seed, lr=m["lr"], clip=m["clip"], alpha=m["alpha"]) for seed in range(s["seeds"])]
        make = lambda: Engine(m["task"], runs, init=m["init"], n_hidden=m["n_hidden"],  # noqa: E731
                              batch_size=s["batch_size"], length=train, omega_form=s["omega_form"], device=s["device"])
        eng = make()
        name = f"{m['task']}_T{'-'.join(map(str, m['train'])) if isinstance(train, tuple) else train}"
        ckpt = None if checkpoints is None else checkpoints / f"tables_{name}_{tag}.pt"
        res = _train(eng, s, m["criterion"], ckpt, progress)
        tester = make()  # a fresh engine: test generators start again from each run's test seed
        tester.load_params(res.params)
        test = {T: [w / s["n_test"] for w in tester.evaluate(s["n_test"], length=T).tolist()] for T in m["test"]}
        for i, run in enumerate(runs):
            rows.append({"table": m["table"], "task": m["task"], "init": m["init"], "n_hidden": m["n_hidden"],
                         "train": m["train"], "seed": run.seed, "solved": res.solved_at[i] is not None,
                         "updates": res.solved_at[i], "error": res.error[i],
                         "test": {str(T): errs[i] for T, errs in test.items()}, "engine": name,
                         "engine_seconds": round(res.seconds, 1), "sessions": res.sessions})
    return rows


def choices(experiment: str, s: dict) -> dict:
    """The modelling choices behind each engine of ``experiment`` with settings ``s`` (task and
    initialization variants, loss, Ω's form, norms and reduction, dtype; :meth:`Engine.choices`),
    keyed ``"<task> / <init>"``: what a results file records besides the settings."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {experiment!r}")
    pairs = ([("temporal_order", i) for i in s["inits"]] if experiment == "fig7"
             else [(m["task"], m["init"]) for m in s["models"]])
    out = {}
    for task, init in pairs:
        eng = Engine(task, [Run(seed=0, lr=1.0)], init=init, n_hidden=s.get("n_hidden", 50), batch_size=1, length=10,
                     omega_form=s["omega_form"], device="cpu")
        out[f"{task} / {init}"] = eng.choices()
    return out


def results_path(experiment: str, profile: str, folder: Path = RESULTS) -> Path:
    """Where the command writes ``experiment`` at ``profile``: ``<folder>/<experiment>_<profile>.json``
    (``folder`` is ``results/`` unless ``--results-dir`` says otherwise)."""
    settings(experiment, profile)  # validates both names
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


def git_state() -> dict:
    """The commit of the checkout and whether tracked files differ from it (taken when a run starts)."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {"git_commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def provenance(command: list[str], profile: str, s: dict, seconds: float, git: dict | None = None) -> dict:
    """Where a results file comes from (``git``: :func:`git_state` at the start of the run)."""
    import numpy

    return {"command": " ".join(command), "profile": profile, "settings": s, **(git or git_state()),
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs, "
                       f"CUDA available: {torch.cuda.is_available()}",
            "threads": torch.get_num_threads(), "wall_seconds_last_invocation": round(seconds, 1),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


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
    parser.add_argument("experiment", choices=EXPERIMENTS)
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--results-dir", default=str(RESULTS),
                        help="folder of the results file <experiment>_<profile>.json and of its checkpoints/ "
                             "(default results/)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    s = settings(args.experiment, args.profile)
    folder = results_dir(args.results_dir)  # checked before anything trains
    out = results_path(args.experiment, args.profile, folder)
    torch.set_num_threads(s["threads"] or torch.get_num_threads())
    start, git = time.perf_counter(), git_state()
    run = {"fig7": fig7, "tables": tables}[args.experiment]
    rows = run(s, checkpoints=folder / "checkpoints", progress=not args.no_progress)
    command = ["python", "-m", "reprolib.experiments", *(argv if argv is not None else sys.argv[1:])]
    prov = provenance(command, args.profile, s, time.perf_counter() - start, git)
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
