"""Where a result comes from: the checkout, the software and the machine. The build report
(:mod:`reprolib.pipeline`) and the results files (:mod:`reprolib.experiments`) both record these;
every file is written through :func:`reprolib.files.write_atomic`."""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy
import torch

from .profiles import ROOT

#: the library's folder: the sources :func:`code_hash` reads
PACKAGE = Path(__file__).resolve().parent


def git_state() -> dict:
    """The commit of the checkout (``"unknown"`` outside git) and whether tracked files differ from it."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {"git_commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def environment() -> dict:
    """The versions of Python, torch and numpy, and the machine (architecture, system, CPUs, CUDA; the CPU's
    model and torch's kernel set, which decide the last bits of floating-point results)."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs, "
                       f"CUDA available: {torch.cuda.is_available()}",
            "cpu": f"{cpu_model()}; torch kernels {torch.backends.cpu.get_cpu_capability()}"}


def cpu_model() -> str:
    """The CPU's vendor and model as Linux names them (``/proc/cpuinfo``), else what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    fields = dict.fromkeys(("vendor_id", "model name"), "")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in fields and not fields[key.strip()]:
                fields[key.strip()] = value.strip()
    return ", ".join(v for v in fields.values() if v) or platform.processor() or "unknown CPU"


def now() -> str:
    """The time in UTC, to the minute."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def modules_used(module: str) -> list[str]:
    """``module`` (a module of the library, e.g. ``"engine"``) and every library module it imports,
    directly or through others, read from the sources (relative imports), sorted."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = PACKAGE / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                todo.extend([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    if module not in seen:
        raise ValueError(f"module must name a module of the library, got {module!r}")
    return sorted(seen)


def code_hash(module: str) -> str:
    """A hash of the sources of ``module`` and of every library module it uses (:func:`modules_used`):
    what a checkpoint or a stored result depends on. An edit elsewhere in the library leaves it unchanged."""
    h = hashlib.sha256()
    for name in modules_used(module):
        h.update(name.encode() + b"\0" + (PACKAGE / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]
