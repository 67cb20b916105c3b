"""Run profiles and the per-chapter set-up.

A chapter's sizes live in ``params/<profile>/<chapter>.yaml`` (papermill parameter
files); ``ci`` runs on a laptop CPU in minutes, ``paper`` uses the papers' full sizes
and is meant for one GPU. :func:`setup` makes a run deterministic and picks the device.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import yaml

from . import _checks

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("ci", "paper")
#: The maths library's code branch for every chapter the pipeline executes and every regression check: MKL's
#: conditional numerical reproducibility (CNR) on its AVX2 branch, which Intel documents to return the same results
#: on every Intel CPU with AVX2 (AVX-512 machines included). Without it, an eigenvalue or SVD routine differs in the
#: last bits between CPUs, and chaotic trajectories (Chapter 2's driven networks) carry the difference into the
#: printed digits. The chapters' own choices (float64 training, stable printed quantities) handle the rest.
KERNEL_ENV = {"MKL_CBWR": "AVX2"}


def params_path(chapter: str, profile: str) -> Path:
    """The parameter file of ``chapter`` (e.g. ``"01_linear_proof"``) at ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if not isinstance(chapter, str) or not re.fullmatch(r"[0-9][0-9a-z_]*", chapter):
        raise ValueError(f"chapter must be a notebook name such as '01_linear_proof', got {chapter!r}")
    path = ROOT / "params" / profile / f"{chapter}.yaml"
    if not path.is_file():
        raise ValueError(f"chapter {chapter!r} has no parameter file {path.relative_to(ROOT)}")
    return path


def load(chapter: str, profile: str) -> dict:
    """The parameters of ``chapter`` at ``profile``, as a dict."""
    with open(params_path(chapter, profile)) as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{params_path(chapter, profile)} must hold a mapping of parameter names to values")
    return params


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` gives CUDA when present, else the CPU; ``"cpu"``/``"cuda"`` force one."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA device is available")
    return torch.device(device)


def setup(seed: int, threads: int = 1, device: str = "auto") -> torch.device:
    """Seed torch, fix the thread count, ask for deterministic kernels; return the device.

    Args:
        seed: the global seed (chapters still pass explicit generators to reprolib).
        threads: torch intra-op threads; 0 keeps torch's default (all cores).
        device: see :func:`pick_device`.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an int >= 0, got {threads!r}")
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return pick_device(device)


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An explicit, seeded ``torch.Generator`` on ``device``; ``seed`` is an integer in [0, 2**32)
    (torch would wrap a negative seed silently, and its CPU generator keeps only the low 32 bits of a
    seed: 2**32 would draw what 0 draws)."""
    if not _checks.is_integer(seed):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed} (torch's CPU generator keeps only its low 32 bits)")
    return torch.Generator(device=device).manual_seed(int(seed))
