"""The build pipeline: failures are named and fail the build; references keep text only."""

import json

import nbformat
import pytest

from reprolib import pipeline

HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
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


def test_a_failing_cell_fails_the_build_and_names_the_chapter(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, source in {"01_good": "x = 1\nprint(x)", "02_bad": "raise RuntimeError('boom')"}.items():
        (notebooks / f"{name}.py").write_text(HEADER + "# %% tags=['parameters']\nseed = 0\n\n# %%\n" + source + "\n")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(pipeline, "CHAPTERS", tmp_path / "chapters")
    monkeypatch.setattr(pipeline, "TIMINGS", tmp_path / "chapters" / "timings.json")
    monkeypatch.setattr(pipeline, "REPORT", tmp_path / "report.md")
    monkeypatch.setattr(pipeline, "load", lambda name, profile: {"seed": 1})
    (tmp_path / "chapters").mkdir()

    assert pipeline.run("ci", None) == 1
    captured = capsys.readouterr()
    assert "FAILED 02_bad" in captured.err and "boom" in captured.err
    assert "01_good" in captured.out
    timings = json.loads((tmp_path / "chapters" / "timings.json").read_text())
    assert timings["01_good"]["status"] == "ok" and timings["02_bad"]["status"] == "FAILED"
    report = (tmp_path / "report.md").read_text()
    assert "| 02_bad | ci |" in report and "FAILED" in report


def test_vendor_mathjax_copies_the_combined_file(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "MATHJAX", tmp_path / "mathjax")
    pipeline.vendor_mathjax()
    assert (tmp_path / "mathjax" / "tex-mml-chtml.js").is_file()  # equations render offline
