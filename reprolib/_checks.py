"""Argument checks shared by every public function: each raises a ValueError or
TypeError that names the offending argument."""

from __future__ import annotations

import numbers

import numpy as np
import torch


def tensor(name: str, x, ndim: int | tuple[int, ...] | None = None, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of the given rank with finite entries."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point() and not x.is_complex():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(x.shape)}")
    if finite and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite entries")
    return x


def square(name: str, x) -> torch.Tensor:
    """Check that ``x`` is a finite square matrix."""
    tensor(name, x, ndim=2)
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{name} must be square, got shape {tuple(x.shape)}")
    return x


def matrix(name: str, W, *, batched: bool = False, real: bool = True) -> torch.Tensor:
    """Check that ``W`` is a finite square matrix ``[n, n]`` (with ``batched``: or a stack of them,
    ``[..., n, n]``), real unless ``real`` is False."""
    if not batched:
        square(name, W)
    else:
        tensor(name, W)
        if W.ndim < 2 or W.shape[-1] != W.shape[-2]:
            raise ValueError(f"{name} must be a square matrix [n, n] or a stack of them [..., n, n], "
                             f"got shape {tuple(W.shape)}")
    if real and W.is_complex():
        raise TypeError(f"{name} must be real, got dtype {W.dtype}")
    return W


def is_integer(n) -> bool:
    """``n`` is an ``int`` or a numpy integer, and not a bool."""
    return isinstance(n, numbers.Integral) and not isinstance(n, (bool, np.bool_))


def positive_int(name: str, n, minimum: int = 1) -> int:
    """Check that ``n`` is an integer (``int`` or a numpy integer; bools are refused) >= ``minimum``;
    return it as an ``int``."""
    if not is_integer(n):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def positive_float(name: str, v, strict: bool = True) -> float:
    """Check that ``v`` is a finite real number (numpy scalars included) > 0 (or >= 0 when ``strict`` is False)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (v == v and abs(v) != float("inf")) or (v <= 0 if strict else v < 0):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {v}")
    return v


def finite_float(name: str, v) -> float:
    """Check that ``v`` is a finite real number (numpy scalars included, any sign)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (v == v and abs(v) != float("inf")):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return v


def device(device="auto") -> torch.device:
    """The library's one device resolver: ``"auto"`` gives CUDA when present, else the CPU; any other
    torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``) is returned when
    this machine has it, and refused with a ``ValueError`` otherwise."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto' or a torch device such as 'cpu' or 'cuda:0', got {device!r}") from e
    if d.type == "cuda" and not (torch.cuda.is_available() and (d.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"device {str(d)!r} was asked for but this machine has {torch.cuda.device_count()} CUDA devices")
    if d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but is not available")
    if d.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda[:i]' or 'mps', got {device!r}")
    return d


def dtype_device(dtype, device_) -> torch.device:
    """Check that ``dtype`` is a floating-point torch.dtype and resolve ``device_`` (:func:`device`)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return device(device_)


def generator(name: str, g) -> torch.Generator:
    """Check that ``g`` is an explicit torch.Generator."""
    if not isinstance(g, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator (pass one explicitly), got {type(g).__name__}")
    return g


def same_kind(**tensors: torch.Tensor) -> None:
    """Check that all tensors share one dtype and one device."""
    items = list(tensors.items())
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.dtype != t0.dtype:
            raise ValueError(f"{name} has dtype {t.dtype} but {name0} has {t0.dtype}")
        if t.device != t0.device:
            raise ValueError(f"{name} is on {t.device} but {name0} is on {t0.device}")
