"""The one place where keras_regkit checks arguments and data.

Every public object validates its arguments with these functions, so every bad input gets the
same Keras-style message: what was received, what was expected, and which argument::

    Invalid value for argument `rate`: expected a float in [0, 1). Received: rate=1.5 (type float)

Numbers accept Python and NumPy scalars and 0-d arrays and refuse bools (`True` is not a rate).
Arrays come back as NumPy arrays, checked for rank, dtype, length and finiteness.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "InvalidArgument",
    "check_array",
    "check_bool",
    "check_choice",
    "check_finite",
    "check_float",
    "check_int",
    "check_membership",
    "check_probability",
    "check_sample_weight",
    "check_same_length",
    "check_seed",
    "describe",
    "invalid",
    "is_number",
]


class InvalidArgument(ValueError):
    """A `ValueError` that names the argument it is about (`.argument`)."""

    # `argument` is optional so that Keras, which re-raises an error from a layer's `call`
    # as `type(error)(new_message)`, keeps it a ValueError.
    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


def describe(name: str, value: Any) -> str:
    """`name=value (type T)`, or the shape and dtype of an array."""
    if isinstance(value, np.ndarray) and value.ndim > 0 or _is_tensor(value):
        shape = tuple(getattr(value, "shape", ()))
        return f"{name} of shape {shape} and dtype {getattr(value, 'dtype', '?')}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{name}={text} (type {type(value).__name__})"


def invalid(name: str, expected: str, value: Any = None, *, received: str | None = None):
    """The error for argument `name`: raise what this returns."""
    received = received if received is not None else describe(name, value)
    return InvalidArgument(
        f"Invalid value for argument `{name}`: expected {expected}. Received: {received}", name
    )


def is_number(value: Any) -> bool:
    """A real number: Python or NumPy scalar or 0-d array, not a bool (NaN and inf included)."""
    scalar = _as_scalar(value)
    return isinstance(scalar, numbers.Real) and not isinstance(scalar, (bool, np.bool_))


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic)


def _as_scalar(value: Any) -> Any:
    """A Python number from a Python/NumPy scalar or a 0-d array; anything else unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _interval(minimum, maximum, min_inclusive, max_inclusive) -> str:
    if minimum is None and maximum is None:
        return ""
    if maximum is None:
        return f" {'>=' if min_inclusive else '>'} {minimum}"
    if minimum is None:
        return f" {'<=' if max_inclusive else '<'} {maximum}"
    left = "[" if min_inclusive else "("
    right = "]" if max_inclusive else ")"
    return f" in {left}{minimum}, {maximum}{right}"


def _in_bounds(value, minimum, maximum, min_inclusive, max_inclusive) -> bool:
    if minimum is not None and (value < minimum if min_inclusive else value <= minimum):
        return False
    if maximum is not None and (value > maximum if max_inclusive else value >= maximum):
        return False
    return True


def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_none: bool = False,
) -> float | None:
    """A finite real number within the bounds, as a Python float.

    Ints, NumPy scalars and 0-d arrays are accepted; bools, NaN and inf are not.
    """
    if value is None and allow_none:
        return None
    scalar = _as_scalar(value)
    none = " or None" if allow_none else ""
    if minimum == 0 and maximum is None:
        expected = ("a non-negative float" if min_inclusive else "a positive float") + none
    else:
        # An interval with two ends already says the number is finite.
        bounded = minimum is not None and maximum is not None
        kind = ("a float" if bounded else "a finite float") + none
        expected = kind + _interval(minimum, maximum, min_inclusive, max_inclusive)
    if (
        isinstance(scalar, (bool, np.bool_))
        or not isinstance(scalar, numbers.Real)
        or not math.isfinite(scalar)
        or not _in_bounds(scalar, minimum, maximum, min_inclusive, max_inclusive)
    ):
        raise invalid(name, expected, value)
    return float(scalar)


def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    allow_none: bool = False,
) -> int | None:
    """An integer within `[minimum, maximum]`, as a Python int (integral floats are refused)."""
    if value is None and allow_none:
        return None
    scalar = _as_scalar(value)
    expected = (
        "an int" + (" or None" if allow_none else "") + _interval(minimum, maximum, True, True)
    )
    if (
        isinstance(scalar, (bool, np.bool_))
        or not isinstance(scalar, numbers.Integral)
        or not _in_bounds(scalar, minimum, maximum, True, True)
    ):
        raise invalid(name, expected, value)
    return int(scalar)


def check_probability(
    name: str, value: Any, *, include_one: bool = True, include_zero: bool = True
) -> float:
    """A probability: a float in [0, 1] (ends optionally open)."""
    return check_float(name, value, 0, 1, min_inclusive=include_zero, max_inclusive=include_one)


def check_seed(value: Any, name: str = "seed") -> int | None:
    """A seed: a non-negative int or None."""
    return check_int(name, value, 0, allow_none=True)


def check_bool(name: str, value: Any) -> bool:
    """A bool (Python or NumPy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid(name, "a bool", value)
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of `choices`."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        raise invalid(name, f"one of {choices}", value)
    return value


def check_finite(name: str, array: np.ndarray) -> np.ndarray:
    """Raises when a numeric array holds NaN or inf, saying how many and where the first is."""
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise invalid(
                name,
                "finite values (no NaN or inf)",
                received=(
                    f"{int(bad.sum())} non-finite value(s) in {name} of shape "
                    f"{array.shape}, the first at index {first}"
                ),
            )
    return array


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    numeric: bool = True,
    finite: bool = True,
    length: int | None = None,
    length_of: str | None = None,
    width: int | None = None,
    width_of: str | None = None,
    allow_none: bool = False,
) -> np.ndarray | None:
    """`value` as a NumPy array, checked.

    Args:
        name: the argument's name, for the message.
        value: array-like (NumPy, lists, backend tensors, pandas).
        ndim: the allowed rank(s).
        numeric: require a bool, integer or float dtype (strings and objects are refused).
        finite: refuse NaN and inf.
        length: the required first dimension; `length_of` names where it comes from.
        width: the required last dimension (features) for rank >= 2; `width_of` likewise.
        allow_none: return None for None.
    """
    if value is None and allow_none:
        return None
    if value is None:
        raise invalid(name, "an array", value)
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged nested lists, odd objects
        raise invalid(name, "an array-like of one shape", value) from error
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in ranks:
            shown = ranks[0] if len(ranks) == 1 else " or ".join(map(str, ranks))
            raise invalid(name, f"an array of rank {shown}", received=describe(name, array))
    if numeric:
        if array.dtype == object:
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError):
                pass
        if array.dtype.kind not in "biuf":
            raise invalid(
                name,
                "a numeric array (bool, int or float)",
                received=describe(name, array) + ". Encode strings and categories as numbers first",
            )
    if finite and numeric:
        check_finite(name, array)
    if length is not None and (array.ndim == 0 or array.shape[0] != length):
        source = f" (the length of `{length_of}`)" if length_of else ""
        raise invalid(name, f"{length} rows{source}", received=describe(name, array))
    if width is not None and array.ndim >= 2 and array.shape[-1] != width:
        source = f" (the width of `{width_of}`)" if width_of else ""
        raise invalid(name, f"{width} features{source}", received=describe(name, array))
    return array


def check_same_length(**arrays: Any) -> int:
    """All named arrays have one length; returns it."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        first = next(iter(lengths))
        raise invalid(first, "arrays of one length", received=shown)
    return next(iter(lengths.values()), 0)


def check_sample_weight(
    value: Any,
    num_samples: int | None = None,
    *,
    name: str = "sample_weight",
    length_of: str | None = None,
    allow_none: bool = True,
    allow_all_zero: bool = False,
) -> np.ndarray | None:
    """Per-example weights: finite, non-negative, one per example, not all zero.

    Returns a float64 vector of shape `(num_samples,)` (`(n, 1)` is flattened), or None.
    """
    if value is None and allow_none:
        return None
    array = check_array(
        name, value, ndim=(1, 2), length=num_samples, length_of=length_of, finite=True
    )
    if array.ndim == 2:
        if array.shape[1] != 1:
            raise invalid(
                name, "one weight per example, shape (n,) or (n, 1)", received=describe(name, array)
            )
        array = array[:, 0]
    array = array.astype(np.float64)
    if np.any(array < 0):
        raise invalid(
            name,
            "non-negative weights",
            received=f"negative values such as {array[array < 0][:5].tolist()}",
        )
    if not allow_all_zero and array.size and not np.any(array > 0):
        raise invalid(name, "at least one positive weight", received="all weights are 0")
    return array


def check_membership(
    value: Any,
    num_samples: int | None = None,
    *,
    name: str = "sensitive_features",
    length_of: str | None = None,
    min_groups: int = 1,
) -> np.ndarray:
    """Group labels, one per example (rank 1, or (n, 1)), with at least `min_groups` groups."""
    array = check_array(
        name,
        value,
        ndim=(1, 2),
        numeric=False,
        finite=False,
        length=num_samples,
        length_of=length_of,
    )
    if array.ndim == 2:
        if array.shape[1] != 1:
            raise invalid(
                name, "one group per example, shape (n,) or (n, 1)", received=describe(name, array)
            )
        array = array[:, 0]
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise invalid(name, "a group for every example (no NaN)", received=describe(name, array))
    groups = np.unique(array)
    if len(groups) < min_groups:
        raise invalid(
            name,
            f"at least {min_groups} distinct groups",
            received=f"{len(groups)} group(s): {groups[:5].tolist()}",
        )
    return array
