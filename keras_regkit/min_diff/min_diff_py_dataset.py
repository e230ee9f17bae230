"""MinDiff data packing for NumPy arrays, on any backend, without TensorFlow."""

from __future__ import annotations

import math
import random

import keras
import numpy as np

from keras_regkit import _validation
from keras_regkit.min_diff.input_utils import MinDiffPackedInputs


def _num_rows(x) -> int:
    if isinstance(x, dict):
        return _num_rows(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return _num_rows(x[0])
    return int(np.shape(x)[0])


def _numpy_take(array, index):
    return np.take(array, index, axis=0)  # what `array[index]` gives, with less overhead


def _numpy_concat(a, b):
    return np.concatenate([a, b], axis=0)


def _take(x, index, take=_numpy_take):
    if isinstance(x, dict):
        return {k: _take(v, index, take) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_take(v, index, take) for v in x)
    return take(x, index)


def _concat(a, b, concat=_numpy_concat):
    if isinstance(a, dict):
        return {k: _concat(a[k], b[k], concat) for k in a}
    if isinstance(a, (list, tuple)):
        return type(a)(_concat(u, v, concat) for u, v in zip(a, b, strict=True))
    return concat(a, b)


def _check_weights(weights, name: str, n: int, length_of: str):
    weights = _validation.check_sample_weight(
        weights, n, name=name, length_of=length_of, allow_all_zero=True
    )
    return None if weights is None else weights.astype("float32")


def _check_features(name, value, *, finite, like=None, like_name=None):
    """Each array of `value` (an array, or a dict/list of arrays) checked: numeric, finite
    unless `finite=False`, one length, and (with `like`) the structure and feature widths of
    `like`. Returns `value` with NumPy arrays, its structure kept."""
    if isinstance(value, dict):
        if like is not None and (not isinstance(like, dict) or set(like) != set(value)):
            raise _validation.invalid(
                name, f"the structure of `{like_name}`", received=f"{name} keys {sorted(value)}"
            )
        out = {
            k: _check_features(
                f"{name}[{k!r}]",
                v,
                finite=finite,
                like=None if like is None else like[k],
                like_name=f"{like_name}[{k!r}]",
            )
            for k, v in value.items()
        }
    elif isinstance(value, (list, tuple)):
        if like is not None and (not isinstance(like, (list, tuple)) or len(like) != len(value)):
            raise _validation.invalid(
                name, f"the structure of `{like_name}`", received=f"a sequence of {len(value)}"
            )
        out = type(value)(
            _check_features(
                f"{name}[{i}]",
                v,
                finite=finite,
                like=None if like is None else like[i],
                like_name=f"{like_name}[{i}]",
            )
            for i, v in enumerate(value)
        )
    else:
        width = None
        if like is not None and np.ndim(like) >= 2:
            width = np.shape(like)[-1]
        out = _validation.check_array(name, value, finite=finite, width=width, width_of=like_name)
        if out.ndim == 0:
            raise _validation.invalid(name, "an array with one row per example", value)
        if like is not None and out.ndim != np.ndim(like):
            raise _validation.invalid(
                name, f"an array of rank {np.ndim(like)} (the rank of `{like_name}`)", out
            )
    if isinstance(value, (dict, list, tuple)):
        lengths = {int(np.shape(a)[0]) for a in _leaves(out)}
        if len(lengths) > 1:
            raise _validation.invalid(
                name, "arrays of one length", received=f"lengths {sorted(lengths)}"
            )
    return out


def _leaves(x):
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in _leaves(v)]
    if isinstance(x, (list, tuple)):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


class MinDiffPyDataset(keras.utils.PyDataset):
    """Batches of original data with a sensitive and a nonsensitive MinDiff batch packed in.

    Each step yields `(MinDiffPackedInputs(x_batch, (min_diff_x, membership[, w])),
    y_batch[, sample_weight_batch])` where `min_diff_x` is `min_diff_batch_size`
    sensitive examples followed by as many nonsensitive ones (membership 1.0 then
    0.0, shape `[2 * min_diff_batch_size, 1]`). An epoch is one pass over the
    original data; the two group arrays are drawn without replacement and cycled
    (reshuffled each cycle), so groups smaller than the original data repeat and a
    group smaller than `min_diff_batch_size` is used whole in every step.

    Works with NumPy arrays (or dicts/lists of them) on every Keras backend, with
    no TensorFlow needed. For `tf.data` pipelines use `pack_min_diff_data`. On the
    tensorflow backend `MinDiffModel.fit` gathers these same batches inside a
    `tf.data` pipeline (`as_tf_dataset`) instead of calling `__getitem__` from
    Python for every batch.

    Args:
        x: original inputs.
        y: original targets (None for inference-only data).
        sample_weight: optional original sample weights.
        sensitive_x: inputs of the sensitive group (membership 1.0).
        nonsensitive_x: inputs of the nonsensitive group (membership 0.0).
        sensitive_sample_weight: optional MinDiff weights of the sensitive group.
        nonsensitive_sample_weight: optional MinDiff weights of the nonsensitive group.
        batch_size: original examples per step.
        min_diff_batch_size: examples per group per step; defaults to `batch_size // 2`
            (so a step holds `batch_size` MinDiff examples).
        shuffle: shuffle the original data each epoch.
        seed: seed of the shuffles and group draws.
        allow_non_finite: accept NaN and inf in the features (default False: they
            would turn every weight into NaN, so they raise up front).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of `PyDataset`.

    Example:

    ```python
    female = sex == "Female"
    data = MinDiffPyDataset(
        x, y,
        sensitive_x=x[female & (y == 0)],
        nonsensitive_x=x[~female & (y == 0)],
        batch_size=128, min_diff_batch_size=64, seed=0,
    )
    min_diff_model.fit(data, epochs=5)
    ```
    """

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        *,
        sensitive_x,
        nonsensitive_x,
        sensitive_sample_weight=None,
        nonsensitive_sample_weight=None,
        batch_size: int = 32,
        min_diff_batch_size: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        allow_non_finite: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        batch_size = _validation.check_int("batch_size", batch_size, 1)
        if min_diff_batch_size is None:
            min_diff_batch_size = max(1, batch_size // 2)
        min_diff_batch_size = _validation.check_int("min_diff_batch_size", min_diff_batch_size, 1)
        seed = _validation.check_seed(seed)
        shuffle = _validation.check_bool("shuffle", shuffle)
        finite = not _validation.check_bool("allow_non_finite", allow_non_finite)
        x = _check_features("x", x, finite=finite)
        sensitive_x = _check_features(
            "sensitive_x", sensitive_x, finite=finite, like=x, like_name="x"
        )
        nonsensitive_x = _check_features(
            "nonsensitive_x", nonsensitive_x, finite=finite, like=x, like_name="x"
        )
        self.n = _num_rows(x)
        if y is not None:
            y = _check_features("y", y, finite=True)
            if _num_rows(y) != self.n:
                raise _validation.invalid(
                    "y", f"{self.n} rows (the length of `x`)", received=f"{_num_rows(y)} rows"
                )
        sample_weight = _check_weights(sample_weight, "sample_weight", self.n, "x")
        self.n_sensitive = _num_rows(sensitive_x)
        self.n_nonsensitive = _num_rows(nonsensitive_x)
        for name, count in (
            ("sensitive_x", self.n_sensitive),
            ("nonsensitive_x", self.n_nonsensitive),
        ):
            if count == 0:
                raise _validation.invalid(
                    name,
                    "at least one example (MinDiff needs examples of both groups)",
                    received=f"{name} is empty",
                )
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.sensitive_x, self.nonsensitive_x = sensitive_x, nonsensitive_x
        self.sensitive_sample_weight = _check_weights(
            sensitive_sample_weight, "sensitive_sample_weight", self.n_sensitive, "sensitive_x"
        )
        self.nonsensitive_sample_weight = _check_weights(
            nonsensitive_sample_weight,
            "nonsensitive_sample_weight",
            self.n_nonsensitive,
            "nonsensitive_x",
        )
        self.batch_size = batch_size
        self.min_diff_batch_size = min_diff_batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self._membership = None
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def _group_order(self, count: int) -> np.ndarray:
        """Indices for every step of the epoch, cycling reshuffled passes over a group."""
        per_step = min(self.min_diff_batch_size, count)
        needed = per_step * len(self)
        passes = [self.rng.permutation(count) for _ in range(math.ceil(needed / count))]
        return np.concatenate(passes)[:needed].reshape(len(self), per_step)

    def on_epoch_end(self):
        self.order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        self.sensitive_order = self._group_order(self.n_sensitive)
        self.nonsensitive_order = self._group_order(self.n_nonsensitive)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self._batch(
            self._arrays(),
            rows,
            self.sensitive_order[index],
            self.nonsensitive_order[index],
            _numpy_take,
            _numpy_concat,
        )

    def _arrays(self) -> dict:
        return {
            "x": self.x,
            "y": self.y,
            "sample_weight": self.sample_weight,
            "sensitive_x": self.sensitive_x,
            "nonsensitive_x": self.nonsensitive_x,
            "sensitive_sample_weight": self.sensitive_sample_weight,
            "nonsensitive_sample_weight": self.nonsensitive_sample_weight,
        }

    def _batch(self, arrays, rows, s_rows, n_rows, take, concat):
        """The step `(packed[, y[, sample_weight]])` of the given rows of `arrays` (see
        `_arrays`), with `take(array, index)` and `concat(a, b)` of NumPy (`__getitem__`) or
        of TensorFlow (`as_tf_dataset`)."""
        per_step_s, per_step_n = self.sensitive_order.shape[1], self.nonsensitive_order.shape[1]
        min_diff_x = _concat(
            _take(arrays["sensitive_x"], s_rows, take),
            _take(arrays["nonsensitive_x"], n_rows, take),
            concat,
        )
        if self._membership is None:
            self._membership = np.concatenate(
                [np.ones((per_step_s, 1), "float32"), np.zeros((per_step_n, 1), "float32")]
            )
        membership = self._membership.copy()  # a fresh array per batch, as before
        if (
            arrays["sensitive_sample_weight"] is None
            and arrays["nonsensitive_sample_weight"] is None
        ):
            min_diff_data = (min_diff_x, membership)
        else:
            s_w = (
                np.ones(per_step_s, "float32")
                if arrays["sensitive_sample_weight"] is None
                else take(arrays["sensitive_sample_weight"], s_rows)
            )
            n_w = (
                np.ones(per_step_n, "float32")
                if arrays["nonsensitive_sample_weight"] is None
                else take(arrays["nonsensitive_sample_weight"], n_rows)
            )
            min_diff_data = (min_diff_x, membership, concat(s_w, n_w)[:, None])
        packed = MinDiffPackedInputs(_take(arrays["x"], rows, take), min_diff_data)
        batch = [packed]
        if arrays["y"] is not None:
            batch.append(_take(arrays["y"], rows, take))
            if arrays["sample_weight"] is not None:
                batch.append(take(arrays["sample_weight"], rows))
        return tuple(batch) if len(batch) > 1 else (packed,)

    def as_tf_dataset(self, shuffle_batches: bool = False):
        """These batches as a `tf.data.Dataset` that gathers them in TensorFlow (needs TensorFlow).

        Every iteration over the result is one epoch, with the batches Keras's `fit` takes
        from this `PyDataset` in that epoch: element `i` equals `self[order[i]]`, where
        `order` is `range(len(self))`, shuffled with Python's `random.shuffle` when
        `shuffle_batches` (as `fit(shuffle=True)` orders a `PyDataset`'s batches). Python
        runs once per epoch, to draw that order and read the epoch's index tables; the rows
        are gathered from the arrays inside the pipeline (in parallel, prefetched), so no
        batch goes through a Python generator.

        As for the `PyDataset`, the draws move to the next epoch's when `on_epoch_end()` is
        called. Keras's `fit` calls it for a `PyDataset` (once when it starts, then after
        every epoch), not for a `tf.data.Dataset`: `MinDiffModel.fit`, which feeds a
        `MinDiffPyDataset` through this method on the tensorflow backend, calls it at the
        same points, so its batches are those of the `PyDataset` path for the same seeds.
        Iterating the result yourself, call `on_epoch_end()` between epochs.

        Args:
            shuffle_batches: shuffle the order of the batches in each epoch with Python's
                global `random` (what `fit(shuffle=True)`, the default, does).

        Returns:
            A `tf.data.Dataset` of `len(self)` elements.

        Example:

        ```python
        dataset = data.as_tf_dataset(shuffle_batches=True)
        for epoch in range(2):
            for packed, y in dataset:
                ...  # the batches `fit` would take from `data` in this epoch
            data.on_epoch_end()
        ```
        """
        import tensorflow as tf

        shuffle_batches = _validation.check_bool("shuffle_batches", shuffle_batches)
        steps, batch_size = len(self), self.batch_size
        sizes = np.full(steps, batch_size, "int64")
        sizes[-1] = self.n - (steps - 1) * batch_size

        def epoch_tables():
            self.on_epoch_begin()
            order = list(range(steps))
            if shuffle_batches:
                random.shuffle(order)
            rows = np.full(steps * batch_size, 0, "int64")
            rows[: self.n] = self.order
            tables = (
                rows.reshape(steps, batch_size)[order],
                sizes[order],
                self.sensitive_order[order].astype("int64"),
                self.nonsensitive_order[order].astype("int64"),
            )
            yield tables

        signature = (
            tf.TensorSpec((steps, batch_size), tf.int64),
            tf.TensorSpec((steps,), tf.int64),
            tf.TensorSpec((steps, self.sensitive_order.shape[1]), tf.int64),
            tf.TensorSpec((steps, self.nonsensitive_order.shape[1]), tf.int64),
        )
        arrays = {
            name: None if value is None else tf.nest.map_structure(tf.constant, value)
            for name, value in self._arrays().items()
        }

        def gather(rows, size, s_rows, n_rows):
            return self._batch(
                arrays,
                rows[:size],
                s_rows,
                n_rows,
                lambda array, index: tf.gather(array, index),
                lambda a, b: tf.concat([a, b], axis=0),
            )

        dataset = (
            tf.data.Dataset.from_generator(epoch_tables, output_signature=signature)
            .flat_map(lambda *tables: tf.data.Dataset.from_tensor_slices(tables))
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .apply(tf.data.experimental.assert_cardinality(steps))
        )
        return dataset.prefetch(tf.data.AUTOTUNE)
