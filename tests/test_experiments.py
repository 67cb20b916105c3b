"""The results command: settings per profile, rows per run, provenance, resuming from checkpoints."""

import dataclasses
import json

import pytest

from reprolib import experiments, settings
from reprolib.engine import Run


def test_methods_differ_only_in_clipping_and_omega():
    s = settings.load("fig7", "paper")
    assert experiments.method_run("MSGD", 3, s) == Run(seed=3, lr=0.01, threshold=None, alpha=0.0)
    assert experiments.method_run("MSGD-C", 3, s) == Run(seed=3, lr=0.01, threshold=1.0, alpha=0.0)
    assert experiments.method_run("MSGD-CR", 3, s) == Run(seed=3, lr=0.01, threshold=1.0, alpha=4.0)
    with pytest.raises(ValueError, match="method"):
        experiments.method_run("Adam", 0, s)


def test_the_command_writes_rows_and_provenance_and_resumes(tmp_path, capsys):
    out = tmp_path / "fig7_ci.json"
    args = ["fig7", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    assert "fig7 at ci: 2 cells, 12 runs; at most" in capsys.readouterr().out  # the cost model, before the run
    first = json.loads(out.read_text())
    s = settings.load("fig7", "ci")
    assert len(first["runs"]) == sum(map(len, s.inits.values())) * len(s.methods) * s.seeds
    prov = first["provenance"]
    assert prov["profile"] == "ci" and settings.recorded("fig7", prov) == s and prov["command"].endswith(" ".join(args))
    assert len(prov["git_commit"]) in (40, len("unknown")) and prov["torch"] and prov["wall_seconds_last_invocation"] >= 0
    assert prov["train_seconds_total"] > 0 and prov["workers"] == "this process"
    assert prov["failed"] == {} and prov["missing"] == []
    assert sorted(p.name.split("_")[3] for p in (tmp_path / "checkpoints").iterdir()) == ["T10", "T20"]
    assert sorted(p.name for p in (tmp_path / "cells" / "fig7_ci").iterdir()) == ["smart_tanh_T10.json", "smart_tanh_T20.json"]
    # one session per cell's engine, which did all its updates; the rows hold outcomes only
    assert set(prov["sessions"]) == set(prov["cells"]) == {"smart_tanh_T10", "smart_tanh_T20"}
    assert all(len(x) == 1 and x[0]["from"] == 0 and x[0]["to"] > 0 for x in prov["sessions"].values())
    assert set(first["runs"][0]) == {"init", "T", "method", "seed", "solved", "updates", "error"}
    assert {r["method"] for r in first["runs"]} == set(s.methods)
    # a second call finds the finished cells and runs nothing: the same runs, byte for byte, and a
    # provenance that says every cell comes from the earlier invocation
    assert experiments.main(args) == 0
    again = json.loads(out.read_text())
    assert json.dumps(again["runs"]) == json.dumps(first["runs"])
    assert again["provenance"]["cells"] == {k: {**v, "reused": True} for k, v in prov["cells"].items()}
    assert again["provenance"]["sessions"] == prov["sessions"]


def test_a_method_with_its_own_budget_trains_in_an_engine_of_its_own():
    s = dataclasses.replace(settings.load("fig7", "ci"), inits={"smart_tanh": [10]}, max_updates=20, test_every=10,
                            method_max_updates={"MSGD-CR": 40})
    assert [s.budget(m) for m in s.methods] == [20, 20, 40]
    cell = experiments.fig7_cell(s.to_dict(), "smart_tanh", 10)
    assert [(r["method"], r["seed"]) for r in cell["rows"]] == [(m, seed) for m in s.methods for seed in range(s.seeds)]
    # nothing is solved this early: each engine uses its budget, and its sessions say which engine they were
    assert [(x["budget"], x["to"]) for x in cell["sessions"]] == [(20, 20), (40, 40)]
    assert experiments.cost("fig7", s, updates=1)["runs"] == len(s.methods) * s.seeds


def test_the_results_folder_is_checked_before_anything_trains(tmp_path):
    file = tmp_path / "results.json"
    file.write_text("{}")
    with pytest.raises(ValueError, match="results-dir"):
        experiments.main(["fig7", "--profile", "ci", "--results-dir", str(file), "--no-progress"])
    with pytest.raises(ValueError, match="results-dir"):
        experiments.main(["fig7", "--profile", "ci", "--results-dir", str(file / "sub"), "--no-progress"])


def test_tables_rows_hold_every_test_length_and_bad_models_are_refused(tmp_path):
    s = settings.load("tables", "ci")
    s = dataclasses.replace(s, max_updates=20, test_every=10, n_test=100, models=s.models[:1] + s.models[-1:])
    rows = experiments.tables(s, progress=False)
    assert len(rows) == 2 * s.seeds
    for r, m in zip(rows, s.models):
        assert r["task"] == m.task and set(r["test"]) == {str(T) for T in m.test}
        # error rates out of n_test = 100 sequences: multiples of 1 %
        assert all(0 <= e <= 1 and round(100 * e, 9) == round(100 * e) for e in r["test"].values())
    assert rows[0]["train"] == list(s.models[0].train) and rows[-1]["train"] == s.models[-1].train  # as in the file


def test_results_provenance_names_the_choices_of_every_engine():
    s = settings.load("tables", "ci")
    c = experiments.choices("tables", s)
    assert set(c) == {f"{m.task} / {m.init}" for m in s.models}
    assert all(v["omega_form"] == s.omega_form for v in c.values())


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
    at = experiments.success_rates(rows, within=2000)  # the same runs at a smaller budget
    assert at[("sigmoid", 16, "MSGD-C")] == {"solved": 2, "runs": 3, "rate": 2 / 3, "median_updates": 1500}
    assert at[("sigmoid", 16, "MSGD")]["solved"] == 0
    with pytest.raises(ValueError, match="within must be >= 1"):
        experiments.success_rates(rows, within=0)


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


def test_reach_is_the_longest_length_below_the_limit_with_every_shorter_one():
    # the paper's Table 2 (multiplication): under 1 % up to T = 400, 2.11 % at 600
    assert experiments.reach(experiments.PAPER_TABLES["multiplication"]) == 400
    assert experiments.reach(experiments.PAPER_TABLES["temporal_order_3bit"]) == 300
    assert experiments.reach({"20": 0.5, "40": 3.0, "60": 0.0}) == 20  # a failure stops the reach
    assert experiments.reach({20: 1.0}) is None and experiments.reach({20: 0.99}) == 20
    assert (experiments.longest_train([50, 200]), experiments.longest_train(40)) == (200, 40)
    with pytest.raises(ValueError, match="test must map"):
        experiments.reach({})


def test_table_claims_compare_multiples_of_the_longest_training_length():
    entries = [
        {"table": 1, "task": "addition", "train": [20, 40], "solved": True, "runs": 5, "seed": 0,
         "test": {20: 0.0, 40: 0.1, 80: 0.5, 120: 0.9, 160: 3.0}},   # the paper reaches 3 x 200: 120 here
        {"table": 2, "task": "multiplication", "train": [20, 40], "solved": True, "runs": 5, "seed": 1,
         "test": {20: 0.0, 40: 0.1, 80: 1.5}},                       # the paper reaches 2 x 200: 80 here
        {"table": 0, "task": "temporal_order", "train": [20, 40], "solved": False, "runs": 5, "seed": 2,
         "test": {20: 0.0, 160: 0.0}},                                # 25 x 200 in the paper: capped at 160; unsolved
        {"table": 5, "task": "memorization", "train": 40, "solved": 4, "runs": 5, "seed": None, "test": {40: 0.4}},
    ]
    add, mult, order, mem = experiments.table_claims(entries)
    assert add["held"] and "T = 120 (3 x" in add["claim"] and "T = 600 = 3 x 200" in add["paper"]
    assert not mult["held"] and "T = 80" in mult["claim"] and "up to T = 40" in mult["ours"]
    assert not order["held"] and "T = 160" in order["claim"]  # every length passes, but the run was not solved
    assert mem["held"] and mem["id"] == "memorization-T40" and "4/5 runs solved" in mem["ours"]
