"""Long synthetic experiments, run by a command, with their results committed under ``results/``.

    python -m reprolib.experiments fig7 --profile cpu [--out results/fig7_cpu.json]

The settings of each profile live in ``params/experiments/<experiment>.yaml`` (``ci``:
seconds, a smoke test; ``cpu``: at most 3 hours on 2 cores; ``paper``: the papers' budget).
The results file holds every run's outcome and its provenance: the command, the profile and
its settings, the git commit, the package versions, the machine, the training time (summed
over resumed invocations) and the wall time of the last invocation, and the seeds.
A long run saves a checkpoint per engine under ``results/checkpoints/`` and resumes from it
when the command is run again.
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

from . import _checks
from .engine import Engine, Run
from .profiles import ROOT

EXPERIMENTS = ("fig7",)
PROFILES = ("ci", "cpu", "paper")
RESULTS = ROOT / "results"
#: the three methods of Fig. 7: plain SGD, with norm clipping, with clipping and Ω
METHODS = ("MSGD", "MSGD-C", "MSGD-CR")


def settings(experiment: str, profile: str) -> dict:
    """The settings of ``experiment`` at ``profile`` from ``params/experiments/<experiment>.yaml``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {EXPERIMENTS}, got {experiment!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    with open(ROOT / "params" / "experiments" / f"{experiment}.yaml") as f:
        return yaml.safe_load(f)[profile]


def method_run(method: str, seed: int, s: dict) -> Run:
    """The :class:`Run` of one method of Fig. 7 (same seed ⇒ same initialization and data for every method)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    clip = None if method == "MSGD" else s["clip"]
    alpha = s["alpha"] if method == "MSGD-CR" else 0.0
    return Run(seed=seed, lr=s["lr"], clip=clip, alpha=alpha)


def fig7(s: dict, checkpoints: Path | None = None, progress: bool = True) -> list[dict]:
    """Train every (initialization, length, method, seed) of the settings ``s``; one row per run.

    One engine per (initialization, length) trains all methods × seeds at once.
    """
    rows = []
    tag = hashlib.sha1(json.dumps(s, sort_keys=True).encode()).hexdigest()[:10]  # other settings, other checkpoints
    for init_name, lengths in s["inits"].items():
        for T in lengths:
            _checks.positive_int("length", T)
            runs = [method_run(m, seed, s) for m in s["methods"] for seed in range(s["seeds"])]
            eng = Engine("temporal_order", runs, init=init_name, n_hidden=s["n_hidden"], batch_size=s["batch_size"],
                         length=T, omega_form=s["omega_form"], device=s["device"])
            ckpt = None if checkpoints is None else checkpoints / f"fig7_{init_name}_T{T}_{tag}.pt"
            res = eng.train(s["max_updates"], check_every=s["check_every"], n_test=s["n_test"], criterion=s["criterion"],
                            log_every=s["check_every"], checkpoint=ckpt, checkpoint_every=s["check_every"], progress=progress)
            for i, run in enumerate(runs):
                rows.append({"init": init_name, "T": T, "method": s["methods"][i // s["seeds"]], "seed": run.seed,
                             "solved": res.solved_at[i] is not None, "updates": res.solved_at[i],
                             "error": res.error[i], "engine_seconds": round(res.seconds, 1)})
    return rows


def provenance(command: list[str], profile: str, s: dict, seconds: float) -> dict:
    """Where a results file comes from."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    import numpy

    return {"command": " ".join(command), "profile": profile, "settings": s, "git_commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs, "
                       f"CUDA available: {torch.cuda.is_available()}",
            "threads": torch.get_num_threads(), "wall_seconds_last_invocation": round(seconds, 1),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_json(path: Path, data) -> None:
    """Write atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reprolib.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=EXPERIMENTS)
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--out", default=None, help="results file (default results/<experiment>_<profile>.json)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    s = settings(args.experiment, args.profile)
    torch.set_num_threads(s["threads"] or torch.get_num_threads())
    out = Path(args.out) if args.out else RESULTS / f"{args.experiment}_{args.profile}.json"
    start = time.perf_counter()
    rows = fig7(s, checkpoints=out.parent / "checkpoints" / out.stem, progress=not args.no_progress)
    command = ["python", "-m", "reprolib.experiments", *(argv if argv is not None else sys.argv[1:])]
    prov = provenance(command, args.profile, s, time.perf_counter() - start)
    # training time summed over the engines and over resumed invocations (checkpoints keep it)
    prov["train_seconds_total"] = round(sum({(r["init"], r["T"]): r["engine_seconds"] for r in rows}.values()), 1)
    write_json(out, {"provenance": prov, "runs": rows})
    print(f"wrote {out} ({len(rows)} runs, {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
