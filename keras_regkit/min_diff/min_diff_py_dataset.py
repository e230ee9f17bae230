"""MinDiff data packing for NumPy arrays, on any backend, without TensorFlow."""

from __future__ import annotations

import math

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
