"""Reweighing (Kamiran & Calders, 2012): pre-processing weights that decorrelate label and group."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_regkit._validation import check_membership, check_sample_weight


def reweighing_weights(y: Any, sensitive_features: Any, sample_weight: Any = None) -> np.ndarray:
    """Per-example weights that make the label independent of the sensitive group.

    Reweighing (Kamiran & Calders, "Data preprocessing techniques for
    classification without discrimination", Knowledge and Information Systems,
    2012) gives every example of group `s` and label `y` the weight

        w(s, y) = P(s) P(y) / P(s, y),

    the ratio of the cell's expected frequency under independence to its
    observed frequency. Trained with `fit(sample_weight=w)`, a model sees data
    in which the base rate of every label is the same in every group. Existing
    `sample_weight` are folded in, as in AIF360's `Reweighing`: the
    probabilities are weighted sums, and the result is `sample_weight * w(s,
    y)`, so the weights keep their total. Any number of groups and labels is
    allowed; a (group, label) cell whose examples all weigh 0 keeps weight 0.

    Args:
        y: labels, `(n,)` or `(n, 1)` (numbers, strings or bools).
        sensitive_features: each example's group, `(n,)` or `(n, 1)`, with at
            least two groups.
        sample_weight: optional non-negative finite weights, `(n,)`.

    Returns:
        A float64 array `(n,)` of weights, to pass as `fit(sample_weight=...)`.

    Example:

    >>> y = [1, 1, 0, 0, 0, 0]
    >>> s = ["a", "a", "a", "b", "b", "b"]
    >>> reweighing_weights(y, s).round(3).tolist()
    [0.5, 0.5, 2.0, 0.667, 0.667, 0.667]
    """
    labels = check_membership(y, name="y")
    groups = check_membership(sensitive_features, len(labels), length_of="y", min_groups=2)
    weights = check_sample_weight(sample_weight, len(labels), length_of="y")
    if weights is None:
        weights = np.ones(len(labels))
    _, group_index = np.unique(groups, return_inverse=True)
    _, label_index = np.unique(labels, return_inverse=True)
    group_index, label_index = group_index.reshape(-1), label_index.reshape(-1)
    joint = np.zeros((group_index.max() + 1, label_index.max() + 1))
    np.add.at(joint, (group_index, label_index), weights)
    total = joint.sum()
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True) / total
    ratio = np.divide(expected, joint, out=np.zeros_like(joint), where=joint > 0)
    return weights * ratio[group_index, label_index]
