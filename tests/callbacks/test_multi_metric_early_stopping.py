import itertools
import json
import warnings

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.callbacks import MultiMetricEarlyStopping


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.stop_training = False
    return model


def _random_weights(model, rng):
    return [rng.normal(size=w.shape).astype("float32") for w in model.get_weights()]


def _drive(callback, model, logs_per_epoch, weights_per_epoch=None):
    """Plays `fit`'s part: sets the epoch's weights, feeds its logs, stops when asked.

    Returns the number of epochs that ran.
    """
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    epochs = 0
    for epoch, logs in enumerate(logs_per_epoch):
        if weights_per_epoch is not None:
            model.set_weights(weights_per_epoch[epoch])
        callback.on_epoch_end(epoch, dict(logs))
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs


def _walk(rng, n, start=4.0):
    """A random walk on a 1/8 grid: exact in float32, so every comparison is exact."""
    steps = rng.choice([-0.5, -0.25, -0.125, 0.0, 0.0, 0.125, 0.25], size=n)
    return list(start + np.cumsum(steps))


SCENARIOS = list(
    itertools.product(
        [0, 1, 3],  # patience
        [0.0, 0.25],  # min_delta
        [None, 3.5625],  # baseline (off the grid: never tied)
        [0, 2],  # start_from_epoch
        ["auto", "max"],  # mode ("auto" on val_loss -> min)
    )
)


@pytest.mark.parametrize("restore_best_weights", [True, False])
def test_single_metric_matches_keras_early_stopping(restore_best_weights):
    rng = np.random.default_rng(0)
    stopped = 0
    for patience, min_delta, baseline, start_from_epoch, mode in SCENARIOS:
        kwargs = dict(
            patience=patience,
            min_delta=min_delta,
            baseline=baseline,
            start_from_epoch=start_from_epoch,
            mode=mode,
            restore_best_weights=restore_best_weights,
        )
        values = _walk(rng, 12)
        logs = [{"loss": 1.0, "val_loss": v} for v in values]
        ref_model, model = _tiny_model(), _tiny_model()
        weights = [_random_weights(model, rng) for _ in values]

        reference = keras.callbacks.EarlyStopping(monitor="val_loss", **kwargs)
        ours = MultiMetricEarlyStopping(["val_loss"], **kwargs)
        ref_epochs = _drive(reference, ref_model, logs, weights)
        our_epochs = _drive(ours, model, logs, weights)

        msg = f"{kwargs}, values={values}"
        assert our_epochs == ref_epochs, msg
        assert ours.stopped_epoch == reference.stopped_epoch, msg
        assert ours.best_epoch == reference.best_epoch, msg
        if reference.best is not None:
            assert ours.best_values["val_loss"] == float(reference.best), msg
        for ours_w, ref_w in zip(model.get_weights(), ref_model.get_weights(), strict=True):
            assert np.array_equal(ours_w, ref_w), msg
        assert ours.stopped_by == (["val_loss"] if reference.stopped_epoch else []), msg
        stopped += reference.stopped_epoch > 0
    # The scenarios exercise both outcomes.
    assert 0 < stopped < len(SCENARIOS)


def test_stop_when_all_waits_for_every_metric():
    loss = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]  # stalls after epoch 2
    auc = [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9]  # stalls after epoch 4
    logs = [{"val_loss": a, "val_auc": b} for a, b in zip(loss, auc, strict=True)]
    callback = MultiMetricEarlyStopping(["val_loss", "val_auc"], patience=2, stop_when="all")
    epochs = _drive(callback, _tiny_model(), logs)
    assert callback.directions == {"val_loss": "min", "val_auc": "max"}
    assert epochs == 7 and callback.stopped_epoch == 6
    assert callback.stopped_by == ["val_loss", "val_auc"]
    assert callback.best_values == {"val_loss": 0.8, "val_auc": 0.9}
    assert callback.best_epochs == {"val_loss": 2, "val_auc": 4}
    assert callback.best_epoch == 2  # by the first monitored metric
    assert callback.wait == {"val_loss": 4, "val_auc": 2}


def test_stop_when_any_stops_at_the_first_exhausted_metric():
    loss = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    auc = [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9]
    logs = [{"val_loss": a, "val_auc": b} for a, b in zip(loss, auc, strict=True)]
    callback = MultiMetricEarlyStopping(["val_loss", "val_auc"], patience=2, stop_when="any")
    epochs = _drive(callback, _tiny_model(), logs)
    assert epochs == 5 and callback.stopped_epoch == 4
    assert callback.stopped_by == ["val_loss"]


def test_dict_monitor_gives_directions():
    # "score" cannot be inferred; the dict names its direction.
    logs = [{"score": s, "loss": 1.0} for s in [1.0, 3.0, 2.0, 2.5, 2.9]]
    callback = MultiMetricEarlyStopping({"score": "max", "loss": "auto"}, patience=1)
    assert _drive(callback, _tiny_model(), logs) == 3
    assert callback.directions == {"score": "max", "loss": "min"}
    assert callback.best_values == {"score": 3.0, "loss": 1.0}


def test_per_metric_min_delta():
    # val_loss improves by 0.01 per epoch: an improvement with min_delta=0, not with 0.05.
    loss = [1.0, 0.99, 0.98, 0.97, 0.96, 0.95]
    logs = [{"val_loss": v, "loss": v} for v in loss]
    callback = MultiMetricEarlyStopping(
        ["val_loss", "loss"], patience=2, min_delta={"val_loss": 0.05}, stop_when="any"
    )
    assert _drive(callback, _tiny_model(), logs) == 3
    assert callback.stopped_by == ["val_loss"]
    assert callback.best_values == {"val_loss": 1.0, "loss": 0.98}
    scalar = MultiMetricEarlyStopping(["val_loss", "loss"], patience=2, min_delta=0.05)
    assert _drive(scalar, _tiny_model(), logs) == 3
    assert scalar.stopped_by == ["val_loss", "loss"]


def test_per_metric_baseline():
    # val_auc never beats its baseline of 0.9: its patience counter never resets,
    # so it is exhausted at the first epoch without improvement after `patience`.
    auc = [0.5, 0.6, 0.7, 0.7, 0.8]
    loss = [1.0, 0.9, 0.8, 0.7, 0.6]
    logs = [{"val_auc": a, "val_loss": b} for a, b in zip(auc, loss, strict=True)]
    callback = MultiMetricEarlyStopping(
        ["val_auc", "val_loss"], patience=2, baseline={"val_auc": 0.9}, stop_when="any"
    )
    assert _drive(callback, _tiny_model(), logs) == 4
    assert callback.stopped_epoch == 3 and callback.stopped_by == ["val_auc"]
    assert callback.wait == {"val_auc": 4, "val_loss": 0}
    without = MultiMetricEarlyStopping(["val_auc", "val_loss"], patience=2, stop_when="any")
    assert _drive(without, _tiny_model(), logs) == 5
    assert without.stopped_epoch == 0 and without.stopped_by == []


def test_start_from_epoch_skips_the_warm_up():
    loss = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    logs = [{"loss": v} for v in loss]
    callback = MultiMetricEarlyStopping(["loss"], patience=1, start_from_epoch=3)
    assert _drive(callback, _tiny_model(), logs) == 5
    assert callback.stopped_epoch == 4 and callback.best_epoch == 3
    eager = MultiMetricEarlyStopping(["loss"], patience=1)
    assert _drive(eager, _tiny_model(), logs) == 2


def test_restore_best_weights_by_best_metric_is_bit_identical():
    rng = np.random.default_rng(1)
    model = _tiny_model()
    loss = [1.0, 0.8, 0.9, 0.7, 0.95, 0.96, 0.97]  # best at epoch 3
    auc = [0.5, 0.6, 0.9, 0.7, 0.8, 0.8, 0.8]  # best at epoch 2
    logs = [{"val_loss": a, "val_auc": b} for a, b in zip(loss, auc, strict=True)]
    weights = [_random_weights(model, rng) for _ in logs]
    callback = MultiMetricEarlyStopping(
        ["val_loss", "val_auc"],
        patience=2,
        restore_best_weights=True,
        best_metric="val_auc",
    )
    assert _drive(callback, model, logs, weights) == 6
    assert callback.best_epoch == 2 and callback.best_epochs == {"val_loss": 3, "val_auc": 2}
    for restored, expected in zip(model.get_weights(), weights[2], strict=True):
        assert np.array_equal(restored, expected)

    # Default best_metric: the first monitored one.
    by_loss = MultiMetricEarlyStopping(
        ["val_loss", "val_auc"], patience=2, restore_best_weights=True
    )
    _drive(by_loss, model, logs, weights)
    assert by_loss.best_epoch == 3
    for restored, expected in zip(model.get_weights(), weights[3], strict=True):
        assert np.array_equal(restored, expected)


def test_restores_best_weights_without_early_stop():
    rng = np.random.default_rng(2)
    model = _tiny_model()
    logs = [{"loss": v} for v in [1.0, 0.5, 0.7]]
    weights = [_random_weights(model, rng) for _ in logs]
    callback = MultiMetricEarlyStopping(["loss"], patience=5, restore_best_weights=True)
    assert _drive(callback, model, logs, weights) == 3
    assert callback.stopped_epoch == 0
    for restored, expected in zip(model.get_weights(), weights[1], strict=True):
        assert np.array_equal(restored, expected)


def test_reusable_across_fit_calls():
    rng = np.random.default_rng(3)
    model = _tiny_model()
    callback = MultiMetricEarlyStopping(["loss", "val_loss"], patience=1, restore_best_weights=True)
    first_logs = [{"loss": v, "val_loss": v} for v in [1.0, 2.0, 3.0]]
    assert _drive(callback, model, first_logs) == 2
    assert callback.stopped_epoch == 1
    # A second fit starts from a clean state: the old best (1.0) must not linger.
    second_logs = [{"loss": v, "val_loss": v} for v in [5.0, 4.0, 3.0, 3.5]]
    weights = [_random_weights(model, rng) for _ in second_logs]
    assert _drive(callback, model, second_logs, weights) == 4
    assert callback.stopped_epoch == 3
    assert callback.best_values == {"loss": 3.0, "val_loss": 3.0}
    assert callback.best_epoch == 2
    for restored, expected in zip(model.get_weights(), weights[2], strict=True):
        assert np.array_equal(restored, expected)


def test_missing_metric_warns_with_available_keys_and_skips_the_epoch():
    callback = MultiMetricEarlyStopping(["loss", "val_auc"], patience=0)
    model = _tiny_model()
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.warns(UserWarning, match=r"`val_auc`.*Available metrics are: loss,val_loss"):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})
    assert callback.wait == {"loss": 0, "val_auc": 0}
    assert callback.best_values == {"loss": None, "val_auc": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.on_epoch_end(1, {"loss": 1.0, "val_auc": 0.5})
    assert callback.best_values == {"loss": 1.0, "val_auc": 0.5}


def test_verbose_reports_the_triggering_metrics(capsys):
    logs = [{"val_loss": a, "val_auc": b} for a, b in [(1.0, 0.5), (1.1, 0.6), (1.2, 0.6)]]
    callback = MultiMetricEarlyStopping(
        ["val_loss", "val_auc"], patience=1, stop_when="any", restore_best_weights=True, verbose=1
    )
    _drive(callback, _tiny_model(), logs)
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping triggered by `val_loss` (best 1 at epoch 1" in out
    assert "`val_auc`" not in out.split("\n")[0]
    assert "Restoring model weights from the end of the best epoch by `val_loss`: 1." in out

    silent = MultiMetricEarlyStopping(["val_loss"], patience=1, restore_best_weights=True)
    _drive(silent, _tiny_model(), logs)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "name,direction",
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("val_output_a_loss", "min"),
        ("mean_squared_error", "min"),
        ("val_binary_crossentropy", "min"),
        ("val_accuracy", "max"),
        ("sparse_categorical_accuracy", "max"),
        ("auc", "max"),
        ("val_precision_1", "max"),
        ("recall", "max"),
    ],
)
def test_auto_direction_from_name(name, direction):
    callback = MultiMetricEarlyStopping([name])
    _drive(callback, _tiny_model(), [{name: 1.0}])
    assert callback.directions == {name: direction}


def test_auto_direction_from_the_models_metric_objects():
    # Keras declares CosineSimilarity as "up"; the name alone says nothing.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=[keras.metrics.CosineSimilarity()])
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    model.evaluate(x, y, verbose=0)  # builds the compiled metrics
    callback = MultiMetricEarlyStopping(["val_cosine_similarity"])
    _drive(callback, model, [{"val_cosine_similarity": 0.5}])
    assert callback.directions == {"val_cosine_similarity": "max"}


def test_explicit_mode_overrides_auto():
    callback = MultiMetricEarlyStopping(["val_loss", "score"], mode="max")
    _drive(callback, _tiny_model(), [{"val_loss": 1.0, "score": 1.0}])
    assert callback.directions == {"val_loss": "max", "score": "max"}


def test_auto_direction_unknown_raises():
    callback = MultiMetricEarlyStopping(["val_score"])
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        _drive(callback, _tiny_model(), [{"val_score": 1.0}])


def test_real_fit_matches_keras_early_stopping():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(1, kernel_initializer=keras.initializers.Ones())]
    )
    model.compile(keras.optimizers.SGD(0.05), "mse")
    reference = keras.callbacks.EarlyStopping(
        "val_loss", patience=1, min_delta=0.01, restore_best_weights=True
    )
    ours = MultiMetricEarlyStopping(
        ["val_loss"], patience=1, min_delta=0.01, restore_best_weights=True
    )
    model.fit(x, y, validation_split=0.25, epochs=30, verbose=0, callbacks=[ours, reference])
    assert reference.stopped_epoch > 0
    assert ours.stopped_epoch == reference.stopped_epoch
    assert ours.best_epoch == reference.best_epoch
    for a, b in zip(ours.best_weights, reference.best_weights, strict=True):
        assert np.array_equal(a, b)


def test_harness_fit_stops_and_restores():
    created = []

    def factory():
        # min_delta=100: no epoch counts as an improvement, so training stops at
        # epoch 1 on every backend and restores the weights of epoch 0.
        callback = MultiMetricEarlyStopping(
            {"loss": "min", "val_loss": "auto"},
            patience=1,
            min_delta={"loss": 100.0, "val_loss": 100.0},
            restore_best_weights=True,
        )
        created.append(callback)
        return callback

    histories = testing.run_callback_test(factory, epochs=5, fit_kwargs={"validation_split": 0.25})
    for history, callback in zip(histories.values(), created[-len(histories) :], strict=True):
        assert len(history.history["loss"]) == 2
        assert callback.stopped_epoch == 1
        assert callback.stopped_by == ["loss", "val_loss"]
        assert callback.best_epoch == 0
        for restored, best in zip(history.model.get_weights(), callback.best_weights, strict=True):
            assert np.array_equal(restored, best)


@pytest.mark.parametrize("monitor", [[], "", ["loss", "loss"], ["loss", 3], 5, {"loss": "up"}])
def test_bad_monitor(monitor):
    with pytest.raises(ValueError, match=r"Invalid value for argument `monitor`: expected|every"):
        MultiMetricEarlyStopping(monitor)


def test_bad_mode():
    with pytest.raises(
        ValueError,
        match=r"argument `mode`: expected one of \('auto', 'min', 'max'\). Received: mode='up'",
    ):
        MultiMetricEarlyStopping(["loss"], mode="up")


@pytest.mark.parametrize("patience", [-1, 1.5, None, True, np.float32(2)])
def test_bad_patience(patience):
    with pytest.raises(ValueError, match=r"`patience`: expected an int >= 0. Received: patience="):
        MultiMetricEarlyStopping(["loss"], patience=patience)


@pytest.mark.parametrize("min_delta", [-0.1, "0.1", {"val_loss": 0.1}, {"loss": -1.0}])
def test_bad_min_delta(min_delta):
    with pytest.raises(ValueError, match=r"`min_delta`: expected a finite float >= 0 or a dict"):
        MultiMetricEarlyStopping(["loss"], min_delta=min_delta)


def test_bad_stop_when():
    with pytest.raises(
        ValueError, match=r"`stop_when`: expected one of \('all', 'any'\). Received: stop_when="
    ):
        MultiMetricEarlyStopping(["loss"], stop_when="both")


def test_bad_restore_best_weights():
    with pytest.raises(
        ValueError,
        match=r"`restore_best_weights`: expected a bool. "
        r"Received: restore_best_weights=1 \(type int\)",
    ):
        MultiMetricEarlyStopping(["loss"], restore_best_weights=1)


def test_bad_best_metric():
    with pytest.raises(
        ValueError,
        match=r"`best_metric`: expected one of \('loss',\). Received: best_metric='val_loss'",
    ):
        MultiMetricEarlyStopping(["loss"], best_metric="val_loss")


@pytest.mark.parametrize("baseline", ["1.0", float("nan"), {"val_loss": 1.0}])
def test_bad_baseline(baseline):
    with pytest.raises(ValueError, match=r"`baseline`: expected a finite float, None, or a dict"):
        MultiMetricEarlyStopping(["loss"], baseline=baseline)


@pytest.mark.parametrize("start_from_epoch", [-1, 2.0])
def test_bad_start_from_epoch(start_from_epoch):
    with pytest.raises(ValueError, match=r"`start_from_epoch`: expected an int >= 0"):
        MultiMetricEarlyStopping(["loss"], start_from_epoch=start_from_epoch)


def test_numpy_scalars_are_accepted():
    callback = MultiMetricEarlyStopping(
        ["loss"], patience=np.int64(2), min_delta=np.float32(0.5), baseline=np.array(1.0)
    )
    assert (callback.patience, callback.min_delta, callback.baseline) == (2, 0.5, 1.0)
    assert type(callback.patience) is int and type(callback.min_delta) is float


def test_nan_is_never_the_best_value_and_says_so():
    # A parity ratio is NaN while nothing is predicted positive (early epochs):
    # the first finite value becomes the best and patience only counts from it.
    nan = float("nan")
    values = [nan, nan, 0.5, 0.6, 0.55, 0.58]
    rng = np.random.default_rng(0)
    model = _tiny_model()
    weights = [_random_weights(model, rng) for _ in values]
    callback = MultiMetricEarlyStopping({"val_ratio": "max"}, patience=2, restore_best_weights=True)
    with pytest.warns(
        UserWarning,
        match=r"`val_ratio` is nan at epoch 1; a non-finite value is "
        r"never taken as the best, waiting for its first finite value",
    ) as record:
        epochs = _drive(callback, model, [{"val_ratio": v} for v in values], weights)
    assert len([w for w in record if "non-finite" in str(w.message)]) == 1
    assert epochs == 6 and callback.stopped_epoch == 5
    assert callback.best_values == {"val_ratio": 0.6} and callback.best_epoch == 3
    for restored, expected in zip(model.get_weights(), weights[3], strict=True):
        assert np.array_equal(restored, expected)


def test_nan_after_a_best_value_is_not_an_improvement():
    callback = MultiMetricEarlyStopping(["val_loss"], patience=1)
    with pytest.warns(UserWarning, match="it does not count as an improvement"):
        epochs = _drive(
            callback, _tiny_model(), [{"val_loss": v} for v in [1.0, float("inf"), 2.0]]
        )
    assert epochs == 2 and callback.best_values == {"val_loss": 1.0}


def test_missing_metric_is_reported_as_missing_not_as_an_unknown_direction():
    # `val_score`'s direction cannot be inferred, but the problem is that it is absent.
    callback = MultiMetricEarlyStopping(["val_score"])
    with pytest.warns(
        UserWarning, match=r"`val_score`.*not available.*Available metrics are: loss"
    ):
        _drive(callback, _tiny_model(), [{"loss": 1.0}])
    assert callback.directions is None


def test_bad_verbose():
    with pytest.raises(ValueError, match=r"`verbose`: expected an int >= 0"):
        MultiMetricEarlyStopping(["loss"], verbose=-1)


def test_config_round_trip_keeps_per_metric_settings():
    callback = MultiMetricEarlyStopping(
        {"val_loss": "min", "val_auc": "max"},
        patience=3,
        min_delta={"val_loss": 0.01},
        baseline={"val_auc": 0.7},
        stop_when="any",
        best_metric="val_auc",
        restore_best_weights=True,
        start_from_epoch=2,
        verbose=1,
    )
    restored = testing.run_serialization_test(callback)
    assert restored.get_config() == callback.get_config()
    assert restored.monitor == {"val_loss": "min", "val_auc": "max"}
    assert restored.min_delta == {"val_loss": 0.01}


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers():
    callback = MultiMetricEarlyStopping(
        ["val_loss"], patience=np.int64(2), min_delta=np.float32(0.5), start_from_epoch=np.int32(1)
    )
    config = callback.get_config()
    assert (config["patience"], config["min_delta"], config["start_from_epoch"]) == (2, 0.5, 1)
    assert type(config["patience"]) is int and type(config["min_delta"]) is float
    json.dumps(config)
