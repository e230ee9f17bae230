"""Packing MinDiff data into model inputs, with TensorFlow Model Remediation's structures.

A batch for `MinDiffModel` is `(MinDiffPackedInputs(original_inputs, min_diff_data), y,
sample_weight)`, where `min_diff_data` is `(min_diff_x, membership[, min_diff_weight])` or a
dict of such tuples (one per MinDiff application, matching the dict of losses).

`pack_min_diff_data` and `build_min_diff_dataset` work on `tf.data.Dataset`s (TensorFlow
must be installed; Keras feeds tf.data to any backend). `MinDiffPyDataset` packs NumPy
arrays without TensorFlow.
"""

from __future__ import annotations

import collections

import keras


class MinDiffPackedInputs(
    collections.namedtuple("MinDiffPackedInputs", ["original_inputs", "min_diff_data"])
):
    """Named tuple holding the original inputs and the MinDiff data of one batch.

    Attributes:
        original_inputs: the batch's inputs to the original model.
        min_diff_data: `(min_diff_x, membership[, min_diff_sample_weight])`, or a
            dict of those keyed like `MinDiffModel`'s `loss` dict.
    """


def unpack_original_inputs(inputs):
    """The original model's inputs (`inputs` itself if it holds no MinDiff data)."""
    if isinstance(inputs, MinDiffPackedInputs):
        return inputs.original_inputs
    return inputs


def unpack_min_diff_data(inputs):
    """The MinDiff data of `inputs`, or None if it holds none."""
    if isinstance(inputs, MinDiffPackedInputs):
        return inputs.min_diff_data
    return None


def _is_dataset(value) -> bool:
    from keras_regkit import backend

    return backend.is_tf_dataset(value)


def _validate_dataset_structure(value, name: str) -> None:
    values = value.values() if isinstance(value, dict) else [value]
    if isinstance(value, dict) and not value:
        raise ValueError(f"`{name}` must not be an empty dict.")
    for v in values:
        if not _is_dataset(v):
            raise ValueError(
                f"`{name}` must be a tf.data.Dataset or a dict of them. Received: {name}={value!r}"
            )


def _map_structure(fn, structure, *rest):
    if isinstance(structure, dict):
        return {k: fn(structure[k], *(r[k] for r in rest)) for k in structure}
    return fn(structure, *rest)


def _build_single_fn():
    import tensorflow as tf

    def build_single(sensitive_batch, nonsensitive_batch):
        s_x, _, s_w = keras.utils.unpack_x_y_sample_weight(sensitive_batch)
        n_x, _, n_w = keras.utils.unpack_x_y_sample_weight(nonsensitive_batch)
        tf.nest.assert_same_structure(s_x, n_x)
        x = tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=0), s_x, n_x)
        s_shape = [tf.shape(tf.nest.flatten(s_x)[0])[0], 1]
        n_shape = [tf.shape(tf.nest.flatten(n_x)[0])[0], 1]
        membership = tf.concat([tf.ones(s_shape), tf.zeros(n_shape)], axis=0)
        weight = None
        if s_w is not None or n_w is not None:
            s_w = tf.ones(s_shape) if s_w is None else tf.reshape(tf.cast(s_w, "float32"), s_shape)
            n_w = tf.ones(n_shape) if n_w is None else tf.reshape(tf.cast(n_w, "float32"), n_shape)
            weight = tf.concat([s_w, n_w], axis=0)
        return keras.utils.pack_x_y_sample_weight(x, membership, weight)

    return build_single


def _check_group_structures(sensitive_group_dataset, nonsensitive_group_dataset):
    _validate_dataset_structure(sensitive_group_dataset, "sensitive_group_dataset")
    _validate_dataset_structure(nonsensitive_group_dataset, "nonsensitive_group_dataset")
    if isinstance(sensitive_group_dataset, dict) != isinstance(
        nonsensitive_group_dataset, dict
    ) or (
        isinstance(sensitive_group_dataset, dict)
        and set(sensitive_group_dataset) != set(nonsensitive_group_dataset)
    ):
        raise ValueError(
            "`sensitive_group_dataset` and `nonsensitive_group_dataset` must have the same "
            "structure (both datasets, or dicts with the same keys)."
        )


def build_min_diff_dataset(sensitive_group_dataset, nonsensitive_group_dataset):
    """Zips batched sensitive and nonsensitive datasets into MinDiff batches.

    Each output element is `(min_diff_x, membership, min_diff_sample_weight)`: the
    sensitive batch followed by the nonsensitive batch, with membership 1.0 then
    0.0 (shape `[batch, 1]`), and weights only when either input has them (a
    missing side gets weight 1). Dicts of datasets give dicts of such elements.
    As in TFMR, the datasets should be batched and repeated.

    Args:
        sensitive_group_dataset: batched `tf.data.Dataset` (or dict of them) of
            `x`, `(x, y)` or `(x, y, sample_weight)` for the sensitive group.
        nonsensitive_group_dataset: the same for the nonsensitive group.

    Returns:
        A `tf.data.Dataset`.
    """
    import tensorflow as tf

    _check_group_structures(sensitive_group_dataset, nonsensitive_group_dataset)
    build_single = _build_single_fn()
    zipped = tf.data.Dataset.zip((sensitive_group_dataset, nonsensitive_group_dataset))
    return zipped.map(
        lambda s, n: _map_structure(build_single, s, n),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def pack_min_diff_data(
    original_dataset,
    sensitive_group_dataset=None,
    nonsensitive_group_dataset=None,
    min_diff_dataset=None,
):
    """Packs MinDiff data into a `tf.data.Dataset` of `MinDiffPackedInputs` batches.

    Pass either both group datasets (combined with `build_min_diff_dataset`) or a
    ready `min_diff_dataset`. Element `i` of the result is the `i`-th original
    batch with the `i`-th MinDiff batch packed into its `x`; the result ends with
    the shorter input, so repeat the MinDiff data (as in TFMR).

    Args:
        original_dataset: batched dataset of `x`, `(x, y)` or `(x, y, sample_weight)`.
        sensitive_group_dataset: see `build_min_diff_dataset`.
        nonsensitive_group_dataset: see `build_min_diff_dataset`.
        min_diff_dataset: dataset (or dict of them) of `(x, membership[, weight])`.

    Returns:
        A `tf.data.Dataset` for `MinDiffModel.fit` / `evaluate`.

    Example:

    ```python
    dataset = pack_min_diff_data(
        train_ds,
        sensitive_group_dataset=female_ds.repeat(),
        nonsensitive_group_dataset=male_ds.repeat(),
    )
    min_diff_model.fit(dataset, epochs=5)
    ```
    """
    import tensorflow as tf

    use_ready = min_diff_dataset is not None and (
        sensitive_group_dataset is None and nonsensitive_group_dataset is None
    )
    build = (
        sensitive_group_dataset is not None
        and nonsensitive_group_dataset is not None
        and min_diff_dataset is None
    )
    if not (use_ready or build):
        raise ValueError(
            "Invalid arguments: pass either only `min_diff_dataset`, or both "
            "`sensitive_group_dataset` and `nonsensitive_group_dataset`. Received: "
            f"sensitive_group_dataset={sensitive_group_dataset}, "
            f"nonsensitive_group_dataset={nonsensitive_group_dataset}, "
            f"min_diff_dataset={min_diff_dataset}"
        )
    if not _is_dataset(original_dataset):
        raise ValueError(
            "`original_dataset` must be a tf.data.Dataset. For NumPy arrays use "
            f"`MinDiffPyDataset`. Received: original_dataset={original_dataset!r}"
        )
    if build:
        _check_group_structures(sensitive_group_dataset, nonsensitive_group_dataset)
    else:
        _validate_dataset_structure(min_diff_dataset, "min_diff_dataset")

    def validated(element):
        # Membership and weights are data: check their values where they are produced.
        x, membership, weight = keras.utils.unpack_x_y_sample_weight(element)
        membership = tf.cast(membership, "float32")
        valid = tf.reduce_all((membership == 0.0) | (membership == 1.0))
        checks = [
            tf.debugging.Assert(
                valid,
                ["MinDiff `membership` must be 1.0 (sensitive) or 0.0 (nonsensitive):", membership],
                summarize=8,
            )
        ]
        if weight is not None:
            weight = tf.cast(weight, "float32")
            checks.append(
                tf.debugging.Assert(
                    tf.reduce_all(weight >= 0.0),
                    ["MinDiff sample weights must be non-negative:", weight],
                    summarize=8,
                )
            )
        with tf.control_dependencies(checks):
            membership = tf.identity(membership)
        return keras.utils.pack_x_y_sample_weight(x, membership, weight)

    def pack(original_batch, min_diff_batch):
        x, y, w = keras.utils.unpack_x_y_sample_weight(original_batch)
        packed = MinDiffPackedInputs(original_inputs=x, min_diff_data=min_diff_batch)
        if not isinstance(original_batch, tuple):
            return packed
        return (packed, y, w)[: len(original_batch)]

    # One map per element (the MinDiff batch is built in the same function), run in
    # parallel in order, and prefetched so the input pipeline overlaps the train step.
    # Membership built here is 1.0/0.0 by construction: only a ready `min_diff_dataset`
    # has its values checked.
    if build:
        build_single = _build_single_fn()
        zipped = tf.data.Dataset.zip(
            (original_dataset, (sensitive_group_dataset, nonsensitive_group_dataset))
        )

        def fn(original_batch, groups):
            return pack(original_batch, _map_structure(build_single, *groups))
    else:
        zipped = tf.data.Dataset.zip((original_dataset, min_diff_dataset))

        def fn(original_batch, min_diff_batch):
            return pack(original_batch, _map_structure(validated, min_diff_batch))

    return zipped.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(
        tf.data.AUTOTUNE
    )
