"""Counterfactual data packing for NumPy arrays, on any backend, without TensorFlow."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_regkit import _validation
from keras_regkit.counterfactual.input_utils import CounterfactualPackedInputs


def _num_rows(x) -> int:
    if isinstance(x, dict):
        return _num_rows(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return _num_rows(x[0])
    return int(np.shape(x)[0])


def _take(x, index):
    if isinstance(x, dict):
        return {k: _take(v, index) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_take(v, index) for v in x)
    return np.asarray(x)[index]


def _same_structure(a, b) -> bool:
    try:
        keras.tree.assert_same_structure(a, b)
    except (ValueError, TypeError):
        return False
    return True


class CounterfactualPyDataset(keras.utils.PyDataset):
    """Batches of original data with counterfactual pairs packed in, from NumPy arrays.

    Each step yields `(CounterfactualPackedInputs(x_batch, (original_x, counterfactual_x[,
    weight])), y_batch[, sample_weight_batch])`.

    - Without `original_x`, `counterfactual_x` holds one counterfactual per row of `x`
      (e.g. from `swap_sensitive_columns`), and each batch is paired with its own
      counterfactuals.
    - With `original_x`, the pairs `(original_x[i], counterfactual_x[i])` are a separate
      set (e.g. only the examples that mention an identity term): `counterfactual_batch_size`
      pairs per step, drawn without replacement and cycled, reshuffled each cycle.

    Works with NumPy arrays (or dicts/lists of them) on every Keras backend, with no
    TensorFlow needed. For `tf.data` pipelines use `pack_counterfactual_data`.

    Args:
        x: original inputs.
        y: original targets (None for inference-only data).
        sample_weight: optional original sample weights.
        counterfactual_x: counterfactual examples, with the structure of `x`.
        original_x: optional examples paired with `counterfactual_x` (default: `x`).
        counterfactual_sample_weight: optional per-pair weights.
        batch_size: original examples per step.
        counterfactual_batch_size: pairs per step when `original_x` is given (default
            `batch_size`).
        shuffle: shuffle the original data each epoch.
        seed: seed of the shuffles and draws.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of `PyDataset`.

    Example:

    >>> x = np.array([[0.5, 1.0, 0.0], [1.5, 0.0, 1.0]], "float32")
    >>> data = CounterfactualPyDataset(
    ...     x, np.array([0, 1]), counterfactual_x=x[:, [0, 2, 1]], batch_size=2, shuffle=False
    ... )
    >>> packed, y = data[0]
    >>> packed.counterfactual_data[1]
    array([[0.5, 0. , 1. ],
           [1.5, 1. , 0. ]], dtype=float32)
    """

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        *,
        counterfactual_x,
        original_x=None,
        counterfactual_sample_weight=None,
        batch_size: int = 32,
        counterfactual_batch_size: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.batch_size = _validation.check_int("batch_size", batch_size, 1)
        self.counterfactual_batch_size = _validation.check_int(
            "counterfactual_batch_size", counterfactual_batch_size, 1, allow_none=True
        )
        self.shuffle = _validation.check_bool("shuffle", shuffle)
        _validation.check_seed(seed)
        self.n = _num_rows(x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and _num_rows(value) != self.n:
                raise _validation.invalid(
                    name, f"{self.n} rows (the length of `x`)", received=f"{_num_rows(value)} rows"
                )
        self.paired_with_batch = original_x is None
        reference = x if self.paired_with_batch else original_x
        reference_name = "x" if self.paired_with_batch else "original_x"
        if not _same_structure(reference, counterfactual_x):
            raise _validation.invalid(
                "counterfactual_x",
                f"the structure of `{reference_name}` (one counterfactual per example)",
                received=f"counterfactual_x of type {type(counterfactual_x).__name__}",
            )
        self.n_pairs = _num_rows(reference)
        if _num_rows(counterfactual_x) != self.n_pairs:
            raise _validation.invalid(
                "counterfactual_x",
                f"{self.n_pairs} rows (the length of `{reference_name}`; pairs are row by row)",
                received=f"{_num_rows(counterfactual_x)} rows",
            )
        if self.n_pairs == 0:
            raise _validation.invalid(
                "counterfactual_x", "at least one counterfactual example", received="0 rows"
            )
        for leaf_a, leaf_b in zip(
            keras.tree.flatten(reference), keras.tree.flatten(counterfactual_x), strict=True
        ):
            if np.shape(leaf_a)[1:] != np.shape(leaf_b)[1:]:
                raise _validation.invalid(
                    "counterfactual_x",
                    f"features of shape {np.shape(leaf_a)[1:]} (as `{reference_name}`)",
                    received=f"features of shape {np.shape(leaf_b)[1:]}",
                )
        self.counterfactual_sample_weight = _validation.check_sample_weight(
            counterfactual_sample_weight,
            self.n_pairs,
            name="counterfactual_sample_weight",
            length_of=reference_name,
            allow_all_zero=True,
        )
        if self.counterfactual_sample_weight is not None:
            self.counterfactual_sample_weight = self.counterfactual_sample_weight.astype("float32")[
                :, None
            ]
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.original_x, self.counterfactual_x = reference, counterfactual_x
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def on_epoch_end(self):
        self.order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if not self.paired_with_batch:
            per_step = min(self.counterfactual_batch_size or self.batch_size, self.n_pairs)
            needed = per_step * len(self)
            passes = [
                self.rng.permutation(self.n_pairs) for _ in range(math.ceil(needed / self.n_pairs))
            ]
            self.pair_order = np.concatenate(passes)[:needed].reshape(len(self), per_step)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        pair_rows = rows if self.paired_with_batch else self.pair_order[index]
        x_batch = _take(self.x, rows)
        original_x = x_batch if self.paired_with_batch else _take(self.original_x, pair_rows)
        counterfactual_data = (original_x, _take(self.counterfactual_x, pair_rows))
        if self.counterfactual_sample_weight is not None:
            counterfactual_data += (self.counterfactual_sample_weight[pair_rows],)
        packed = CounterfactualPackedInputs(x_batch, counterfactual_data)
        batch = [packed]
        if self.y is not None:
            batch.append(_take(self.y, rows))
            if self.sample_weight is not None:
                batch.append(_take(self.sample_weight, rows))
        return tuple(batch)
