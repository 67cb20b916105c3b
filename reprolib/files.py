"""Files in and out. Writing so that a reader never sees half of a file: the build report, the
Claims page, the results files and the checkpoints all go through :func:`write_atomic`. Reading
pickles from outside without running them: :func:`read_pickle` (a pickle names functions that
``pickle.load`` calls, so a pickle from the internet could run any code)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

#: the only globals a pickle read by :func:`read_pickle` may name: containers and numbers
#: (lists, dicts, tuples, strings and numbers need no global at all); ``__builtin__`` is Python 2's name
SAFE_GLOBALS = {(module, name) for module in ("builtins", "__builtin__") for name in ("set", "frozenset", "complex")}


class _DataUnpickler(pickle.Unpickler):
    """An unpickler that builds containers and numbers and refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, and only containers and numbers are read")


def read_pickle(path):
    """The data in the pickle file ``path`` (Python 2 pickles included), restricted to containers and
    numbers: a pickle that names any other global (a class, a function such as ``os.system``) is
    refused before anything of it runs. An unreadable or refused file raises ``ValueError`` naming it."""
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
