"""FairnessMetricsCallback: logged values equal the fairness functions; every consumer sees them."""

import csv
import os

import keras
import numpy as np
import pytest

from keras_regkit import fairness, testing
from keras_regkit.callbacks import FairnessMetricsCallback, MultiMetricEarlyStopping
from keras_regkit.fairness import _grouping

ALL_METRICS = list(_grouping.METRIC_NAMES)


def make_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.7 * rng.normal(size=n) > 0).astype("float32")
    sex = rng.choice(["female", "male"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    weights = rng.uniform(0.5, 2.0, n).astype("float32")
    return x, y, sex, race, weights


X, Y, SEX, RACE, W = make_data()
X_VAL, Y_VAL, SEX_VAL, RACE_VAL, W_VAL = make_data(seed=1)


def build_model(seed=0):
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(seed)
            ),
        ]
    )


def compiled_model(seed=0):
    model = build_model(seed)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    return model


def expected_values(
    scores,
    y,
    sensitive,
    weights=None,
    metrics=ALL_METRICS,
    prefix="val_",
    threshold=0.5,
    **kwargs,
):
    values = {}
    for name in metrics:
        common = {"sample_weight": weights, "threshold": threshold}
        if name in _grouping.OVERALL_RATES:
            values[prefix + name] = getattr(fairness, name)(y, scores, **common)
        else:
            extra = {k: v for k, v in kwargs.items() if k == "method" or "odds" in name}
            values[prefix + name] = getattr(fairness, name)(
                y, scores, sensitive_features=sensitive, **common, **extra
            )
    return values


def assert_logged(logs, expected, epoch=-1):
    for name, value in expected.items():
        logged = logs[name][epoch] if isinstance(logs[name], list) else logs[name]
        if np.isnan(value):
            assert np.isnan(logged), name
        else:
            np.testing.assert_allclose(logged, value, atol=1e-6, err_msg=name)


def test_harness_fit_and_values_on_every_epoch():
    def factory():
        return FairnessMetricsCallback(
            validation_data=(X_VAL, Y_VAL, SEX_VAL, W_VAL), metrics=ALL_METRICS
        )

    histories = testing.run_callback_test(
        factory,
        X,
        Y,
        epochs=2,
        build_model=build_model,
        config_exclude=("validation_data", "counterfactual_x"),
    )
    for history in histories.values():
        assert len(history.history["val_demographic_parity_difference"]) == 2
        scores = history.model.predict(X_VAL, verbose=0)
        assert_logged(history.history, expected_values(scores, Y_VAL, SEX_VAL, W_VAL))


def test_config_holds_everything_but_the_data():
    callback = FairnessMetricsCallback(
        (X_VAL, Y_VAL, SEX_VAL),
        metrics=["equalized_odds_ratio"],
        threshold=0.3,
        prefix="holdout_",
        batch_size=8,
        per_group=True,
        output_key="score",
        method="to_overall",
        agg="mean",
    )
    config = callback.get_config()
    assert config == {
        "metrics": ["equalized_odds_ratio"],
        "threshold": 0.3,
        "prefix": "holdout_",
        "batch_size": 8,
        "per_group": True,
        "output_key": "score",
        "method": "to_overall",
        "agg": "mean",
    }
    # The harness would flag the missing argument were it not declared.
    with pytest.raises(AssertionError, match="validation_data"):
        testing.check_config_covers_init(callback)
    revived = FairnessMetricsCallback.from_config(config)
    assert revived.validation_data is None
    model = compiled_model()
    with pytest.raises(ValueError, match="has no `validation_data`"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[revived])
    rebuilt = FairnessMetricsCallback(validation_data=(X_VAL, Y_VAL, SEX_VAL), **config)
    rebuilt.output_key = None
    history = model.fit(X, Y, epochs=1, verbose=0, callbacks=[rebuilt])
    assert "holdout_equalized_odds_ratio" in history.history
    assert "holdout_true_positive_rate/female" in history.history


def test_sample_weight_method_and_agg():
    callback = FairnessMetricsCallback(
        (X_VAL, Y_VAL, {"sex": SEX_VAL, "race": RACE_VAL}, W_VAL),
        metrics=ALL_METRICS,
        method="to_overall",
        agg="mean",
        threshold=0.4,
        batch_size=7,
    )
    model = compiled_model()
    history = model.fit(X, Y, epochs=1, verbose=0, callbacks=[callback])
    expected = expected_values(
        model.predict(X_VAL, verbose=0),
        Y_VAL,
        {"sex": SEX_VAL, "race": RACE_VAL},
        W_VAL,
        threshold=0.4,
        method="to_overall",
        agg="mean",
    )
    assert_logged(history.history, expected)
    assert callback.compute().keys() == expected.keys()


def test_history_and_csv_logger(tmp_path):
    path = str(tmp_path / "log.csv")
    history = compiled_model().fit(
        X,
        Y,
        epochs=3,
        verbose=0,
        callbacks=[
            FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL)),
            keras.callbacks.CSVLogger(path),
        ],
    )
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for name in ("val_demographic_parity_difference", "val_equalized_odds_difference"):
        np.testing.assert_allclose(
            [float(row[name]) for row in rows], history.history[name], rtol=1e-6
        )


def test_tensorboard_event_file_has_the_scalars(tmp_path):
    import tensorflow as tf  # TensorBoard writes with tf.summary on every backend

    history = compiled_model().fit(
        X,
        Y,
        epochs=2,
        verbose=0,
        callbacks=[
            FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL)),
            keras.callbacks.TensorBoard(str(tmp_path), write_graph=False, profile_batch=0),
        ],
    )
    scalars = {}
    validation_dir = os.path.join(str(tmp_path), "validation")
    for filename in os.listdir(validation_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(validation_dir, filename)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        np.testing.assert_allclose(
            scalars[f"epoch_{name}"], history.history[f"val_{name}"], rtol=1e-6
        )


def test_early_stopping_monitors_a_fairness_metric():
    # An unreachable baseline (the difference is >= 0) never resets the patience
    # counter: Keras stops at the first epoch after the first one that does not
    # lower the best value, a decision that needs the logged values.
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_demographic_parity_difference", mode="min", baseline=-1.0, patience=2
    )
    history = compiled_model().fit(
        X,
        Y,
        epochs=10,
        verbose=0,
        callbacks=[FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL)), stopper],
    )
    values = history.history["val_demographic_parity_difference"]
    best, expected_stop = float("inf"), 0
    for epoch, value in enumerate(values):
        if value < best:
            best = value
        elif epoch >= 1:
            expected_stop = epoch
            break
    assert 0 < stopper.stopped_epoch == expected_stop == len(values) - 1


def test_multi_metric_early_stopping_monitors_fairness_metrics():
    # Same rule as above, per metric; with stop_when="any" the first metric that does
    # not improve (after the first epoch) stops training.
    names = ["val_demographic_parity_difference", "val_equalized_odds_difference"]
    stopper = MultiMetricEarlyStopping(
        monitor=dict.fromkeys(names, "min"), baseline=-1.0, patience=1, stop_when="any"
    )
    history = compiled_model().fit(
        X,
        Y,
        epochs=10,
        verbose=0,
        callbacks=[FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL)), stopper],
    )
    best = dict.fromkeys(names, float("inf"))
    expected_stop, expected_by = None, []
    for epoch in range(len(history.history["loss"])):
        stalled = []
        for name in names:
            value = history.history[name][epoch]
            if value < best[name]:
                best[name] = value
            else:
                stalled.append(name)
        if stalled:
            expected_stop, expected_by = epoch, stalled
            break
    assert expected_stop is not None and stopper.stopped_epoch == expected_stop
    assert stopper.stopped_by == expected_by
    assert len(history.history["loss"]) == expected_stop + 1


def test_per_group_rates():
    sensitive = {"sex": SEX_VAL, "race": RACE_VAL}
    callback = FairnessMetricsCallback(
        (X_VAL, Y_VAL, sensitive),
        metrics=["demographic_parity_difference", "equal_opportunity_ratio"],
        per_group=True,
    )
    model = compiled_model()
    history = model.fit(X, Y, epochs=1, verbose=0, callbacks=[callback])
    report = fairness.group_report(
        Y_VAL, model.predict(X_VAL, verbose=0), sensitive_features=sensitive, threshold=0.5
    )
    keys = [key for key in history.history if "/" in key]
    assert len(keys) == 2 * len(report.groups)  # selection and true positive rates only
    for row, (sex, race) in enumerate(report.groups):
        for rate in ("selection_rate", "true_positive_rate"):
            np.testing.assert_allclose(
                history.history[f"val_{rate}/{sex}.{race}"][0], report[rate][row], atol=1e-12
            )


def test_per_group_keys_are_sanitized_and_unique():
    model = compiled_model()
    model.fit(X[:2], Y[:2], epochs=1, verbose=0)
    x, y = X_VAL[:4], np.array([1, 0, 1, 0])
    callback = FairnessMetricsCallback(
        (x, y, ["1.0", "2", "Asian-Pac Islander", "Asian-Pac Islander"]),
        metrics=["selection_rate"],
        per_group=True,
    )
    callback.set_model(model)
    assert set(callback.compute()) == {
        "val_selection_rate",
        "val_selection_rate/1.0",
        "val_selection_rate/2",
        "val_selection_rate/Asian-Pac_Islander",
    }
    callback.validation_data = (x, y, np.array([1.0, 2.0, 2.0, 1.0]))
    assert set(callback.compute()) == {
        "val_selection_rate",
        "val_selection_rate/1",
        "val_selection_rate/2",
    }
    # "a b" and "a_b" would collide once sanitized: the keys fall back to group indices.
    callback.validation_data = (x, y, ["a b", "a_b", "a b", "a_b"])
    assert set(callback.compute()) == {
        "val_selection_rate",
        "val_selection_rate/group_0",
        "val_selection_rate/group_1",
    }


def test_tf_data_with_string_and_intersectional_features():
    import tensorflow as tf

    sensitive = {"sex": SEX_VAL, "race": RACE_VAL}
    dataset = (
        tf.data.Dataset.from_tensor_slices((X_VAL, Y_VAL[:, None], sensitive, W_VAL))
        .shuffle(64, seed=1, reshuffle_each_iteration=True)
        .batch(10)
    )
    callback = FairnessMetricsCallback(dataset, metrics=ALL_METRICS, per_group=True)
    model = compiled_model()
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[callback])
    expected = expected_values(model.predict(X_VAL, verbose=0), Y_VAL, sensitive, W_VAL)
    assert_logged(history.history, expected)
    assert "val_selection_rate/female.a" in history.history  # bytes decoded to str


def test_py_dataset():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            part = slice(12 * i, 12 * (i + 1))
            return X_VAL[part], Y_VAL[part], RACE_VAL[part]

    model = compiled_model()
    history = model.fit(
        X, Y, epochs=1, verbose=0, callbacks=[FairnessMetricsCallback(Batches(), ALL_METRICS)]
    )
    assert_logged(
        history.history, expected_values(model.predict(X_VAL, verbose=0), Y_VAL, RACE_VAL)
    )


def test_torch_data_loader():
    import torch

    group_ids, _ = fairness.encode_groups(RACE_VAL)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(
            torch.from_numpy(X_VAL), torch.from_numpy(Y_VAL), torch.from_numpy(group_ids)
        ),
        batch_size=16,
        shuffle=True,
    )
    model = compiled_model()
    history = model.fit(
        X, Y, epochs=1, verbose=0, callbacks=[FairnessMetricsCallback(loader, ALL_METRICS)]
    )
    assert_logged(
        history.history, expected_values(model.predict(X_VAL, verbose=0), Y_VAL, group_ids)
    )


def test_dict_inputs():
    inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((1,), name="b")}
    merged = keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(merged))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    x_val = {"a": X_VAL[:, :3], "b": X_VAL[:, 3:]}
    history = model.fit(
        {"a": X[:, :3], "b": X[:, 3:]},
        Y,
        epochs=1,
        verbose=0,
        callbacks=[FairnessMetricsCallback((x_val, Y_VAL, SEX_VAL), ALL_METRICS)],
    )
    assert_logged(history.history, expected_values(model.predict(x_val, verbose=0), Y_VAL, SEX_VAL))


def test_dict_and_list_outputs_with_output_key():
    inputs = keras.Input((4,))
    logit = keras.layers.Dense(1)(inputs)
    outputs = {"logit": logit, "probability": keras.layers.Activation("sigmoid")(logit)}
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss={"probability": "binary_crossentropy"})
    callback = FairnessMetricsCallback(
        (X_VAL, Y_VAL, SEX_VAL), ALL_METRICS, output_key="logit", threshold=0.0, prefix=""
    )
    history = model.fit(
        X, {"logit": Y, "probability": Y}, epochs=1, verbose=0, callbacks=[callback]
    )
    logits = model.predict(X_VAL, verbose=0)["logit"]
    assert_logged(
        history.history, expected_values(logits, Y_VAL, SEX_VAL, prefix="", threshold=0.0)
    )
    callback.output_key = None
    with pytest.raises(ValueError, match=r"argument `output_key`.*\['logit', 'probability'\]"):
        callback.compute()

    list_model = keras.Model(inputs, [logit, outputs["probability"]])
    callback = FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL), output_key=1)
    callback.set_model(list_model)
    probabilities = list_model.predict(X_VAL, verbose=0)[1]
    assert_logged(
        callback.compute(),
        expected_values(probabilities, Y_VAL, SEX_VAL, metrics=callback.metrics),
    )
    callback.output_key = 2
    with pytest.raises(ValueError, match=r"argument `output_key`: expected the index"):
        callback.compute()


def test_min_diff_model():
    from keras_regkit.min_diff import MinDiffModel, MinDiffPyDataset, MMDLoss

    original = build_model()
    model = MinDiffModel(original, MMDLoss("gaussian"), loss_weight=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    data = MinDiffPyDataset(
        X,
        Y,
        sensitive_x=X[SEX == "female"],
        nonsensitive_x=X[SEX == "male"],
        batch_size=16,
        seed=0,
    )
    history = model.fit(
        data,
        epochs=2,
        verbose=0,
        callbacks=[FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL), ALL_METRICS)],
    )
    assert "min_diff_loss" in history.history
    assert_logged(
        history.history, expected_values(original.predict(X_VAL, verbose=0), Y_VAL, SEX_VAL)
    )


def test_non_finite_predictions_log_nan():
    model = compiled_model()
    model.fit(X[:2], Y[:2], epochs=1, verbose=0)
    model.layers[0].kernel.assign(np.full((4, 1), np.nan, "float32"))
    callback = FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL), ALL_METRICS, per_group=True)
    callback.set_model(model)
    with pytest.warns(UserWarning, match="NaN or infinite scores"):
        values = callback.compute()
    assert len(values) > len(ALL_METRICS) and all(np.isnan(v) for v in values.values())


def test_model_with_several_scores_per_sample():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    callback = FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL))
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"one score per sample.*shape \(48, 2\)"):
        callback.compute()


# --- Counterfactual inputs: flip rate and score gap next to the group metrics. ---

# The validation rows with the sensitive feature (column 3, a 0/1 code here) swapped.
X_VAL_BIN = X_VAL.copy()
X_VAL_BIN[:, 3] = (SEX_VAL == "female").astype("float32")
X_VAL_CF = X_VAL_BIN.copy()
X_VAL_CF[:, 3] = 1.0 - X_VAL_CF[:, 3]
CF_METRICS = ["counterfactual_flip_rate", "mean_counterfactual_score_gap"]


def expected_counterfactual(model, weights=None, threshold=0.5, prefix="val_"):
    scores = model.predict(X_VAL_BIN, verbose=0)
    cf_scores = model.predict(X_VAL_CF, verbose=0)
    return {
        prefix + "counterfactual_flip_rate": fairness.counterfactual_flip_rate(
            scores, cf_scores, threshold=threshold, sample_weight=weights
        ),
        prefix + "mean_counterfactual_score_gap": fairness.mean_counterfactual_score_gap(
            scores, cf_scores, sample_weight=weights
        ),
    }


def test_counterfactual_metrics_on_every_epoch():
    def factory():
        return FairnessMetricsCallback(
            validation_data=(X_VAL_BIN, Y_VAL, SEX_VAL, W_VAL), counterfactual_x=X_VAL_CF
        )

    assert factory().metrics == [
        "demographic_parity_difference",
        "equalized_odds_difference",
        *CF_METRICS,
    ]
    histories = testing.run_callback_test(
        factory,
        X,
        Y,
        epochs=2,
        build_model=build_model,
        config_exclude=("validation_data", "counterfactual_x"),
    )
    for history in histories.values():
        assert len(history.history["val_counterfactual_flip_rate"]) == 2
        expected = expected_counterfactual(history.model, W_VAL)
        expected.update(
            expected_values(
                history.model.predict(X_VAL_BIN, verbose=0),
                Y_VAL,
                SEX_VAL,
                W_VAL,
                metrics=_DEFAULT_GROUP_METRICS,
            )
        )
        assert_logged(history.history, expected)
        # The model uses the swapped column, so some decisions flip: the values are not trivial.
        assert history.history["val_mean_counterfactual_score_gap"][-1] > 0


_DEFAULT_GROUP_METRICS = ["demographic_parity_difference", "equalized_odds_difference"]


def test_counterfactual_metrics_alone_threshold_and_per_group():
    model = compiled_model()
    model.fit(X, Y, epochs=1, verbose=0)
    callback = FairnessMetricsCallback(
        (X_VAL_BIN, Y_VAL, SEX_VAL, W_VAL),
        metrics=["counterfactual_flip_rate"],
        threshold=0.45,
        per_group=True,
        batch_size=5,
        counterfactual_x=X_VAL_CF,
    )
    callback.set_model(model)
    values = callback.compute()
    expected = expected_counterfactual(model, W_VAL, threshold=0.45)
    assert set(values) == {
        "val_counterfactual_flip_rate",
        "val_counterfactual_flip_rate/female",
        "val_counterfactual_flip_rate/male",
    }
    np.testing.assert_allclose(
        values["val_counterfactual_flip_rate"], expected["val_counterfactual_flip_rate"], atol=1e-12
    )
    scores = model.predict(X_VAL_BIN, verbose=0)
    cf_scores = model.predict(X_VAL_CF, verbose=0)
    for group in ("female", "male"):
        rows = SEX_VAL == group
        np.testing.assert_allclose(
            values[f"val_counterfactual_flip_rate/{group}"],
            fairness.counterfactual_flip_rate(scores[rows], cf_scores[rows], 0.45, W_VAL[rows]),
            atol=1e-12,
        )


def test_counterfactual_zero_weight_group_gives_zero():
    weights = np.where(SEX_VAL == "female", 0.0, W_VAL)
    callback = FairnessMetricsCallback(
        (X_VAL_BIN, Y_VAL, SEX_VAL, weights),
        metrics=CF_METRICS,
        per_group=True,
        counterfactual_x=X_VAL_CF,
    )
    model = build_model()
    callback.set_model(model)
    values = callback.compute()
    assert values["val_counterfactual_flip_rate/female"] == 0.0
    assert values["val_mean_counterfactual_score_gap/female"] == 0.0
    expected = expected_counterfactual(model, weights)
    for name, value in expected.items():
        np.testing.assert_allclose(values[name], value, atol=1e-12)


def test_counterfactual_dict_inputs():
    inputs = {"a": keras.Input((3,), name="a"), "s": keras.Input((1,), name="s")}
    merged = keras.layers.Concatenate()([inputs["a"], inputs["s"]])
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(merged))
    x = {"a": X_VAL_BIN[:, :3], "s": X_VAL_BIN[:, 3:]}
    x_cf = {"a": X_VAL_CF[:, :3], "s": X_VAL_CF[:, 3:]}
    callback = FairnessMetricsCallback((x, Y_VAL, SEX_VAL), CF_METRICS, counterfactual_x=x_cf)
    callback.set_model(model)
    values = callback.compute()
    scores, cf_scores = model.predict(x, verbose=0), model.predict(x_cf, verbose=0)
    np.testing.assert_allclose(
        values["val_mean_counterfactual_score_gap"],
        fairness.mean_counterfactual_score_gap(scores, cf_scores),
        atol=1e-12,
    )


def test_counterfactual_model():
    from keras_regkit.counterfactual import CounterfactualModel, CounterfactualPyDataset

    x_bin = X.copy()
    x_bin[:, 3] = (SEX == "female").astype("float32")
    x_cf = x_bin.copy()
    x_cf[:, 3] = 1.0 - x_cf[:, 3]
    original = build_model()
    model = CounterfactualModel(original, "pairwise_mse", loss_weight=2.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    callback = FairnessMetricsCallback(
        (X_VAL_BIN, Y_VAL, SEX_VAL), CF_METRICS, counterfactual_x=X_VAL_CF
    )
    history = model.fit(
        CounterfactualPyDataset(x_bin, Y, counterfactual_x=x_cf, batch_size=16, seed=0),
        epochs=2,
        verbose=0,
        callbacks=[callback],
    )
    assert "counterfactual_loss" in history.history
    assert_logged(history.history, expected_counterfactual(original))


def test_counterfactual_non_finite_predictions_log_nan():
    model = build_model()
    callback = FairnessMetricsCallback(
        (X_VAL_BIN, Y_VAL, SEX_VAL), CF_METRICS, counterfactual_x=np.full_like(X_VAL_CF, np.inf)
    )
    callback.set_model(model)
    with pytest.warns(UserWarning, match="NaN or infinite scores"):
        values = callback.compute()
    assert all(np.isnan(v) for v in values.values())


def test_counterfactual_data_can_be_replaced():
    callback = FairnessMetricsCallback(
        (X_VAL_BIN, Y_VAL, SEX_VAL), CF_METRICS, counterfactual_x=X_VAL_CF
    )
    callback.counterfactual_x = None  # then new data of another length, then its counterfactual
    callback.validation_data = (X_VAL_BIN[:10], Y_VAL[:10], SEX_VAL[:10])
    callback.counterfactual_x = X_VAL_CF[:10]
    model = build_model()
    callback.set_model(model)
    scores = model.predict(X_VAL_BIN[:10], verbose=0)
    cf_scores = model.predict(X_VAL_CF[:10], verbose=0)
    np.testing.assert_allclose(
        callback.compute()["val_counterfactual_flip_rate"],
        fairness.counterfactual_flip_rate(scores, cf_scores),
        atol=1e-12,
    )


def test_bad_counterfactual_x():
    data = (X_VAL_BIN, Y_VAL, SEX_VAL)
    with pytest.raises(ValueError, match=r"argument `counterfactual_x`: expected arrays of the"):
        FairnessMetricsCallback(data, CF_METRICS, counterfactual_x=X_VAL_CF[:-1])
    with pytest.raises(ValueError, match=r"argument `counterfactual_x`: expected the structure"):
        FairnessMetricsCallback(data, CF_METRICS, counterfactual_x={"a": X_VAL_CF})
    with pytest.raises(ValueError, match=r"argument `counterfactual_x`: expected the counterf"):
        FairnessMetricsCallback(data, metrics=["counterfactual_flip_rate"])
    callback = FairnessMetricsCallback(data, CF_METRICS, counterfactual_x=X_VAL_CF)
    callback.counterfactual_x = None
    callback.set_model(build_model())
    with pytest.raises(ValueError, match=r"argument `counterfactual_x`: expected the counterf"):
        callback.compute()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return data

    with pytest.raises(ValueError, match=r"argument `counterfactual_x`: expected None when"):
        FairnessMetricsCallback(Batches(), CF_METRICS, counterfactual_x=X_VAL_CF)
    with pytest.raises(ValueError, match=r"argument `metrics`: expected at least one of"):
        FairnessMetricsCallback(data, ["demographic_parity_difference"], counterfactual_x=X_VAL_CF)


# --- Argument validation: one test per checked argument. ---

DATA = (X_VAL, Y_VAL, SEX_VAL)


@pytest.mark.parametrize("metrics", [[], "demographic_parity_difference", ["accuracy"], ()])
def test_bad_metrics(metrics):
    with pytest.raises(ValueError, match=r"argument `metrics`: expected"):
        FairnessMetricsCallback(DATA, metrics=metrics)


@pytest.mark.parametrize("threshold", [None, "0.5", float("nan")])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match=r"argument `threshold`: expected a finite float"):
        FairnessMetricsCallback(DATA, threshold=threshold)


def test_bad_prefix():
    with pytest.raises(ValueError, match=r"argument `prefix`: expected a string"):
        FairnessMetricsCallback(DATA, prefix=None)


@pytest.mark.parametrize("batch_size", [0, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"argument `batch_size`: expected an int or None >= 1"):
        FairnessMetricsCallback(DATA, batch_size=batch_size)


def test_batch_size_with_a_dataset():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return DATA

    with pytest.raises(ValueError, match=r"argument `batch_size`: expected None when"):
        FairnessMetricsCallback(Batches(), batch_size=8)


def test_bad_per_group():
    with pytest.raises(ValueError, match=r"argument `per_group`: expected a bool"):
        FairnessMetricsCallback(DATA, per_group=1)


def test_bad_output_key():
    with pytest.raises(ValueError, match=r"argument `output_key`: expected a string"):
        FairnessMetricsCallback(DATA, output_key=1.5)


def test_bad_method():
    with pytest.raises(ValueError, match=r"argument `method`: expected one of"):
        FairnessMetricsCallback(DATA, method="max")


def test_bad_agg():
    with pytest.raises(ValueError, match=r"argument `agg`: expected one of"):
        FairnessMetricsCallback(DATA, agg="max")


def test_bad_validation_data():
    with pytest.raises(ValueError, match=r"argument `validation_data`.*length 2"):
        FairnessMetricsCallback((X_VAL, Y_VAL))
    with pytest.raises(ValueError, match=r"argument `validation_data`.*type int"):
        FairnessMetricsCallback(3)
    with pytest.raises(ValueError, match=r"argument `validation_data`.*type ndarray"):
        FairnessMetricsCallback(X_VAL)  # an array alone: no labels, no sensitive features
    with pytest.raises(ValueError, match=r"argument `validation_data`.*one-shot iterator"):
        FairnessMetricsCallback(iter([DATA]))
    with pytest.raises(ValueError, match=r"argument `validation_data`.*47 in x and 48 in y"):
        FairnessMetricsCallback((X_VAL[:-1], Y_VAL, SEX_VAL))
    with pytest.raises(ValueError, match=r"argument `y`: expected binary labels"):
        FairnessMetricsCallback((X_VAL, Y_VAL + 1, SEX_VAL))
    with pytest.raises(ValueError, match=r"argument `sensitive_features`: expected 48 samples"):
        FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL[:-1]))
    with pytest.raises(ValueError, match=r"argument `sample_weight`: expected 48 samples"):
        FairnessMetricsCallback((X_VAL, Y_VAL, SEX_VAL, W_VAL[:3]))


def test_one_group_in_validation_data_warns_once_per_callback():
    import warnings

    callback = FairnessMetricsCallback(
        (X_VAL, Y_VAL, np.full(len(X_VAL), "female")), metrics=["demographic_parity_ratio"]
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")  # the callback itself warns only once
        history = compiled_model().fit(X, Y, epochs=3, verbose=0, callbacks=[callback])
    messages = [str(r.message) for r in records if "only 1 group" in str(r.message)]
    assert len(messages) == 1 and messages[0].startswith("FairnessMetricsCallback")
    assert history.history["val_demographic_parity_ratio"] == [1.0, 1.0, 1.0]
