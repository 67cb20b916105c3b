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
    args = ["fig7", "--profile", "ci", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    first = json.loads(out.read_text())
    s = experiments.settings("fig7", "ci")
    assert len(first["runs"]) == sum(map(len, s["inits"].values())) * len(s["methods"]) * s["seeds"]
    prov = first["provenance"]
    assert prov["profile"] == "ci" and prov["settings"] == s and prov["command"].endswith(" ".join(args))
    assert len(prov["git_commit"]) in (40, len("unknown")) and prov["torch"] and prov["wall_seconds_last_invocation"] >= 0
    assert prov["train_seconds_total"] > 0
    assert sorted(p.name.split("_")[3] for p in (tmp_path / "checkpoints").iterdir()) == ["T10", "T20"]
    # one session per engine, which did all its updates
    assert set(prov["sessions"]) == {r["engine"] for r in first["runs"]} == {"smart_tanh_T10", "smart_tanh_T20"}
    assert all(len(x) == 1 and x[0]["from"] == 0 and x[0]["to"] > 0 for x in prov["sessions"].values())
    # MSGD and MSGD-C with the same seed start from the same network and data; all runs are recorded
    assert {r["method"] for r in first["runs"]} == set(s["methods"])
    # a second call finds the finished checkpoints and returns the same outcomes; its provenance says
    # that every row comes from the earlier invocation (this one's session did no update)
    assert experiments.main(args) == 0
    again = json.loads(out.read_text())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "engine_seconds"} for r in rows]  # noqa: E731
    assert strip(again["runs"]) == strip(first["runs"])
    for engine, (earlier, now) in again["provenance"]["sessions"].items():
        assert earlier == first["provenance"]["sessions"][engine][0] and now["from"] == now["to"] == earlier["to"]


def test_the_results_folder_is_checked_before_anything_trains(tmp_path):
    file = tmp_path / "results.json"
    file.write_text("{}")
    with pytest.raises(ValueError, match="results-dir"):
        experiments.main(["fig7", "--profile", "ci", "--results-dir", str(file), "--no-progress"])
    with pytest.raises(ValueError, match="results-dir"):
        experiments.main(["fig7", "--profile", "ci", "--results-dir", str(file / "sub"), "--no-progress"])


@pytest.mark.parametrize("change,error,match", [
    (lambda s: s.pop("lr"), ValueError, r"missing keys \['lr'\]"),
    (lambda s: s.update(learning_rate=0.1), ValueError, r"unknown keys \['learning_rate'\]"),
    (lambda s: s.update(seeds=0), ValueError, "seeds must be >= 1"),
    (lambda s: s.update(seeds="5"), TypeError, "seeds must be an int"),
    (lambda s: s.update(clip=-1.0), ValueError, "clip must be a finite number > 0"),
    (lambda s: s.update(methods=["MSGD", "Adam"]), ValueError, "methods entries must be one of"),
    (lambda s: s.update(inits={"orthogonal": [10]}), ValueError, "inits names must be one of"),
    (lambda s: s.update(inits={"sigmoid": [5]}), ValueError, r"inits\['sigmoid'\] entries must be >= 10"),
    (lambda s: s.update(criterion="strict"), ValueError, "criterion must be one of"),
    (lambda s: s.update(device="gpu0"), ValueError, "device"),
])
def test_a_bad_fig7_setting_is_named_with_its_file(tmp_path, monkeypatch, change, error, match):
    import yaml
    data = yaml.safe_load((experiments.ROOT / "params" / "experiments" / "fig7.yaml").read_text())
    change(data["ci"])
    (tmp_path / "params" / "experiments").mkdir(parents=True)
    (tmp_path / "params" / "experiments" / "fig7.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(experiments, "ROOT", tmp_path)
    with pytest.raises(error, match=match) as info:
        experiments.settings("fig7", "ci")
    assert "params/experiments/fig7.yaml, profile ci" in str(info.value)
    with pytest.raises(error, match=match):  # settings built in code are checked the same way
        experiments.fig7(data["ci"], progress=False)


def test_a_bad_tables_model_is_named():
    s = experiments.settings("tables", "ci")
    for model, match in (({**s["models"][0], "momentum": 0.9}, r"models\[0\]: unknown keys \['momentum'\]"),
                         ({**s["models"][0], "task": "parity"}, r"models\[0\]: task must be one of"),
                         ({**s["models"][0], "train": [15, 10]}, r"models\[0\]: train must be a length"),
                         ({**s["models"][0], "test": [5]}, r"models\[0\] \(temporal_order\): test entries must be >= 10")):
        with pytest.raises(ValueError, match=match):
            experiments.tables({**s, "models": [model]}, progress=False)
    experiments.check_settings("tables", {**s, "models": [{**s["models"][-1], "test": [5]}]})  # memorization: T >= 1


def test_tables_profiles_follow_the_supplement():
    paper = experiments.settings("tables", "paper")
    by_task = {}
    for m in paper["models"]:
        assert set(m) == experiments.MODEL_KEYS
        by_task.setdefault(m["task"], []).append(m)
    assert set(by_task) == set(experiments.PAPER_TABLES)
    add = by_task["addition"][0]  # supp. §3.1.2
    assert (add["init"], add["n_hidden"], add["lr"], add["alpha"], add["train"]) == ("basic_tanh", 50, 0.01, 0.5, [50, 200])
    perm = by_task["random_permutation"][0]  # supp. §3.1.5
    assert (perm["n_hidden"], perm["lr"], perm["alpha"], perm["clip"]) == (100, 0.001, 1.0, 6.0)
    # Table 5: one model per length, original and extended task; the paper's test lengths are its tables' columns
    assert [m["train"] for m in by_task["memorization_extended"]] == [50, 100, 150, 200]
    for task, ms in by_task.items():
        assert sorted(T for m in ms for T in m["test"]) == sorted(experiments.PAPER_TABLES[task])
    for profile in ("ci", "cpu"):
        s = experiments.settings("tables", profile)
        assert set(s) == set(paper)
        assert {m["task"] for m in s["models"]} == set(by_task)
        for m in s["models"]:  # hyper-parameters as in the paper; only lengths shrink
            ref = by_task[m["task"]][0]
            assert {k: m[k] for k in ("init", "n_hidden", "lr", "clip", "alpha", "criterion")} == \
                {k: ref[k] for k in ("init", "n_hidden", "lr", "clip", "alpha", "criterion")}


def test_tables_rows_hold_every_test_length_and_bad_models_are_refused(tmp_path):
    s = experiments.settings("tables", "ci")
    s = {**s, "max_updates": 20, "check_every": 10, "n_test": 100, "models": s["models"][:1] + s["models"][-1:]}
    rows = experiments.tables(s, progress=False)
    assert len(rows) == 2 * s["seeds"]
    for r, m in zip(rows, s["models"]):
        assert r["task"] == m["task"] and set(r["test"]) == {str(T) for T in m["test"]}
        # error rates out of n_test = 100 sequences: multiples of 1 %
        assert all(0 <= e <= 1 and round(100 * e, 9) == round(100 * e) for e in r["test"].values())
    with pytest.raises(ValueError, match=r"models\[0\]"):
        experiments.tables({**s, "models": [{**s["models"][0], "momentum": 0.9}]}, progress=False)
    with pytest.raises(ValueError, match="test"):
        experiments.tables({**s, "models": [{**s["models"][0], "test": []}]}, progress=False)


def test_success_rates_count_runs_and_take_the_median_over_solved_runs():
    row = lambda m, seed, upd: {"init": "sigmoid", "T": 16, "method": m, "seed": seed,  # noqa: E731
                                "solved": upd is not None, "updates": upd}
    rows = [row("MSGD", 0, None), row("MSGD", 1, 3000), row("MSGD-C", 0, 1000), row("MSGD-C", 1, 4000),
            row("MSGD-C", 2, 2000), row("MSGD-CR", 0, None)]
    r = experiments.success_rates(rows)
    assert r[("sigmoid", 16, "MSGD")] == {"solved": 1, "runs": 2, "rate": 0.5, "median_updates": 3000}
    assert r[("sigmoid", 16, "MSGD-C")] == {"solved": 3, "runs": 3, "rate": 1.0, "median_updates": 2000}
    assert r[("sigmoid", 16, "MSGD-CR")]["median_updates"] is None and r[("sigmoid", 16, "MSGD-CR")]["rate"] == 0
    assert experiments.success_rates(rows[2:4])[("sigmoid", 16, "MSGD-C")]["median_updates"] == 2500


def test_table_rows_pick_the_first_solved_model_or_average_table_5():
    row = lambda table, task, seed, solved, errs: {"table": table, "task": task, "train": [50, 200], "seed": seed,  # noqa: E731
                                                   "solved": solved, "test": dict(zip(("50", "100"), errs))}
    rows = [row(1, "addition", 0, False, (0.1, 0.2)), row(1, "addition", 1, True, (0.001, 0.002)),
            row(1, "addition", 2, True, (0.0, 0.0)),
            row(3, "temporal_order_3bit", 0, False, (0.5, 0.5)), row(3, "temporal_order_3bit", 1, False, (0.2, 0.4)),
            row(5, "memorization", 0, True, (0.0, 0.01)), row(5, "memorization", 1, False, (0.02, 0.03))]
    add, order3, mem = experiments.table_rows(rows)
    assert (add["seed"], add["solved"], add["runs"]) == (1, True, 3) and add["test"] == pytest.approx({50: 0.1, 100: 0.2})
    assert (order3["seed"], order3["solved"]) == (1, False)  # none solved: the lowest mean error
    assert mem["solved"] == 1 and mem["test"] == pytest.approx({50: 1.0, 100: 2.0})  # % averaged over seeds


def test_load_results_is_none_without_a_file_and_names_are_checked():
    assert experiments.results_path("tables", "paper").name == "tables_paper.json"
    with pytest.raises(ValueError, match="experiment"):
        experiments.load_results("fig9", "cpu")
