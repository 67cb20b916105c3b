"""reprolib.files: atomic writes."""

import pytest

from reprolib.files import read_pickle, write_atomic


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


class Payload:
    """What an attacker plants: unpickling it would call os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_planted_pickle_is_refused_and_never_runs(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    path = tmp_path / "music.pickle"
    path.write_bytes(pickle.dumps({"train": [Payload(marker)]}))
    with pytest.raises(ValueError, match=r"music\.pickle.*posix\.system|music\.pickle.*os\.system"):
        read_pickle(path)
    assert not marker.exists()
    import numpy as np
    path.write_bytes(pickle.dumps(np.zeros(3)))  # any class, however harmless, is refused too
    with pytest.raises(ValueError, match="numpy"):
        read_pickle(path)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_containers_and_numbers_round_trip(tmp_path, protocol):
    import pickle

    data = {"train": [[[60, 64, 67], [], [61]], [[72]]], "valid": ({1, 2}, frozenset({3}), 1.5, 2 + 1j, None, True, "x")}
    path = tmp_path / "data.pickle"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    assert read_pickle(path) == data


def test_a_damaged_or_missing_pickle_is_named(tmp_path):
    import pickle

    path = tmp_path / "data.pickle"
    path.write_bytes(pickle.dumps([1, 2, 3])[:-3])
    with pytest.raises(ValueError, match="data.pickle"):
        read_pickle(path)
    with pytest.raises(ValueError, match="absent.pickle"):
        read_pickle(tmp_path / "absent.pickle")


@pytest.mark.parametrize("protocol", [2, 5])
def test_numeric_numpy_scalars_are_read_as_numbers(tmp_path, protocol):
    """The original music pickles hold numpy.int64 MIDI notes."""
    import pickle

    import numpy as np

    data = {"train": [[(np.int64(60), np.int64(64)), (np.float32(0.5),), (np.bool_(True),)]]}
    path = tmp_path / "notes.pickle"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    assert read_pickle(path) == {"train": [[(60, 64), (0.5,), (True,)]]}
    assert type(read_pickle(path)["train"][0][0][0]) is int


def test_a_numpy_scalar_of_object_dtype_is_refused(tmp_path):
    import pickle

    import numpy as np

    class Planted:
        def __reduce__(self):
            return np._core.multiarray.scalar, (np.dtype(object), b"\0" * 8)

    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps([Planted()], protocol=2))
    with pytest.raises(ValueError, match="only numeric ones are read"):
        read_pickle(path)


def test_only_latin1_byte_strings_are_decoded(tmp_path):
    import codecs
    import pickle

    class Planted:
        def __reduce__(self):
            return codecs.encode, ("x", "rot13")

    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps([Planted()], protocol=2))
    with pytest.raises(ValueError, match="only latin-1"):
        read_pickle(path)
    path.write_bytes(pickle.dumps([b"\x00\xff"], protocol=2))
    assert read_pickle(path) == [b"\x00\xff"]
