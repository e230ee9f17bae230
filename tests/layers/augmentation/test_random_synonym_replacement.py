import json

import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomSynonymReplacement
from tests.layers.augmentation import token_references as ref
from tests.layers.augmentation.layer_zoo import run_harness

SYNONYMS = {t: [100 + t, 200 + t, 300 + t][: 1 + t % 3] for t in range(1, 40, 2)}


def test_matches_eda_reference():
    for pad, max_replacements in [(0, None), (8, 1)]:
        check_against_reference(pad, max_replacements)


def check_against_reference(pad, max_replacements):
    tokens, mask, editable = ref.token_batch(pad)
    rate = 0.3
    layer = RandomSynonymReplacement(
        SYNONYMS, rate, padding_id=pad, max_replacements=max_replacements, seed=5
    )
    out = ops.convert_to_numpy(layer(tokens, mask=mask, training=True))
    generator = keras.random.SeedGenerator(5)
    u_choice = ops.convert_to_numpy(keras.random.uniform(tokens.shape, seed=generator))
    u_synonym = ops.convert_to_numpy(keras.random.uniform(tokens.shape, seed=generator))
    for row in range(len(tokens)):
        expected = ref.replacement(
            tokens[row],
            editable[row],
            u_choice[row],
            u_synonym[row],
            rate,
            SYNONYMS,
            max_replacements,
        )
        np.testing.assert_array_equal(out[row], expected, err_msg=f"row={row}")
        # Invariants: positions and padding kept; each change is a listed synonym.
        changed = out[row] != tokens[row]
        assert all(
            o in SYNONYMS[t] for o, t in zip(out[row][changed], tokens[row][changed], strict=True)
        )
        assert not changed[~editable[row]].any()


def test_synonyms_are_uniform_and_the_table_serializes():
    tokens = np.full((3000, 1), 5, "int32")
    out = ops.convert_to_numpy(RandomSynonymReplacement({5: [6, 7, 8]}, rate=1.0, seed=0)(tokens))
    np.testing.assert_allclose(np.bincount(out[:, 0], minlength=9)[6:] / 3000, 1 / 3, atol=0.03)
    pairs = RandomSynonymReplacement([(5, 8), (5, 6), (2, 3), (5, 6)])
    assert pairs.synonyms == {2: [3], 5: [6, 8]}
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(pairs)))
    )
    assert restored.synonyms == {2: [3], 5: [6, 8]}


def test_harness():
    run_harness(
        RandomSynonymReplacement, ref.token_batch()[0], expected_mixed_precision_dtype="int32"
    )


def test_invalid_arguments():
    cases = [
        ({"synonyms": {}}, "synonyms"),
        ({"synonyms": {1: [2]}, "padding_id": 2}, "synonyms"),
        ({"synonyms": [(1, 2, 3)]}, "synonyms"),
        ({"synonyms": {1: ["two"]}}, "synonyms"),
        ({"synonyms": {1: [2]}, "rate": 1.5}, "rate"),
        ({"synonyms": {1: [2]}, "max_replacements": "3"}, "max_replacements"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomSynonymReplacement(**kwargs)
