"""Sweeps on Dask: the same bytes however the cells are spread, finished cells kept, failures recorded."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprolib import experiments, settings, sweeps

ROOT = Path(__file__).resolve().parent.parent


def _ci(**changes):
    return dataclasses.replace(settings.load("fig7", "ci"), **changes)


def test_serial_and_two_workers_give_byte_identical_runs(tmp_path):
    s = _ci(inits={"smart_tanh": [10, 20], "sigmoid": [10]})
    serial, out1, grid = experiments.run("fig7", s, workers=0, progress=False)
    parallel, out2, _ = experiments.run("fig7", s, workers=2, progress=False)
    assert json.dumps(serial) == json.dumps(parallel)
    assert [r["init"] for r in serial] == ["smart_tanh"] * 12 + ["sigmoid"] * 6  # the grid's order
    assert not out1.failed and not out2.failed
    assert {i["worker"].startswith("local pid") for i in out1.info.values()} == {True}
    assert not any(i["worker"].startswith("local pid") for i in out2.info.values())  # ran on Dask workers
    assert [c.key for c in grid] == ["smart_tanh_T10", "smart_tanh_T20", "sigmoid_T10"]


def test_a_finished_cell_is_never_run_again_and_new_grid_points_keep_the_old_ones(tmp_path):
    s = _ci()
    rows, out, _ = experiments.run("fig7", s, results_dir=tmp_path, progress=False)
    assert not any(i["reused"] for i in out.info.values())
    again, out2, _ = experiments.run("fig7", s, results_dir=tmp_path, progress=False)
    assert again == rows and all(i["reused"] for i in out2.info.values())
    assert out2.info == {k: {**v, "reused": True} for k, v in out.info.items()}  # times and workers of the first
    wider = dataclasses.replace(s, inits={"smart_tanh": [10, 20, 30]})
    _, out3, _ = experiments.run("fig7", wider, results_dir=tmp_path, progress=False)
    assert {k: v["reused"] for k, v in out3.info.items()} == {"smart_tanh_T10": True, "smart_tanh_T20": True,
                                                              "smart_tanh_T30": False}
    other = dataclasses.replace(s, lr=0.02)  # other settings: every cell again
    _, out4, _ = experiments.run("fig7", other, results_dir=tmp_path, progress=False)
    assert not any(i["reused"] for i in out4.info.values())


def test_a_killed_sweep_resumes_and_ends_with_the_same_runs(tmp_path):
    s = _ci(inits={"smart_tanh": [10, 12, 14, 16, 18, 20, 22, 24]}, max_updates=400, test_every=400,
            checkpoint_every=100)
    script = ("import sys, dataclasses, json\n"
              "from reprolib import experiments, settings\n"
              "s = settings.from_dict('fig7', json.loads(sys.argv[1]))\n"
              "experiments.run('fig7', s, results_dir=sys.argv[2], progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(s.to_dict()), str(tmp_path)], cwd=ROOT)
    store = tmp_path / "cells" / "fig7_ci"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(store.glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in store.glob("*.json"))
    assert 2 <= len(done) < 8, "the sweep should have been killed half-way"
    resumed, out, _ = experiments.run("fig7", s, results_dir=tmp_path, progress=False)
    assert sum(i["reused"] for i in out.info.values()) == len(done)
    straight, _, _ = experiments.run("fig7", s, progress=False)
    assert json.dumps(resumed) == json.dumps(straight)


def _flaky(marker: str, fail_times: int):
    """Fails the first ``fail_times`` calls (counted in the file ``marker``), then returns 7."""
    path = Path(marker)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls <= fail_times:
        raise RuntimeError(f"planted failure {calls}")
    return {"rows": [], "train_seconds": 0.0, "sessions": []}


def test_a_failing_cell_is_retried_once_then_recorded_and_the_sweep_goes_on(tmp_path):
    cells = [sweeps.Cell("once", _flaky, (str(tmp_path / "once"), 1), "t"),
             sweeps.Cell("always", _flaky, (str(tmp_path / "always"), 99), "t"),
             sweeps.Cell("fine", _flaky, (str(tmp_path / "fine"), 0), "t")]
    out = sweeps.run(cells, store=tmp_path / "store", workers=0, progress=False)
    assert set(out.results) == {"once", "fine"} and list(out.failed) == ["always"]
    assert "planted failure 2" in out.failed["always"] and "Traceback" in out.failed["always"]
    assert (tmp_path / "once").read_text() == "2" and (tmp_path / "always").read_text() == "2"
    assert sorted(p.stem for p in (tmp_path / "store").glob("*.json")) == ["fine", "once"]  # failures not stored


def test_a_cell_that_raises_on_a_dask_worker_is_recorded_with_its_traceback(tmp_path):
    s = settings.load("tables", "ci")
    data = s.to_dict()
    cells = [sweeps.Cell("good", experiments.tables_cell, (data, len(s.models) - 1), "a"),
             sweeps.Cell("bad", experiments.tables_cell, (data, 99), "b")]  # no model 99: IndexError
    out = sweeps.run(cells, workers=1, progress=False)
    assert list(out.results) == ["good"] and "IndexError" in out.failed["bad"]


def test_the_command_records_failed_and_missing_cells(tmp_path, monkeypatch, capsys):
    cell = experiments.fig7_cell

    def broken(data, init_name, T, checkpoint=None):
        if T == 20:
            raise ValueError("planted")
        return cell(data, init_name, T, checkpoint)

    monkeypatch.setattr(experiments, "fig7_cell", broken)
    code = experiments.main(["fig7", "--profile", "ci", "--workers", "0", "--results-dir", str(tmp_path),
                             "--no-progress"])
    assert code == 1
    data = json.loads((tmp_path / "fig7_ci.json").read_text())
    prov = data["provenance"]
    assert prov["missing"] == ["smart_tanh_T20"] and "planted" in prov["failed"]["smart_tanh_T20"]
    assert {r["T"] for r in data["runs"]} == {10}
    assert "cell smart_tanh_T20 failed twice" in capsys.readouterr().err


def test_arguments_are_checked():
    cell = sweeps.Cell("a", _flaky, ("x", 0), "t")
    with pytest.raises(TypeError, match="cells"):
        sweeps.run(["a"], workers=0)
    with pytest.raises(ValueError, match="distinct"):
        sweeps.run([cell, cell], workers=0)
    with pytest.raises(ValueError, match="workers"):
        sweeps.run([cell], workers=-1)
    with pytest.raises(ValueError, match="not both"):
        sweeps.run([cell], workers=2, scheduler="tcp://localhost:8786")
    with pytest.raises(SystemExit):
        experiments.main(["fig7", "--profile", "ci", "--workers", "2", "--scheduler", "tcp://x:1"])


def test_a_damaged_stored_cell_is_named(tmp_path):
    cell = sweeps.Cell("a", _flaky, (str(tmp_path / "m"), 0), "t")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ValueError, match="a.json cannot be read"):
        sweeps.run([cell], store=tmp_path, workers=0, progress=False)


def test_the_cost_model_counts_the_grid_and_scales_with_the_budget():
    s = settings.load("tables", "ci")
    c = experiments.cost("tables", s, updates=2)
    assert (c["cells"], c["runs"]) == (len(s.models), len(s.models) * s.seeds)
    assert set(c["per_cell"]) == {cell.key for cell in experiments.cells("tables", s)}
    assert c["worker_hours"] == pytest.approx(sum(c["per_cell"].values())) and c["worker_hours"] > 0
    with pytest.raises(ValueError, match="updates"):
        experiments.cost("tables", s, updates=0)


def test_cells_go_to_a_running_cluster_given_by_its_address():
    import operator

    from distributed import LocalCluster

    cells = [sweeps.Cell(f"c{k}", operator.mul, (k, 3), "t") for k in range(5)]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        out = sweeps.run(cells, scheduler=cluster.scheduler_address, progress=False)
        assert len(cluster.scheduler.workers) == 1  # the command's end leaves the cluster running
    assert out.results == {f"c{k}": 3 * k for k in range(5)} and not out.failed
    assert all(not i["worker"].startswith("local pid") for i in out.info.values())


def _malloc_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}


def test_workers_keep_large_allocations_off_mmap():
    """A worker whose glibc trim threshold is set must also have its mmap threshold set (setting one turns off
    the adaptive other; every tensor above 128 KiB would then be mapped and unmapped page by page)."""
    out = sweeps.run([sweeps.Cell("env", _malloc_env, (), "t")], workers=1, progress=False)
    env = out.results["env"]
    assert "MALLOC_TRIM_THRESHOLD_" in env and int(env["MALLOC_MMAP_THRESHOLD_"]) >= 16 * 2**20
