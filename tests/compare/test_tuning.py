"""`compare --tune`: strengths chosen by mean validation loss over the repeats."""

import numpy as np
import pytest

from keras_regkit.compare import TECHNIQUES, compare, tuning
from tests.compare.test_engine import _task

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent

KWARGS = {"epochs": 2, "batch_size": 32, "hidden_units": (4,), "repeats": 2, "seed": 1}


def test_every_grid_holds_its_default_strength():
    for name, grid in tuning.GRIDS.items():
        assert TECHNIQUES[name].strength in grid, name
        assert list(grid) == sorted(grid), name
    assert "min_diff" not in tuning.GRIDS


def test_tune_picks_the_lowest_mean_validation_loss(monkeypatch):
    monkeypatch.setattr(tuning, "GRIDS", {"l2": (1e-4, 3e-1), "dropout": (0.1, 0.3, 0.6)})
    task = _task(n=96)
    chosen, notes = tuning.tune(compare, task, ["none", "l2", "dropout", "l2+dropout"], **KWARGS)
    # The reference: each candidate trained alone with the same seeds.
    for name, grid in tuning.GRIDS.items():
        means = [
            np.mean([r.val_loss for r in compare(task, [name], strengths={name: s}, **KWARGS).runs])
            for s in grid
        ]
        assert chosen[name] == grid[int(np.argmin(means))], name
    assert set(chosen) == {"l2", "dropout"}  # none and combinations keep their strengths
    assert len(notes) == 2 and notes[0].startswith(f"--tune: L2 strength {chosen['l2']:g}, ")
    assert "0.0001: " in notes[0] and "0.3: " in notes[0]
    assert tuning.tune(compare, task, ["none"], **KWARGS) == ({}, [])
