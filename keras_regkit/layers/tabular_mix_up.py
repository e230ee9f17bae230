"""MixUp for tabular (rank-2) data."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation, backend
from keras_regkit.layers._training_default import AugmentsOutsideModels

_KEYS = ("features", "labels")
# Marsaglia-Tsang proposals per sample: each is accepted with probability >= 0.95,
# so all 8 fail with probability < 4e-11 (the sample then falls back to d = a - 1/3,
# about the median of Gamma(a)).
_PROPOSALS = 8


def _log_gamma(batch_size, shape, seed):
    """log of Gamma(shape, 1) samples, vectorised.

    G. Marsaglia and W. W. Tsang, "A simple method for generating gamma
    variables", ACM TOMS 26(3), 2000, with a fixed number of proposals instead
    of a loop.

    `keras.random.beta`/`gamma` use `tf.random.stateless_gamma` on TensorFlow,
    which XLA cannot compile; this runs on every backend, eagerly and under
    `jit_compile=True`. Shapes below 1 use Gamma(a) = Gamma(a + 1) * U^(1/a),
    kept in log space so that tiny samples do not underflow.
    """
    boosted = shape + 1.0 if shape < 1 else shape
    d = boosted - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    x = keras.random.normal((_PROPOSALS, batch_size), seed=seed)
    u = keras.random.uniform((_PROPOSALS, batch_size), seed=seed)
    v = (1.0 + c * x) ** 3
    positive = v > 0
    v = ops.where(positive, v, 1.0)
    log_v = ops.log(v)
    accept = ops.logical_and(
        positive, ops.log(ops.maximum(u, 1e-37)) < 0.5 * x**2 + d - d * v + d * log_v
    )
    first = ops.argmax(ops.cast(accept, "int32"), axis=0)
    log_v = ops.take_along_axis(log_v, ops.expand_dims(first, 0), axis=0)[0]
    log_v = ops.where(ops.any(accept, axis=0), log_v, 0.0)
    log_gamma = math.log(d) + log_v
    if shape < 1:
        boost = keras.random.uniform((batch_size,), seed=seed)
        log_gamma = log_gamma + ops.log(ops.maximum(boost, 1e-37)) / shape
    return log_gamma


def _symmetric_beta(batch_size, alpha, seed):
    """`batch_size` samples of Beta(alpha, alpha), as G1 / (G1 + G2) = sigmoid(log G1 - log G2)."""
    return ops.sigmoid(_log_gamma(batch_size, alpha, seed) - _log_gamma(batch_size, alpha, seed))


@keras.saving.register_keras_serializable(package="keras_regkit")
class TabularMixUp(AugmentsOutsideModels, keras.layers.Layer):
    """MixUp for tabular batches: convex combinations of examples and labels.

    For a batch `(x, y)` it draws, for every example `i`, a weight
    `lambda_i ~ Beta(alpha, alpha)` and a partner `p(i)` (a random permutation
    of the batch), and returns

    `x'_i = lambda_i * x_i + (1 - lambda_i) * x_p(i)`,
    `y'_i = lambda_i * y_i + (1 - lambda_i) * y_p(i)`.

    This is the contract of `keras.layers.MixUp` (one weight per example, one
    permutation per batch, mixing only in training), for the `(batch,
    n_features)` data that `keras.layers.MixUp` rejects because it expects
    images.

    Reference: H. Zhang, M. Cisse, Y. N. Dauphin and D. Lopez-Paz, "mixup:
    Beyond empirical risk minimization", ICLR 2018
    (https://arxiv.org/abs/1710.09412).

    Data: a dict `{"features": x, "labels": y}` (labels optional) or a tensor
    `x`. `x` has shape `(batch, n_features)`, or is a dict/list of such
    tensors (e.g. one `(batch,)` or `(batch, k)` tensor per column); every
    tensor is mixed with the same weights and partners. `y` must be one-hot
    (`(batch, n_classes)`), binary or real-valued (`(batch,)` or
    `(batch, 1)`): integer class ids cannot be averaged, one-hot them first.
    Features are returned in the layer's compute dtype, labels as float32 (or
    their own floating dtype). One-hot categorical features become fractional,
    as in the paper's tabular experiments.

    Pipelines: use it in a `tf.data` pipeline on any backend (TensorFlow, JAX,
    PyTorch), e.g. `ds.batch(64).map(TabularMixUp(0.2))`; on JAX and PyTorch the
    pipeline runs TensorFlow ops (the random draws then come from a
    TensorFlow generator seeded with `seed`). It also runs eagerly on any
    backend's tensors, and inside a model, where it mixes only in training.

    Args:
        alpha: positive float, the parameter of the symmetric Beta distribution
            of the mixing weights. Small values (0.1-0.4, the paper's range)
            keep most examples close to one of the two originals.
        seed: int or None, seed of the random draws.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        data: a dict `{"features": x, "labels": y}` or a features tensor.
        training: whether to mix; when False the data is returned unchanged.
            None (default): True when the layer is called on its own (or in a
            `tf.data` pipeline), as for Keras's preprocessing layers, and False
            inside a model except in `fit`, so exported models serve unmixed
            inputs.

    Returns:
        The data with the same structure, mixed.

    Example:

    ```python
    import tensorflow as tf

    x = np.random.normal(size=(256, 10)).astype("float32")
    y = np.random.randint(0, 2, size=(256, 1)).astype("float32")
    mix_up = TabularMixUp(alpha=0.2, seed=1)
    ds = (
        tf.data.Dataset.from_tensor_slices({"features": x, "labels": y})
        .shuffle(256)
        .batch(32)
        .map(mix_up)
        .map(lambda d: (d["features"], d["labels"]))
    )
    model.fit(ds)  # any backend
    ```
    """

    def __init__(self, alpha: float = 0.2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _validation.check_float("alpha", alpha, 0, min_inclusive=False)
        self.seed = _validation.check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self._tf_generator = None

    def __call__(self, data, *args, **kwargs):
        self._note_placement(data)
        leaves = keras.tree.flatten(data)
        if keras.backend.backend() != "tensorflow" and any(
            backend.is_symbolic_tf_tensor(leaf) for leaf in leaves
        ):
            # A tf.data pipeline on JAX/PyTorch: keras.ops cannot run on
            # TensorFlow's symbolic tensors, so the same computation runs in TF.
            training = kwargs.get("training", args[0] if args else None)
            return self._tf_data_call(data, training)
        return super().__call__(data, *args, **kwargs)

    def _split(self, data):
        if isinstance(data, dict) and "features" in data:
            unknown = sorted(set(data) - set(_KEYS))
            if unknown:
                raise ValueError(
                    "TabularMixUp expects a dict with keys 'features' and (optionally) "
                    f"'labels'. Received unknown keys: {unknown}"
                )
            return data["features"], data.get("labels")
        return data, None

    def _join(self, data, features, labels):
        if isinstance(data, dict) and "features" in data:
            out = {"features": features}
            if labels is not None:
                out["labels"] = labels
            return out
        return features

    def _check_ranks(self, features, labels):
        for leaf in keras.tree.flatten(features):
            if len(leaf.shape) not in (1, 2):
                raise ValueError(
                    "TabularMixUp expects features of shape (batch, n_features) (or "
                    f"(batch,) per column). Received a tensor of shape {tuple(leaf.shape)}. "
                    "For images use keras.layers.MixUp."
                )
        if labels is not None and len(labels.shape) not in (1, 2):
            raise ValueError(
                "TabularMixUp expects labels of shape (batch,) or (batch, n_classes). "
                f"Received shape {tuple(labels.shape)}."
            )

    def _check_labels(self, labels):
        """Refuses integer class ids, which mixing would average into meaningless labels.

        Integer labels of shape `(batch,)` or `(batch, 1)` may only be binary. Values are
        read eagerly, checked when a `tf.data` graph runs, and not checked in a
        compiled model step.
        """
        if labels is None:
            return labels
        dtype = keras.backend.standardize_dtype(labels.dtype)
        if "int" not in dtype or (len(labels.shape) == 2 and labels.shape[-1] != 1):
            return labels
        expected = (
            "one-hot labels of shape (batch, n_classes), binary or real-valued labels: "
            "integer class ids cannot be averaged, one-hot them first (e.g. "
            "`keras.ops.one_hot(labels, num_classes)`)"
        )
        if backend.is_symbolic_tf_tensor(labels):
            message = str(_validation.invalid("labels", expected, received="class ids > 1"))
            return backend.tf_assert_binary(labels, message)
        if backend.is_concrete(labels):
            values = np.unique(ops.convert_to_numpy(labels))
            if np.any((values != 0) & (values != 1)):
                raise _validation.invalid(
                    "labels",
                    expected,
                    received=(
                        f"integer labels of shape {tuple(labels.shape)} holding "
                        f"{values[:5].tolist()}"
                    ),
                )
        return labels

    def _dtypes(self, features, labels):
        feature_dtypes = [self.compute_dtype] * len(keras.tree.flatten(features))
        if labels is None:
            return feature_dtypes
        label_dtype = keras.backend.standardize_dtype(labels.dtype)
        if "float" not in label_dtype:
            label_dtype = "float32"
        return [*feature_dtypes, label_dtype]

    def get_random_transformation(self, data, training=True, seed=None):
        """Draws the mixing weights and the partner permutation for a batch.

        Args:
            data: the batch, as passed to `call`.
            training: bool; returns None when False.
            seed: a `keras.random.SeedGenerator` or int; defaults to the layer's.

        Returns:
            A dict with `"mix_weight"`, shape `(batch,)`, and
            `"permutation_order"`, shape `(batch,)`, as in `keras.layers.MixUp`.
        """
        if not training:
            return None
        features, _ = self._split(data)
        batch_size = ops.shape(keras.tree.flatten(features)[0])[0]
        seed = self.seed_generator if seed is None else seed
        permutation = ops.argsort(keras.random.uniform((batch_size,), seed=seed))
        mix_weight = _symmetric_beta(batch_size, self.alpha, seed)
        return {"mix_weight": mix_weight, "permutation_order": permutation}

    def transform(self, data, transformation):
        """Mixes `data` with the draws of `get_random_transformation`."""
        features, labels = self._split(data)
        self._check_ranks(features, labels)
        if transformation is None:
            return data
        labels = self._check_labels(labels)
        dtypes = iter(self._dtypes(features, labels))
        weight = transformation["mix_weight"]
        permutation = transformation["permutation_order"]

        def mix(tensor):
            dtype = next(dtypes)
            tensor = ops.cast(tensor, dtype)
            w = ops.cast(ops.reshape(weight, (-1,) + (1,) * (len(tensor.shape) - 1)), dtype)
            return w * tensor + (1 - w) * ops.take(tensor, permutation, axis=0)

        features = keras.tree.map_structure(mix, features)
        if labels is not None:
            labels = mix(labels)
        return self._join(data, features, labels)

    def call(self, data, training=None):
        training = self._resolve_training(training)
        self._check_ranks(*self._split(data))
        transformation = self.get_random_transformation(data, training=training)
        return self.transform(data, transformation)

    def _tf_data_call(self, data, training):
        features, labels = self._split(data)
        self._check_ranks(features, labels)
        if training is not None and not training:
            return data
        labels = self._check_labels(labels)
        if self._tf_generator is None:
            self._tf_generator = backend.tf_random_generator(self.seed)
        tensors = keras.tree.flatten(features) + ([] if labels is None else [labels])
        mixed = backend.tf_mix_up(
            tensors, self.alpha, self._tf_generator, self._dtypes(features, labels)
        )
        n_features = len(mixed) - (labels is not None)
        features = keras.tree.pack_sequence_as(features, mixed[:n_features])
        labels = None if labels is None else mixed[-1]
        return self._join(data, features, labels)

    def compute_output_spec(self, data, training=True):
        features, labels = self._split(data)
        dtypes = iter(self._dtypes(features, labels))

        def spec(tensor):
            return keras.KerasTensor(tensor.shape, dtype=next(dtypes))

        features = keras.tree.map_structure(spec, features)
        labels = None if labels is None else spec(labels)
        return self._join(data, features, labels)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "seed": self.seed})
        return config
