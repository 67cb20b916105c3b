"""The installation: requirements.lock pins every package of pyproject.toml, with hashes, and make installs from it."""

import re
import tomllib

from reprolib.profiles import ROOT


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """``name -> (version, hashes)`` of requirements.lock (names normalised as pip does)."""
    text = (ROOT / "requirements.lock").read_text()
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            entries[re.sub(r"[-_.]+", "-", m[1]).lower()] = (m[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_every_pin_of_pyproject_is_locked_with_its_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]
    lock = lock_entries()
    assert len(lock) > 50  # the transitive dependencies are there too
    for requirement in wanted:
        name, _, version = re.sub(r"\s*#.*", "", requirement).partition("==")
        name = re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()
        assert name in lock, f"{name} is not in requirements.lock: run make lock"
        if version:  # the lock may add a local label (torch's +cpu build), never another version
            assert lock[name][0].split("+")[0] == version, f"{name}: pyproject {version}, lock {lock[name][0]}"
    assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]


def test_make_installs_from_the_lock_with_hashes_required():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install [^\n]*--require-hashes -r \$\(LOCK\)", makefile)
    assert "LOCK := requirements.lock" in makefile
