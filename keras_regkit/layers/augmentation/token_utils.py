"""`keras.ops` helpers shared by the token-id augmentation layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops


def positions_first(selected: Any) -> Any:
    """`(batch, length)` positions of the selected entries first, in order, then the rest."""
    length = ops.shape(selected)[1]
    position = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
    return ops.cast(ops.argsort(ops.where(selected, position, position + length), axis=1), "int32")


def random_ranks(selected: Any, uniform: Any) -> Any:
    """Rank of each selected entry in a random order of its row (0 .. n - 1).

    Unselected entries get ranks >= the number of selected ones.
    """
    order = ops.argsort(ops.where(selected, uniform, 2.0), axis=1)
    return ops.cast(ops.argsort(order, axis=1), "int32")


def count(selected: Any) -> Any:
    return ops.sum(ops.cast(selected, "int32"), axis=1)


def num_operations(rate: float, n_tokens: Any, maximum: int | None) -> Any:
    """EDA's `n = max(1, int(rate * n_tokens))` per row, 0 for empty rows or `rate == 0`."""
    n = ops.cast(ops.floor(rate * ops.cast(n_tokens, "float32")), "int32")
    n = ops.maximum(n, 1) if rate > 0 else n
    n = ops.where(n_tokens > 0, n, 0)
    if maximum is not None:
        n = ops.minimum(n, maximum)
    return n


def static_num_operations(rate: float, length: int | None, maximum: int | None) -> int:
    """An upper bound of `num_operations` for sequences of `length` tokens."""
    if rate == 0 or maximum == 0:
        return 0
    if length is None and maximum is None:
        raise ValueError(
            "The sequence length is not known statically; pass the `max_*` argument of "
            "the layer to bound its loop, or give the inputs a static sequence length."
        )
    bound = max(1, int(rate * length)) if length is not None else maximum
    if maximum is not None:
        bound = min(bound, maximum)
    return bound


def take_rows(values: Any, index: Any) -> Any:
    """`values[b, index[b]]` for `(batch, length)` values and `(batch,)` indices."""
    return ops.take_along_axis(values, ops.expand_dims(index, 1), axis=1)[:, 0]


def random_index(uniform: Any, n: Any) -> Any:
    """A uniform index in `[0, n)` from a uniform draw (0 where `n` is 0)."""
    index = ops.cast(ops.floor(uniform * ops.cast(n, "float32")), "int32")
    return ops.clip(index, 0, ops.maximum(n - 1, 0))


def normalize_synonyms(synonyms: Any, padding_id: int, name: str = "synonyms") -> dict:
    """Validates a synonym table; returns `{token: sorted unique synonyms}` with int keys.

    Accepts a dict `{token: [synonym, ...]}` (keys may be strings of ints, as after
    a JSON round-trip) or a list of `(token, synonym)` pairs.
    """
    message = (
        f"Invalid value for argument `{name}`: expected a non-empty dict "
        "{token_id: [synonym_id, ...]} or a list of (token_id, synonym_id) pairs of "
        f"non-negative ints different from padding_id={padding_id}. Received: {name}="
    )

    def as_id(value):
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(message + repr(_short(synonyms)))
        if value < 0 or value == padding_id:
            raise ValueError(message + repr(_short(synonyms)))
        return int(value)

    table: dict[int, set] = {}
    if isinstance(synonyms, dict):
        for key, values in synonyms.items():
            if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
                values = [values]
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(message + repr(_short(synonyms)))
            table.setdefault(as_id(key), set()).update(as_id(v) for v in values)
    elif isinstance(synonyms, (list, tuple)):
        for pair in synonyms:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(message + repr(_short(synonyms)))
            table.setdefault(as_id(pair[0]), set()).add(as_id(pair[1]))
    if not table:
        raise ValueError(message + repr(_short(synonyms)))
    return {key: sorted(values) for key, values in sorted(table.items())}


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) < 200 else text[:200] + "..."


class SynonymLookup:
    """Static-shape lookup of random synonyms in a `{token: [synonyms]}` table."""

    def __init__(self, table: dict) -> None:
        # Token ids fit in int32 (JAX's default integer type).
        self.keys = np.array(sorted(table), "int32")
        self.counts = np.array([len(table[key]) for key in self.keys], "int32")
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype("int32")
        self.values = np.array([v for key in self.keys for v in table[key]], "int32")

    def has_synonym(self, tokens: Any) -> Any:
        return ops.reshape(self._find(tokens)[1] > 0, ops.shape(tokens))

    def sample(self, tokens: Any, uniform: Any) -> Any:
        """A uniformly drawn synonym of each token (the token itself if it has none)."""
        index, n = self._find(tokens)
        choice = random_index(ops.reshape(uniform, (-1,)), n)
        starts = ops.take(ops.convert_to_tensor(self.starts), index)
        values = ops.take(ops.convert_to_tensor(self.values), starts + choice)
        flat = ops.reshape(tokens, (-1,))
        synonyms = ops.where(n > 0, ops.cast(values, tokens.dtype), flat)
        return ops.reshape(synonyms, ops.shape(tokens))

    def _find(self, tokens: Any) -> tuple:
        """Flat table index of each token and its number of synonyms (0 if absent)."""
        flat = ops.cast(ops.reshape(tokens, (-1,)), "int32")
        keys = ops.convert_to_tensor(self.keys)
        index = ops.searchsorted(keys, flat, side="left")
        index = ops.cast(ops.clip(index, 0, len(self.keys) - 1), "int32")
        found = ops.take(keys, index) == flat
        n = ops.where(found, ops.take(ops.convert_to_tensor(self.counts), index), 0)
        return index, n
