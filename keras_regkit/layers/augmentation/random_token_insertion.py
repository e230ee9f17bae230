"""RandomTokenInsertion: EDA's random insertion on token ids."""

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
class RandomTokenInsertion(BaseTokenAugmentationLayer):
    """Inserts `n = max(1, int(rate * length))` tokens at random positions of each sequence.

    Random insertion (RI) of EDA (Wei and Zou, "EDA: Easy Data Augmentation
    Techniques for Boosting Performance on Text Classification Tasks",
    EMNLP-IJCNLP 2019), on integer token ids with a static shape: `n` times, a
    random synonym of a random editable token (one that has synonyms in
    `synonyms`) is inserted before a random editable token, with `length` the
    number of editable tokens. Without a synonym table, a copy of the random
    token is inserted instead. The tokens after the insertion point shift right
    into the padding; in a full sequence the last token falls off the end.

    Positions move, so the layer does not propagate a Keras mask; an
    `Embedding` with `mask_zero=True` downstream recomputes it.

    Args:
        rate: EDA's `alpha_ri`, in [0, 1]: the number of insertions relative
            to the sequence length. 0 disables the layer. EDA uses 0.1.
        synonyms: optional synonym table, a dict `{token_id: [synonym_id, ...]}`
            or a list of `(token_id, synonym_id)` pairs, as for
            `RandomSynonymReplacement`.
        padding_id: id of the padding token. Defaults to 0.
        max_insertions: optional cap on the insertions per sequence (it also
            bounds the loop, which otherwise runs
            `max(1, int(rate * sequence_length))` steps).
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, ...).

    Call arguments:
        inputs: integer token ids `(batch, sequence_length)` or `(sequence_length,)`.
        mask: optional boolean mask of the same shape; `False` positions are
            neither copied nor used as insertion points (they shift with the
            tokens before them).
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        Token ids of the input's shape and dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomTokenInsertion(rate=0.2, synonyms={6: [60, 61]}, seed=0)
    tokens = np.array([[5, 6, 7, 8, 9, 0, 0, 0]])
    layer(tokens)  # e.g. [[5, 6, 7, 61, 8, 9, 0, 0]]
    ```
    """

    def __init__(
        self,
        rate: float = 0.1,
        synonyms: dict | list | None = None,
        padding_id: int = 0,
        max_insertions: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(rate=rate, padding_id=padding_id, seed=seed, **kwargs)
        self.max_insertions = check_optional_count("max_insertions", max_insertions)
        if synonyms is None:
            self.synonyms = None
            self._lookup = None
        else:
            self.synonyms = token_utils.normalize_synonyms(synonyms, padding_id)
            self._lookup = token_utils.SynonymLookup(self.synonyms)

    def _augment(self, tokens: Any, editable: Any) -> Any:
        steps = token_utils.static_num_operations(self.rate, tokens.shape[1], self.max_insertions)
        if steps == 0:
            return tokens
        batch = ops.shape(tokens)[0]
        pad = self._pad(tokens)
        n_insertions = token_utils.num_operations(
            self.rate, token_utils.count(editable), self.max_insertions
        )
        position = ops.expand_dims(ops.arange(ops.shape(tokens)[1], dtype="int32"), 0)
        # Drawn before the loop: a seed generator cannot advance in a compiled loop body.
        uniform = self._uniform((steps, batch, 3))
        frozen = ops.not_equal(tokens, pad) & ~editable

        def insert(step, state):
            tokens, frozen = state
            draws = ops.take(uniform, step, axis=0)
            editable = ops.not_equal(tokens, pad) & ~frozen
            n = token_utils.count(editable)
            sources = editable
            if self._lookup is not None:
                sources = editable & self._lookup.has_synonym(tokens)
            n_sources = token_utils.count(sources)
            source = token_utils.take_rows(
                token_utils.positions_first(sources),
                token_utils.random_index(draws[:, 0], n_sources),
            )
            token = token_utils.take_rows(tokens, source)
            if self._lookup is not None:
                token = self._lookup.sample(token, draws[:, 1])
            # EDA inserts before a random word, never after the last one.
            target = token_utils.take_rows(
                token_utils.positions_first(editable), token_utils.random_index(draws[:, 2], n)
            )
            target = ops.expand_dims(target, 1)
            active = ops.expand_dims((step < n_insertions) & (n_sources > 0), 1)

            def shift(values, new_value):
                shifted = ops.concatenate([values[:, :1], values[:, :-1]], axis=1)
                moved = ops.where(position < target, values, shifted)
                moved = ops.where(position == target, new_value, moved)
                return ops.where(active, moved, values)

            return shift(tokens, ops.expand_dims(token, 1)), shift(frozen, False)

        tokens, _ = ops.fori_loop(0, steps, insert, (tokens, frozen))
        return tokens

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"synonyms": self.synonyms, "max_insertions": self.max_insertions})
        return config
