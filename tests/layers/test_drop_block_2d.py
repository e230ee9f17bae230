import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.layers import DropBlock2D

X = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")


def paper_gamma(rate, block, height, width):
    """Ghiasi et al. (2018), Eq. 1, for a (bh, bw) block on an (H, W) map."""
    bh, bw = block
    return rate / (bh * bw) * (height * width) / ((height - bh + 1) * (width - bw + 1))


def expected_drop_fraction(rate, block, height, width):
    """Exact E[dropped fraction]: a unit is dropped unless none of the block
    corners that cover it is sampled, each independently with probability gamma."""
    bh, bw = block
    gamma = paper_gamma(rate, block, height, width)

    def covering(size, b):
        i = np.arange(size)
        return np.minimum(i, size - b) - np.maximum(0, i - b + 1) + 1

    counts = np.outer(covering(height, bh), covering(width, bw))
    return float(np.mean(1 - (1 - gamma) ** counts))


def dilate(corners, block):
    """NumPy reference of the block expansion: corner (s, t) drops [s:s+bh, t:t+bw]."""
    bh, bw = block
    out = np.zeros((corners.shape[0] + bh - 1, corners.shape[1] + bw - 1) + corners.shape[2:], bool)
    for s, t in zip(*np.nonzero(corners)[:2], strict=True):
        out[s : s + bh, t : t + bw] = True
    return out


def test_harness_channels_last():
    testing.run_layer_test(
        DropBlock2D,
        {"rate": 0.2, "block_size": 3, "seed": 1, "data_format": "channels_last"},
        X,
        expected_output_shape=X.shape,
        expected_output=X,
        random=True,
    )


def test_harness_channels_first():
    x = np.transpose(X, (0, 3, 1, 2))
    testing.run_layer_test(
        DropBlock2D,
        {"rate": 0.2, "block_size": (2, 3), "seed": 1, "data_format": "channels_first"},
        x,
        expected_output_shape=x.shape,
        expected_output=x,
        random=True,
    )


@pytest.mark.parametrize(
    "data_format,rate,block", [("channels_last", 0.1, (7, 7)), ("channels_first", 0.25, (3, 5))]
)
def test_dropped_fraction_matches_rate(data_format, rate, block):
    shape = (4, 40, 40, 16) if data_format == "channels_last" else (4, 16, 40, 40)
    layer = DropBlock2D(rate, block, data_format=data_format, seed=3)
    calls = 8
    fractions = []
    for _ in range(calls):
        out = testing.to_numpy(layer(np.ones(shape, "float32"), training=True))
        fractions.append(np.mean(out == 0))
        # Kept units are scaled by count(M) / count_ones(M) (the paper's normalisation).
        kept = out != 0
        testing.assert_allclose(out[kept], out.size / kept.sum(), rtol=1e-5)
    fraction = float(np.mean(fractions))
    expected = expected_drop_fraction(rate, block, 40, 40)
    # Standard deviation bound: independent corners, each dropping a whole block.
    gamma = paper_gamma(rate, block, 40, 40)
    corners = calls * 4 * 16 * (40 - block[0] + 1) * (40 - block[1] + 1)
    sd = np.sqrt(corners * gamma) * block[0] * block[1] / (calls * np.prod(shape))
    assert abs(fraction - expected) < 4 * sd, (fraction, expected, sd)
    # The paper's gamma ignores overlapping blocks, so the fraction is a bit below
    # rate: about 1 - exp(-rate) (0.095 for 0.1, 0.22 for 0.25).
    assert 1 - np.exp(-rate) - 4 * sd < fraction < rate + 4 * sd, (fraction, rate)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zeros_form_whole_blocks(data_format):
    block = (3, 4)
    shape = (2, 20, 24, 5) if data_format == "channels_last" else (2, 5, 20, 24)
    out = testing.to_numpy(
        DropBlock2D(0.2, block, data_format=data_format, seed=4)(
            np.ones(shape, "float32"), training=True
        )
    )
    if data_format == "channels_first":
        out = np.transpose(out, (0, 2, 3, 1))
    dropped = out == 0
    for b in range(out.shape[0]):
        for c in range(out.shape[-1]):
            d = dropped[b, :, :, c]
            # Every dropped unit lies in a fully dropped block inside the map: the
            # dropped set equals the union of the blocks it contains (morphological opening).
            corners = np.zeros((20 - 3 + 1, 24 - 4 + 1), bool)
            for s in range(corners.shape[0]):
                for t in range(corners.shape[1]):
                    corners[s, t] = d[s : s + 3, t : t + 4].all()
            np.testing.assert_array_equal(dilate(corners, block), d)
    # Channels and examples get independent masks.
    assert not np.all(dropped[:, :, :, :1] == dropped)


def test_gamma_is_the_papers():
    layer = DropBlock2D(0.1, 7)
    assert layer.gamma(14, 14) == pytest.approx(paper_gamma(0.1, (7, 7), 14, 14))
    assert layer.gamma(14, 14) == pytest.approx(0.1 / 49 * 196 / 64)


def test_block_larger_than_map_is_clipped():
    layer = DropBlock2D(0.3, 10, seed=5)
    assert layer.block_shape((None, 4, 6, 2)) == (4, 6)
    out = testing.to_numpy(layer(np.ones((64, 4, 6, 2), "float32"), training=True))
    assert np.all(np.isfinite(out))
    # The one block covers the whole map: each (example, channel) is all or nothing.
    per_map = (out == 0).reshape(64, 24, 2).mean(axis=1)
    assert set(np.unique(per_map)) <= {0.0, 1.0}
    assert 0.15 < per_map.mean() < 0.45


def test_rate_zero_and_inference_are_identity():
    testing.assert_allclose(DropBlock2D(0.0, 3, seed=1)(X, training=True), X, atol=0)
    testing.assert_allclose(DropBlock2D(0.5, 3, seed=1)(X, training=False), X, atol=0)


def test_dynamic_spatial_dims_fit():
    # On TensorFlow a graph (not XLA) step keeps H and W unknown, so gamma is a tensor.
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = DropBlock2D(0.2, 3, seed=1)(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model.compile("adam", "mse", jit_compile=testing.backend() == "jax")
    x = np.random.default_rng(1).normal(size=(4, 10, 12, 3)).astype("float32")
    history = model.fit(x, np.zeros((4, 4), "float32"), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_default_data_format_follows_keras_config():
    assert DropBlock2D(0.1, 3).data_format == keras.config.image_data_format()


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.1", True])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"`rate`: expected a float in \[0, 1\). Received"):
        DropBlock2D(rate, 3)


@pytest.mark.parametrize("block_size", [0, -1, 2.5, (3,), (3, 0), "3", True])
def test_bad_block_size(block_size):
    with pytest.raises(ValueError, match=r"`block_size`: expected a positive int or a tuple"):
        DropBlock2D(0.1, block_size)


def test_bad_data_format():
    with pytest.raises(ValueError, match=r"`data_format`: expected 'channels_last' or"):
        DropBlock2D(0.1, 3, data_format="NHWC")


@pytest.mark.parametrize("seed", [1.5, "1"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed`: expected an int or None >= 0. Received"):
        DropBlock2D(0.1, 3, seed=seed)


def test_bad_rank():
    with pytest.raises(ValueError, match="ndim"):
        DropBlock2D(0.1, 3)(np.ones((2, 8, 3), "float32"))
