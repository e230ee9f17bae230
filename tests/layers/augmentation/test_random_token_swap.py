import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomTokenSwap
from tests.layers.augmentation import token_references as ref
from tests.layers.augmentation.layer_zoo import run_harness


def test_matches_eda_reference():
    for pad, max_swaps in [(0, None), (7, 1)]:
        check_against_reference(pad, max_swaps)


def check_against_reference(pad, max_swaps):
    tokens, mask, editable = ref.token_batch(pad)
    rate = 0.3
    layer = RandomTokenSwap(rate, padding_id=pad, max_swaps=max_swaps, seed=5)
    out = ops.convert_to_numpy(layer(tokens, mask=mask, training=True))
    steps = min(int(rate * tokens.shape[1]), max_swaps or 99)
    u = keras.random.uniform((steps, len(tokens), 2), seed=keras.random.SeedGenerator(5))
    u = ops.convert_to_numpy(u)
    for row in range(len(tokens)):
        expected = ref.swap(tokens[row], editable[row], u[:, row], rate, max_swaps)
        np.testing.assert_array_equal(out[row], expected, err_msg=f"row={row}")
        # Invariants: same multiset; padding and frozen positions untouched.
        np.testing.assert_array_equal(np.sort(out[row]), np.sort(tokens[row]))
        np.testing.assert_array_equal(out[row][~editable[row]], tokens[row][~editable[row]])
    assert not np.array_equal(out, tokens)


def test_harness():
    run_harness(RandomTokenSwap, ref.token_batch()[0], expected_mixed_precision_dtype="int32")


def test_invalid_arguments():
    cases = [({"rate": -0.1}, "rate"), ({"padding_id": "0"}, "padding_id")]
    cases += [({"max_swaps": 1.5}, "max_swaps")]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomTokenSwap(**kwargs)
