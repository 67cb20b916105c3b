"""Writing files so that a reader never sees half of one: the build report, the Claims page,
the results files and the checkpoints all go through :func:`write_atomic`."""

from __future__ import annotations

import os
from pathlib import Path


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
