"""reprolib.provenance: where a result comes from, and the hash of the code it depends on."""

import shutil

import pytest
import torch

from reprolib import provenance


def test_the_modules_used_follow_the_imports_and_nothing_else():
    used = provenance.modules_used("engine")
    assert {"engine", "bptt", "omega", "tasks", "initializations", "clipping", "rnn", "files"} <= set(used)
    assert not {"data", "sequence", "pipeline", "gru", "experiments"} & set(used)
    assert set(used) < set(provenance.modules_used("experiments"))
    with pytest.raises(ValueError, match="module must name"):
        provenance.modules_used("nonexistent")


def test_the_code_hash_changes_with_a_used_module_only(tmp_path, monkeypatch):
    copy = tmp_path / "reprolib"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    before = provenance.code_hash("engine")
    (copy / "sequence.py").write_text((copy / "sequence.py").read_text() + "\n# an edit the engine does not see\n")
    assert provenance.code_hash("engine") == before
    (copy / "omega.py").write_text((copy / "omega.py").read_text() + "\n# an edit of a module the engine uses\n")
    assert provenance.code_hash("engine") != before


def test_the_environment_names_versions_and_machine():
    env, git = provenance.environment(), provenance.git_state()
    assert set(env) == {"python", "torch", "numpy", "machine", "cpu"} and "CPUs" in env["machine"]
    model, _, kernels = env["cpu"].rpartition("; torch kernels ")
    assert model and kernels == torch.backends.cpu.get_cpu_capability()
    assert set(git) == {"git_commit", "uncommitted_changes"} and isinstance(git["uncommitted_changes"], bool)
