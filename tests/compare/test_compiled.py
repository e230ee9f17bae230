"""Repeats trained in a kept compiled model equal the same repeats trained in fresh models."""

import keras
import numpy as np
import pytest

from keras_regkit.compare import compare, compiled, engine
from tests.compare.test_engine import _task

# Random layers (seed-generator states), moving statistics, a model wrapper with its own
# data, a callback that restores weights, and a data wrapper: what a reset could miss.
TECHNIQUES = ["dropout", "batch_norm", "min_diff", "early_stopping", "mixup"]
KWARGS = {"epochs": 3, "batch_size": 32, "hidden_units": (6,), "min_diff_weights": [1.0]}


def _task_for_seed(seed):
    return _task(n=96, seed=seed)  # the split varies with the repeat, as for --data


@pytest.fixture
def kept(monkeypatch):
    made = []

    class Recording(compiled.CompiledModels):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(engine, "CompiledModels", Recording)
    return made


def test_a_repeat_in_the_kept_model_equals_it_trained_alone(kept):
    together = compare(_task_for_seed, TECHNIQUES, seed=3, repeats=2, **KWARGS)
    # Ten runs, four graphs (early stopping and MixUp train the same plain MLP): six ran in a
    # model compiled before.
    assert kept[0].hits == 6
    alone = compare(_task_for_seed, TECHNIQUES, seed=4, repeats=1, **KWARGS)
    assert kept[1].hits == 1  # MixUp in the early-stopping run's model
    second = [run for run in together.runs if run.repeat == 1]
    assert [r.technique for r in second] == [r.technique for r in alone.runs]
    for got, want in zip(second, alone.runs, strict=True):
        assert got.seed == want.seed == 4
        for field in ("epochs", "train_loss", "val_loss", "test_auc", "dp_gap", "sparsity"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-5), field
        np.testing.assert_allclose(got.history["loss"], want.history["loss"], rtol=1e-5)
    first = [run for run in together.runs if run.repeat == 0]
    assert all(a.val_loss != b.val_loss for a, b in zip(first, second, strict=True))


def test_other_configurations_get_their_own_model():
    models = compiled.CompiledModels(size=2)

    def build(units, rate):
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(units)(inputs)
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(rate)(hidden)))
        return model

    def compile_model(model):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    first = build(4, 0.1)
    assert models.prepare(first, first, compile_model, _no_build)[0] is first
    second = build(4, 0.1)  # the same configuration: the kept model, in the new one's state
    assert models.prepare(second, second, compile_model, _no_build)[0] is first
    for mine, fresh in zip(first.variables, second.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), fresh.numpy())
    for other in (build(5, 0.1), build(4, 0.2)):  # another width, another rate
        assert models.prepare(other, other, compile_model, _no_build)[0] is other
    assert models.hits == 1
    again = build(4, 0.1)  # evicted by the two others (size=2)
    assert models.prepare(again, again, compile_model, _no_build)[0] is again


def _no_build(model):
    pass
