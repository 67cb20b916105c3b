"""The build pipeline: failures are named and fail the build; references keep text only."""

import json
import re

import nbformat
import pytest

from reprolib import pipeline

HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   reprolib:
#     reproduces: "a test chapter"
# ---

"""


def test_unknown_chapter_is_refused():
    with pytest.raises(ValueError, match="only"):
        pipeline.chapters("99_nope")


def test_strip_for_regression_keeps_text_and_drops_images():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("stream", name="stdout", text="rate 0.1823\n")]
    cell.metadata["papermill"] = {"duration": 1.0}
    nb.cells.append(cell)
    nb.metadata["papermill"] = {"start_time": "now"}
    out = pipeline.strip_for_regression(nb)
    assert out.cells[0].outputs[0].data == {"text/plain": "<Figure>"}
    assert out.cells[0].outputs[1].text == "rate 0.1823\n"
    assert "papermill" not in out.metadata and "papermill" not in out.cells[0].metadata
    assert out.cells[0].id == "cell-000"  # stable ids: re-generated references diff only in outputs


def _book(tmp_path, monkeypatch, sources: dict):
    """A book of tiny chapters in tmp_path, wired into the pipeline."""
    notebooks, params = tmp_path / "notebooks", tmp_path / "params" / "ci"
    notebooks.mkdir()
    params.mkdir(parents=True)
    for name, source in sources.items():
        (notebooks / f"{name}.py").write_text(HEADER + "# %% tags=['parameters']\nseed = 0\n\n# %%\n" + source + "\n")
        (params / f"{name}.yaml").write_text("seed: 1\n")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(pipeline, "PARAMS", tmp_path / "params")
    monkeypatch.setattr(pipeline, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(pipeline, "CHAPTERS", tmp_path / "chapters")
    monkeypatch.setattr(pipeline, "TIMINGS", tmp_path / "chapters" / "timings.json")
    monkeypatch.setattr(pipeline, "REPORT", tmp_path / "report.md")
    monkeypatch.setattr(pipeline, "CLAIMS", tmp_path / "claims.md")
    monkeypatch.setattr(pipeline, "GLANCE", tmp_path / "glance.md")
    monkeypatch.setattr(pipeline, "GLANCE_IMAGES", tmp_path / "_static" / "glance")
    monkeypatch.setattr(pipeline, "REGRESSION", tmp_path / "regression")
    monkeypatch.setattr(pipeline, "load", lambda name, profile: {"seed": 1})
    monkeypatch.setattr(pipeline, "available", lambda name: ("ci", "paper"))
    monkeypatch.setattr(pipeline, "default_jobs", lambda: 1)  # the patched paths exist in this process only
    (tmp_path / "chapters").mkdir()


CHECK = "from reprolib.claims import check\ncheck('{id}', 'the claim', {held}, source='Pascanu eq. 4')"


def test_the_build_log_is_one_line_per_chapter(tmp_path, monkeypatch, capfd):
    _book(tmp_path, monkeypatch, {"01_a": "print(1)", "02_b": "print(2)"})
    assert pipeline.run("ci", None) == 0
    out, err = capfd.readouterr()
    *lines, total = out.splitlines()
    assert [line.split()[0] for line in lines] == ["01_a", "02_b"] and err == ""
    assert total.startswith("2 chapter(s) in ") and total.endswith(" s of wall time")


def test_chapters_run_in_parallel_processes_longest_first_and_report_failures_by_name():
    # builtins stand in for a chapter's build: they pickle into the pool's processes
    done = list(pipeline.in_parallel(int, ["7", "x", "12"], (), 2, {"12": 9.0, "7": 1.0}))
    assert {(name, result) for name, result, err in done if err is None} == {("7", 7), ("12", 12)}
    (name, result, err), = [d for d in done if d[2] is not None]
    assert name == "x" and result is None and isinstance(err, ValueError)
    assert [d[0] for d in pipeline.in_parallel(int, ["1", "2"], (), 1, {"2": 5.0})] == ["1", "2"]  # given order
    with pytest.raises(ValueError, match="jobs"):
        list(pipeline.in_parallel(int, ["1"], (), 0, {}))


def test_a_failing_cell_fails_the_build_and_names_the_chapter(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_good": "x = 1\nprint(x)", "02_bad": "raise RuntimeError('boom')"})
    assert pipeline.run("ci", None) == 1
    captured = capsys.readouterr()
    assert "FAILED 02_bad" in captured.err and "boom" in captured.err
    assert "01_good" in captured.out
    timings = json.loads((tmp_path / "chapters" / "timings.json").read_text())
    assert timings["01_good"]["status"] == "ok" and timings["02_bad"]["status"] == "FAILED"
    report = (tmp_path / "report.md").read_text()
    assert "| 02_bad | ci |" in report and "FAILED" in report


def test_a_profile_without_chapter_files_runs_nothing_and_says_why(capsys):
    assert pipeline.run("cpu", "05_clipping") == 2
    err = capsys.readouterr().err
    assert "no chapter ran: 05_clipping has no params/cpu/ file" in err and "is for: no chapter" in err


def test_vendor_mathjax_copies_the_combined_file(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "MATHJAX", tmp_path / "mathjax")
    pipeline.vendor_mathjax()
    assert (tmp_path / "mathjax" / "tex-mml-chtml.js").is_file()  # equations render offline


def test_a_failed_check_fails_the_build_and_names_chapter_and_check(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_good": "# # 1. Good\n" + CHECK.format(id="a", held=True),
                                  "02_bad": CHECK.format(id="b", held="1 > 2")})
    assert pipeline.run("ci", None) == 1
    err = capsys.readouterr().err
    assert "FAILED 02_bad" in err and "b (the claim: False, expected True)" in err
    page = (tmp_path / "claims.md").read_text()  # the chapters that passed are on the Claims page
    assert "1 checks in 1 chapters" in page and "| the claim | Pascanu eq. 4 |" in page


def test_a_repeated_check_id_fails_the_chapter(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_twice": CHECK.format(id="a", held=True) + "\n" + CHECK.format(id="a", held=True)})
    assert pipeline.run("ci", None) == 1
    assert "check id 'a' is used twice" in capsys.readouterr().err


def test_a_stale_reference_is_named_with_the_command_that_rewrites_it(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_x": "print(1)"})
    assert pipeline.regression("01_x") == 0
    assert pipeline.stale_reference("01_x") is None
    (tmp_path / "notebooks" / "01_x.py").write_text((tmp_path / "notebooks" / "01_x.py").read_text().replace("print(1)", "print(2)"))
    msg = pipeline.stale_reference("01_x")
    assert "code cell 2 differs" in msg and "'print(2)'" in msg and "make regression NB=01_x" in msg
    monkeypatch.setattr(pipeline, "load", lambda name, profile: {"seed": 2})  # other parameters injected
    assert "code cell 1 differs" in pipeline.stale_reference("01_x")


@pytest.mark.parametrize("name", pipeline.chapters())
def test_every_reference_runs_the_current_notebook(name):
    """nbval re-runs the code stored in tests/regression/, so that code must be the chapter's."""
    problem = pipeline.stale_reference(name)
    assert problem is None, problem


def test_chapters_run_on_the_fixed_kernel_path(tmp_path, monkeypatch):
    """The pipeline's kernels compute with the maths library's code branch fixed (profiles.KERNEL_ENV)."""
    _book(tmp_path, monkeypatch, {"01_env": "import os\nprint(sorted((k, os.environ.get(k)) for k in %r))"
                                            % sorted(pipeline.KERNEL_ENV)})
    monkeypatch.delenv("MKL_CBWR", raising=False)
    assert pipeline.run("ci", None) == 0
    nb = nbformat.read(tmp_path / "chapters" / "01_env.ipynb", as_version=4)
    assert str(sorted(pipeline.KERNEL_ENV.items())) in nb.cells[-1].outputs[0].text
    assert "MKL_CBWR" not in __import__("os").environ  # and the caller's environment is left as it was


def test_a_check_citing_an_unknown_deviation_fails_the_chapter(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_dev": "from reprolib.claims import check\n"
                                            "check('a', 'c', True, source='Pascanu eq. 4', deviation='Z99')"})
    assert pipeline.run("ci", None) == 1
    assert "Z99" in capsys.readouterr().err


def test_every_deviation_id_is_found_on_the_deviations_page():
    ids = pipeline.deviation_ids()
    assert {"N1", "L1", "B1", "K6", "R9", "U17", "S1"} <= ids


@pytest.mark.parametrize("arg", ["NB=x; echo INJECTED > injected", "NB=01_linear_proof; touch injected",
                                 "PROFILE=ci; touch injected", "NB=01_linear_proof 02_nonlinear_bound"])
def test_make_refuses_arguments_that_are_not_a_chapter_or_a_profile(arg, tmp_path):
    import shutil
    import subprocess

    shutil.copy(pipeline.ROOT / "Makefile", tmp_path)
    shutil.copytree(pipeline.NOTEBOOKS, tmp_path / "notebooks")
    done = subprocess.run(["make", "-C", str(tmp_path), "chapter", arg], capture_output=True, text=True)
    assert done.returncode != 0 and "must be" in done.stderr
    assert not (tmp_path / "injected").exists()


def test_a_damaged_timings_file_does_not_abort_the_build(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_ok": "print(1)"})
    (tmp_path / "chapters" / "timings.json").write_text('{"01_ok": {"profile": "ci"')  # cut short
    assert pipeline.run("ci", None) == 0
    assert "ignoring the damaged" in capsys.readouterr().err
    assert json.loads((tmp_path / "chapters" / "timings.json").read_text())["01_ok"]["status"] == "ok"


def test_the_rows_of_deleted_chapters_leave_the_build_report(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_ok": "print(1)"})
    gone = {"profile": "ci", "seconds": 1.0, "status": "ok"}
    (tmp_path / "chapters" / "timings.json").write_text(json.dumps({"09_deleted": gone}))
    assert pipeline.run("ci", None) == 0
    assert set(json.loads((tmp_path / "chapters" / "timings.json").read_text())) == {"01_ok"}


# --- incremental builds: a chapter is executed again only when one of its inputs changed ---------------------


def _counted(monkeypatch, fail=()) -> list:
    """Replace the kernel by a fake execution (an empty notebook and claims file) that records the chapters
    it runs, and raises for those of ``fail``."""
    calls = []

    def execute(name, profile, output):
        calls.append(name)
        if name in fail:
            raise RuntimeError("boom")
        nbformat.write(nbformat.v4.new_notebook(), output)
        pipeline.claims_path(output).write_text("")
        return 2.5

    monkeypatch.setattr(pipeline, "execute", execute)
    return calls


def _fake_library(tmp_path, monkeypatch):
    """A library of two modules, ``claims`` importing ``files``, whose sources the inputs hash."""
    package = tmp_path / "reprolib"
    package.mkdir()
    (package / "claims.py").write_text("from . import files\n")
    (package / "files.py").write_text("X = 1\n")
    monkeypatch.setattr(pipeline.provenance, "PACKAGE", package)
    return package


def test_the_parser_finds_the_library_imports_only():
    source = ("from reprolib import linear, profiles\nfrom reprolib.claims import check\nimport reprolib.data\n"
              "import numpy as np\nfrom os import path\nimport reprolibx\n\ndef f():\n    import reprolib.rnn as r\n")
    assert pipeline.imported_modules(source) == ["claims", "data", "linear", "profiles", "rnn"]
    with pytest.raises(TypeError, match="source"):
        pipeline.imported_modules(b"import reprolib.data")


def test_the_inputs_close_over_imports_and_name_bad_arguments(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_x": "from reprolib.claims import check\nfrom reprolib import __version__",
                                  "02_y": "x = 'results/fig7_cpu.json'"})
    _fake_library(tmp_path, monkeypatch)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "fig7_cpu.json").write_text("{}")
    assert set(pipeline.chapter_inputs("01_x", "ci")["parts"]) == {
        "profile", "notebooks/01_x.py", "params/ci/01_x.yaml", "reprolib/claims.py", "reprolib/files.py"}
    assert "results/fig7_cpu.json" in pipeline.chapter_inputs("02_y", "ci")["parts"]
    with pytest.raises(ValueError, match="name"):
        pipeline.chapter_inputs("99_nope", "ci")
    with pytest.raises(ValueError, match="profile"):
        pipeline.chapter_inputs("01_x", "fast")
    with pytest.raises(TypeError, match="force"):
        pipeline.run("ci", None, force="yes")


def test_an_unchanged_chapter_is_reused_and_stays_on_the_pages(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_checked": "# # 1. Checked\n" + CHECK.format(id="a", held=True),
                                  "02_plain": "print(1)"})
    real, calls = pipeline.execute, []
    monkeypatch.setattr(pipeline, "execute", lambda *args: calls.append(args[0]) or real(*args))
    assert pipeline.run("ci", None) == 0 and calls == ["01_checked", "02_plain"]
    seconds = json.loads((tmp_path / "chapters" / "timings.json").read_text())["01_checked"]["seconds"]
    capsys.readouterr()
    assert pipeline.run("ci", None) == 0 and calls == ["01_checked", "02_plain"]  # no kernel started
    assert "01_checked                   ci     reused (inputs unchanged)" in capsys.readouterr().out
    timings = json.loads((tmp_path / "chapters" / "timings.json").read_text())
    assert timings["01_checked"]["seconds"] == seconds and timings["02_plain"]["reused"]
    assert "| 01_checked | ci |" in (report := (tmp_path / "report.md").read_text())
    assert "| reused (last executed " in report and "| executed |" not in report
    assert "1 checks in 2 chapters" in (tmp_path / "claims.md").read_text()  # the reused chapters too


@pytest.mark.parametrize("edit", ["notebooks/01_uses.py", "params/ci/01_uses.yaml", "reprolib/files.py"])
def test_an_edited_input_re_executes_that_chapter_only(edit, tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_uses": "from reprolib.claims import check", "02_plain": "print(1)"})
    _fake_library(tmp_path, monkeypatch)
    calls = _counted(monkeypatch)
    assert pipeline.run("ci", None) == 0 and calls == ["01_uses", "02_plain"]
    capsys.readouterr()
    with open(tmp_path / edit, "a") as f:
        f.write("\n# edited\n")
    assert pipeline.run("ci", None) == 0 and calls == ["01_uses", "02_plain", "01_uses"]
    out = capsys.readouterr().out
    assert f"(executed: changed: {edit})" in out and "02_plain                     ci     reused" in out
    assert "| 01_uses | ci | 2.5 | ok | executed |" in (tmp_path / "report.md").read_text()


def test_force_re_executes_every_chapter(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_a": "print(1)", "02_b": "print(2)"})
    calls = _counted(monkeypatch)
    assert pipeline.main(["execute"]) == 0 and pipeline.main(["execute"]) == 0 and len(calls) == 2
    assert pipeline.main(["execute", "--force"]) == 0 and calls == ["01_a", "02_b"] * 2


def test_a_failed_chapter_is_never_reused(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_ok": "print(1)", "02_bad": "print(2)"})
    calls = _counted(monkeypatch, fail={"02_bad"})
    assert pipeline.run("ci", None) == 1 and pipeline.run("ci", None) == 1
    assert calls == ["01_ok", "02_bad", "02_bad"]
    assert "02_bad" in capsys.readouterr().out and not (tmp_path / "chapters" / "02_bad.inputs.json").exists()


@pytest.mark.parametrize("gone", ["01_a.ipynb", "01_a.claims.jsonl", "01_a.inputs.json"])
def test_a_missing_output_forces_execution(gone, tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_a": "print(1)"})
    calls = _counted(monkeypatch)
    assert pipeline.run("ci", None) == 0
    (tmp_path / "chapters" / gone).unlink()
    assert pipeline.run("ci", None) == 0 and calls == ["01_a", "01_a"]
    assert f"(executed: {gone} is missing)" in capsys.readouterr().out


def test_a_results_file_is_an_input_of_the_chapters_that_read_results(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_reads": "rates = experiments.load_results", "02_plain": "print(1)"})
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "fig7_cpu.json").write_text("{}")
    calls = _counted(monkeypatch)
    assert pipeline.run("ci", None) == 0
    (tmp_path / "results" / "fig7_cpu.json").write_text('{"runs": []}')
    assert pipeline.run("ci", None) == 0 and calls == ["01_reads", "02_plain", "01_reads"]


@pytest.mark.parametrize("target, force", [("book FORCE=1", True), ("book", False),
                                           ("chapter NB=01_linear_proof", True), ("book FORCE=yes", None)])
def test_make_passes_force_for_one_chapter_or_when_asked(target, force, tmp_path):
    """A dry run (make -n) of the targets, in a copy with an up-to-date venv; FORCE is 1 or nothing."""
    import shutil
    import subprocess

    shutil.copy(pipeline.ROOT / "Makefile", tmp_path)
    shutil.copytree(pipeline.NOTEBOOKS, tmp_path / "notebooks")
    for made in ("pyproject.toml", "requirements.lock", ".venv/bin/.installed"):  # the venv is up to date
        (tmp_path / made).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / made).touch()
    done = subprocess.run(["make", "-n", "-C", str(tmp_path), *target.split()], capture_output=True, text=True)
    if force is None:
        assert done.returncode != 0 and "FORCE must be 1" in done.stderr
    else:
        assert done.returncode == 0 and "execute --profile ci" in done.stdout and ("--force" in done.stdout) == force


def test_the_data_files_are_an_input_of_the_chapters_that_read_data(tmp_path, monkeypatch, capsys):
    _book(tmp_path, monkeypatch, {"01_reads": "from reprolib import data", "02_plain": "print(1)"})
    here = dict.fromkeys(pipeline.data.SOURCES, False)
    monkeypatch.setattr(pipeline.data, "present", lambda: dict(here))
    assert pipeline.data_present("02_plain") is None and pipeline.data_present("01_reads") == here
    asks = tmp_path / "notebooks" / "03_asks.py"  # natural.unavailable says whether a corpus is here
    asks.write_text(HEADER + "# %%\nfrom reprolib.natural import unavailable\n")
    assert pipeline.data_present("03_asks") == here
    asks.unlink()
    calls = _counted(monkeypatch)
    assert pipeline.run("ci", None) == 0
    here["JSB_Chorales.mat"] = True  # a corpus arrives: the chapter that reads data runs again, the other not
    assert pipeline.run("ci", None) == 0 and calls == ["01_reads", "02_plain", "01_reads"]
    assert "(executed: changed: data)" in capsys.readouterr().out


def test_a_reference_recorded_with_other_data_is_skipped_and_says_which(tmp_path, monkeypatch):
    here = dict.fromkeys(pipeline.data.SOURCES, True) | {"text8.zip": False}
    monkeypatch.setattr(pipeline.data, "present", lambda: dict(here))
    nb = nbformat.v4.new_notebook()
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nb, plain)
    assert pipeline.reference_skip_reason(plain) is None  # no data recorded: always compared
    nb.metadata["reprolib"] = {"data": dict(here)}
    ref = tmp_path / "ref.ipynb"
    nbformat.write(nb, ref)
    assert pipeline.reference_skip_reason(ref) is None
    here["MuseData.mat"] = False
    why = pipeline.reference_skip_reason(ref)
    assert why.startswith("recorded with other data files") and "MuseData.mat present there, missing here" in why
    assert "text8" not in why and "$REPROLIB_DATA" in why


def test_the_committed_data_reading_references_record_their_data():
    for name in pipeline.chapters(None):
        if pipeline.data_present(name) is not None:
            nb = json.loads((pipeline.REGRESSION / f"{name}.ipynb").read_text())
            assert set(nb["metadata"]["reprolib"]["data"]) == set(pipeline.data.SOURCES), name


def test_an_executed_chapter_opens_with_its_box(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_boxed": ""})
    (tmp_path / "notebooks" / "01_boxed.py").write_text(  # the title first, as in the chapters
        HEADER + "# %% [markdown]\n# # 1. Boxed\n#\n# Some text.\n\n# %% tags=['parameters']\nseed = 0\n\n# %%\n"
        + CHECK.format(id="a", held=True) + "\n")
    assert pipeline.run("ci", None) == 0
    nb = nbformat.read(tmp_path / "chapters" / "01_boxed.ipynb", as_version=4)
    title, box, text = (c.source for c in nb.cells[:3])
    assert title == "# 1. Boxed" and text.startswith("Some text.")
    assert box.startswith(":::{admonition} About this chapter") and box.endswith(":::")
    assert "**Reproduces:** a test chapter." in box and "the `ci` profile, executed " in box
    assert "1 reproduced" in box and "make chapter NB=01_boxed PROFILE=paper" in box
    assert "{download}`download the executed notebook <01_boxed.ipynb>`" in box
    again = pipeline.chapter_box("01_boxed", "paper", 12.3, "2026-01-01 00:00 UTC", [])
    pipeline.add_box(tmp_path / "chapters" / "01_boxed.ipynb", again)  # replaced, not added twice
    nb = nbformat.read(tmp_path / "chapters" / "01_boxed.ipynb", as_version=4)
    assert [c.source for c in nb.cells[:3]] == [title, again, text]
    assert "executed 2026-01-01 00:00 UTC in 12 s" in again and "none recorded" in again


def test_a_chapter_without_its_reproduces_line_is_named(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_x": "print(1)"})
    source = (tmp_path / "notebooks" / "01_x.py").read_text().replace('#   reprolib:\n#     reproduces: "a test chapter"\n', "")
    (tmp_path / "notebooks" / "01_x.py").write_text(source)
    with pytest.raises(ValueError, match="01_x: its notebook's header has no reprolib.reproduces"):
        pipeline.chapter_box("01_x", "ci", 1.0, "now", [])


def test_every_chapter_says_what_it_reproduces():
    for name in pipeline.chapters(None):
        assert pipeline.chapter_box(name, "ci", 1.0, "now", []).count("**Reproduces:**") == 1


def test_the_glance_shows_the_chosen_figures_from_the_executed_chapters(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_fig": "import matplotlib.pyplot as plt\nfrom reprolib.plotting import caption\n"
                                  "plt.plot([0, 1]); plt.show()\ncaption('1.1', 'a line')\n"
                                  "plt.plot([1, 0]); plt.show()\ncaption('1.2', 'another')\n" + CHECK.format(id="a", held=True),
                                  "02_none": "print(1)"})
    monkeypatch.setattr(pipeline, "GLANCE_FIGURES", {"1.2": ("01_fig", "The second"), "2.1": ("02_none", "Missing")})
    assert pipeline.run("ci", None) == 0
    page = (tmp_path / "glance.md").read_text()
    assert "1 checks in 2 chapters. The 1 that are evidence" in page and "| Pascanu, Mikolov & Bengio | 1 | 0 |" in page
    assert "![The second: Figure 1.2 of the chapter 01_fig](_static/glance/1.2.png)" in page
    assert "- Figure 2.1 (Missing): not in this build" in page
    png = (tmp_path / "_static" / "glance" / "1.2.png").read_bytes()
    nb = nbformat.read(tmp_path / "chapters" / "01_fig.ipynb", as_version=4)
    assert png.startswith(b"\x89PNG") and png == pipeline.figure_png(nb, "1.2") != pipeline.figure_png(nb, "1.1")
    assert pipeline.figure_png(nb, "9.9") is None


def test_the_glance_figures_exist_in_the_chapters():
    for label, (name, _) in pipeline.GLANCE_FIGURES.items():
        assert f'"{label}"' in (pipeline.NOTEBOOKS / f"{name}.py").read_text(), label


def test_the_site_is_the_html_with_the_claims_data_and_the_screenshots(tmp_path, monkeypatch):
    _book(tmp_path, monkeypatch, {"01_checked": "# # 1. Checked\n" + CHECK.format(id="a", held=True)})
    assert pipeline.run("ci", None) == 0
    html, shots = tmp_path / "html", tmp_path / "shots"
    with pytest.raises(FileNotFoundError, match="make book"):
        pipeline.site(html, shots, tmp_path / "site")
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    (html / "_static" / "x.js").write_text("1")
    out = pipeline.site(html, shots, tmp_path / "site")  # no screenshots yet: the site has none
    assert not (out / "screenshots").exists() and (out / "_static" / "x.js").is_file() and (out / ".nojekyll").is_file()
    shots.mkdir()
    (shots / "index.png").write_bytes(b"png")
    out = pipeline.site(html, shots, tmp_path / "site")  # rebuilt whole
    assert (out / "screenshots" / "index.png").read_bytes() == b"png" and not (tmp_path / "site.partial").exists()
    data = json.loads((out / "claims.json").read_text())
    assert set(data) == {"git_commit", "uncommitted_changes", "chapters"}
    chapter = data["chapters"]["01_checked"]
    assert chapter["profile"] == "ci" and [c["id"] for c in chapter["checks"]] == ["a"]
    assert chapter["checks"][0]["verdict"] == "reproduced" and chapter["checks"][0]["held"] is True


def test_the_regression_checks_mask_numbers_after_the_approximate_sign_and_nothing_else():
    """nbval's sanitizers (tests/nbval_sanitize.cfg, applied as nbval applies them): a number printed after ≈
    is a statistic of a chaotic computation and is not compared digit by digit; every other number is."""
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((pipeline.ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8"))

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    here = "draw 3, grows at ≈0.1581 per step; per seed ≈5000, ≈750, ≈never, -; mean ≈-2.5e-03, rho 3.00; ≈  0.25 |"
    there = "draw 3, grows at ≈0.1807 per step; per seed ≈4750, ≈1,250, ≈4500, -; mean ≈-3.1e-03, rho 3.00; ≈ -0.25 |"
    assert sanitize(here) == sanitize(there)
    assert sanitize(here) != sanitize(here.replace("draw 3", "draw 4"))  # unmarked numbers are compared
    assert sanitize(here) != sanitize(here.replace("rho 3.00", "rho 3.01"))
    assert sanitize(here) != sanitize(here.replace("never, -", "never, 750"))  # an unmarked "-" stays compared
