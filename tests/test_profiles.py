"""Parameter files against the notebooks' parameter cells, and the `paper` profile on the CPU."""

import jupytext
import papermill
import pytest
import torch

from reprolib import pipeline, profiles

CHAPTERS = pipeline.chapters()

#: per-chapter overrides that shrink only the *number of repetitions* of a `paper` run so the
#: smoke test stays short; sizes (units, lengths, batch) stay at the paper's values.
#: Chapter 1 is cheap enough to run at the full paper profile.
PAPER_SMOKE_OVERRIDES = {
    "01_linear_proof": {},
    "02_nonlinear_bound": {"n_rho": 4, "n_networks": 2, "n_s": 3, "n_nn_networks": 2, "n_scales": 4, "n_sat_networks": 1},
    "03_geometry": {"n_grid": 401, "n_starts": 16, "n_lines": 2, "n_gains": 10},
    "04_bifurcations": {"n_b": 201, "n_sequences": 200, "n_plane": 200, "n_sequences2": 16},
    "05_clipping": {"updates": 400, "sample_every": 100, "window": 100, "zoom": 200, "n_test": 1000, "n_gains": 4,
                    "n_path": 6},
    "06_omega": {"n_grad_seeds": 1, "grad_updates": 300, "n_cmp_seeds": 1, "max_updates": 1000, "l2_lambdas": [0.0, 0.05],
                 "n_l2_seeds": 1, "l2_updates": 500},
    "07_gru_stability": {"n_matrices": 200, "n_cells": 4, "iterations": 1, "bench_reps": 1},  # an iteration ~35 s (rho(J) at every step)
    # every (init, length) and model of the paper's experiments would take GPU-days: the longest length per
    # initialization, one seed, two updates; the tables keep all 13 models and all their test lengths
    "08a_synthetic": {"fig7_overrides": {"inits": {"sigmoid": [250], "basic_tanh": [250], "smart_tanh": [250]},
                                         "seeds": 1, "max_updates": 2, "test_every": 1, "n_test": 100},
                      "tables_overrides": {"seeds": 1, "max_updates": 2, "test_every": 1, "n_test": 100}},
    # the papers' models at their sizes, one seed, one epoch; one model per experiment, and a slice of the text
    "08b_natural": {"music_overrides": {"seeds": 1, "epochs": 1}, "chars_overrides": {"seeds": 1, "epochs": 1, "text_chars": 2000},
                    "only_models": ["main_JSB_Chorales", "supplement_PTB"]},
    # the paper's size (650 units), one seed, two iterations; every reading with clipping only; one column of Table 1
    "08c_gru_experiments": {"readings_overrides": {"seeds": 1, "iterations": 2, "methods": ["clip"]},
                            "fig1_overrides": {"seeds": 1, "iterations": 2},
                            "table1_overrides": {"seeds": 1, "epochs": 1, "train_tokens": 2820, "eval_tokens": 1420,
                                                 "deltas": [0.2], "thresholds": []},
                            "table2_overrides": {"seeds": 1, "epochs": 1, "train_frames": 2820, "eval_frames": 1420,
                                                 "deltas": [0.2], "thresholds": []},
                            "table3_overrides": {"epochs": 1, "train_tokens": 2820, "eval_tokens": 1420}},
}


parameters_cell = profiles.parameters_cell


def test_there_is_at_least_one_chapter():
    assert "01_linear_proof" in CHAPTERS


@pytest.mark.parametrize("name", CHAPTERS)
def test_ci_parameter_file_equals_the_notebook_defaults(name):
    """A notebook run by itself is the `ci` run."""
    assert profiles.load(name, "ci") == parameters_cell(name)


@pytest.mark.parametrize("name", CHAPTERS)
def test_paper_parameter_file_sets_the_same_names(name):
    paper = profiles.load(name, "paper")
    assert set(paper) == set(parameters_cell(name))
    assert paper["profile"] == "paper"


@pytest.mark.parametrize("name", CHAPTERS)
def test_paper_profile_runs_on_the_cpu(name, tmp_path):
    assert name in PAPER_SMOKE_OVERRIDES, f"add {name} to PAPER_SMOKE_OVERRIDES"
    # one thread: the test files run in one process per core (a paper profile's threads: 0 would oversubscribe)
    params = {**profiles.load(name, "paper"), **PAPER_SMOKE_OVERRIDES[name], "device": "cpu", "threads": 1}
    source = tmp_path / f"{name}.ipynb"
    jupytext.write(jupytext.read(pipeline.NOTEBOOKS / f"{name}.py"), source)
    papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), parameters=params,
                               kernel_name="python3", cwd=str(profiles.ROOT), progress_bar=False)


def test_unknown_profile_or_chapter_raises():
    with pytest.raises(ValueError, match="profile"):
        profiles.load("01_linear_proof", "gpu")
    with pytest.raises(ValueError, match="chapter"):
        profiles.load("99_missing", "ci")


def test_setup_validates_and_picks_cpu_here():
    with pytest.raises(ValueError, match="device"):
        profiles.pick_device("tpu")
    with pytest.raises(ValueError, match="threads"):
        profiles.setup(0, threads=-1)
    with pytest.raises(TypeError, match="seed"):
        profiles.generator("0")
    if not torch.cuda.is_available():
        assert profiles.pick_device("auto").type == "cpu"


def test_a_chapter_name_cannot_leave_the_params_folder():
    with pytest.raises(ValueError, match="chapter"):
        profiles.load("../experiments/fig7", "ci")


def test_seeds_are_checked_not_wrapped():
    import numpy as np
    with pytest.raises(ValueError, match="seed"):
        profiles.generator(-1)
    with pytest.raises(ValueError, match="seed"):
        profiles.generator(2**64)
    # torch's CPU generator keeps only the low 32 bits: 2**32 would draw what 0 draws, so it is refused
    assert torch.equal(torch.rand(3, generator=torch.Generator().manual_seed(2**32)),
                       torch.rand(3, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="seed"):
        profiles.generator(2**32)
    profiles.generator(2**32 - 1)
    assert torch.equal(torch.rand(3, generator=profiles.generator(np.int64(5))),
                       torch.rand(3, generator=profiles.generator(5)))


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_a_ci_and_a_paper_file_and_they_pass_the_check(name):
    assert profiles.available(name) == ("ci", "paper")  # the cpu profile belongs to the long experiments
    for profile in profiles.available(name):
        profiles.check_parameters(name, profile, profiles.load(name, profile))


def test_loading_a_chapters_file_checks_it_against_the_notebook(tmp_path, monkeypatch):
    (tmp_path / "params" / "ci").mkdir(parents=True)
    (tmp_path / "params" / "ci" / "07_gru_stability.yaml").write_text("n_hidden: '64'\n")
    monkeypatch.setattr(profiles, "ROOT", tmp_path)
    with pytest.raises(ValueError, match="params/ci/07_gru_stability.yaml: parameter 'n_hidden' must be of type int"):
        profiles.load("07_gru_stability", "ci")


def test_an_unknown_or_mistyped_parameter_is_refused():
    with pytest.raises(ValueError, match="unknown parameter 'n_hiden'"):
        profiles.check_parameters("07_gru_stability", "ci", {"n_hiden": 64})
    with pytest.raises(ValueError, match="'n_hidden' must be of type int"):
        profiles.check_parameters("07_gru_stability", "ci", {"n_hidden": "64"})
    with pytest.raises(ValueError, match="'lr' must be of type float"):
        profiles.check_parameters("07_gru_stability", "ci", {"lr": True})
    profiles.check_parameters("07_gru_stability", "ci", {"lr": 1})  # an int where a float is expected


def test_the_chapter_preamble_sets_threads_device_and_draws_from_the_chapters_generator(capsys):
    import threadpoolctl

    before = torch.get_num_threads()
    try:
        ch = profiles.start("ci", 7, threads=1, device="cpu", dtype=torch.float64)
        assert capsys.readouterr().out == "profile ci, device cpu\n"
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas")
        x = ch.randn(3, 2)
        assert x.dtype == torch.float64 and x.device.type == "cpu"
        assert torch.equal(x, torch.randn(3, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64))
        assert ch.randn(2, dtype=torch.float32).dtype == torch.float32
        profiles.start("paper", 0, threads=1, device="cpu", note="live runs: fig7 at 'cpu'")
        assert capsys.readouterr().out == "profile paper, device cpu; live runs: fig7 at 'cpu'\n"
        with pytest.raises(ValueError, match="profile"):
            profiles.start("gpu", 0)
        with pytest.raises(TypeError, match="dtype"):
            profiles.start("ci", 0, dtype=torch.int64)
    finally:
        torch.set_num_threads(before)
        threadpoolctl.threadpool_limits(limits=before, user_api="blas")


def test_the_profile_comes_from_the_folder_not_the_file(tmp_path, monkeypatch):
    (tmp_path / "params" / "ci").mkdir(parents=True)
    (tmp_path / "params" / "ci" / "01_x.yaml").write_text("seed: 3\n")
    monkeypatch.setattr(profiles, "ROOT", tmp_path)
    assert profiles.load("01_x", "ci") == {"profile": "ci", "seed": 3}
    (tmp_path / "params" / "ci" / "01_x.yaml").write_text("profile: paper\nseed: 3\n")
    with pytest.raises(ValueError, match="sets 'profile'"):
        profiles.load("01_x", "ci")
