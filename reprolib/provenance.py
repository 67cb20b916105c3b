"""Where a result comes from: the checkout, the software and the machine. The build report
(:mod:`reprolib.pipeline`) and the results files (:mod:`reprolib.experiments`) both record these;
every file is written through :func:`reprolib.files.write_atomic`."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone

import numpy
import torch

from .profiles import ROOT


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
    """The versions of Python, torch and numpy, and the machine (architecture, system, CPUs, CUDA)."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs, "
                       f"CUDA available: {torch.cuda.is_available()}"}


def now() -> str:
    """The time in UTC, to the minute."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
