"""The settings layer: profiles, parameter files, the per-chapter set-up.

Every parameter file is ``params/<profile>/<name>.yaml``, for a chapter (``01_linear_proof``: papermill
parameters, typed by the defaults of the notebook's ``parameters`` cell) and for an experiment of
``python -m reprolib.experiments`` (``fig7``: typed by its dataclass in :mod:`reprolib.settings`) alike;
:func:`load` reads them all. The three profiles are :data:`PROFILES`. :func:`start` makes a chapter's
run deterministic and picks its device.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import threadpoolctl
import torch
import yaml

from . import _checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: ``ci``: minutes on a laptop CPU (the book's build and its regression tests; every chapter and experiment);
#: ``cpu``: at most 3 hours per command on 2 CPU cores (the long experiments, whose results are committed);
#: ``paper``: the papers' sizes (every chapter and experiment; one GPU, or a cluster for the experiments)
PROFILES = ("ci", "cpu", "paper")
#: The maths library's code branch for every chapter the pipeline executes and every regression check: MKL's
#: conditional numerical reproducibility (CNR) on its AVX2 branch, which Intel documents to return the same results
#: on every Intel CPU with AVX2 (AVX-512 machines included). Without it, an eigenvalue or SVD routine differs in the
#: last bits between CPUs, and chaotic trajectories (Chapter 2's driven networks) carry the difference into the
#: printed digits. The chapters' own choices (float64 training, stable printed quantities) handle the rest.
KERNEL_ENV = {"MKL_CBWR": "AVX2"}


def check_profile(profile: str) -> str:
    """``profile`` if it is one of :data:`PROFILES`, else a ``ValueError``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def available(name: str) -> tuple[str, ...]:
    """The profiles that have a parameter file for ``name``."""
    return tuple(p for p in PROFILES if (ROOT / "params" / p / f"{name}.yaml").is_file())


def params_path(name: str, profile: str) -> Path:
    """The parameter file of ``name`` (a chapter such as ``"01_linear_proof"`` or an experiment such as
    ``"fig7"``) at ``profile``."""
    check_profile(profile)
    if not isinstance(name, str) or not re.fullmatch(r"[0-9a-z][0-9a-z_]*", name):
        raise ValueError(f"name must be a chapter such as '01_linear_proof' or an experiment such as 'fig7', "
                         f"got {name!r}")
    path = ROOT / "params" / profile / f"{name}.yaml"
    if not path.is_file():
        has = available(name)
        raise ValueError(f"{name!r} has no parameter file {path.relative_to(ROOT)}" +
                         (f"; it has the profiles {', '.join(has)}" if has else "; no chapter or experiment has that name"))
    return path


def load(name: str, profile: str) -> dict:
    """The parameters of ``name`` at ``profile``, as a dict: ``profile`` (named by the file's folder,
    not written in the file) followed by the file's parameters. A chapter's are checked against its
    notebook (:func:`check_parameters`); an experiment's are typed by :func:`reprolib.settings.load`."""
    path = params_path(name, profile)
    with open(path) as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path.relative_to(ROOT)} must hold a mapping of parameter names to values")
    if "profile" in params:
        raise ValueError(f"{path.relative_to(ROOT)} sets 'profile', which its folder already names; remove it")
    params = {"profile": profile, **params}
    if (NOTEBOOKS / f"{name}.py").is_file():
        check_parameters(name, profile, params)
    return params


def parameters_cell(name: str) -> dict:
    """The defaults of the cell tagged ``parameters`` of ``notebooks/<name>.py`` (its ``ci`` values),
    read as literals (nothing is executed)."""
    cells = [c for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"notebooks/{name}.py must have exactly one cell tagged 'parameters', found {len(cells)}")
    values = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"notebooks/{name}.py: the parameters cell must hold plain assignments")
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def check_parameters(name: str, profile: str, parameters: dict) -> None:
    """Refuse a parameter the chapter does not define, or one of another type than its default
    (an int is accepted where the default is a float): papermill would only warn and run on."""
    defaults = parameters_cell(name)
    source = f"params/{profile}/{name}.yaml"
    for key, value in parameters.items():
        if key not in defaults:
            raise ValueError(f"{source}: unknown parameter {key!r}; notebooks/{name}.py defines {', '.join(defaults)}")
        want = type(defaults[key])
        ok = isinstance(value, want) and isinstance(value, bool) == isinstance(defaults[key], bool) or \
            (want is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ValueError(f"{source}: parameter {key!r} must be of type {want.__name__} like its default "
                             f"{defaults[key]!r}, got {value!r}")


def typed(cls, mapping, where: str):
    """The dataclass ``cls`` built from ``mapping``, which must hold exactly its fields; a missing or
    unknown key, or a value the class refuses, is a ``ValueError``/``TypeError`` naming ``where``."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be a mapping of settings, got {mapping!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    missing, unknown = sorted(names - set(mapping)), sorted(set(mapping) - names)
    if missing or unknown:
        raise ValueError(f"{where}: " + "; ".join(
            ([f"missing keys {missing}"] if missing else []) + ([f"unknown keys {unknown}"] if unknown else [])))
    try:
        return cls(**mapping)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{where}: {err}") from None


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
    check_profile(profile)
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
