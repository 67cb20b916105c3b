"""reprolib.update_costs: the matrices it times have the singular values it claims, and its rows
are keyed."""

import pytest
import torch

from reprolib.update_costs import measure_update_costs, projected_matrix

D = torch.float64


def test_projected_matrix_and_measure_update_costs(gen):
    W = projected_matrix(20, 0.2, gen, top=3)
    S = torch.linalg.svdvals(W.double())
    assert W.dtype == torch.float32 and torch.allclose(S[:3], torch.full((3,), 1.8, dtype=D), atol=1e-5)
    assert S[3] <= 1.2 + 1e-5
    with pytest.raises(ValueError, match="top"):
        projected_matrix(4, 0.2, gen, top=5)
    rows = measure_update_costs(generator=gen, vocab=30, n_hidden=60, reps=1)  # max_rank 6 >= 5
    assert [r["label"][:4] for r in rows] == ["(a) ", "(b) ", "(c) ", "(c2)", "(c3)", "(d) ", "(e) "]
    assert rows[0]["ratio"] == 1.0 and all(r["ms"] > 0 for r in rows)
    assert "truncated" in rows[2]["note"] and "full_rank" in rows[3]["note"] and "skipped" in rows[4]["note"]
    with pytest.raises(ValueError, match="reps"):
        measure_update_costs(generator=gen, vocab=30, n_hidden=40, reps=0)


def test_measure_update_costs_returns_keyed_rows(gen):
    rows = measure_update_costs(generator=gen, vocab=30, n_hidden=60, reps=1)
    assert [r["key"] for r in rows] == ["a", "b", "c", "c2", "c3", "d", "e"]
    assert all(r["label"].startswith(f"({r['key']}) ") for r in rows)
    assert [r["method"] for r in rows] == ["clip"] + ["project"] * 4 + ["sgd", "forward_backward"]
    assert [r["svd"] for r in rows] == [None, "full", "truncated", "truncated", "truncated", None, None]
    assert [r["shared"] for r in rows] == [False] * 5 + [True] * 2
    assert [r["step_norm"] for r in rows] == [None, None, 0.01, 1.0, 0.01, None, None]
    assert [r["trigger"] for r in rows[2:5]] == [pytest.approx(1.8), pytest.approx(1.8), 2.0]
    assert all(r["ratio"] == r["ms"] / rows[0]["ms"] for r in rows)
    assert [r["note"] != "" for r in rows] == [False, False, True, True, True, False, False]
    short = measure_update_costs(generator=gen, vocab=30, n_hidden=20, reps=1, forward_backward=False)
    assert [r["key"] for r in short] == ["a", "b", "c", "c2", "c3", "d"]
