"""reprolib.natural: the natural tasks as cells of a sweep, checked against the readable trainer."""

import dataclasses
import math
import statistics

import pytest
import torch

from reprolib import data, experiments, natural, sequence, settings

HAVE_MUSIC = any((d / "music" / "JSB_Chorales.mat").is_file() for d in data.data_dirs())
needs_music = pytest.mark.skipif(not HAVE_MUSIC, reason=f"the music corpora are not in {data.DATA_ENV} or the cache")


def tiny(experiment: str, **model) -> settings.Natural:
    """The ci settings of ``experiment`` with one small float64 model (its first, changed by ``model``)."""
    s = settings.load(experiment, "ci")
    m = dataclasses.replace(s.models[-1], **model)
    return dataclasses.replace(s, models=(m,), dtype="float64", epochs=2, text_chars=3000)


def readable(s: settings.Natural, m: settings.SeqModel) -> list[dict]:
    """The rows of a cell by the independent route: one sequence.fit per run, then sequence.evaluate."""
    split = {name: natural.load(m.corpus, name, s.text_chars) for name in data.SPLITS}
    n_in = None if m.kind == "music" else len(natural.vocabulary(m.corpus))
    out = []
    for run in natural.runs(m, s.seeds):
        fit = sequence.fit(m.kind, split["train"], split["valid"], run, s.epochs, n_in=n_in, dtype=torch.float64)
        out.append({"best_epoch": fit.best_epoch, **{name: sequence.evaluate(m.kind, fit.params, m.sigma, split[name], run,
                                                                             fit.leak, n_in) for name in data.SPLITS}})
    return out


def check_cell_against_readable(experiment, s):
    got = natural.cell(experiment, s.to_dict(), 0)
    m = s.models[0]
    want = readable(s, m)
    assert [(r["method"], r["seed"]) for r in got["rows"]] == [(x.name, seed) for x in m.methods for seed in range(s.seeds)]
    for g, w in zip(got["rows"], want):
        assert g["best_epoch"] == w["best_epoch"]
        for name in data.SPLITS:
            assert g[name] == pytest.approx(w[name], rel=1e-9, abs=1e-12)
        assert len(g["history"]) == s.epochs and set(g["history"][0]["norms"]) == {"min", "q10", "median", "q90", "max"}


def test_a_character_cell_equals_one_readable_fit_per_run():
    s = tiny("chars", n_hidden=8, segment=20, batch_size=4)
    check_cell_against_readable("chars", s)


@needs_music
def test_a_music_cell_with_leaky_units_and_an_alpha_schedule_equals_the_readable_route():
    s = tiny("music", n_hidden=16, n_leaky=4, segment=30)
    assert s.models[0].methods[-1].alpha.kind == "1/(2t)"
    music = dataclasses.replace(s, epochs=2)
    check_cell_against_readable("music", music)


def test_the_summary_is_the_mean_and_sample_std_over_seeds():
    rows = [{"setup": "main", "corpus": "PTB", "horizon": 1, "method": "BPTT", "seed": k, "train": t, "test": v}
            for k, (t, v) in enumerate([(1.0, 2.0), (2.0, 4.0), (4.0, 9.0)])]
    got = natural.summary(rows)[("main", "PTB", 1, "BPTT")]
    assert got["runs"] == 3
    assert got["train"] == pytest.approx((7 / 3, statistics.stdev([1.0, 2.0, 4.0])))
    assert got["test"][0] == pytest.approx(5.0) and got["test"][1] == pytest.approx(((9 + 1 + 16) / 2) ** 0.5)


def test_a_corpus_missing_here_is_skipped_and_named(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = settings.load("chars", "paper")
    why = natural.unavailable("text8")
    assert why.startswith("data not available: text8.zip is neither in $REPROLIB_DATA")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "elsewhere"))
    assert natural.unavailable("text8") == why  # the same words on every machine (the chapter prints them)
    assert natural.unavailable("PTB") is None
    assert set(natural.skipped(s)) == {"main_text8"}
    assert [c.key for c in natural.cells("chars", s)] == ["supplement_PTB", "supplement_PTB_h5"]


def test_a_text_slice_keeps_the_first_characters():
    whole = natural.load("PTB", "valid")
    assert natural.load("PTB", "valid", 500).tolist() == whole[:500].tolist()
    assert len(natural.vocabulary("PTB")) == 50 and natural.vocabulary("text8")[0] == " "


@pytest.mark.parametrize("bad,err,match", [
    (lambda: natural.unavailable("Bach"), ValueError, "corpus must be one of"),
    (lambda: natural.vocabulary("JSB_Chorales"), ValueError, "corpus must be one of"),
    (lambda: natural.load("Bach", "train"), ValueError, "corpus must be one of"),
    (lambda: settings.SeqMethod("MSGD", 0.0, None, 0), ValueError, "lr must be"),
    (lambda: settings.SeqMethod("MSGD", 1.0, -1.0, 0), ValueError, "threshold must be"),
    (lambda: settings.SeqMethod("MSGD-CR", 1.0, 8.0, {"alpha0": 1.0, "kind": "1/t^2"}), ValueError, "kind must be one of"),
    (lambda: settings.SeqMethod("MSGD-CR", 1.0, 8.0, {"alpha0": 1.0, "gamma": 2}), ValueError, "unknown keys"),
])
def test_bad_inputs_are_named(bad, err, match):
    with pytest.raises(err, match=match):
        bad()


def test_a_model_and_the_settings_refuse_what_cannot_be_trained():
    s = settings.load("music", "ci")
    m = s.models[0]
    with pytest.raises(ValueError, match="distinct names"):
        dataclasses.replace(m, methods=(m.methods[0], m.methods[0]))
    with pytest.raises(ValueError, match="n_leaky must be at most"):
        dataclasses.replace(m, n_leaky=m.n_hidden + 1)
    with pytest.raises(ValueError, match="corpus must be one of"):
        dataclasses.replace(m, corpus="Bach")
    with pytest.raises(ValueError, match="must differ in set-up, corpus or horizon"):
        dataclasses.replace(s, models=(m, m))
    with pytest.raises(ValueError, match="models of the other kind"):
        experiments.cells("chars", s)


def test_the_summed_cost_has_the_segment_length_times_the_gradient_norm_of_the_mean():
    m = dataclasses.replace(settings.load("chars", "ci").models[0], n_hidden=8, segment=20, batch_size=4)
    norms = natural.initial_norms(m, segments=5, text_chars=3000)
    assert len(norms["mean"]) == len(norms["sum"]) == 5
    for a, b in zip(norms["mean"], norms["sum"]):  # full segments: sum over 20 steps = 20 x the mean
        assert b == pytest.approx(20 * a, rel=1e-12)
    with pytest.raises(ValueError, match="segments must be >= 1"):
        natural.initial_norms(m, segments=0)


def test_the_cost_model_charges_every_cell_its_epochs_and_evaluation_passes(monkeypatch):
    s = tiny("chars", n_hidden=8, segment=20, batch_size=4)
    m = s.models[0]
    passes = {split: natural.segments_per_pass(m, split, s.text_chars) for split in data.SPLITS}
    assert passes["train"] == math.ceil((3000 // 4 - 1) / 20)  # 4 streams of 750 characters, 20-step segments
    monkeypatch.setattr(natural, "_median_seconds", lambda fn, repeats: 1.0)  # an update and a forward pass: 1 s each
    runs = len(m.methods) * s.seeds
    want = passes["train"] * s.epochs + runs * (passes["valid"] * s.epochs + sum(passes.values()))
    assert natural.cost(s, updates=1) == {m.name: pytest.approx(want / 3600)}


def test_the_sizes_of_the_penn_treebank_characters():
    n = natural.sizes("PTB")
    assert [n[s]["characters"] for s in data.SPLITS] == [5_017_482, 393_042, 442_423]


@needs_music
def test_the_sizes_of_jsb_chorales_are_the_published_splits():
    n = natural.sizes("JSB_Chorales")
    assert [(n[s]["pieces"], n[s]["frames"]) for s in data.SPLITS] == [(229, 13_807), (76, 4_602), (77, 4_725)]
    assert 3 < n["train"]["keys_per_frame"] < 5  # four-part chorales: mostly four keys per frame
