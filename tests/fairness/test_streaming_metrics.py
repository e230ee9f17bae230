"""Streaming fairness metrics: equal to the functional metrics, in compile(), saved and reloaded."""

import keras
import numpy as np
import pytest

from keras_regkit import fairness, testing

VARIANTS = [
    (fairness.DemographicParityDifference, {}),
    (fairness.DemographicParityDifference, {"method": "to_overall"}),
    (fairness.DemographicParityRatio, {}),
    (fairness.DemographicParityRatio, {"method": "to_overall"}),
    (fairness.EqualOpportunityDifference, {}),
    (fairness.EqualOpportunityDifference, {"method": "to_overall"}),
    (fairness.EqualOpportunityRatio, {}),
    (fairness.EqualOpportunityRatio, {"method": "to_overall"}),
    (fairness.EqualizedOddsDifference, {}),
    (fairness.EqualizedOddsDifference, {"method": "to_overall", "agg": "mean"}),
    (fairness.EqualizedOddsRatio, {}),
    (fairness.EqualizedOddsRatio, {"agg": "mean"}),
    (fairness.EqualizedOddsRatio, {"method": "to_overall"}),
    (fairness.FalsePositiveRateDifference, {}),
    (fairness.FalsePositiveRateDifference, {"method": "to_overall"}),
]
FUNCTIONS = {
    fairness.DemographicParityDifference: fairness.demographic_parity_difference,
    fairness.DemographicParityRatio: fairness.demographic_parity_ratio,
    fairness.EqualOpportunityDifference: fairness.equal_opportunity_difference,
    fairness.EqualOpportunityRatio: fairness.equal_opportunity_ratio,
    fairness.EqualizedOddsDifference: fairness.equalized_odds_difference,
    fairness.EqualizedOddsRatio: fairness.equalized_odds_ratio,
    fairness.FalsePositiveRateDifference: fairness.false_positive_rate_difference,
}
IDS = [f"{cls.__name__}-{'-'.join(kw.values()) or 'default'}" for cls, kw in VARIANTS]


def functional(metric, y_true, scores, ids, weights=None):
    config = metric.get_config()
    kwargs = {"method": config["method"]}
    if "agg" in config:
        kwargs["agg"] = config["agg"]
    return FUNCTIONS[type(metric)](
        y_true,
        scores,
        sensitive_features=ids,
        sample_weight=weights,
        threshold=config["threshold"],
        **kwargs,
    )


def random_data(seed=0, n=120):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n).astype("float32")
    scores = rng.uniform(0, 1, n).astype("float32")
    ids = rng.choice(4, n, p=[0.45, 0.3, 0.2, 0.05]).astype("int32")
    weights = rng.uniform(0.2, 3.0, n).astype("float32")
    return y_true, scores, ids, weights


def pack(y_true, ids):
    return np.stack([y_true, ids], axis=-1).astype("float32")


def assert_close(actual, expected):
    actual = float(keras.ops.convert_to_numpy(actual))
    if np.isnan(expected):
        assert np.isnan(actual), f"expected NaN, got {actual}"
    else:
        np.testing.assert_allclose(actual, expected, atol=2e-6)


@pytest.mark.parametrize("cls,kwargs", VARIANTS, ids=IDS)
def test_serialization(cls, kwargs):
    metric = cls(num_groups=3, threshold=0.3, **kwargs)
    restored = testing.run_serialization_test(metric)
    assert restored.get_config() == metric.get_config()


@pytest.mark.parametrize("cls,kwargs", VARIANTS, ids=IDS)
def test_accumulates_to_the_functional_value(cls, kwargs):
    y_true, scores, ids, weights = random_data()
    metric = cls(num_groups=5, threshold=0.4, **kwargs)  # group 4 never occurs
    # Two batches (of one size: each new shape costs an op-by-op compilation on JAX).
    for start, stop in [(0, 60), (60, 120)]:
        metric.update_state(
            pack(y_true[start:stop], ids[start:stop]),
            scores[start:stop, None],
            sample_weight=weights[start:stop],
        )
    assert_close(metric.result(), functional(metric, y_true, scores, ids, weights))
    metric.reset_state()
    assert np.isnan(float(keras.ops.convert_to_numpy(metric.result())))
    metric.update_state(pack(y_true, ids), scores)
    assert_close(metric.result(), functional(metric, y_true, scores, ids))


@pytest.mark.parametrize("cls,kwargs", VARIANTS, ids=IDS)
def test_edge_cases_match_the_functions(cls, kwargs):
    y_true, scores, ids, weights = random_data(1, n=60)
    # A group whose weights are all zero is skipped; a group without positives has TPR 0.
    weights[ids == 2] = 0.0
    y_true[ids == 1] = 0.0
    metric = cls(num_groups=4, **kwargs)
    metric.update_state(pack(y_true, ids), scores, sample_weight=weights)
    assert_close(metric.result(), functional(metric, y_true, scores, ids, weights))
    # Nothing predicted positive: ratios are 0/0 = NaN, as in Fairlearn.
    metric = cls(num_groups=4, threshold=0.99, **kwargs)
    low = np.minimum(scores, 0.5)
    metric.update_state(pack(y_true, ids), low)
    assert_close(metric.result(), functional(metric, y_true, low, ids))
    # Ids outside [0, num_groups) are ignored.
    metric = cls(num_groups=2, **kwargs)
    metric.update_state(pack(y_true, ids), scores)
    keep = ids < 2
    assert_close(metric.result(), functional(metric, y_true[keep], scores[keep], ids[keep]))


def build_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(
        8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)
    )(inputs)
    probability = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(2)
    )(hidden)
    return keras.Model(
        inputs, {"label": probability, "fairness": keras.layers.Identity()(probability)}
    )


def model_data(n=96):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype("float32")
    ids = rng.integers(0, 3, n).astype("int32")
    weights = rng.uniform(0.5, 2.0, n).astype("float32")
    return x, y, ids, weights


@pytest.mark.parametrize("jit_compile", testing.jit_compile_options())
def test_in_compile_fit_evaluate_and_reload(jit_compile):
    x, y, ids, weights = model_data()
    targets = {"label": y, "fairness": pack(y, ids)}
    model = build_model()
    # One variant per class (all of them are checked against the functions above):
    # XLA-compiling many metrics is slow.
    variants = [VARIANTS[i] for i in (1, 2, 5, 6, 9, 12, 13)]
    metrics = [
        cls(num_groups=3, name=f"m{i}", **kwargs) for i, (cls, kwargs) in enumerate(variants)
    ]
    unweighted = fairness.DemographicParityDifference(num_groups=3, name="unweighted")
    model.compile(
        optimizer="adam",
        loss={"label": "binary_crossentropy"},
        # As for every Keras metric, `weighted_metrics` receive the sample weights.
        metrics={"fairness": [unweighted]},
        weighted_metrics={"fairness": metrics},
        jit_compile=jit_compile,
    )
    # Training and reloading once per backend, in its fastest mode (JAX without XLA
    # runs op by op; TensorFlow's XLA compilation is the slow part there).
    train_and_reload = jit_compile == (testing.backend() == "jax")
    if train_and_reload:
        history = model.fit(x, targets, epochs=1, batch_size=32, verbose=0)
        assert "fairness_m0" in history.history and "fairness_unweighted" in history.history
    sample_weight = {"label": weights, "fairness": weights}
    logs = model.evaluate(
        x, targets, sample_weight=sample_weight, batch_size=16, return_dict=True, verbose=0
    )
    scores = model.predict(x, verbose=0)["fairness"][:, 0]
    for i, metric in enumerate(metrics):
        assert_close(logs[f"fairness_m{i}"], functional(metric, y, scores, ids, weights))
    assert_close(logs["fairness_unweighted"], functional(unweighted, y, scores, ids))

    if not train_and_reload:
        return
    revived = testing.run_model_saving_test(model, x)
    revived_logs = revived.evaluate(
        x, targets, sample_weight=sample_weight, batch_size=16, return_dict=True, verbose=0
    )
    assert set(revived_logs) == set(logs)
    for name, value in logs.items():
        np.testing.assert_allclose(revived_logs[name], value, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("num_groups", [0, -1, 2.5, True, "3"])
def test_bad_num_groups(num_groups):
    with pytest.raises(ValueError, match=r"argument `num_groups`: expected an int >= 1"):
        fairness.DemographicParityDifference(num_groups=num_groups)


@pytest.mark.parametrize("threshold", [None, float("nan"), "0.5"])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match=r"argument `threshold`: expected a finite float\. "):
        fairness.EqualOpportunityRatio(num_groups=2, threshold=threshold)


def test_bad_method():
    with pytest.raises(ValueError, match=r"argument `method`: expected one of"):
        fairness.FalsePositiveRateDifference(num_groups=2, method="pairwise")


@pytest.mark.parametrize("cls", [fairness.EqualizedOddsDifference, fairness.EqualizedOddsRatio])
def test_bad_agg(cls):
    with pytest.raises(ValueError, match=r"argument `agg`: expected one of"):
        cls(num_groups=2, agg="max")


def test_y_true_without_group_column():
    metric = fairness.DemographicParityRatio(num_groups=2)
    with pytest.raises(ValueError, match=r"argument `y_true` of DemographicParityRatio: expected"):
        metric.update_state(np.ones((4, 1)), np.ones((4, 1)))


def test_y_pred_with_several_columns():
    metric = fairness.DemographicParityRatio(num_groups=2)
    with pytest.raises(ValueError, match=r"argument `y_pred` of DemographicParityRatio: expected"):
        metric.update_state(np.ones((4, 2)), np.ones((4, 2)))


@pytest.mark.parametrize("cls", sorted(set(FUNCTIONS), key=lambda c: c.__name__))
def test_mode_auto_knows_the_direction(cls):
    """mode="auto" minimises the gaps and maximises the ratios."""
    from keras_regkit.callbacks import MultiMetricEarlyStopping

    expected = "max" if cls.__name__.endswith("Ratio") else "min"
    x, y, ids, _ = model_data(n=8)
    metric = cls(num_groups=3, name="gap")
    model = build_model()
    model.compile(
        "sgd",
        loss={"label": "binary_crossentropy"},
        metrics={"fairness": [metric]},
    )
    # Builds the compiled metrics, as fit does before a callback's first epoch end.
    model.evaluate(x, {"label": y, "fairness": pack(y, ids)}, verbose=0)
    # The attribute Keras's own EarlyStopping/ModelCheckpoint read for mode="auto"
    # (they match it only to unprefixed metric names, i.e. single-output models).
    assert metric._direction == ("up" if expected == "max" else "down")
    ours = MultiMetricEarlyStopping(["val_fairness_gap"])
    ours.set_model(model)
    ours.on_train_begin()
    ours.on_epoch_end(0, {"val_fairness_gap": 0.1})
    assert ours.directions == {"val_fairness_gap": expected}


@pytest.mark.parametrize("cls", sorted(set(FUNCTIONS), key=lambda c: c.__name__))
def test_table_row_names_the_function_and_fills_the_docstring(cls):
    metric = cls(num_groups=2)
    function = getattr(fairness, metric.name)  # the default name is the functional metric's
    assert callable(function) and metric.name == cls._default_name
    assert "{{" not in cls.__doc__ and f"`keras_regkit.fairness.{metric.name}`" in cls.__doc__
    assert f"keras_regkit.fairness.{cls.__name__}(num_groups)" in cls.__doc__
    assert ("agg:" in cls.__doc__) == ("odds" in metric.name)
