"""RandomTokenDeletion: EDA's random deletion on token ids."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit.layers.augmentation import token_utils
from keras_regkit.layers.augmentation.base_token_augmentation_layer import (
    BaseTokenAugmentationLayer,
    check_optional_count,
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomTokenDeletion(BaseTokenAugmentationLayer):
    """Deletes each token with probability `rate`, closing the gaps.

    Random deletion (RD) of EDA (Wei and Zou, "EDA: Easy Data Augmentation
    Techniques for Boosting Performance on Text Classification Tasks",
    EMNLP-IJCNLP 2019), on integer token ids with a static shape: every
    editable token is removed independently with probability `rate`, the
    remaining tokens (editable or frozen) keep their order and move to the
    front, and the freed positions at the end become `padding_id`. As in EDA, a
    sequence never loses all its editable tokens: if every one was drawn, a
    random one stays.

    The output is right-padded (left padding is moved to the end). Positions
    move, so the layer does not propagate a Keras mask; an `Embedding` with
    `mask_zero=True` downstream recomputes it.

    Args:
        rate: probability that a token is deleted, in [0, 1]. EDA uses 0.1.
        padding_id: id of the padding token. Defaults to 0.
        max_deletions: optional cap on the deletions per sequence (the drawn
            tokens kept are chosen at random).
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, ...).

    Call arguments:
        inputs: integer token ids `(batch, sequence_length)` or `(sequence_length,)`.
        mask: optional boolean mask of the same shape; `False` positions are
            never deleted.
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        Token ids of the input's shape and dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomTokenDeletion(rate=0.2, seed=0)
    tokens = np.array([[5, 6, 7, 8, 9, 0, 0, 0]])
    layer(tokens)  # e.g. [[5, 7, 8, 9, 0, 0, 0, 0]]
    ```
    """

    def __init__(
        self,
        rate: float = 0.1,
        padding_id: int = 0,
        max_deletions: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(rate=rate, padding_id=padding_id, seed=seed, **kwargs)
        self.max_deletions = check_optional_count("max_deletions", max_deletions)

    def _augment(self, tokens: Any, editable: Any) -> Any:
        uniform = self._uniform(ops.shape(tokens))
        delete = editable & (uniform < self.rate)
        if self.max_deletions is not None:
            delete = delete & (token_utils.random_ranks(delete, uniform) < self.max_deletions)
        # EDA keeps one random word when every word is drawn.
        n_editable = token_utils.count(editable)
        everything = (token_utils.count(delete) == n_editable) & (n_editable > 0)
        survivor = ops.argmax(ops.where(editable, uniform, -1.0), axis=1)
        survivor = ops.one_hot(survivor, ops.shape(tokens)[1], dtype="bool")
        delete = delete & ~(ops.expand_dims(everything, 1) & survivor)
        keep = ops.not_equal(tokens, self._pad(tokens)) & ~delete
        compacted = ops.take_along_axis(tokens, token_utils.positions_first(keep), axis=1)
        position = ops.expand_dims(ops.arange(ops.shape(tokens)[1], dtype="int32"), 0)
        n_keep = ops.expand_dims(token_utils.count(keep), 1)
        return ops.where(position < n_keep, compacted, self._pad(tokens))

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"max_deletions": self.max_deletions})
        return config
