"""Base class of the Counterfactual Logit Pairing losses."""

from __future__ import annotations

import re

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend


def _snake_case(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


@keras.saving.register_keras_serializable(package="keras_regkit")
class CounterfactualLoss:
    """Base class of the pairwise losses of Counterfactual Logit Pairing.

    The contract of TensorFlow Model Remediation's `counterfactual.losses.CounterfactualLoss`:
    `loss(original, counterfactual, sample_weight=None)` compares the model's outputs on
    pairs of examples (an example and its counterfactual, row `i` with row `i`) and is 0
    when every pair gets the same output.

    - `original`, `counterfactual`: outputs of one shape, `[batch, d0, ..., dN]`; `[batch]`
      is read as `[batch, 1]` (one output per example).
    - `sample_weight`: a scalar, `[batch]` or `[batch, 1]`; non-negative.

    The value is `sum_i w_i * l_i / n`, where `l_i` is the per-pair loss reduced over the
    last axis and `n` the number of per-pair values: the `"sum_over_batch_size"` reduction
    of the Keras loss TFMR wraps (weights scale pairs; they are not normalised). An empty
    batch gives 0. Computed in float32.

    Subclasses implement `per_pair(original, counterfactual)`, reducing the last axis.

    Args:
        name: name used for logging; defaults to the class name in snake case.
    """

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise _validation.invalid("name", "a string or None", name)
        self.name = name or _snake_case(type(self).__name__)

    def __call__(self, original, counterfactual, sample_weight=None):
        if original is None:
            raise _validation.invalid("original", "a tensor of model outputs", original)
        if counterfactual is None:
            raise _validation.invalid("counterfactual", "a tensor of model outputs", counterfactual)
        original = ops.cast(ops.convert_to_tensor(original), "float32")
        counterfactual = ops.cast(ops.convert_to_tensor(counterfactual), "float32")
        if tuple(original.shape) != tuple(counterfactual.shape):
            raise _validation.invalid(
                "counterfactual",
                f"outputs of the shape of `original` {tuple(original.shape)}, one per pair",
                received=f"counterfactual of shape {tuple(counterfactual.shape)}",
            )
        if len(original.shape) == 0:
            raise _validation.invalid(
                "original", "outputs of shape [batch, ...]", received="a scalar"
            )
        if len(original.shape) == 1:
            original = ops.expand_dims(original, -1)
            counterfactual = ops.expand_dims(counterfactual, -1)
        losses = self.per_pair(original, counterfactual)
        if sample_weight is not None:
            weights = self._weights(sample_weight, original.shape[0])
            if len(weights.shape) == 1:
                weights = ops.reshape(weights, (-1,) + (1,) * (len(losses.shape) - 1))
            losses = losses * weights
        size = ops.cast(ops.size(losses), "float32")
        total = ops.sum(losses)
        return ops.where(size > 0, total / ops.maximum(size, 1.0), ops.zeros_like(total))

    def per_pair(self, original, counterfactual):
        raise NotImplementedError(f"{type(self).__name__} must implement `per_pair`.")

    def call(self, original, counterfactual, sample_weight=None):
        """TFMR's name for the computation: the same as calling the loss."""
        return self(original, counterfactual, sample_weight)

    def _weights(self, sample_weight, batch):
        if regkit_backend.is_concrete(sample_weight):
            values = np.asarray(ops.convert_to_numpy(sample_weight), dtype="float64")
            _validation.check_finite("sample_weight", values)
            if np.any(values < 0):
                raise _validation.invalid(
                    "sample_weight",
                    "non-negative weights",
                    received=f"negative values such as {values[values < 0][:5].tolist()}",
                )
        weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        shape = tuple(weights.shape)
        if len(shape) == 0:
            return weights
        ok = (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) and (
            shape[0] is None or batch is None or shape[0] == batch
        )
        if not ok:
            raise _validation.invalid(
                "sample_weight",
                f"a scalar or one weight per pair, shape [{batch}] or [{batch}, 1]",
                received=f"sample_weight of shape {shape}",
            )
        return ops.reshape(weights, (-1,))

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
