"""Files in and out. Writing so that a reader never sees half of a file: the build report, the
Claims page, the results files and the checkpoints all go through :func:`write_atomic`. Reading
pickles from outside without running them: :func:`read_pickle` (a pickle names functions that
``pickle.load`` calls, so a pickle from the internet could run any code)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

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
