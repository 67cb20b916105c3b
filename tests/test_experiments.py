"""The results command: settings per profile, rows per run, provenance, resuming from checkpoints."""

import json

import pytest

from reprolib import experiments
from reprolib.engine import Run


def test_profiles_share_the_keys_and_the_paper_profile_follows_the_supplement():
    ci, cpu, paper = (experiments.settings("fig7", p) for p in ("ci", "cpu", "paper"))
    assert set(ci) == set(cpu) == set(paper)
    assert paper["inits"]["smart_tanh"] == [16, 20, 50, 100, 150, 200, 250]  # supp. §3.1.1
    assert sum(map(len, paper["inits"].values())) == 27
    assert (paper["n_hidden"], paper["lr"], paper["clip"], paper["alpha"], paper["seeds"], paper["max_updates"]) == \
        (50, 0.01, 1.0, 4.0, 5, 5_000_000)


def test_methods_differ_only_in_clipping_and_omega():
    s = experiments.settings("fig7", "paper")
    assert experiments.method_run("MSGD", 3, s) == Run(seed=3, lr=0.01, clip=None, alpha=0.0)
    assert experiments.method_run("MSGD-C", 3, s) == Run(seed=3, lr=0.01, clip=1.0, alpha=0.0)
    assert experiments.method_run("MSGD-CR", 3, s) == Run(seed=3, lr=0.01, clip=1.0, alpha=4.0)
    with pytest.raises(ValueError, match="method"):
        experiments.method_run("Adam", 0, s)
    with pytest.raises(ValueError, match="profile"):
        experiments.settings("fig7", "gpu")
    with pytest.raises(ValueError, match="experiment"):
        experiments.settings("fig8", "ci")


def test_the_command_writes_rows_and_provenance_and_resumes(tmp_path):
    out = tmp_path / "fig7_ci.json"
    assert experiments.main(["fig7", "--profile", "ci", "--out", str(out), "--no-progress"]) == 0
    first = json.loads(out.read_text())
    s = experiments.settings("fig7", "ci")
    assert len(first["runs"]) == sum(map(len, s["inits"].values())) * len(s["methods"]) * s["seeds"]
    prov = first["provenance"]
    assert prov["profile"] == "ci" and prov["settings"] == s and prov["command"].endswith("fig7 --profile ci --out "
                                                                                       f"{out} --no-progress")
    assert len(prov["git_commit"]) in (40, len("unknown")) and prov["torch"] and prov["wall_seconds_last_invocation"] >= 0
    assert prov["train_seconds_total"] > 0
    # MSGD and MSGD-C with the same seed start from the same network and data; all runs are recorded
    assert {r["method"] for r in first["runs"]} == set(s["methods"])
    # a second call finds the finished checkpoints and returns the same outcomes
    assert experiments.main(["fig7", "--profile", "ci", "--out", str(out), "--no-progress"]) == 0
    again = json.loads(out.read_text())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "engine_seconds"} for r in rows]  # noqa: E731
    assert strip(again["runs"]) == strip(first["runs"])
