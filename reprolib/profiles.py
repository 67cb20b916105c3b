"""Run profiles and the per-chapter set-up.

A chapter's sizes live in ``params/<profile>/<chapter>.yaml`` (papermill parameter
files); ``ci`` runs on a laptop CPU in minutes, ``paper`` uses the papers' full sizes
and is meant for one GPU. :func:`setup` makes a run deterministic and picks the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import threadpoolctl
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
    """The parameters of ``chapter`` at ``profile``, as a dict: ``profile`` (named by the file's folder,
    not written in the file) followed by the file's parameters."""
    path = params_path(chapter, profile)
    with open(path) as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path.relative_to(ROOT)} must hold a mapping of parameter names to values")
    if "profile" in params:
        raise ValueError(f"{path.relative_to(ROOT)} sets 'profile', which its folder already names; remove it")
    return {"profile": profile, **params}


#: the library's one device resolver (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...; :func:`reprolib._checks.device`)
pick_device = _checks.device


def setup(seed: int, threads: int = 1, device: str = "auto") -> torch.device:
    """Seed torch, fix the thread count (torch's and the BLAS libraries' under numpy and scipy), ask for
    deterministic kernels; return the device.

    Args:
        seed: the global seed (chapters still pass explicit generators to reprolib).
        threads: torch intra-op and BLAS threads; 0 keeps the defaults (all cores).
        device: see :func:`pick_device`.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an int >= 0, got {threads!r}")
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
        threadpoolctl.threadpool_limits(limits=threads, user_api="blas")  # set now, kept (not a context)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return pick_device(device)


@dataclass(frozen=True)
class Preamble:
    """What every chapter's first code cell sets up (:func:`start`): its profile, device, generator and
    working dtype."""

    profile: str
    device: torch.device
    gen: torch.Generator
    dtype: torch.dtype

    def randn(self, *shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Standard normal entries from the chapter's generator, in ``dtype`` (default the chapter's),
        on the chapter's device."""
        return torch.randn(*shape, generator=self.gen, dtype=dtype or self.dtype).to(self.device)


def start(profile: str, seed: int, threads: int = 1, device: str = "auto", dtype: torch.dtype = torch.float64,
          note: str = "") -> Preamble:
    """The one preamble of every chapter: :func:`setup` (seed, torch and BLAS threads, deterministic
    kernels, device) and the chapter's generator seeded with ``seed``; prints the profile and the device
    (and ``note``)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    dev = setup(seed, threads, device)
    _checks.dtype_device(dtype, dev)
    print(f"profile {profile}, device {dev.type}" + (f"; {note}" if note else ""))
    return Preamble(profile, dev, generator(seed), dtype)


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An explicit, seeded ``torch.Generator`` on ``device``; ``seed`` is an integer in [0, 2**32)
    (torch would wrap a negative seed silently, and its CPU generator keeps only the low 32 bits of a
    seed: 2**32 would draw what 0 draws)."""
    if not _checks.is_integer(seed):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed} (torch's CPU generator keeps only its low 32 bits)")
    return torch.Generator(device=device).manual_seed(int(seed))
