"""The shared argument checks: numpy scalars are valid numbers, bools and other types are not."""

import numpy as np
import pytest
import torch

from reprolib import _checks, tasks
from reprolib.engine import Run


def test_numpy_scalars_are_accepted_as_numbers():
    assert _checks.positive_int("n", np.int64(3)) == 3 and type(_checks.positive_int("n", np.int32(3))) is int
    assert _checks.positive_float("lr", np.float32(0.5)) == 0.5
    assert _checks.finite_float("b", np.float64(-2.0)) == -2.0
    u, y = tasks.temporal_order(np.int64(2), np.int64(10), torch.Generator().manual_seed(0))
    assert u.shape[1] == 2
    Run(seed=np.int64(3), lr=np.float32(0.01), threshold=np.float64(1.0))


@pytest.mark.parametrize("bad", [True, np.bool_(True), "3", 3.0, None])
def test_bools_strings_and_floats_are_not_integers(bad):
    with pytest.raises(TypeError, match="n must be an int"):
        _checks.positive_int("n", bad)


@pytest.mark.parametrize("bad", [np.float32("nan"), float("inf"), -1.0])
def test_positive_float_refuses_non_finite_and_negative(bad):
    with pytest.raises(ValueError, match="lr must be a finite number"):
        _checks.positive_float("lr", bad)


def test_one_device_resolver_for_every_module():
    """Any torch device this machine has is accepted everywhere (the engine refused "cpu:0" and
    torch.device objects' strings other than "cpu"/"cuda"); devices it lacks are refused by name."""
    import torch

    from reprolib import _checks, linear, profiles, tasks
    from reprolib.engine import Engine, Run

    assert profiles.pick_device is _checks.device
    for spec in ("auto", "cpu", "cpu:0", torch.device("cpu")):
        d = _checks.device(spec)
        assert d.type == ("cuda" if spec == "auto" and torch.cuda.is_available() else "cpu")
        assert Engine("temporal_order", [Run(seed=0)], n_hidden=15, length=10, device=spec).device == d
        u, _ = tasks.temporal_order(2, 10, torch.Generator().manual_seed(0), device=spec)
        assert u.device.type == d.type
        assert linear.jordan_block(0.5, 3, device=spec).device.type == d.type
        W, _ = linear.matrix_with_spectrum([0.5, 0.2], torch.Generator().manual_seed(0), device=spec)
        assert W.device.type == d.type
    missing = f"cuda:{torch.cuda.device_count()}"
    for bad in ("tpu", missing, 3):
        with pytest.raises(ValueError, match="device"):
            _checks.device(bad)
        with pytest.raises(ValueError, match="device"):
            Engine("temporal_order", [Run(seed=0)], n_hidden=15, length=10, device=bad)
        with pytest.raises(ValueError, match="device"):
            linear.jordan_block(0.5, 3, device=bad)
