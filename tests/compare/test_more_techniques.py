"""The compare techniques of the second wave: reweighing, SAM and Lookahead (not run by default)."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks, models, optimizers
from keras_regkit.compare import DEFAULT_TECHNIQUES, TECHNIQUES, compare, techniques
from tests.compare.test_engine import _task

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def test_each_builds_its_keras_regkit_object_at_its_strength():
    task = _task()
    weighed = techniques.build("reweighing", task, (8,), 32, seed=0)
    # Kamiran & Calders' closed form: P(s) P(y) / P(s, y) for each row's (group, label) cell.
    s, y = task.groups_train, task.y_train
    expected = np.array(
        [
            np.mean(s == si) * np.mean(y == yi) / np.mean((s == si) & (y == yi))
            for si, yi in zip(s, y, strict=True)
        ]
    )
    np.testing.assert_allclose(weighed.sample_weight, expected, rtol=1e-6)

    sam = techniques.build("sam", task, (8,), 32, seed=0)
    assert isinstance(sam.model, models.SharpnessAwareModel) and sam.original is sam.model.model
    assert sam.model.rho == TECHNIQUES["sam"].strength == sam.strength

    ahead = techniques.build("lookahead", task, (8,), 32, seed=0)
    wrapped = ahead.optimizer(keras.optimizers.Adam(1e-3))
    assert isinstance(wrapped, optimizers.Lookahead)
    assert wrapped.sync_period == TECHNIQUES["lookahead"].strength == 5

    together = techniques.build("sam+lookahead+reweighing", task, (8,), 32, seed=0)
    assert isinstance(together.model, models.SharpnessAwareModel)
    np.testing.assert_allclose(together.sample_weight, expected, rtol=1e-6)
    assert isinstance(together.optimizer(keras.optimizers.Adam(1e-3)), optimizers.Lookahead)
    assert not {"reweighing", "sam", "lookahead"} & set(DEFAULT_TECHNIQUES)
    with pytest.raises(ValueError, match="both change the training batches"):
        techniques.check_combination("reweighing+mixup")
    with pytest.raises(ValueError, match="both change the model wrapper"):
        techniques.check_combination("sam+min_diff")


def test_they_train_in_compare_and_reweighing_needs_groups():
    names = ["none", "reweighing", "sam", "lookahead", "sam+lookahead+reweighing"]
    kwargs = {"epochs": 2, "batch_size": 32, "hidden_units": (4,), "repeats": 1}
    result = compare(_task(n=96), names, **kwargs)
    assert [r.technique for r in result.runs] == names
    assert all(np.isfinite(r.val_loss) and np.isfinite(r.test_auc) for r in result.runs)
    base, weighed = result.runs[0], result.runs[1]
    assert base.val_loss != weighed.val_loss  # the weights reached fit
    plain = compare(_task(n=96, groups=False), ["none", "reweighing"], **kwargs)
    assert [r.technique for r in plain.runs] == ["none"]
    assert "Reweighing skipped: no sensitive column (pass --sensitive COLUMN)" in plain.notes


def _fit(setup, epochs, extra=()):
    keras.utils.set_random_seed(0)
    setup.model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    setup.model.fit(
        setup.x,
        setup.y,
        batch_size=setup.batch_size,
        epochs=epochs,
        callbacks=[*setup.callbacks, *extra],
        shuffle=True,
        verbose=0,
    )


def test_swa_averages_the_epoch_end_weights_of_the_plain_run_from_its_start():
    task, epochs = _task(n=96), 8
    swa = techniques.build("swa", task, (8,), 32, seed=0, epochs=epochs)
    [callback] = swa.callbacks
    assert isinstance(callback, callbacks.StochasticWeightAveraging)
    assert callback.start_epoch == int(TECHNIQUES["swa"].strength * epochs) == 6
    _fit(swa, epochs)
    # The same run without SWA, its epoch-end weights recorded: SWA trains identically
    # (its learning rate is left alone) and ends with their average from epoch 6 on.
    plain = techniques.build("none", task, (8,), 32, seed=0)
    ends = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: (
            ends.append([w.numpy() for w in plain.model.weights]) if epoch >= 6 else None
        )
    )
    _fit(plain, epochs, [record])
    average = [np.mean(values, axis=0) for values in zip(*ends, strict=True)]
    for mine, expected in zip(swa.model.weights, average, strict=True):
        np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert "swa" not in DEFAULT_TECHNIQUES
    with pytest.raises(ValueError, match="both change the final weights"):
        techniques.check_combination("swa+early_stopping")
    late = techniques.build("swa", task, (8,), 32, seed=0, epochs=1)
    assert late.callbacks[0].start_epoch == 0  # at least one epoch is averaged


def test_swa_trains_in_compare_with_batch_norm():
    # 8 epochs: averaging from epoch 6 (with 3, only the last epoch would be averaged).
    kwargs = {"epochs": 8, "batch_size": 32, "hidden_units": (4,), "repeats": 1}
    result = compare(_task(n=96), ["none", "swa", "batch_norm+swa"], **kwargs)
    assert [r.technique for r in result.runs] == ["none", "swa", "batch_norm+swa"]
    assert all(np.isfinite(r.val_loss) for r in result.runs)
    assert result.runs[0].val_loss != result.runs[1].val_loss
