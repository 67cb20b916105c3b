"""Files in and out. Writing so that a reader never sees half of a file: the build report, the
Claims page, the results files and the checkpoints all go through :func:`write_atomic`. Checkpoints are
checksummed containers of tensors and plain data (:func:`write_checkpoint`, :func:`read_checkpoint`).
Reading pickles from outside without running them: :func:`read_pickle` (a pickle names functions that
``pickle.load`` calls, so a pickle from the internet could run any code)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np
import torch

#: the only globals a pickle read by :func:`read_pickle` may name: containers and numbers
#: (lists, dicts, tuples, strings and numbers need no global at all); ``__builtin__`` is Python 2's name
SAFE_GLOBALS = {(module, name) for module in ("builtins", "__builtin__") for name in ("set", "frozenset", "complex")}
#: numpy's names for a scalar and its dtype (the original music pickles hold numpy.int64 notes), before and
#: after numpy 2; they are served by :func:`_numpy_scalar` and :func:`_numpy_dtype`, which build numbers only
NUMPY_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
NUMPY_DTYPE = {("numpy", "dtype")}
#: how Python 3 writes bytes at pickle protocol 2 (``_codecs.encode(text, "latin1")``), served by :func:`_latin1`
CODECS_ENCODE = ("_codecs", "encode")
#: the kinds of numpy scalar read: booleans, integers, unsigned integers, floats, complex numbers
NUMERIC_KINDS = "biufc"


def _numpy_dtype(spec, *args):
    """``numpy.dtype`` restricted to numeric types (an object dtype would let a scalar hold anything)."""
    dtype = np.dtype(spec, *args)
    if dtype.kind not in NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"it holds a numpy dtype {dtype}, and only numeric ones are read")
    return dtype


def _numpy_scalar(dtype, data=None):
    """A numeric numpy scalar from its dtype and raw bytes, returned as a Python number (a Python 2
    pickle's bytes arrive as a latin-1 string, which is how :func:`read_pickle` decodes them)."""
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS or not isinstance(data, bytes):
        raise pickle.UnpicklingError("it holds a numpy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _latin1(text, encoding):
    """``_codecs.encode`` restricted to latin-1, the only use a pickle of data makes of it."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"it encodes with {encoding!r}, and only latin-1 byte strings are read")
    return text.encode("latin1")


class _DataUnpickler(pickle.Unpickler):
    """An unpickler that builds containers and numbers and refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        if (module, name) in NUMPY_SCALAR:
            return _numpy_scalar
        if (module, name) in NUMPY_DTYPE:
            return _numpy_dtype
        if (module, name) == CODECS_ENCODE:
            return _latin1
        raise pickle.UnpicklingError(f"it names {module}.{name}, and only containers and numbers are read")


def read_pickle(path):
    """The data in the pickle file ``path`` (Python 2 pickles included), restricted to containers and
    numbers (numeric numpy scalars are read as Python numbers): a pickle that names any other global
    (a class, a function such as ``os.system``, a numpy array) is refused before anything of it runs. An unreadable or refused file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return _DataUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as err:  # noqa: BLE001 - OS, EOF, unpickling and value errors all mean an unusable file
        raise ValueError(f"{path} cannot be read as a pickle of data ({type(err).__name__}: {err})") from None


def write_atomic(path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then a rename
    (a crash leaves the old file or the new one, never a mix). Creates the folder if needed."""
    if not isinstance(data, (str, bytes)):
        raise TypeError(f"data must be str or bytes, got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


#: version of the checkpoint container written by :func:`write_checkpoint`
CHECKPOINT_FORMAT = 1


def write_checkpoint(path, state: dict) -> None:
    """Write ``state`` (tensors and plain data) atomically, inside a container that holds the sha256 of
    its serialized bytes so that :func:`read_checkpoint` detects damage."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    box = {"format": CHECKPOINT_FORMAT, "sha256": hashlib.sha256(payload).hexdigest(),
           "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8)}
    out = io.BytesIO()
    torch.save(box, out)
    write_atomic(path, out.getvalue())


def read_checkpoint(path) -> dict:
    """The state written by :func:`write_checkpoint` at ``path``, verified against its checksum.

    Nothing in the file is executed: both layers are read with ``torch.load(weights_only=True)``,
    which refuses any pickled object other than tensors and plain containers. A file that cannot
    be read, or whose checksum does not match, raises ``ValueError`` naming it.
    """
    restart = f"delete {path} to start the run again from the beginning"
    try:
        box = torch.load(path, weights_only=True)
        if not isinstance(box, dict) or box.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a checkpoint of format {CHECKPOINT_FORMAT}")
        payload = box["payload"].numpy().tobytes()
    except Exception as err:  # noqa: BLE001 - zip, pickle, EOF and OS errors all mean an unreadable file
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); {restart}") from None
    if hashlib.sha256(payload).hexdigest() != box.get("sha256"):
        raise ValueError(f"checkpoint {path} is damaged (its checksum does not match its contents); {restart}")
    try:
        return torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); {restart}") from None
