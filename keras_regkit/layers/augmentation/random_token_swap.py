"""RandomTokenSwap: EDA's random swap on token ids."""

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
class RandomTokenSwap(BaseTokenAugmentationLayer):
    """Swaps random pairs of tokens, `n = max(1, int(rate * length))` times per sequence.

    Random swap (RS) of EDA (Wei and Zou, "EDA: Easy Data Augmentation
    Techniques for Boosting Performance on Text Classification Tasks",
    EMNLP-IJCNLP 2019), on integer token ids with a static shape: `n` times,
    two distinct editable positions are drawn uniformly and their tokens
    exchanged, with `length` the number of editable tokens of the sequence.
    Padding and masked positions never move, so the multiset of tokens, the
    padding and the mask are preserved.

    Args:
        rate: EDA's `alpha_rs`, in [0, 1]: the number of swaps relative to the
            sequence length. 0 disables the layer. EDA uses 0.1.
        padding_id: id of the padding token. Defaults to 0.
        max_swaps: optional cap on the swaps per sequence (it also bounds the
            loop, which otherwise runs `max(1, int(rate * sequence_length))`
            steps).
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, ...).

    Call arguments:
        inputs: integer token ids `(batch, sequence_length)` or `(sequence_length,)`.
        mask: optional boolean mask of the same shape; `False` positions never move.
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        Token ids of the input's shape and dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomTokenSwap(rate=0.2, seed=0)
    tokens = np.array([[5, 6, 7, 8, 9, 0, 0, 0]])
    layer(tokens)  # e.g. [[5, 9, 7, 8, 6, 0, 0, 0]]
    ```
    """

    def __init__(
        self,
        rate: float = 0.1,
        padding_id: int = 0,
        max_swaps: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(rate=rate, padding_id=padding_id, seed=seed, **kwargs)
        self.max_swaps = check_optional_count("max_swaps", max_swaps)

    def _augment(self, tokens: Any, editable: Any) -> Any:
        steps = token_utils.static_num_operations(self.rate, tokens.shape[1], self.max_swaps)
        if steps == 0:
            return tokens
        batch = ops.shape(tokens)[0]
        n = token_utils.count(editable)
        n_swaps = ops.where(n >= 2, token_utils.num_operations(self.rate, n, self.max_swaps), 0)
        positions = token_utils.positions_first(editable)
        position = ops.expand_dims(ops.arange(ops.shape(tokens)[1], dtype="int32"), 0)
        # All random numbers are drawn before the loop: a seed generator cannot
        # advance inside a compiled loop body.
        uniform = self._uniform((steps, batch, 2))

        def swap(step, tokens):
            draws = ops.take(uniform, step, axis=0)
            first = token_utils.random_index(draws[:, 0], n)
            second = token_utils.random_index(draws[:, 1], n - 1)
            second = ops.where(second >= first, second + 1, second)
            first = token_utils.take_rows(positions, first)
            second = token_utils.take_rows(positions, ops.minimum(second, ops.maximum(n - 1, 0)))
            first_token = ops.expand_dims(token_utils.take_rows(tokens, first), 1)
            second_token = ops.expand_dims(token_utils.take_rows(tokens, second), 1)
            active = ops.expand_dims(step < n_swaps, 1)
            at_first = active & (position == ops.expand_dims(first, 1))
            at_second = active & (position == ops.expand_dims(second, 1))
            return ops.where(at_first, second_token, ops.where(at_second, first_token, tokens))

        return ops.fori_loop(0, steps, swap, tokens)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"max_swaps": self.max_swaps})
        return config
