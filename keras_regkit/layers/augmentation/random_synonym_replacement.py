"""RandomSynonymReplacement: EDA's synonym replacement on token ids."""

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
class RandomSynonymReplacement(BaseTokenAugmentationLayer):
    """Replaces `n = max(1, int(rate * length))` random tokens by random synonyms.

    Synonym replacement (SR) of EDA (Wei and Zou, "EDA: Easy Data Augmentation
    Techniques for Boosting Performance on Text Classification Tasks",
    EMNLP-IJCNLP 2019), on integer token ids with a static shape: among the
    editable tokens that have synonyms in the table, `n` distinct positions
    are drawn uniformly (all of them if fewer) and each token is replaced by a
    synonym drawn uniformly from its list; `length` is the number of editable
    tokens. EDA draws synonyms from WordNet; map its synsets (or any other
    source: embeddings neighbours, a thesaurus) through your vocabulary to
    build the table. Unlike EDA, which replaces every occurrence of a chosen
    word, each chosen position is replaced on its own. Positions, padding and
    the Keras mask are unchanged.

    Args:
        synonyms: the synonym table: a dict `{token_id: [synonym_id, ...]}` or
            a list of `(token_id, synonym_id)` pairs (it need not be symmetric).
            Stored in the config as a dict of sorted lists, so the layer saves
            and reloads with `safe_mode=True`.
        rate: EDA's `alpha_sr`, in [0, 1]: the number of replacements relative
            to the sequence length. 0 disables the layer. EDA uses 0.1.
        padding_id: id of the padding token (it may not appear in the table).
            Defaults to 0.
        max_replacements: optional cap on the replacements per sequence.
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, ...).

    Call arguments:
        inputs: integer token ids `(batch, sequence_length)` or `(sequence_length,)`.
        mask: optional boolean mask of the same shape; `False` positions are
            never replaced.
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        Token ids of the input's shape and dtype.

    Example:

    ```python
    synonyms = {5: [50, 51], 7: [70]}
    layer = keras_regkit.layers.RandomSynonymReplacement(synonyms, rate=0.5, seed=0)
    tokens = np.array([[5, 6, 7, 8, 0, 0]])
    layer(tokens)  # e.g. [[51, 6, 70, 8, 0, 0]]
    ```
    """

    def __init__(
        self,
        synonyms: dict | list,
        rate: float = 0.1,
        padding_id: int = 0,
        max_replacements: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(rate=rate, padding_id=padding_id, seed=seed, **kwargs)
        self.synonyms = token_utils.normalize_synonyms(synonyms, padding_id)
        self.max_replacements = check_optional_count("max_replacements", max_replacements)
        self._lookup = token_utils.SynonymLookup(self.synonyms)

    def _augment(self, tokens: Any, editable: Any) -> Any:
        if self.rate == 0 or self.max_replacements == 0:
            return tokens
        shape = ops.shape(tokens)
        candidates = editable & self._lookup.has_synonym(tokens)
        n = token_utils.num_operations(
            self.rate, token_utils.count(editable), self.max_replacements
        )
        ranks = token_utils.random_ranks(candidates, self._uniform(shape))
        chosen = candidates & (ranks < ops.expand_dims(n, 1))
        return ops.where(chosen, self._lookup.sample(tokens, self._uniform(shape)), tokens)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"synonyms": self.synonyms, "max_replacements": self.max_replacements})
        return config
