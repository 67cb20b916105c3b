"""reprolib.files: atomic writes."""

import pytest

from reprolib.files import write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_atomic(path, "old")
    write_atomic(path, "new")
    assert path.read_text() == "new" and [p.name for p in path.parent.iterdir()] == ["r.json"]
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_write_atomic_refuses_other_data(tmp_path):
    with pytest.raises(TypeError, match="data"):
        write_atomic(tmp_path / "x", {"a": 1})
