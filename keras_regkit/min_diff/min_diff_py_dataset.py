"""MinDiff data packing for NumPy arrays, on any backend, without TensorFlow."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_regkit.min_diff.input_utils import MinDiffPackedInputs


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


def _concat(a, b):
    if isinstance(a, dict):
        return {k: _concat(a[k], b[k]) for k in a}
    if isinstance(a, (list, tuple)):
        return type(a)(_concat(u, v) for u, v in zip(a, b, strict=True))
    return np.concatenate([a, b], axis=0)


def _check_weights(weights, name: str, n: int):
    if weights is None:
        return None
    weights = np.asarray(weights, dtype="float32").reshape(-1)
    if weights.shape[0] != n:
        raise ValueError(
            f"`{name}` must have one weight per example: expected {n}, received {weights.shape[0]}."
        )
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError(f"`{name}` must be finite and non-negative.")
    return weights


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
    no TensorFlow needed. For `tf.data` pipelines use `pack_min_diff_data`.

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                "Invalid value for argument `batch_size`: expected a positive int. "
                f"Received: batch_size={batch_size!r}"
            )
        if min_diff_batch_size is None:
            min_diff_batch_size = max(1, batch_size // 2)
        if (
            isinstance(min_diff_batch_size, bool)
            or not isinstance(min_diff_batch_size, int)
            or min_diff_batch_size < 1
        ):
            raise ValueError(
                "Invalid value for argument `min_diff_batch_size`: expected a positive int. "
                f"Received: min_diff_batch_size={min_diff_batch_size!r}"
            )
        self.n = _num_rows(x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and _num_rows(value) != self.n:
                raise ValueError(
                    f"`x` and `{name}` must have the same number of rows. "
                    f"Received: {self.n} and {_num_rows(value)}"
                )
        self.n_sensitive = _num_rows(sensitive_x)
        self.n_nonsensitive = _num_rows(nonsensitive_x)
        for name, count in (
            ("sensitive_x", self.n_sensitive),
            ("nonsensitive_x", self.n_nonsensitive),
        ):
            if count == 0:
                raise ValueError(f"`{name}` is empty: MinDiff needs examples of both groups.")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.sensitive_x, self.nonsensitive_x = sensitive_x, nonsensitive_x
        self.sensitive_sample_weight = _check_weights(
            sensitive_sample_weight, "sensitive_sample_weight", self.n_sensitive
        )
        self.nonsensitive_sample_weight = _check_weights(
            nonsensitive_sample_weight, "nonsensitive_sample_weight", self.n_nonsensitive
        )
        self.batch_size = batch_size
        self.min_diff_batch_size = min_diff_batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
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
        s_rows, n_rows = self.sensitive_order[index], self.nonsensitive_order[index]
        min_diff_x = _concat(_take(self.sensitive_x, s_rows), _take(self.nonsensitive_x, n_rows))
        membership = np.concatenate(
            [np.ones((len(s_rows), 1), "float32"), np.zeros((len(n_rows), 1), "float32")]
        )
        if self.sensitive_sample_weight is None and self.nonsensitive_sample_weight is None:
            min_diff_data = (min_diff_x, membership)
        else:
            s_w = (
                np.ones(len(s_rows), "float32")
                if self.sensitive_sample_weight is None
                else self.sensitive_sample_weight[s_rows]
            )
            n_w = (
                np.ones(len(n_rows), "float32")
                if self.nonsensitive_sample_weight is None
                else self.nonsensitive_sample_weight[n_rows]
            )
            min_diff_data = (min_diff_x, membership, np.concatenate([s_w, n_w])[:, None])
        packed = MinDiffPackedInputs(_take(self.x, rows), min_diff_data)
        batch = [packed]
        if self.y is not None:
            batch.append(_take(self.y, rows))
            if self.sample_weight is not None:
                batch.append(_take(self.sample_weight, rows))
        return tuple(batch) if len(batch) > 1 else (packed,)
