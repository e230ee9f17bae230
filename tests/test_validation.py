"""The shared argument and data checks (keras_regkit._validation)."""

import numpy as np
import pytest

from keras_regkit import _validation as v

pytestmark = pytest.mark.one_backend


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.array(0.25), np.int64(1)])
def test_check_float_accepts_numbers_numpy_scalars_and_0d_arrays(value):
    assert v.check_float("rate", value, 0, 1) == float(np.asarray(value))
    assert type(v.check_float("rate", value, 0, 1)) is float


@pytest.mark.parametrize(
    "value", [True, np.bool_(False), float("nan"), float("inf"), "0.5", None, np.array([0.5])]
)
def test_check_float_refuses_bools_non_finite_strings_and_arrays(value):
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `rate`: expected a "
        r"float in \[0, 1\]\. Received: rate",
    ):
        v.check_float("rate", value, 0, 1)


def test_check_float_message_shows_value_and_type():
    with pytest.raises(ValueError) as info:
        v.check_float("rate", np.float32(1.5), 0, 1, max_inclusive=False)
    assert str(info.value) in (
        "Invalid value for argument `rate`: expected a float in [0, 1). "
        "Received: rate=np.float32(1.5) (type float32)",
        "Invalid value for argument `rate`: expected a float in [0, 1). "
        "Received: rate=1.5 (type float32)",
    )
    assert info.value.argument == "rate"


def test_check_float_bounds_and_none():
    assert v.check_float("x", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"expected a positive float"):
        v.check_float("x", 0.0, 0, min_inclusive=False)
    with pytest.raises(ValueError, match=r"expected a finite float <= 3"):
        v.check_float("x", 4, maximum=3)


def test_check_int():
    assert v.check_int("n", np.int32(3), 1) == 3
    for bad in (True, 2.0, "3", 0, float("nan")):
        with pytest.raises(ValueError, match=r"argument `n`: expected an int >= 1"):
            v.check_int("n", bad, 1)
    assert v.check_int("n", None, allow_none=True) is None


def test_check_probability_and_seed():
    assert v.check_probability("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        v.check_probability("p", 1.0, include_one=False)
    assert v.check_seed(None) is None
    assert v.check_seed(np.int64(7)) == 7
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match=r"argument `seed`: expected an int or None >= 0"):
            v.check_seed(bad)


def test_check_bool_and_choice():
    assert v.check_bool("flag", np.bool_(True)) is True
    with pytest.raises(ValueError, match="argument `flag`: expected a bool"):
        v.check_bool("flag", 1)
    assert v.check_choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"argument `mode`: expected one of \('min', 'max'\)"):
        v.check_choice("mode", "avg", ("min", "max"))
    with pytest.raises(ValueError, match="argument `mode`"):
        v.check_choice("mode", ["unhashable"], ("min",))


def test_check_array_rank_dtype_length_width_finite():
    x = v.check_array("x", [[1.0, 2.0]], ndim=2)
    assert isinstance(x, np.ndarray) and x.shape == (1, 2)
    with pytest.raises(
        ValueError,
        match=r"`x`: expected an array of rank 2\. Received: x of "
        r"shape \(3,\)",
    ):
        v.check_array("x", np.zeros(3), ndim=2)
    with pytest.raises(ValueError, match=r"`y`: expected a numeric array.*Encode strings"):
        v.check_array("y", np.array(["a", "b"]))
    with pytest.raises(
        ValueError,
        match=r"`x`: expected finite values.*1 non-finite value\(s\) "
        r"in x of shape \(2, 2\), the first at index \(1, 0\)",
    ):
        v.check_array("x", np.array([[0.0, 1.0], [np.inf, 2.0]]))
    assert np.isnan(v.check_array("x", [np.nan], finite=False)[0])
    with pytest.raises(ValueError, match=r"`y`: expected 3 rows \(the length of `x`\)"):
        v.check_array("y", np.zeros(2), length=3, length_of="x")
    with pytest.raises(
        ValueError, match=r"`sensitive_x`: expected 4 features \(the width of `x`\)"
    ):
        v.check_array("sensitive_x", np.zeros((2, 3)), width=4, width_of="x")
    with pytest.raises(ValueError, match=r"`x`: expected an array-like of one shape"):
        v.check_array("x", [[1.0], [1.0, 2.0]])
    assert v.check_array("x", None, allow_none=True) is None


def test_check_same_length():
    assert v.check_same_length(x=np.zeros(3), y=[1, 2, 3], w=None) == 3
    with pytest.raises(
        ValueError,
        match=r"`x`: expected arrays of one length\. Received: x has "
        r"3, y has 2",
    ):
        v.check_same_length(x=np.zeros(3), y=[1, 2])


def test_check_sample_weight():
    np.testing.assert_array_equal(v.check_sample_weight([[1], [2]], 2), [1.0, 2.0])
    assert v.check_sample_weight(None, 3) is None
    with pytest.raises(
        ValueError,
        match=r"`sample_weight`: expected non-negative weights\. "
        r"Received: negative values such as \[-1\.0\]",
    ):
        v.check_sample_weight([1, -1], 2)
    with pytest.raises(ValueError, match=r"`sample_weight`: expected finite values"):
        v.check_sample_weight([1, np.nan], 2)
    with pytest.raises(ValueError, match=r"at least one positive weight"):
        v.check_sample_weight([0, 0], 2)
    np.testing.assert_array_equal(v.check_sample_weight([0, 0], 2, allow_all_zero=True), [0, 0])
    with pytest.raises(ValueError, match=r"`w`: expected 3 rows \(the length of `y`\)"):
        v.check_sample_weight([1, 2], 3, name="w", length_of="y")


def test_check_membership():
    np.testing.assert_array_equal(v.check_membership([["a"], ["b"]], 2), ["a", "b"])
    with pytest.raises(
        ValueError,
        match=r"`sensitive_features`: expected at least 2 distinct "
        r"groups\. Received: 1 group\(s\): \['a'\]",
    ):
        v.check_membership(["a", "a"], min_groups=2)
    with pytest.raises(ValueError, match=r"no NaN"):
        v.check_membership([0.0, np.nan])


# Every public object that takes a number: (factory(value), argument, a valid value, the
# attribute it is stored in). A NumPy scalar and a 0-d array of the valid value are accepted
# (and stored as a Python number); a bool, NaN and inf are refused naming the argument.
def _model():
    import keras

    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])


def _numeric_arguments():
    import pandas as pd

    from keras_regkit import (
        callbacks,
        constraints,
        layers,
        models,
        optimizers,
        recipes,
        regularizers,
    )
    from keras_regkit.counterfactual import CounterfactualModel
    from keras_regkit.fairness import DemographicParityDifference, make_fairness_scorer
    from keras_regkit.min_diff import GaussianKernel, MinDiffModel, PredictionRateLoss

    x2, y2 = np.zeros((4, 2), "float32"), np.zeros(4, "float32")
    floats = [
        (lambda w: MinDiffModel(_model(), "mmd", loss_weight=w), "loss_weight", 1.5, "loss_weight"),
        (lambda w: CounterfactualModel(_model(), loss_weight=w), "loss_weight", 1.5, None),
        (
            lambda w: models.AdversarialModel(_model(), adversarial_weight=w),
            "adversarial_weight",
            0.25,
            "adversarial_weight",
        ),
        (lambda w: models.AdversarialModel(_model(), epsilon=w), "epsilon", 0.1, "epsilon"),
        (
            lambda w: models.AdversarialDebiasingModel(_model(), loss_weight=w),
            "loss_weight",
            0.5,
            "loss_weight",
        ),
        (lambda w: models.SharpnessAwareModel(_model(), rho=w), "rho", 0.05, "rho"),
        (lambda w: layers.DropBlock2D(w, 3), "rate", 0.25, "rate"),
        (lambda w: layers.StochasticDepth(w), "rate", 0.25, "rate"),
        (lambda w: layers.TabularMixUp(w), "alpha", 0.5, "alpha"),
        (lambda w: layers.GridMask(fill_value=w), "fill_value", 0.5, "fill_value"),
        (lambda w: optimizers.GradientNoise("sgd", stddev=w), "stddev", 0.5, None),
        (lambda w: optimizers.Lookahead("sgd", slow_step_size=w), "slow_step_size", 0.5, None),
        (lambda w: regularizers.ElasticNet(w), "factor", 0.5, "factor"),
        (lambda w: regularizers.ElasticNet(0.1, l1_ratio=w), "l1_ratio", 0.5, "l1_ratio"),
        (lambda w: regularizers.GroupLasso(w), "factor", 0.5, "factor"),
        (lambda w: constraints.ValueRange(min_value=w), "min_value", 0.5, "min_value"),
        (lambda w: recipes.MixUpPyDataset(x2, y2, alpha=w), "alpha", 0.5, "alpha"),
        (lambda w: recipes.Recipe("binary", weight_decay=w), "weight_decay", 0.5, "weight_decay"),
        (
            lambda w: callbacks.RegularizationMonitor(sparsity_tol=w),
            "sparsity_tol",
            0.5,
            "sparsity_tol",
        ),
        (lambda w: DemographicParityDifference(2, threshold=w), "threshold", 0.5, "threshold"),
        (
            lambda w: make_fairness_scorer(
                "demographic_parity_difference", max_gap=w, sensitive_features=pd.Series([0, 1])
            ),
            "max_gap",
            0.5,
            None,
        ),
        (lambda w: PredictionRateLoss(temperature=w), "temperature", 0.5, "temperature"),
        (lambda w: GaussianKernel(w), "kernel_length", 0.5, None),
    ]
    ints = [
        (lambda n: models.AdversarialModel(_model(), steps=n), "steps", 3, "steps"),
        (lambda n: models.AdversarialDebiasingModel(_model(), num_groups=n), "num_groups", 3, None),
        (lambda n: layers.StochasticDepth(0.1, seed=n), "seed", 3, "seed"),
        (lambda n: layers.RandomGridDistortion(num_steps=n), "num_steps", 3, None),
        (lambda n: DemographicParityDifference(n), "num_groups", 3, "num_groups"),
        (lambda n: recipes.MixUpPyDataset(x2, y2, batch_size=n), "batch_size", 3, "batch_size"),
        (
            lambda n: callbacks.MultiMetricEarlyStopping("loss", patience=n),
            "patience",
            3,
            "patience",
        ),
        (lambda n: optimizers.Lookahead("sgd", sync_period=n), "sync_period", 3, None),
    ]
    return floats, ints


FLOATS, INTS = _numeric_arguments()


@pytest.mark.parametrize(
    "factory, name, value, attribute", FLOATS, ids=[f"{i}-{c[1]}" for i, c in enumerate(FLOATS)]
)
def test_every_float_argument_takes_numpy_and_refuses_bool_nan_inf(factory, name, value, attribute):
    for accepted in (np.float32(value), np.array(value), np.float64(value)):
        obj = factory(accepted)
        if attribute is not None:
            stored = getattr(obj, attribute)
            assert type(stored) is float and stored == pytest.approx(value), (name, stored)
    # An infinite ValueRange bound leaves that side open.
    infinite = () if name == "min_value" else (float("inf"),)
    for refused in (True, float("nan"), np.float32("nan"), *infinite):
        with pytest.raises(ValueError, match=rf"Invalid value for argument `{name}`: expected"):
            factory(refused)


@pytest.mark.parametrize(
    "factory, name, value, attribute", INTS, ids=[f"{i}-{c[1]}" for i, c in enumerate(INTS)]
)
def test_every_int_argument_takes_numpy_and_refuses_bool_and_float(factory, name, value, attribute):
    for accepted in (np.int64(value), np.array(value), np.int32(value)):
        obj = factory(accepted)
        if attribute is not None:
            stored = getattr(obj, attribute)
            assert type(stored) is int and stored == value, (name, stored)
    for refused in (True, float(value) + 0.5):
        with pytest.raises(ValueError, match=rf"Invalid value for argument `{name}`: expected"):
            factory(refused)
