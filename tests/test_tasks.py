"""reprolib.tasks: layouts, position ranges, class balance and targets recomputed from the
inputs, for both variants; success criteria; bad arguments."""

import pytest
import torch
from scipy.stats import chi2

from reprolib import tasks
from reprolib.tasks import (TASKS, addition, memorization, multiplication, position_range, random_permutation,
                            sample_length, solved, temporal_order, temporal_order_3bit, wrong, error_rate)

VARIANTS = ("paper", "code")


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def decode_order(u):
    """Positions and values (A = 0, B = 1) of the relevant symbols, in time order, [k, B]."""
    symbols = u.argmax(-1)  # [T, B]
    rel = (symbols < 2).T  # [B, T]
    pos = [row.nonzero().squeeze(1) for row in rel]
    assert len({len(p) for p in pos}) == 1
    pos = torch.stack(pos).T  # [k, B]
    return pos, symbols.gather(0, pos)


def assert_balanced(counts):
    """Chi-square test of uniformity; deterministic under the fixed seeds used below."""
    counts = counts.double()
    expected = counts.sum() / counts.numel()
    stat = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2.sf(stat, counts.numel() - 1) > 1e-3, counts


# ------------------------------------------------------------ position ranges
@pytest.mark.parametrize("T", [10, 16, 20, 25, 57, 100, 199, 1000])
def test_position_range_matches_the_original_arithmetic(T):
    # the code: randint(int(L * w)) + int(L * a), with Python floats
    for a, b in [(1, 2), (5, 6), (3, 4), (6, 7), (0, 1), (1, 5)]:
        lo, hi = position_range(T, a, b, "code")
        assert (lo, hi) == (int(T * (a / 10)), int(T * (a / 10)) + int(T * ((b - a) / 10)))
        plo, phi = position_range(T, a, b, "paper")
        assert (plo, phi) == (a * T // 10, b * T // 10)
        if T % 10 == 0:
            assert (plo, phi) == (lo, hi)


def test_temporal_order_second_position_differs_between_variants():
    assert position_range(100, 4, 5, "paper") == (40, 50)
    assert tasks.TEMPORAL_ORDER_POSITIONS["paper"][1] == (4, 5)
    assert tasks.TEMPORAL_ORDER_POSITIONS["code"][1] == (5, 6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T", [10, 25, 100])
def test_temporal_order_positions_values_and_targets(variant, T):
    u, y = temporal_order(4000, T, seeded(1), variant=variant)
    assert u.shape == (T, 4000, 6) and u.dtype == torch.float32
    assert y.shape == (4000,) and y.dtype == torch.long
    assert torch.equal(u.sum(-1), torch.ones(T, 4000))  # one-hot
    pos, val = decode_order(u)
    assert pos.shape == (2, 4000)
    for k, (a, b) in enumerate(tasks.TEMPORAL_ORDER_POSITIONS[variant]):
        lo, hi = position_range(T, a, b, variant)
        assert set(pos[k].tolist()) == set(range(lo, hi))  # within the range, and all of it used
    assert torch.equal(y, val[0] + 2 * val[1])  # AA = 0, BA = 1, AB = 2, BB = 3
    assert_balanced(torch.bincount(y, minlength=4))
    assert_balanced(torch.bincount(u.argmax(-1).flatten(), minlength=6)[2:])  # distractors uniform


def test_temporal_order_paper_and_code_second_position_at_T_100():
    pos_p, _ = decode_order(temporal_order(2000, 100, seeded(2))[0])
    pos_c, _ = decode_order(temporal_order(2000, 100, seeded(2), variant="code")[0])
    assert pos_p[1].min() == 40 and pos_p[1].max() == 49
    assert pos_c[1].min() == 50 and pos_c[1].max() == 59


@pytest.mark.parametrize("variant", VARIANTS)
def test_temporal_order_3bit(variant):
    T = 73
    u, y = temporal_order_3bit(8000, T, seeded(3), variant=variant)
    assert u.shape == (T, 8000, 6)
    pos, val = decode_order(u)
    assert pos.shape == (3, 8000)
    for k, (a, b) in enumerate(tasks.TEMPORAL_ORDER_3BIT_POSITIONS):
        lo, hi = position_range(T, a, b, variant)
        assert set(pos[k].tolist()) == set(range(lo, hi))
    assert torch.equal(y, val[0] + 2 * val[1] + 4 * val[2])
    assert_balanced(torch.bincount(y, minlength=8))


# ------------------------------------------------------- addition, multiplication
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, combine", [(addition, lambda a, b: (a + b) / 2), (multiplication, lambda a, b: a * b)])
def test_marked_values_layout_and_targets(fn, combine, variant):
    u, y = fn(3000, 50, seeded(4), variant=variant)
    T1, B, M = u.shape
    assert M == 2 and B == 3000 and y.shape == (3000,) and y.dtype == torch.float32
    markers = u[:, :, 0]
    assert torch.equal(markers.sum(0), torch.full((B,), 2.0))  # exactly two marks
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    values = u[:, :, 1]
    assert values.min() >= 0 and values.max() < 1 and abs(values.mean().item() - 0.5) < 0.01
    pos = torch.stack([row.nonzero().squeeze(1) for row in markers.T]).T  # [2, B], time order
    for k, (a, b) in enumerate(tasks.ADDITION_POSITIONS):
        lo, hi = position_range(T1, a, b, variant)
        assert set(pos[k].tolist()) == set(range(lo, hi))
    marked = values.gather(0, pos)
    assert torch.equal(y, combine(marked[0], marked[1]))


@pytest.mark.parametrize("variant, expected", [("paper", set(range(100, 111))), ("code", set(range(100, 110)))])
def test_addition_length_T_prime(variant, expected):
    g = seeded(5)
    seen = {addition(1, 100, g, variant=variant)[0].shape[0] for _ in range(400)}
    assert seen == expected  # T' in [T, 11T/10] (paper) or T + randint(T // 10) (code)


# ------------------------------------------------------------ random permutation
@pytest.mark.parametrize("variant", VARIANTS)
def test_random_permutation(variant):
    u, y = random_permutation(4000, 30, seeded(6), variant=variant)
    assert u.shape == (30, 4000, 100) and y.shape == (4000,) and y.dtype == torch.long
    assert torch.equal(u.sum(-1), torch.ones(30, 4000))
    symbols = u.argmax(-1)
    assert torch.equal(symbols[0], y)  # the last (predicted) symbol equals the first
    assert set(y.unique().tolist()) == {0, 1}
    assert symbols[1:].min() >= 2 and symbols[1:].max() <= 99
    assert_balanced(torch.bincount(y, minlength=2))
    assert_balanced(torch.bincount(symbols[1:].flatten(), minlength=100)[2:])


# ---------------------------------------------------------------- memorization
@pytest.mark.parametrize("n_values, n_pos", [(2, 5), (5, 10)])
def test_memorization_layout_and_targets(n_values, n_pos):
    T, B = 20, 3000
    u, y = memorization(B, T, seeded(7), n_values=n_values, n_pos=n_pos)
    blank, go = n_values, n_values + 1
    assert u.shape == (T + 2 * n_pos, B, n_values + 2) and y.shape == (T + 2 * n_pos, B)
    assert torch.equal(u.sum(-1), torch.ones(T + 2 * n_pos, B))
    symbols = u.argmax(-1)
    pattern = symbols[:n_pos]
    assert pattern.max() < n_values
    assert_balanced(torch.bincount(pattern.flatten(), minlength=n_values))
    assert (symbols[n_pos:T + n_pos] == blank).all()
    assert (symbols[T + n_pos] == go).all()
    assert (symbols[T + n_pos + 1:] == blank).all()
    assert (y[:T + n_pos] == blank).all()
    assert torch.equal(y[T + n_pos:], pattern)  # recall starts at the "go" step


def test_memorization_registry_variants():
    assert TASKS["memorization"].options == {"n_values": 2, "n_pos": 5}
    assert TASKS["memorization_extended"].options == {"n_values": 5, "n_pos": 10}


# --------------------------------------------------------------- common contract
@pytest.mark.parametrize("name", list(TASKS))
def test_registry_sizes_match_generated_data(name):
    task = TASKS[name]
    u, y = task.generate(5, 40, seeded(8))
    assert u.shape[1:] == (5, task.n_in)
    if task.head == "every_softmax":
        assert y.shape == u.shape[:2] and int(y.max()) < task.n_out
    elif task.head == "last_softmax":
        assert y.shape == (5,) and int(y.max()) < task.n_out
    else:
        assert task.n_out == 1 and y.shape == (5,) and y.is_floating_point()
    assert task.code_head in ("lastSoftmax", "softmax", "lastLinear")


@pytest.mark.parametrize("name", list(TASKS))
def test_determinism_fresh_data_and_dtype(name):
    task = TASKS[name]
    u1, y1 = task.generate(8, (20, 60), seeded(9), dtype=torch.float64)
    u2, y2 = task.generate(8, (20, 60), seeded(9), dtype=torch.float64)
    assert u1.dtype == torch.float64 and torch.equal(u1, u2) and torch.equal(y1, y2)
    g = seeded(9)
    a, _ = task.generate(8, 60, g)
    b, _ = task.generate(8, 60, g)
    assert not torch.equal(a, b)  # every call draws a fresh minibatch


@pytest.mark.parametrize("variant, expected", [("paper", set(range(50, 56))), ("code", set(range(50, 55)))])
def test_length_range(variant, expected):
    g = seeded(10)
    assert {sample_length((50, 55), g, variant) for _ in range(500)} == expected
    assert {temporal_order(2, (50, 55), g, variant=variant)[0].shape[0] for _ in range(300)} == expected
    assert sample_length((50, 50), g, variant) == 50
    assert sample_length(37, g, variant) == 37


@pytest.mark.parametrize("call, match", [
    (lambda g: temporal_order(0, 50, g), "batch_size"),
    (lambda g: temporal_order(4, 9, g), "length"),
    (lambda g: temporal_order(4, (9, 50), g), "length"),
    (lambda g: temporal_order(4, (60, 50), g), "length"),
    (lambda g: temporal_order(4, 50, g, variant="text"), "variant"),
    (lambda g: temporal_order_3bit(4, 50, g, variant="Paper"), "variant"),
    (lambda g: addition(4, 5, g), "length"),
    (lambda g: multiplication(4, 50, g, variant=None), "variant"),
    (lambda g: random_permutation(4, 1, g), "length"),
    (lambda g: memorization(4, 0, g), "length"),
    (lambda g: memorization(4, 10, g, n_pos=0), "n_pos"),
    (lambda g: memorization(4, 10, g, n_values=1), "n_values"),
    (lambda g: temporal_order(4, 50, g, device="nodevice"), "device"),
    (lambda g: tasks.get_task("copy"), "task"),
    (lambda g: solved(5, 10_000, criterion="strict"), "criterion"),
    (lambda g: solved(11, 10), "n_wrong"),
])
def test_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call(seeded())


@pytest.mark.parametrize("call, match", [
    (lambda g: temporal_order(2.0, 50, g), "batch_size"),
    (lambda g: temporal_order(4, 50.0, g), "length"),
    (lambda g: temporal_order(4, (10, 20, 30), g), "length"),
    (lambda g: temporal_order(4, 50, None), "generator"),
    (lambda g: addition(4, 50, 0), "generator"),
    (lambda g: memorization(4, 10, g, dtype=torch.long), "dtype"),
])
def test_bad_types(call, match):
    with pytest.raises(TypeError, match=match):
        call(seeded())


# ------------------------------------------------------------ success criteria
def test_wrong_last_softmax():
    y = torch.tensor([0, 3, 2, 1])
    out = torch.nn.functional.one_hot(y, 4).double()
    assert error_rate("temporal_order", out, y) == 0.0
    out[1] = torch.tensor([1.0, 0, 0, 0])
    out[2, 0] = float("nan")
    assert wrong("temporal_order", out, y).tolist() == [False, True, True, False]
    assert error_rate(TASKS["temporal_order"], out, y) == 0.5


def test_wrong_every_softmax_any_step():
    _, y = memorization(6, 12, seeded(11))
    out = torch.nn.functional.one_hot(y, 3).float()
    assert error_rate("memorization", out, y) == 0.0
    out[3, 2] = out[3, 2].roll(1)  # a single blank step of sequence 2 wrong
    out[-1, 4] = out[-1, 4].roll(1)  # the last recalled symbol of sequence 4 wrong
    assert wrong("memorization", out, y).tolist() == [False, False, True, False, True, False]


def test_wrong_last_linear_threshold():
    t = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.5])
    y = torch.tensor([0.69, 0.31, 0.71, 0.29, float("nan")])  # squared errors .0361, .0361, .0441, .0441, nan
    assert wrong("addition", y, t).tolist() == [False, False, True, True, True]
    assert wrong("multiplication", y[:, None], t[:, None]).tolist() == [False, False, True, True, True]
    assert error_rate("addition", y, t) == pytest.approx(0.6)


def test_wrong_bad_shapes():
    with pytest.raises(ValueError, match="outputs"):
        wrong("temporal_order", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        wrong("temporal_order", torch.zeros(4, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="outputs"):
        wrong("addition", torch.zeros(4), torch.zeros(5))


def test_solved_criteria():
    assert solved(99, 10_000) and not solved(100, 10_000)  # < 1 %
    assert solved(0, 10_000, "code") and not solved(1, 10_000, "code")
    assert tasks.N_TEST == 10_000


def test_error_rate_of_an_empty_batch_is_an_error_not_nan():
    with pytest.raises(ValueError, match="empty"):
        tasks.error_rate("temporal_order", torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_hot_equals_torchs_and_is_built_in_the_target_dtype(dtype):
    symbols = torch.randint(0, 7, (30, 4), generator=torch.Generator().manual_seed(0))
    u = tasks.one_hot(symbols, 7, dtype, "cpu")
    assert u.dtype == dtype and torch.equal(u, torch.nn.functional.one_hot(symbols, 7).to(dtype))


def test_long_one_hot_inputs_need_no_int64_copy():
    """temporal_order(1, 10**7): the float32 inputs are 240 MB; through an int64 one-hot they peaked at
    about 1 GB. Measured in a fresh process as the growth of its peak resident memory."""
    import subprocess
    import sys
    code = ("import resource, torch; from reprolib import tasks\n"
            "tasks.temporal_order(1, 100, torch.Generator().manual_seed(0))\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "u, y = tasks.temporal_order(1, 10**7, torch.Generator().manual_seed(0))\n"
            "assert u.shape == (10**7, 1, 6) and u.dtype == torch.float32\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)")
    grew_mb = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    # the result (240 MB) and the int64 symbols (80 MB) must exist; an int64 one-hot (480 MB) must not
    assert grew_mb < 240 + 80 + 150, grew_mb
