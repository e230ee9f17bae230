import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.constraints import Compose, ValueRange


@pytest.mark.parametrize("low,high", [(-0.5, 0.5), (0.0, None), (None, 1.0)])
def test_value_range_harness(low, high):
    testing.run_constraint_test(ValueRange(low, high), lambda w: np.clip(w, low, high))


def test_compose_harness():
    def reference(w):
        w = np.clip(w, -1.0, 1.0)
        norms = np.sqrt(np.sum(w**2, axis=0, keepdims=True))
        return w * np.clip(norms, 0, 1.5) / (1e-7 + norms)

    constraint = Compose([ValueRange(-1.0, 1.0), keras.constraints.MaxNorm(1.5)])
    testing.run_constraint_test(constraint, reference, atol=1e-5)


def test_compose_accepts_names():
    constraint = Compose(["non_neg", ValueRange(max_value=0.3)])
    w = np.array([[-1.0, 0.2, 0.9]], "float32")
    testing.assert_allclose(constraint(w), [[0.0, 0.2, 0.3]])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"min_value": "a"}, "`min_value`: expected a float or None"),
        ({"max_value": float("nan")}, "`max_value`: expected a float or None"),
        ({}, "at least one bound"),
        ({"min_value": 1.0, "max_value": 0.0}, "expected min_value <= max_value"),
    ],
)
def test_value_range_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ValueRange(**kwargs)


@pytest.mark.parametrize(
    "arg,match",
    [
        ("non_neg", "expected a list of constraints"),
        ([], "must not be empty"),
        ([lambda w: w], "has no config"),
    ],
)
def test_compose_errors(arg, match):
    with pytest.raises(ValueError, match=match):
        Compose(arg)
