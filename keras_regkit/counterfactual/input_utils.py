"""Packing counterfactual data into model inputs, with TensorFlow Model Remediation's names.

A batch for `CounterfactualModel` is
`(CounterfactualPackedInputs(original_input=x, counterfactual_data=cf), y, sample_weight)`
where `cf = (original_x, counterfactual_x[, counterfactual_sample_weight])` holds pairs:
row `i` of `counterfactual_x` is row `i` of `original_x` with only the sensitive attribute
changed. The packed inputs are the batch's `x`, the layout every Keras 3 data path
(`fit(x, y)`, `tf.data`, `PyDataset`) and train step understands. (TFMR's tf_keras
train step took `CounterfactualPackedInputs(original_input=(x, y, w), counterfactual_data)`
as the whole batch; `pack_counterfactual_data` takes the same arguments and builds the
Keras 3 layout.)

`pack_counterfactual_data` and `build_counterfactual_data` work on `tf.data.Dataset`s
(TensorFlow must be installed; Keras feeds tf.data to any backend).
`CounterfactualPyDataset` packs NumPy arrays without TensorFlow.
"""

from __future__ import annotations

import collections

import keras

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend


class CounterfactualPackedInputs(
    collections.namedtuple("CounterfactualPackedInputs", ["original_input", "counterfactual_data"])
):
    """Named tuple holding a batch's original inputs and its counterfactual pairs.

    Attributes:
        original_input: the batch's inputs to the original model (the `x` of `fit`).
        counterfactual_data: `(original_x, counterfactual_x[, counterfactual_sample_weight])`:
            examples, their counterfactuals (same structure and batch size), and optional
            per-pair weights of shape `[pairs]` or `[pairs, 1]`.
    """


def unpack_original_inputs(inputs):
    """The original model's inputs (`inputs` itself if it holds no counterfactual data)."""
    if isinstance(inputs, CounterfactualPackedInputs):
        return inputs.original_input
    return inputs


def unpack_counterfactual_data(inputs):
    """The counterfactual data of `inputs`, or None if it holds none."""
    if isinstance(inputs, CounterfactualPackedInputs):
        return inputs.counterfactual_data
    return None


def _batch_size(structure):
    leaves = keras.tree.flatten(structure)
    if not leaves or not hasattr(leaves[0], "shape") or len(leaves[0].shape) == 0:
        return None
    return leaves[0].shape[0]


def check_counterfactual_data(counterfactual_data, name: str = "counterfactual_data"):
    """Validates `(original_x, counterfactual_x[, weight])` and returns its three parts.

    The structure of `counterfactual_x` must be that of `original_x`, and the batch
    sizes (where known) must agree: each counterfactual is paired with one example.
    """
    if not isinstance(counterfactual_data, (tuple, list)) or len(counterfactual_data) not in (2, 3):
        raise _validation.invalid(
            name,
            "a tuple (original_x, counterfactual_x) or (original_x, counterfactual_x, "
            "counterfactual_sample_weight)",
            counterfactual_data,
        )
    original_x, counterfactual_x, weight = keras.utils.unpack_x_y_sample_weight(
        tuple(counterfactual_data)
    )
    try:
        keras.tree.assert_same_structure(original_x, counterfactual_x)
    except (ValueError, TypeError) as error:
        raise _validation.invalid(
            name,
            "counterfactual_x with the structure of original_x (one counterfactual per example)",
            received=f"original_x={_structure(original_x)}, "
            f"counterfactual_x={_structure(counterfactual_x)}",
        ) from error
    n_original, n_counterfactual = _batch_size(original_x), _batch_size(counterfactual_x)
    if None not in (n_original, n_counterfactual) and n_original != n_counterfactual:
        raise _validation.invalid(
            name,
            "as many counterfactual examples as original examples (they are paired row by row)",
            received=f"original_x has {n_original} rows, counterfactual_x has {n_counterfactual}",
        )
    n_weight = _batch_size(weight) if weight is not None else None
    if None not in (n_original, n_weight) and n_weight != n_original:
        raise _validation.invalid(
            name,
            f"one counterfactual_sample_weight per pair ({n_original})",
            received=f"{n_weight} weights",
        )
    return original_x, counterfactual_x, weight


def _structure(value):
    return keras.tree.map_structure(lambda leaf: type(leaf).__name__, value)


def _check_dataset(name, value):
    if not regkit_backend.is_tf_dataset(value):
        raise _validation.invalid(
            name,
            "a tf.data.Dataset (for NumPy arrays use `CounterfactualPyDataset`)",
            value,
        )


def pack_counterfactual_data(original_input, counterfactual_data):
    """Packs counterfactual pairs into the batches of a `tf.data.Dataset`.

    Element `i` of the result is the `i`-th batch of `original_input` with the `i`-th
    batch of `counterfactual_data` packed into its `x`:
    `(CounterfactualPackedInputs(x, (original_x, counterfactual_x, weight)), y, w)`.
    As in TFMR, `counterfactual_data` is repeated to last as long as `original_input`,
    and its batches need not be as large as the original ones.

    Args:
        original_input: batched dataset of `x`, `(x, y)` or `(x, y, sample_weight)`.
        counterfactual_data: batched dataset of `(original_x, counterfactual_x[, weight])`,
            e.g. from `build_counterfactual_data(...).batch(n)`.

    Returns:
        A `tf.data.Dataset` for `CounterfactualModel.fit` / `evaluate`.

    Example:

    ```python
    cf = build_counterfactual_data(train_ds, sensitive_terms_to_remove=["he", "she"])
    model.fit(pack_counterfactual_data(train_ds, cf), epochs=5)
    ```
    """
    import tensorflow as tf

    _check_dataset("original_input", original_input)
    _check_dataset("counterfactual_data", counterfactual_data)
    check_counterfactual_data(
        tuple(counterfactual_data.element_spec)
        if isinstance(counterfactual_data.element_spec, (tuple, list))
        else counterfactual_data.element_spec,
        "counterfactual_data",
    )

    def pack(original_batch, counterfactual_batch):
        x, y, w = keras.utils.unpack_x_y_sample_weight(original_batch)
        packed = CounterfactualPackedInputs(
            original_input=x, counterfactual_data=tuple(counterfactual_batch)
        )
        if not isinstance(original_batch, tuple):
            return (packed,)
        return (packed, y, w)[: len(original_batch)]

    zipped = tf.data.Dataset.zip((original_input, counterfactual_data.repeat()))
    return zipped.map(pack)


def build_counterfactual_data(
    original_input, sensitive_terms_to_remove=None, custom_counterfactual_function=None
):
    """Builds `(original_x, counterfactual_x, weight)` from a dataset of text examples.

    TFMR's construction: keep the elements whose `x` contains one of
    `sensitive_terms_to_remove` (every string of the element must match, so batch the
    data afterwards), and pair each with a copy where those terms are removed
    (`tf.strings.regex_replace` of the whole-word terms with ""); the weight is 1.0.
    With `custom_counterfactual_function`, that function maps each element of
    `original_input` to `(original_x, counterfactual_x, weight)` instead (the terms, if
    given, still filter the elements first), e.g. to replace terms rather than remove
    them.

    Args:
        original_input: `tf.data.Dataset` of `x`, `(x, y)` or `(x, y, sample_weight)`.
        sensitive_terms_to_remove: list of terms (regular-expression fragments).
        custom_counterfactual_function: optional function of one element.

    Returns:
        A `tf.data.Dataset` of `(original_x, counterfactual_x, counterfactual_sample_weight)`.

    Example:

    ```python
    ds = tf.data.Dataset.from_tensor_slices(["Bad word", "Good word"])
    cf = build_counterfactual_data(ds, sensitive_terms_to_remove=["Bad"])
    [(o.numpy(), c.numpy()) for o, c, _ in cf]  # [(b'Bad word', b' word')]
    ```
    """
    import tensorflow as tf

    if custom_counterfactual_function is None and not sensitive_terms_to_remove:
        raise _validation.invalid(
            "sensitive_terms_to_remove",
            "a non-empty list of terms (or pass `custom_counterfactual_function`)",
            sensitive_terms_to_remove,
        )
    if custom_counterfactual_function is not None and not callable(custom_counterfactual_function):
        raise _validation.invalid(
            "custom_counterfactual_function", "a function or None", custom_counterfactual_function
        )
    if sensitive_terms_to_remove is not None:
        if isinstance(sensitive_terms_to_remove, str) or not all(
            isinstance(term, str) for term in sensitive_terms_to_remove
        ):
            raise _validation.invalid(
                "sensitive_terms_to_remove", "a list of strings", sensitive_terms_to_remove
            )
    _check_dataset("original_input", original_input)

    def remove_terms(element):
        original_x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
        pattern = "\\b({})\\b".format("|".join(sensitive_terms_to_remove))
        counterfactual_x = tf.strings.regex_replace(original_x, pattern, "")
        return original_x, counterfactual_x, tf.ones_like(original_x, tf.float32)

    def contains_terms(element):
        original_x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
        # TFMR's pattern, kept as is for identical datasets.
        pattern = ".*(\\b{}\\b).*".format("|".join(sensitive_terms_to_remove))
        return tf.math.reduce_all(tf.strings.regex_full_match(original_x, pattern))

    mapped = custom_counterfactual_function or remove_terms
    if sensitive_terms_to_remove:
        return original_input.filter(contains_terms).map(mapped)
    return original_input.map(mapped)
