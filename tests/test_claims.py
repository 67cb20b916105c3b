"""reprolib.claims: each check prints its line, is recorded with a kind and a verdict, and
the Claims page counts them; bad records are refused."""

import json

import numpy as np
import pytest

from reprolib import claims


@pytest.fixture
def record(tmp_path, monkeypatch):
    path = tmp_path / "ch.claims.jsonl"
    monkeypatch.setenv(claims.ENV, str(path))
    return path


def test_check_prints_the_chapters_line_and_records_it(record, capsys):
    assert claims.check("1.1-eq4", "eq. (4): sum = autograd", np.float64(1e-13) < 1e-12,
                        source="Pascanu eq. 4", kind="identity") is None  # no output of its own in a notebook
    assert capsys.readouterr().out == "eq. (4): sum = autograd: True\n"
    (c,) = claims.read(record)
    assert (c.id, c.held, c.kind, c.verdict, c.expected, c.failed) == ("1.1-eq4", True, "identity", "reproduced", True, False)
    assert c.paper_name == "Pascanu"


def test_a_claim_the_paper_gets_wrong_is_a_verdict_not_a_failure(record, capsys):
    claims.check("2.1-eq9", "eq. (9) holds for all u", False, source="Pascanu eq. 9", expected=False,
                 verdict="paper wrong", deviation="B1", line="eq. (9) literally: False (u found)")
    assert capsys.readouterr().out == "eq. (9) literally: False (u found)\n"
    (c,) = claims.read(record)
    assert not c.failed and c.verdict == "paper wrong" and c.deviation == "B1"


def test_an_outcome_other_than_the_stated_one_is_a_failure(record):
    claims.check("x", "a measurement", False, source="Kanai Fig. 1")
    assert claims.read(record)[0].failed
    claims.check("y", "not run here", True, source="Kanai Fig. 1", expected=False)
    assert claims.read(record)[1].failed


def test_two_checks_on_one_printed_line(record, capsys):
    line = "a: True; b: False"
    claims.check("a", "a", True, source="Kanai Lemma 1", line=line)
    claims.check("b", "b", False, source="Kanai Lemma 2", expected=False, line=line, show=False)
    assert capsys.readouterr().out == line + "\n"
    assert [c.line for c in claims.read(record)] == [line, line]


def test_not_run_records_the_reason(record, capsys):
    claims.not_run("8a-t250", "MSGD-CR solves T = 250", source="Pascanu Fig. 7", reason="needs the paper profile")
    assert capsys.readouterr().out == "not run: MSGD-CR solves T = 250 (needs the paper profile)\n"
    (c,) = claims.read(record)
    assert c.held is None and c.verdict == "not run" and not c.failed


@pytest.mark.parametrize("kwargs, match", [
    (dict(id="Bad Id"), "id"), (dict(source="eq. 4"), "source"), (dict(kind="proof"), "kind"),
    (dict(verdict="ok"), "verdict"), (dict(verdict="paper wrong"), "deviation"), (dict(claim=""), "claim"),
])
def test_bad_records_are_refused_naming_the_argument(kwargs, match):
    args = dict(id="a", claim="c", source="Pascanu eq. 4") | kwargs
    with pytest.raises(ValueError, match=match):
        claims.check(args.pop("id"), args.pop("claim"), True, **args)


def test_held_must_be_a_bool():
    import torch
    with pytest.raises(TypeError, match="held"):
        claims.check("a", "c", torch.tensor(True), source="Pascanu eq. 4")
    with pytest.raises(TypeError, match="held"):
        claims.check("a", "c", 1, source="Pascanu eq. 4")


def test_a_damaged_record_file_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "a"}) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        claims.read(path)


def test_locate_finds_the_section_of_each_check_in_order():
    c1 = claims.Check("a", "first", True, "Pascanu eq. 4", "evidence", "reproduced", True, line="first: True")
    c2 = claims.Check("b", "second", True, "Pascanu eq. 5", "evidence", "reproduced", True, line="second: True")
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# 1. Title\n\n## 1.1 The sum (eq. 4)"},
        {"cell_type": "code", "outputs": [{"name": "stdout", "text": "x\nfirst: True\n"}]},
        {"cell_type": "markdown", "source": "## 1.2 Growth\n### details"},
        {"cell_type": "code", "outputs": [{"name": "stdout", "text": "second: True\n"}]},
    ]}
    assert claims.locate([c1, c2], nb) == ["1.1 The sum (eq. 4)", "details"]
    c3 = claims.Check("c", "third", True, "Pascanu eq. 5", "evidence", "reproduced", True, line="second: True")
    c0 = claims.Check("z", "absent", True, "Pascanu eq. 5", "evidence", "reproduced", True, line="never printed")
    assert claims.locate([c1, c0, c2, c3], nb) == ["1.1 The sum (eq. 4)", None, "details", "details"]
    assert claims.slug("1.1 The sum (eq. 4)") == "11-the-sum-eq-4"
    assert claims.slug("1.3 $\\rho > 1$ is necessary") == "13--is-necessary"  # MyST drops the math


def test_page_counts_verdicts_per_paper_and_kind():
    mk = lambda i, src, kind, verdict, held=True: claims.Check(  # noqa: E731
        i, f"claim {i} | with a pipe", held, src, kind, verdict, held, deviation="B1" if verdict == "paper wrong" else None,
        line="l")
    checks = [mk("a", "Pascanu eq. 4", "identity", "reproduced"), mk("b", "Pascanu eq. 9", "evidence", "paper wrong", False),
              mk("c", "Kanai Lemma 3", "evidence", "reproduced"), mk("d", "Kanai Fig. 1", "evidence", "reproduced")]
    text = claims.page({"01_x": {"title": "1. X", "profile": "ci", "checks": checks, "sections": ["1.1 A", None, None, None]}})
    assert "| Pascanu, Mikolov & Bengio | evidence | 0 | 0 | 0 | 0 | 1 | 1 |" in text
    assert "| Pascanu, Mikolov & Bengio | identity | 1 | 0 | 0 | 0 | 0 | 1 |" in text
    assert "| Kanai, Fujiwara & Iwamura | evidence | 2 | 0 | 0 | 0 | 0 | 2 |" in text
    assert "claim a \\| with a pipe" in text and "the paper is wrong here (B1)" in text
    assert "[1.1](chapters/01_x.ipynb#11-a)" in text
    assert "4 checks in 1 chapters, 3 of them evidence" in text
