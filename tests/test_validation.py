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
