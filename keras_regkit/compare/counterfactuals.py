"""Counterfactual rows of a `TabularTask`: the same rows with only the sensitive attribute changed.

They feed the `clp` technique (Counterfactual Logit Pairing) and the flip-rate column of every
technique. The sensitive attribute must be among the features: its one-hot columns
(`sex=Female`, `sex=Male`) or one numeric column with two values.
"""

from __future__ import annotations

import numpy as np

from keras_regkit import counterfactual


def sensitive_columns(task) -> list[int]:
    """The feature columns that encode `task.sensitive` (one-hot block or one column)."""
    if task.sensitive is None:
        return []
    names = list(task.feature_names)
    one_hot = [i for i, name in enumerate(names) if name.startswith(f"{task.sensitive}=")]
    return one_hot or [i for i, name in enumerate(names) if name == task.sensitive]


def unavailable(task) -> str | None:
    """Why `task` has no counterfactual rows, or None when it has."""
    if task.sensitive is None or task.groups_train is None:
        return "no sensitive column (pass --sensitive COLUMN)"
    columns = sensitive_columns(task)
    if not columns:
        return f"the sensitive column {task.sensitive!r} is not a feature (see --features)"
    if len(columns) == 1:
        values = np.unique(task.x_train[:, columns[0]])
        if len(values) != 2:
            return (
                f"the sensitive column {task.sensitive!r} is numeric with {len(values)} values; "
                "a counterfactual swaps two"
            )
    return None


def _permutation(task, columns: list[int]):
    train = task.x_train[:, columns]
    if len(columns) == 1:
        first, second = np.unique(train[:, 0])
        return {first: second, second: first}
    permutation = list(range(len(columns)))
    if len(columns) > 2:
        # Swap the reference group's most common category with the sensitive group's:
        # rows of the other categories keep theirs.
        reference = int(np.argmax(train[~task.groups_train].sum(axis=0)))
        totals = train[task.groups_train].sum(axis=0)
        totals[reference] = -np.inf
        sensitive = int(np.argmax(totals))
        permutation[reference], permutation[sensitive] = sensitive, reference
    else:
        permutation = [1, 0]
    return permutation


def counterfactual_x(task, x: np.ndarray) -> np.ndarray:
    """`x` (rows of `task`) with the sensitive attribute swapped (`swap_sensitive_columns`).

    Two categories (or two values) are swapped. With more one-hot categories, the
    reference group's most common category and the sensitive group's most common one
    are swapped, and rows of other categories are unchanged.
    """
    reason = unavailable(task)
    if reason:
        raise ValueError(f"No counterfactual rows: {reason}.")
    columns = sensitive_columns(task)
    return counterfactual.swap_sensitive_columns(
        x, columns, permutation=_permutation(task, columns)
    )
