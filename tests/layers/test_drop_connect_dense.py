import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.constraints import ValueRange
from keras_regkit.layers import DropConnectDense
from keras_regkit.regularizers import ElasticNet

X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")


def _dense_twin(layer, input_dim):
    """A keras.layers.Dense with the same configuration and weights as `layer`."""
    dense = keras.layers.Dense(
        layer.units, activation=layer.activation, use_bias=layer.use_bias, dtype=layer.dtype_policy
    )
    dense.build((None, input_dim))
    dense.set_weights(layer.get_weights())
    return dense


def test_harness_per_sample():
    testing.run_layer_test(
        DropConnectDense,
        {
            "units": 3,
            "rate": 0.5,
            "per_sample": True,
            "seed": 1,
            # Seeded weights, so that two layers with the same seed compute the same thing.
            "kernel_initializer": keras.initializers.GlorotUniform(seed=0),
        },
        X,
        expected_output_shape=(8, 3),
        random=True,
    )


def test_harness_with_every_dense_argument():
    kwargs = {
        "units": 3,
        "rate": 0.25,
        "seed": 2,
        "activation": "tanh",
        "use_bias": True,
        "kernel_initializer": keras.initializers.GlorotNormal(seed=3),
        "bias_initializer": "ones",
        "kernel_regularizer": ElasticNet(0.01, 0.5),
        "bias_regularizer": "l2",
        "activity_regularizer": "l1",
        "kernel_constraint": ValueRange(-0.5, 0.5),
        "bias_constraint": "non_neg",
    }
    layer = testing.run_layer_test(
        DropConnectDense, kwargs, X, expected_output_shape=(8, 3), random=True
    )
    config = layer.get_config()
    assert config["kernel_regularizer"]["class_name"] == "ElasticNet"
    assert config["kernel_constraint"]["class_name"] == "ValueRange"
    assert config["activation"] == "tanh"
    revived = DropConnectDense.from_config(config)
    assert isinstance(revived.kernel_regularizer, ElasticNet)
    assert isinstance(revived.kernel_constraint, ValueRange)


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
def test_inference_is_exactly_dense(per_sample, use_bias):
    layer = DropConnectDense(
        5, rate=0.7, per_sample=per_sample, use_bias=use_bias, activation="relu", seed=1
    )
    layer.build((None, 4))
    if use_bias:
        layer.bias.assign(np.linspace(-1, 1, 5).astype("float32"))
    dense = _dense_twin(layer, 4)
    testing.assert_allclose(layer(X), dense(X), atol=0, rtol=0)
    testing.assert_allclose(layer(X, training=False), dense(X), atol=0, rtol=0)
    # Also inside a model's predict (training=False from the context).
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layer(inputs))
    testing.assert_allclose(model.predict(X, verbose=0), dense(X), atol=1e-6)


def test_mask_drops_rate_and_rescales_kept_weights():
    rate = 0.3
    layer = DropConnectDense(40, rate=rate, seed=3)
    layer.build((None, 50))
    layer.bias.assign(np.ones(40, "float32"))
    kernel = testing.to_numpy(layer.kernel)
    # With x = I, output row i is (masked kernel row i) + masked bias.
    layer_no_bias = DropConnectDense(40, rate=rate, use_bias=False, seed=3)
    layer_no_bias.build((None, 50))
    layer_no_bias.kernel.assign(kernel)
    masked = testing.to_numpy(layer_no_bias(np.eye(50, dtype="float32"), training=True))
    kept = masked != 0
    assert abs(1 - kept.mean() - rate) < 0.03  # 2000 weights: sd 0.01
    # The keep probability is 1 - rate rounded to a multiple of 2**-16 and kept weights
    # are scaled by its inverse: within 2**-16 / (1 - rate) of 1 / (1 - rate).
    testing.assert_allclose(masked[kept], kernel[kept] / (1 - rate), rtol=2**-16 / (1 - rate))


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_mask_keep_rate_within_binomial_bound_and_fields_independent(rate):
    # Each 32-bit word holds the masks of two weights (columns j and j + units / 2):
    # both must be Bernoulli(1 - rate), and independent of each other.
    units, inputs, calls = 64, 127, 4
    layer = DropConnectDense(units, rate=rate, use_bias=False, seed=7)
    layer.build((None, inputs))
    layer.kernel.assign(np.ones((inputs, units), "float32"))
    eye = np.eye(inputs, dtype="float32")
    kept = np.concatenate([testing.to_numpy(layer(eye, training=True)) != 0 for _ in range(calls)])
    keep = 1 - rate
    for observed, p in (
        (kept, keep),
        (kept[:, : units // 2] & kept[:, units // 2 :], keep**2),
        (kept[:, : units // 2] & ~kept[:, units // 2 :], keep * rate),
    ):
        n = observed.size
        assert abs(observed.mean() - p) < 5 * np.sqrt(p * (1 - p) / n), (observed.mean(), p)


def test_kept_weights_preserve_the_expectation():
    # E[mask * scale] = 1 exactly: the mean masked weight over many draws is the weight.
    rate, units, inputs, calls = 0.3, 64, 64, 8
    layer = DropConnectDense(units, rate=rate, use_bias=False, seed=8)
    layer.build((None, inputs))
    layer.kernel.assign(np.ones((inputs, units), "float32"))
    eye = np.eye(inputs, dtype="float32")
    draws = np.stack([testing.to_numpy(layer(eye, training=True)) for _ in range(calls)])
    n = draws.size
    standard_error = np.sqrt(rate / (1 - rate) / n)  # sd of (mask / keep) is sqrt(rate / keep)
    assert abs(draws.mean() - 1.0) < 5 * standard_error


@pytest.mark.parametrize("rate", [0.0, 1e-6])
def test_rate_zero_and_negligible_rates_are_exactly_dense(rate):
    # rate 0 skips the mask; a rate below 2**-17 rounds to keeping every weight, scale 1.
    layer = DropConnectDense(5, rate=rate, seed=9)
    layer.build((None, 4))
    layer.bias.assign(np.arange(5, dtype="float32"))
    dense = _dense_twin(layer, 4)
    np.testing.assert_array_equal(
        testing.to_numpy(layer(X, training=True)), testing.to_numpy(dense(X))
    )


def _moments_reference(x, kernel, bias, rate):
    mean = x @ kernel + bias
    variance = rate / (1 - rate) * ((x**2) @ (kernel**2) + bias**2)
    return mean, variance


def test_per_sample_mean_and_variance_match_closed_form():
    # One call with a batch of n copies of x draws n independent masks.
    rate, n = 0.5, 4000
    layer = DropConnectDense(3, rate=rate, per_sample=True, seed=4)
    layer.build((None, 4))
    layer.bias.assign(np.array([0.5, -0.5, 1.0], "float32"))
    x = X[:1]
    out = testing.to_numpy(layer(np.repeat(x, n, axis=0), training=True))
    mean, variance = _moments_reference(
        x[0], testing.to_numpy(layer.kernel), testing.to_numpy(layer.bias), rate
    )
    standard_error = np.sqrt(variance / n)
    assert np.all(np.abs(out.mean(axis=0) - mean) < 4 * standard_error), (out.mean(0), mean)
    testing.assert_allclose(out.var(axis=0), variance, rtol=0.15)


def test_per_batch_mean_over_many_masks_approaches_dense():
    rate, n = 0.5, 200
    layer = DropConnectDense(3, rate=rate, seed=5)
    layer.build((None, 4))
    x = X[:2]
    outs = np.stack([testing.to_numpy(layer(x, training=True)) for _ in range(n)])
    # One mask per batch: both examples share it, and each call draws a new one.
    mean, variance = _moments_reference(
        x, testing.to_numpy(layer.kernel), testing.to_numpy(layer.bias), rate
    )
    assert np.all(np.abs(outs.mean(axis=0) - mean) < 4 * np.sqrt(variance / n) + 1e-6)
    dense = _dense_twin(layer, 4)
    assert np.abs(outs.mean(axis=0) - testing.to_numpy(dense(x))).max() < 0.25


def test_per_sample_masks_differ_between_examples_only():
    x = np.repeat(X[:1], 6, axis=0)
    shared = testing.to_numpy(DropConnectDense(8, rate=0.5, seed=6)(x, training=True))
    assert np.all(shared == shared[:1])
    own = testing.to_numpy(DropConnectDense(8, rate=0.5, per_sample=True, seed=6)(x, training=True))
    assert len({row.tobytes() for row in own}) == 6
    # Rank-3 inputs: one mask per example, shared by its positions.
    # Same batch size as above: the (6, 5, 8) mask draw is reused.
    x3 = np.repeat(np.repeat(X[:1, None, :], 3, axis=1), 6, axis=0)
    out3 = testing.to_numpy(
        DropConnectDense(8, rate=0.5, per_sample=True, seed=7)(x3, training=True)
    )
    assert out3.shape == (6, 3, 8)
    assert np.all(out3 == out3[:, :1])
    assert len({row.tobytes() for row in out3[:, 0]}) == 6


def test_lora_kernel_is_dropped_and_inference_matches_dense():
    layer = DropConnectDense(3, rate=0.5, lora_rank=2, seed=8)
    layer.build((None, 4))
    layer.lora_kernel_b.assign(np.ones((2, 3), "float32"))
    merged = testing.to_numpy(layer.kernel)  # kernel + (alpha / rank) * A @ B
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    dense.set_weights([merged, testing.to_numpy(layer.bias)])
    testing.assert_allclose(layer(X), dense(X), atol=1e-6)
    eye = testing.to_numpy(layer(np.eye(4, dtype="float32"), training=True))
    kept = eye != 0
    testing.assert_allclose(eye[kept], merged[kept] / 0.5, rtol=1e-6)
    assert 0 < kept.mean() < 1
    assert DropConnectDense.from_config(layer.get_config()).lora_rank == 2


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.5", None, True])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"`rate`: expected a float in \[0, 1\). Received"):
        DropConnectDense(3, rate=rate)


@pytest.mark.parametrize("per_sample", [1, "yes", None])
def test_bad_per_sample(per_sample):
    with pytest.raises(ValueError, match=r"`per_sample`: expected a bool. Received"):
        DropConnectDense(3, per_sample=per_sample)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed`: expected an int or None. Received"):
        DropConnectDense(3, seed=seed)


def test_bad_units_uses_dense_validation():
    with pytest.raises(ValueError, match="units"):
        DropConnectDense(0)
