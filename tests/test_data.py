"""reprolib.data: the music corpora and their standard splits, fetching with checksums, the characters."""

import functools
import hashlib
import http.server
import os
import pickle
import threading
import zipfile

import numpy as np
import pytest
import torch

from reprolib import data

# The real corpora are read from the data directory that REPROLIB_DATA names (make and CI set it where the
# files exist); without them, these tests cannot run here and say so.
HAVE_MUSIC = any((d / "music" / "JSB_Chorales.mat").is_file() for d in data.data_dirs())
needs_music = pytest.mark.skipif(not HAVE_MUSIC, reason=f"the music corpora are not in {data.DATA_ENV} or the cache")


@needs_music
@pytest.mark.parametrize("name,pieces,frames", [
    ("JSB_Chorales", (229, 76, 77), (13_807, 4_602, 4_725)),
    ("Nottingham", (694, 173, 170), (176_561, 45_513, 44_463)),
    ("MuseData", (524, 135, 124), (245_202, 82_755, 64_339)),
    ("Piano_midi", (87, 12, 25), (75_911, 8_540, 19_036)),
])
def test_the_standard_splits_have_their_published_sizes(name, pieces, frames):
    for split, n, f in zip(data.SPLITS, pieces, frames):
        rolls = data.load_music(name, split)
        assert len(rolls) == n and sum(r.shape[0] for r in rolls) == f
        assert all(r.dtype == torch.float32 and r.shape[1] == 88 for r in rolls)
        assert set(torch.unique(torch.cat(rolls)).tolist()) == {0.0, 1.0}


@needs_music
@pytest.mark.parametrize("split", data.SPLITS)
def test_the_original_pickle_and_the_mat_file_hold_the_same_rolls(split):
    """Two independent routes: note tuples made into rolls here, and the arrays converted by others."""
    from_pickle, from_mat = data.load_music("JSB_Chorales", split, "pickle"), data.load_music("JSB_Chorales", split)
    assert len(from_pickle) == len(from_mat)
    assert all(torch.equal(a, b) for a, b in zip(from_pickle, from_mat))


def test_names_splits_and_sources_are_checked():
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_music("Bach", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_music("JSB_Chorales", "dev")
    with pytest.raises(ValueError, match="JSB_Chorales only"):
        data.load_music("Nottingham", "train", "pickle")
    with pytest.raises(ValueError, match="source must be"):
        data.load_music("JSB_Chorales", "train", "midi")
    with pytest.raises(ValueError, match="name must be one of"):
        data.fetch("enwik8.zip")


def test_a_piano_roll_has_one_column_per_key():
    roll = data.piano_roll([(21, 108), (), (np.int64(60),)])
    assert roll.shape == (3, 88) and roll[0, 0] == roll[0, 87] == roll[2, 39] == 1 and roll.sum() == 3
    with pytest.raises(ValueError, match="frame 1: 20 is not a MIDI note"):
        data.piano_roll([(60,), (20,)])


# --- fetching ------------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www, and empty data and cache folders."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _isolate(monkeypatch, tmp_path, **sources):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(data, "SOURCES", {**data.SOURCES, **sources})


def test_a_missing_file_is_downloaded_checked_and_kept(server, tmp_path, monkeypatch):
    www, url = server
    payload = pickle.dumps({s: [[(60, 64)], [(61,)]] for s in data.SPLITS}, protocol=2)
    (www / "j.pickle").write_bytes(payload)
    _isolate(monkeypatch, tmp_path, **{"jsb_chorales.pickle": data.Source(
        "music/jsb_chorales.pickle", url + "j.pickle", hashlib.sha256(payload).hexdigest())})
    path = data.fetch("jsb_chorales.pickle")
    assert path == tmp_path / "cache" / "reprolib" / "music" / "jsb_chorales.pickle" and path.read_bytes() == payload
    (www / "j.pickle").unlink()  # found in the cache now: no second download
    assert data.fetch("jsb_chorales.pickle") == path


def test_a_download_with_the_wrong_checksum_is_refused_and_not_kept(server, tmp_path, monkeypatch):
    www, url = server
    (www / "x.mat").write_bytes(b"not the corpus")
    _isolate(monkeypatch, tmp_path, **{"JSB_Chorales.mat": data.Source("music/JSB_Chorales.mat", url + "x.mat", "0" * 64)})
    with pytest.raises(ValueError, match="not the expected file: sha256"):
        data.fetch("JSB_Chorales.mat")
    assert not list((tmp_path / "cache").rglob("*.mat*"))


def test_a_file_that_cannot_be_had_is_named_with_where_it_was_sought(server, tmp_path, monkeypatch):
    _, url = server
    _isolate(monkeypatch, tmp_path, **{"JSB_Chorales.mat": data.Source("music/JSB_Chorales.mat", url + "gone.mat", "0" * 64)})
    with pytest.raises(FileNotFoundError) as info:
        data.fetch("JSB_Chorales.mat")
    text = str(info.value)
    assert "JSB_Chorales.mat is not in" in text and str(tmp_path / "cache") in text and url + "gone.mat" in text
    with pytest.raises(FileNotFoundError, match="get it from"):
        data.fetch("JSB_Chorales.mat", download=False)


def test_a_damaged_copy_in_the_data_directory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "d" / "music").mkdir(parents=True)
    (tmp_path / "d" / "music" / "Nottingham.mat").write_bytes(b"damaged")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "d"))
    with pytest.raises(ValueError, match=r"Nottingham\.mat is not the expected file"):
        data.fetch("Nottingham.mat", download=False)


def test_a_checked_copy_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    payload = b"a corpus"
    (tmp_path / "d" / "music").mkdir(parents=True)
    copy = tmp_path / "d" / "music" / "Nottingham.mat"
    copy.write_bytes(payload)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "d"))
    _isolate_sources = {"Nottingham.mat": data.Source("music/Nottingham.mat", "http://unused/",
                                                     hashlib.sha256(payload).hexdigest())}
    monkeypatch.setattr(data, "SOURCES", {**data.SOURCES, **_isolate_sources})
    hashed = []
    real = hashlib.sha256
    monkeypatch.setattr(data.hashlib, "sha256", lambda b: hashed.append(len(b)) or real(b))
    assert data.fetch("Nottingham.mat", download=False) == copy
    assert data.fetch("Nottingham.mat", download=False) == copy
    assert hashed == [len(payload)]  # the second call trusted the first check
    copy.write_bytes(b"a damaged corpus")  # another size: checked again, and refused
    with pytest.raises(ValueError, match="not the expected file"):
        data.fetch("Nottingham.mat", download=False)


def test_present_names_every_source_and_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(data, "_download", lambda *a: pytest.fail("present() must not download"))
    assert data.present() == dict.fromkeys(data.SOURCES, False)


# --- characters ----------------------------------------------------------------------------------------


def test_ptb_characters_spell_the_words_with_underscores_and_newlines():
    train = data.ptb_chars("train")
    first = data.ptb.lines("train")[0].split()
    assert train.startswith("_".join(first) + "\n") and " " not in train
    assert [len(data.ptb_chars(s)) for s in data.SPLITS] == [5_017_482, 393_042, 442_423]
    vocab = data.ptb_char_vocab()
    assert len(vocab) == 50 and {"_", "\n", "<", ">", "N"} <= set(vocab)
    assert set(data.ptb_chars("test")) <= set(vocab)  # valid and test use no symbol that train lacks
    ids = data.encode(train[:1000], vocab)
    assert "".join(vocab[i] for i in ids.tolist()) == train[:1000]


def test_text8_is_read_from_its_zip_and_split_90_5_5(tmp_path):
    text = ("anarchism originated as a term of abuse " * 50)[:2000]
    path = tmp_path / "text8.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("text8", text)
    read = data.text8(path)
    assert read == text
    parts = [data.text8_split(read, s) for s in data.SPLITS]
    assert [len(p) for p in parts] == [1800, 100, 100] and "".join(parts) == text
    assert data.encode(parts[1], list(data.TEXT8_SYMBOLS)).max() < 27
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("text8", "Capitals and digits 123")
    with pytest.raises(ValueError, match="only a-z and space"):
        data.text8(path)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("other.txt", "abc")
    with pytest.raises(ValueError, match="one file, text8"):
        data.text8(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip file"):
        data.text8(path)


def test_text8_is_not_available_offline_and_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="mattmahoney.net/dc/text8.zip"):
        data.fetch("text8.zip", download=False)
