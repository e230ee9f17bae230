"""Shared machinery of the keras_regkit token-id augmentation layers."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.layers.augmentation.base_augmentation_layer import BaseAugmentationLayer


def check_optional_count(name: str, value: Any) -> int | None:
    return _validation.check_int(name, value, 0, allow_none=True)


class BaseTokenAugmentationLayer(BaseAugmentationLayer):
    """Base of the EDA layers (Wei and Zou, EMNLP-IJCNLP 2019) for integer token ids.

    - inputs are `(batch, sequence_length)` or `(sequence_length,)` integer ids;
      positions holding `padding_id` are padding and are never edited, chosen or
      used as a source;
    - the optional `mask` call argument (`True` = editable, e.g. a Keras mask
      from an upstream layer, or `False` on special tokens such as `[CLS]` and
      `[SEP]`) freezes more positions the same way;
    - the output has the input's shape and dtype, so the layers compile (XLA)
      and sit in front of an `Embedding`, in a model or a `tf.data` pipeline.

    Subclasses implement `_augment(tokens, editable)` on `(batch, length)`.
    """

    def __init__(
        self, rate: float = 0.1, padding_id: int = 0, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _validation.check_probability("rate", rate)
        self.padding_id = _validation.check_int("padding_id", padding_id)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        training = self._resolve_training(training)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "int" not in dtype:
            raise ValueError(
                f"{type(self).__name__} expects integer token ids. Received: inputs.dtype={dtype}"
            )
        rank = len(inputs.shape)
        if rank not in (1, 2):
            raise ValueError(
                f"{type(self).__name__} expects token ids of shape (batch, sequence_length) "
                f"or (sequence_length,). Received: inputs.shape={tuple(inputs.shape)}"
            )
        if not training:
            return inputs
        tokens = inputs if rank == 2 else ops.expand_dims(inputs, 0)
        editable = ops.not_equal(tokens, ops.cast(self.padding_id, tokens.dtype))
        if mask is not None:
            mask = ops.cast(mask, "bool")
            editable = editable & (mask if rank == 2 else ops.expand_dims(mask, 0))
        outputs = ops.cast(self._augment(tokens, editable), tokens.dtype)
        return outputs if rank == 2 else ops.squeeze(outputs, 0)

    def _augment(self, tokens: Any, editable: Any) -> Any:
        raise NotImplementedError

    def _uniform(self, shape: tuple) -> Any:
        return keras.random.uniform(shape, seed=self.seed_generator)

    def _pad(self, tokens: Any) -> Any:
        return ops.cast(self.padding_id, tokens.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rate": self.rate, "padding_id": self.padding_id})
        return config
