import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomTokenInsertion
from tests.layers.augmentation import token_references as ref
from tests.layers.augmentation.layer_zoo import run_harness

SYNONYMS = {t: [100 + t, 200 + t, 300 + t] for t in range(1, 40, 3)}


def test_matches_eda_reference():
    for synonyms, pad in [(None, 0), (SYNONYMS, 8)]:
        check_against_reference(synonyms, pad)


def check_against_reference(synonyms, pad):
    tokens, mask, editable = ref.token_batch(pad)
    rate = 0.3
    layer = RandomTokenInsertion(rate, synonyms=synonyms, padding_id=pad, seed=5)
    out = ops.convert_to_numpy(layer(tokens, mask=mask, training=True))
    steps = int(rate * tokens.shape[1])
    u = keras.random.uniform((steps, len(tokens), 3), seed=keras.random.SeedGenerator(5))
    u = ops.convert_to_numpy(u)
    for row in range(len(tokens)):
        expected = ref.insertion(tokens[row], editable[row], u[:, row], rate, pad, synonyms)
        np.testing.assert_array_equal(out[row], expected, err_msg=f"row={row}")
        # Invariants: the original sequence, minus what fell off the end, is a
        # subsequence; sequences grow into the padding; new tokens are copies or synonyms.
        n = (tokens[row] != pad).sum()
        grown = (out[row] != pad).sum()
        assert grown == min(n + ref.n_operations(rate, editable[row].sum(), None), 12) or (
            synonyms is not None and grown >= n
        )
        if grown < 12:  # nothing fell off the end: every original token is still there
            it = iter(out[row])
            assert all(any(t == s for s in it) for t in tokens[row] if t != pad)
        allowed = set(tokens[row]) | {s for t in tokens[row] for s in (synonyms or {}).get(t, [])}
        assert set(out[row]) <= allowed | {pad}


def test_harness_and_config():
    layer = run_harness(
        RandomTokenInsertion, ref.token_batch()[0], expected_mixed_precision_dtype="int32"
    )
    assert layer.get_config()["synonyms"] == {3: [30, 31]}


def test_invalid_arguments():
    cases = [({"rate": 2}, "rate"), ({"max_insertions": -2}, "max_insertions")]
    cases += [({"synonyms": {1: []}}, "synonyms"), ({"synonyms": {1: [0]}}, "synonyms")]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomTokenInsertion(**kwargs)
