"""Counterfactual rows for tabular data: swap the values of the sensitive attribute."""

from __future__ import annotations

import numpy as np

from keras_regkit import _validation


def _column_indices(columns, feature_names, width):
    if isinstance(columns, (int, np.integer, str)):
        columns = [columns]
    columns = list(columns)
    if not columns:
        raise _validation.invalid("columns", "one column or a list of columns", columns)
    indices = []
    for column in columns:
        if isinstance(column, str):
            if feature_names is None or column not in list(feature_names):
                raise _validation.invalid(
                    "columns",
                    "column indices, or names found in `feature_names`",
                    column,
                )
            indices.append(list(feature_names).index(column))
        else:
            indices.append(_validation.check_int("columns", column, -width, width - 1) % width)
    if len(set(indices)) != len(indices):
        raise _validation.invalid("columns", "distinct columns", columns)
    return indices


def swap_sensitive_columns(x, columns, feature_names=None, permutation=None):
    """Counterfactual rows: `x` with only the sensitive attribute's value changed.

    - One column (a binary code such as 0/1 or -1/1): its two values are swapped in
      every row. Pass `permutation` as a dict `{value: new_value}` for more values.
    - Several columns (a one-hot group, e.g. Adult's `sex=Female`, `sex=Male`): row `r`
      in group `i` moves to group `permutation[i]`, by moving the columns' values. The
      default swaps two columns and shifts more cyclically (group `i` to `i + 1`).

    The other columns are unchanged, so the result pairs row by row with `x` for
    `CounterfactualPyDataset(x, y, counterfactual_x=...)`.

    Args:
        x: a 2-D NumPy array or a pandas DataFrame.
        columns: the sensitive attribute's column(s): indices, or names (DataFrame
            columns, or entries of `feature_names`).
        feature_names: names of the columns of an array `x`.
        permutation: see above (a list of group indices for one-hot groups, a dict for
            one column).

    Returns:
        An array (or DataFrame) of the shape and dtype of `x`.

    Example:

    >>> x = np.array([[0.3, 1.0, 0.0], [0.7, 0.0, 1.0]], "float32")
    >>> swap_sensitive_columns(x, ["sex=Female", "sex=Male"], ["age", "sex=Female", "sex=Male"])
    array([[0.3, 0. , 1. ],
           [0.7, 1. , 0. ]], dtype=float32)
    >>> swap_sensitive_columns(np.array([[2.0, 0.0], [3.0, 1.0]]), 1)
    array([[2., 1.],
           [3., 0.]])
    """
    frame = None
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):
        frame = x
        feature_names = list(x.columns)
        array = x.to_numpy(copy=True)
    else:
        array = _validation.check_array("x", x, ndim=2, finite=False).copy()
    indices = _column_indices(columns, feature_names, array.shape[1])
    if len(indices) == 1:
        column = array[:, indices[0]]
        if permutation is None:
            values = np.unique(column)
            if len(values) != 2:
                raise _validation.invalid(
                    "columns",
                    "a column with exactly two values to swap (pass `permutation`, a dict "
                    "{value: new_value}, for other codes)",
                    received=f"{len(values)} distinct values: {values[:5].tolist()}",
                )
            permutation = {values[0]: values[1], values[1]: values[0]}
        if not isinstance(permutation, dict):
            raise _validation.invalid(
                "permutation", "a dict {value: new_value} for one column", permutation
            )
        new = column.copy()
        for old_value, new_value in permutation.items():
            new[column == old_value] = new_value
        array[:, indices[0]] = new
    else:
        k = len(indices)
        if permutation is None:
            permutation = [(i + 1) % k for i in range(k)]
        permutation = list(permutation) if not isinstance(permutation, dict) else permutation
        if sorted(permutation) != list(range(k)):
            raise _validation.invalid(
                "permutation", f"a permutation of the {k} group indices 0..{k - 1}", permutation
            )
        block = array[:, indices].copy()
        for i, target in enumerate(permutation):
            array[:, indices[target]] = block[:, i]
    if frame is not None:
        return type(frame)(array, columns=frame.columns, index=frame.index).astype(frame.dtypes)
    return array.astype(np.asarray(x).dtype, copy=False)
