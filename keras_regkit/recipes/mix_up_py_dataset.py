"""Shuffled NumPy batches mixed by MixUp, on any backend, without tf.data."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_regkit import _validation


class MixUpPyDataset(keras.utils.PyDataset):
    """Shuffled batches of NumPy features and labels, mixed by MixUp.

    Each epoch is one shuffled pass over `(x, y)` in batches of `batch_size`.
    Every batch is mixed as `keras_regkit.layers.TabularMixUp` and
    `keras.layers.MixUp` mix one (MixUp, Zhang et al., ICLR 2018): example `i`
    gets a weight `lambda_i ~ Beta(alpha, alpha)` and a partner `p(i)` from a
    random permutation of its batch, and

    `x'_i = lambda_i * x_i + (1 - lambda_i) * x_p(i)`,
    `y'_i = lambda_i * y_i + (1 - lambda_i) * y_p(i)`.

    The mixing runs in NumPy, in the data pipeline, so it feeds `model.fit` on
    every backend without TensorFlow and at no cost to the training step (the
    layer, called eagerly per batch, would dispatch dozens of backend ops per
    batch). It is the NumPy counterpart of
    `tf.data.Dataset.map(TabularMixUp(...))`. The draws of an epoch are made
    at its start from a generator seeded with `seed`, so the batches are the
    same on every run and in any order of access.

    With `alpha=None` the batches are shuffled but not mixed, so one code path
    serves a recipe with and without augmentation.

    Args:
        x: features, an array of shape `(n, n_features)`.
        y: labels, shape `(n,)` or `(n, k)`: binary or real values, or one-hot
            classes. Integer class ids cannot be averaged: one-hot them first
            (`keras.utils.to_categorical`) and train with
            `categorical_crossentropy`.
        alpha: positive float, the parameter of the Beta distribution of the
            mixing weights (0.1-0.4 in the paper), or None for no mixing.
        batch_size: positive int, examples per batch.
        shuffle: whether to reshuffle the examples every epoch.
        seed: int or None, seed of the shuffles and of the mixing draws.
        sample_weight: optional `(n,)` non-negative example weights; batches
            are then `(x, y, sample_weight)`, the weights mixed as the labels
            are.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Example:

    >>> x = np.random.normal(size=(512, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("float32")
    >>> data = MixUpPyDataset(x, y, alpha=0.2, batch_size=64, seed=0)
    >>> xb, yb = data[0]
    >>> xb.shape, yb.shape
    ((64, 8), (64,))
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, "sigmoid")])
    >>> model.compile("adam", "binary_crossentropy")
    >>> history = model.fit(data, epochs=2, verbose=0)  # any backend
    """

    def __init__(
        self,
        x,
        y,
        alpha: float | None = 0.2,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        sample_weight=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        batch_size = _validation.check_int("batch_size", batch_size, 1)
        shuffle = _validation.check_bool("shuffle", shuffle)
        seed = _validation.check_seed(seed)
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim != 2:
            raise ValueError(
                "Invalid value for argument `x`: expected an array of shape (n, n_features). "
                f"Received: x.shape={x.shape}"
            )
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise ValueError(
                "Invalid value for argument `y`: expected an array of shape (n,) or (n, k) "
                f"with the n={len(x)} rows of `x`. Received: y.shape={y.shape}"
            )
        # Numbers only, and finite: one NaN mixed into a batch spreads to its partner.
        x = _validation.check_array("x", x)
        y = _validation.check_array("y", y)
        if alpha is not None and np.issubdtype(y.dtype, np.integer):
            if y.size and (y.min() < 0 or y.max() > 1) and (y.ndim == 1 or y.shape[1] == 1):
                raise ValueError(
                    "Invalid value for argument `y`: MixUp averages labels, so integer class "
                    "ids must be one-hot encoded first (keras.utils.to_categorical) and "
                    f"trained with categorical_crossentropy. Received labels in "
                    f"[{y.min()}, {y.max()}]."
                )
        alpha = _validation.check_float("alpha", alpha, 0, min_inclusive=False, allow_none=True)
        if sample_weight is not None:
            sample_weight = _validation.check_sample_weight(sample_weight, len(x))
        self.x = x
        self.y = y
        self.sample_weight = sample_weight
        self.alpha = alpha
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_end(self):
        n = len(self.x)
        self._order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        if self.alpha is None:
            return
        self._weights = self._rng.beta(self.alpha, self.alpha, size=n)
        # Partners: a random permutation within each batch, as positions in the epoch.
        self._partners = np.concatenate(
            [
                start + self._rng.permutation(min(self.batch_size, n - start))
                for start in range(0, n, self.batch_size)
            ]
        )

    def __getitem__(self, index: int):
        positions = np.arange(
            index * self.batch_size, min((index + 1) * self.batch_size, len(self.x))
        )
        rows = self._order[positions]
        x, y = self.x[rows], self.y[rows]
        w = None if self.sample_weight is None else self.sample_weight[rows]
        if self.alpha is not None:
            partners = self._order[self._partners[positions]]
            weight = self._weights[positions][:, None]
            x, y = _mix(x, self.x[partners], weight), _mix(y, self.y[partners], weight)
            if w is not None:
                w = _mix(w, self.sample_weight[partners], weight)
        return (x, y) if w is None else (x, y, w)


def _mix(values: np.ndarray, partners: np.ndarray, weight: np.ndarray) -> np.ndarray:
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.dtype("float32")
    if values.ndim == 1:
        weight = weight[:, 0]
    mixed = weight * values.astype("float64") + (1 - weight) * partners.astype("float64")
    return mixed.astype(dtype)
