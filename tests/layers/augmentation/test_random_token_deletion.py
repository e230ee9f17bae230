import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomTokenDeletion
from tests.layers.augmentation import token_references as ref
from tests.layers.augmentation.layer_zoo import run_harness


def test_matches_eda_reference():
    for pad, max_deletions in [(0, None), (7, 2)]:
        check_against_reference(pad, max_deletions)


def check_against_reference(pad, max_deletions):
    tokens, mask, editable = ref.token_batch(pad)
    for rate in (0.3, 1.0):
        layer = RandomTokenDeletion(rate, padding_id=pad, max_deletions=max_deletions, seed=5)
        out = ops.convert_to_numpy(layer(tokens, mask=mask, training=True))
        u = ops.convert_to_numpy(
            keras.random.uniform(tokens.shape, seed=keras.random.SeedGenerator(5))
        )
        for row in range(len(tokens)):
            expected = ref.deletion(tokens[row], editable[row], u[row], rate, pad, max_deletions)
            np.testing.assert_array_equal(out[row], expected, err_msg=f"rate={rate} row={row}")
            # Invariants: an order-preserving subsequence, frozen tokens kept, padding at
            # the end, at least one editable token left.
            kept = [t for t in out[row] if t != pad]
            assert np.all(out[row][len(kept) :] == pad)
            it = iter(t for t in tokens[row] if t != pad)
            assert all(any(t == s for s in it) for t in kept)
            assert mask[row, 0] or tokens[row, 0] == pad or kept[0] == tokens[row, 0]
            if editable[row].any():
                assert len(kept) > (~mask[row] & (tokens[row] != pad)).sum()


def test_deletion_rate_and_edge_cases():
    tokens = np.random.default_rng(0).integers(1, 50, (500, 20)).astype("int32")
    out = ops.convert_to_numpy(RandomTokenDeletion(0.2, seed=0)(tokens))
    assert abs((out == 0).mean() - 0.2) < 0.01
    np.testing.assert_array_equal(
        ops.convert_to_numpy(RandomTokenDeletion(0.0, seed=0)(tokens)), tokens
    )
    # One sequence (rank 1) and training=False.
    single = ops.convert_to_numpy(RandomTokenDeletion(1.0, seed=0)(tokens[0]))
    assert (single != 0).sum() == 1 and single[0] in tokens[0]
    np.testing.assert_array_equal(RandomTokenDeletion(1.0)(tokens, training=False), tokens)


def test_harness():
    run_harness(RandomTokenDeletion, ref.token_batch()[0], expected_mixed_precision_dtype="int32")


def test_invalid_arguments():
    cases = [({"rate": 1.2}, "rate"), ({"padding_id": 0.5}, "padding_id")]
    cases += [({"max_deletions": -1}, "max_deletions"), ({"seed": "a"}, "seed")]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomTokenDeletion(**kwargs)
    with pytest.raises(ValueError, match="integer token ids"):
        RandomTokenDeletion()(np.zeros((2, 3), "float32"))
