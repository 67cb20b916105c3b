"""Kanai's Fig. 1 as a sweep (reprolib.gru_experiments): its settings, its cells, a run through the
command, and the gradient-scale summary against hand-made traces."""

import dataclasses
import json

import pytest

from reprolib import experiments, gru_experiments, natural, profiles, ptb, settings
from reprolib.lm_training import train_language_model


def test_readings_and_methods_are_checked_and_named():
    s = settings.load("kanai_readings", "ci")
    book = s.readings[0]
    with pytest.raises(ValueError, match="name"):
        dataclasses.replace(book, name="a b")
    with pytest.raises(ValueError, match="reduction"):
        dataclasses.replace(book, reduction="max")
    with pytest.raises(ValueError, match="W_hh_init"):
        dataclasses.replace(book, W_hh_init="identity")
    with pytest.raises(ValueError, match="dropout_at"):
        dataclasses.replace(book, dropout_at=["hidden"])
    with pytest.raises(ValueError, match="methods"):
        dataclasses.replace(s, methods=("clip", "adam"))
    with pytest.raises(ValueError, match="distinct"):
        dataclasses.replace(s, readings=(book, book))
    with pytest.raises(ValueError, match="readings"):
        dataclasses.replace(s, readings=())
    keys = [c.key for c in experiments.cells("kanai_fig1", settings.load("kanai_fig1", "cpu"))]
    assert keys == [f"embedding-std-1_{m}_s{k}" for m in ("clip", "project") for k in range(3)]


def test_the_cpu_readings_each_change_one_thing_against_the_book():
    s = settings.load("kanai_readings", "cpu")
    book = s.readings[0]
    assert book.name == "book" and (s.n_hidden, s.seq_len, s.batch_size, s.threshold) == (650, 35, 20, 5.0)
    for r in s.readings[1:]:
        assert len(gru_experiments.changed(r, book)) == 1, r.name
    assert gru_experiments.changed(dataclasses.replace(book, name="x", lr=0.5, reduction="mean"), book) == \
        {"lr": 0.5, "reduction": "mean"}
    std = next(r for r in s.readings if r.name == "init-as-std")
    assert std.init_std / 650 ** 0.5 == pytest.approx(1 / 650, rel=1e-5)  # N(0, 1/650) read as a std


def test_a_cell_is_the_chapter_7_training_of_its_reading():
    """The cell's trace is train_language_model's on the model drawn from generator(2 seed), dropout masks
    from generator(2 seed + 1); clip and project of a seed start from the same weights."""
    s = settings.load("kanai_fig1", "ci")
    out = {m: gru_experiments.fig1_cell("kanai_fig1", s.to_dict(), 0, m, 0)["rows"][0] for m in s.methods}
    net = gru_experiments.model(s, s.readings[0], 0)
    ref = train_language_model(net, ptb.batchify(ptb.load().train, s.batch_size), s.iterations, method="clip", lr=1.0,
                               generator=profiles.generator(1), threshold=s.threshold, seq_len=s.seq_len)
    assert out["clip"]["grad_norm"] == ref.grad_norm.tolist() and out["clip"]["rho_J"] == ref.rho_J[:, 0].tolist()
    assert out["clip"]["loss"][0] == out["project"]["loss"][0] and out["clip"]["rho_J"][0] == out["project"]["rho_J"][0]
    assert len(out["project"]["sigma1"]) == s.iterations + 1
    assert max(out["project"]["sigma1"][1:]) <= 2 - s.delta + 1e-9


def test_the_command_runs_the_readings_and_records_them(tmp_path, capsys):
    args = ["kanai_readings", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    assert "kanai_readings at ci: 2 cells, 2 runs; about" in capsys.readouterr().out
    res = json.loads((tmp_path / "kanai_readings_ci.json").read_text())
    assert [r["reading"] for r in res["runs"]] == ["book", "mean-over-steps"]
    assert set(res["provenance"]["choices"]) == {"book", "mean-over-steps"}
    scale = gru_experiments.gradient_scale(res["runs"], 5.0)
    book, mean = scale[("book", "clip", 0)], scale[("mean-over-steps", "clip", 0)]
    # the first iteration is the same network on the same segment: the mean is the sum over 35 steps / 35
    assert res["runs"][1]["grad_norm"][0] == pytest.approx(res["runs"][0]["grad_norm"][0] / 35, rel=1e-9)
    assert mean["max"] < book["max"]
    with pytest.raises(ValueError, match="experiment"):
        experiments.kanai("fig7", settings.load("kanai_fig1", "ci"))


def test_gradient_scale_summarizes_a_hand_made_trace():
    g = [1.0] * 30 + [10.0] + [1.0] * 9
    rho = [0.75] * 29 + [1.2, 0.8] + [0.75] * 10
    row = {"reading": "r", "method": "clip", "seed": 0, "grad_norm": g[:-1] + [None], "rho_J": rho, "stopped_at": 39}
    out = gru_experiments.gradient_scale([row], threshold=5.0)[("r", "clip", 0)]
    assert out["explosions"] == [30] and out["crossings"] == [29] and out["stopped_at"] == 39
    assert out["unstable"] == [] and out["followed"] == [29]  # rho(J) was back at 0.8 when the norm exploded
    # the 2 largest norms: 10 at iteration 30 (rho 0.8) and a 1 (rho 0.75); then 10 and 5 at iteration 29 (rho 1.2)
    assert gru_experiments.largest_at_unstable([row], 2)[("r", "clip", 0)] == 0
    row["grad_norm"][29] = 5.0
    assert gru_experiments.largest_at_unstable([row], 2)[("r", "clip", 0)] == 1
    assert out["max"] == 10.0 and out["median"] == 1.0 and out["mean"] == pytest.approx(48 / 39)
    assert out["above_threshold"] == pytest.approx(1 / 40) and out["max_rho"] == 1.2


# ----------------------------------------------------------------------------- Table 1
def test_table1_settings_are_checked_and_give_the_columns_of_the_table():
    s = settings.load("kanai_table1", "paper")
    assert s.settings() == [("project", d) for d in (0.2, 0.5, 0.8, 1.1, 1.4)] + \
        [("clip", t) for t in (5.0, 10.0, 15.0, 20.0)]
    assert set(s.settings()) == set(gru_experiments.PAPER_TABLE1)
    assert (s.n_hidden, s.epochs, s.seeds, s.train_tokens) == (650, 75, 5, 0)
    assert s.schedule().lr_at(9, []) == 1.0 and s.schedule().lr_at(10, []) == pytest.approx(1 / 1.1)
    for bad, match in (({"deltas": (0.2, 2.0)}, "deltas"), ({"thresholds": (5.0, 5.0)}, "thresholds"),
                       ({"deltas": (), "thresholds": ()}, "both"), ({"decay": 0.5}, "factor"),
                       ({"train_tokens": -1}, "train_tokens")):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(s, **bad)
    keys = [c.key for c in experiments.cells("kanai_table1", settings.load("kanai_table1", "ci"))]
    assert keys[0] == "project-0.2_s0" and keys[-1] == "clip-20_s0" and len(keys) == 9


def test_table1_runs_through_the_command_and_every_column_starts_from_the_same_model(tmp_path, capsys):
    args = ["kanai_table1", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    assert "kanai_table1 at ci: 9 cells, 9 runs; about" in capsys.readouterr().out
    rows = json.loads((tmp_path / "kanai_table1_ci.json").read_text())["runs"]
    assert len({r["initial_valid"] for r in rows}) == 1  # same weights, no dropout in evaluation
    s = settings.load("kanai_table1", "ci")
    for r in rows:
        assert len(r["history"]) == s.epochs and r["test"] is not None
        assert [h["lr"] for h in r["history"]] == pytest.approx([1.0, 1 / 1.1])
        if r["method"] == "project":
            assert max(h["sigma1"][0] for h in r["history"]) <= 2 - r["value"] + 1e-9
    table = gru_experiments.table1_summary(rows)
    assert set(table) == set(s.settings()) and all(v["runs"] == 1 for v in table.values())


def test_table1_summary_counts_successes_and_averages_perplexity_over_them():
    import math
    rows = [{"method": "clip", "value": 10.0, "seed": k, "success": ok, "best_valid": v, "test": t}
            for k, (ok, v, t) in enumerate([(True, 4.6, 4.5), (False, 4.7, 4.6), (True, 4.8, 4.7)])]
    rows.append({"method": "clip", "value": 20.0, "seed": 0, "success": False, "best_valid": None, "test": None})
    out = gru_experiments.table1_summary(rows)
    ten = out[("clip", 10.0)]
    assert ten["runs"] == 3 and ten["success"] == pytest.approx(2 / 3)
    ppl = [math.exp(4.6), math.exp(4.8)]
    assert ten["valid"][0] == pytest.approx(sum(ppl) / 2) and ten["valid"][1] == pytest.approx(abs(ppl[1] - ppl[0]) / 2)
    assert out[("clip", 20.0)] == {"runs": 1, "success": 0.0, "valid": None, "test": None}


# ----------------------------------------------------------------------------- Table 2
def test_table2_settings_are_the_papers_and_are_checked():
    s = settings.load("kanai_table2", "paper")
    assert s.settings() == [("project", d) for d in (0.2, 0.5, 0.8, 1.1, 1.4)] + \
        [("clip", t) for t in (15.0, 30.0, 45.0, 60.0)]
    assert set(s.settings()) == set(gru_experiments.PAPER_TABLE2)
    assert (s.n_hidden, s.n_layers, s.seeds, s.corpus, s.train_frames) == (200, 2, 5, "Nottingham", 0)
    sched = s.schedule()  # 0.1, divided by 1.25 after 10 epochs without improvement, down to 1e-4
    # the first epoch improves on nothing; 10 epochs without improvement after it divide the rate
    assert sched.kind == "plateau" and sched.lr_at(10, [1.0] * 10) == 0.1
    assert sched.lr_at(11, [1.0] * 11) == pytest.approx(0.1 / 1.25)
    assert sched.lr_at(11, [1.0 - k / 100 for k in range(11)]) == 0.1 and sched.min_lr == 1e-4
    for bad, match in (({"corpus": "JSB"}, "corpus"), ({"patience": 0}, "patience"), ({"min_lr": -1.0}, "min_lr"),
                       ({"n_layers": 0}, "n_layers"), ({"deltas": (2.5,)}, "deltas")):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(s, **bad)


@pytest.mark.skipif(natural.unavailable("Nottingham") is not None, reason="Nottingham is not in $REPROLIB_DATA or the cache")
def test_table2_runs_through_the_command_on_nottingham_with_eq_10(tmp_path, capsys):
    args = ["kanai_table2", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    assert "kanai_table2 at ci: 9 cells, 9 runs; about" in capsys.readouterr().out
    res = json.loads((tmp_path / "kanai_table2_ci.json").read_text())
    rows = res["runs"]
    assert len({r["initial_valid"] for r in rows}) == 1  # every column starts from the same model
    assert 88 * 0.5 < rows[0]["initial_valid"] < 88 * 0.8  # ~ 88 log 2: every key at probability ~1/2 at first
    s = settings.load("kanai_table2", "ci")
    for r in rows:
        assert len(r["history"]) == s.epochs and r["test"] is not None
        if r["method"] == "project":
            assert max(max(h["sigma1"]) for h in r["history"]) <= 2 - r["value"] + 1e-9  # both layers' W_hh
    assert res["provenance"]["choices"]["music"]["eq10"].startswith("the projection also keeps")
    table = gru_experiments.table1_summary(rows, perplexity=False)
    assert set(table) == set(s.settings())
    ok = next(r for r in rows if r["success"])  # one run per column: its mean is its NLL per frame, not its exp
    assert table[(ok["method"], ok["value"])]["valid"][0] == pytest.approx(ok["best_valid"])


# ----------------------------------------------------------------------------- Table 3
def test_table3_times_the_three_columns_of_the_paper(tmp_path):
    s = settings.load("kanai_table3", "paper")
    assert s.settings() == [("project", 0.2), ("project-full", 0.2), ("clip", 5.0)]
    assert {m for m, _ in s.settings()} == set(gru_experiments.PAPER_TABLE3)
    with pytest.raises(ValueError, match="svds"):
        dataclasses.replace(s, svds=("truncated", "randomized"))
    args = ["kanai_table3", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path), "--no-progress"]
    assert experiments.main(args) == 0
    res = json.loads((tmp_path / "kanai_table3_ci.json").read_text())
    times = gru_experiments.table3_times(res["runs"], res["provenance"])
    assert set(times) == set(s.settings()) and times[("clip", 5.0)]["ratio"] == 1.0
    full, trunc = (next(r for r in res["runs"] if r["method"] == m) for m in ("project-full", "project"))
    assert full["test"] == pytest.approx(trunc["test"], rel=1e-9)  # the same training by both routes
    cell = res["provenance"]["cells"]["project-full-0.2_s0"]["train_seconds"]
    assert times[("project-full", 0.2)]["mean"] == cell
