import doctest
import math

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.optimizers import GradientNoise

JIT = testing.jit_compile_options()


def _data(n=32, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _mlp(features=5, seed=1):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(8, activation="tanh", kernel_initializer=init),
            keras.layers.Dense(1, kernel_initializer=init),
        ]
    )


def _weights(model):
    return [testing.to_numpy(w) for w in model.weights]


def test_serialization():
    optimizer = GradientNoise(keras.optimizers.Adam(0.003), stddev=0.2, decay=0.3, seed=4)
    restored = testing.run_serialization_test(optimizer)
    assert isinstance(restored.inner_optimizer, keras.optimizers.Adam)
    assert restored.inner_optimizer.get_config() == optimizer.inner_optimizer.get_config()

    revived = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(revived, GradientNoise)
    assert (revived.stddev, revived.decay, revived.seed) == (0.2, 0.3, 4)
    assert revived.learning_rate.numpy() == pytest.approx(0.003)


def test_accepts_an_optimizer_name():
    optimizer = GradientNoise("sgd", stddev=0.1)
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.SGD)
    assert optimizer.optimizer is optimizer.inner_optimizer


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize(
    "make_inner",
    [
        lambda: keras.optimizers.Adam(0.01),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    ],
    ids=["adam", "sgd_momentum"],
)
def test_zero_stddev_matches_inner_optimizer_bit_for_bit(make_inner, jit_compile):
    x, y = _data()
    trained = {}
    for wrap in (False, True):
        model = _mlp()
        optimizer = GradientNoise(make_inner(), stddev=0.0, seed=1) if wrap else make_inner()
        model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        trained[wrap] = (model, optimizer)
    (plain, plain_opt), (noisy, noisy_opt) = trained[False], trained[True]
    for a, b in zip(_weights(plain), _weights(noisy), strict=True):
        np.testing.assert_array_equal(b, a)
    assert int(noisy_opt.iterations) == int(plain_opt.iterations) == 4
    inner_state = [testing.to_numpy(v) for v in noisy_opt.inner_optimizer.variables]
    for a, b in zip([testing.to_numpy(v) for v in plain_opt.variables], inner_state, strict=True):
        np.testing.assert_array_equal(b, a)


def _record_noise(stddev, decay, steps, jit_compile, seed=7, shape=(200, 100)):
    """Trains a kernel whose gradient is exactly zero with SGD(lr=1).

    Every update is then `-noise`, so the kernel increments are the noise draws.
    """
    model = keras.Sequential(
        [
            keras.Input((shape[0],)),
            keras.layers.Dense(shape[1], use_bias=False, kernel_initializer="zeros"),
        ]
    )
    optimizer = GradientNoise(keras.optimizers.SGD(1.0), stddev=stddev, decay=decay, seed=seed)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    kernels = [testing.to_numpy(model.layers[0].kernel)]
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: kernels.append(testing.to_numpy(model.layers[0].kernel))
    )
    # Zero inputs: the kernel gradient x^T dL/dy is exactly zero.
    x = np.zeros((4, shape[0]), "float32")
    y = np.ones((4, shape[1]), "float32")
    model.fit(x, y, batch_size=4, epochs=steps, verbose=0, callbacks=[record])
    return np.diff(np.stack(kernels), axis=0), optimizer


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize("decay", [0.55, 0.0])
def test_noise_variance_follows_schedule(decay, jit_compile):
    stddev, steps = 0.5, 5
    increments, optimizer = _record_noise(stddev, decay, steps, jit_compile)
    n = increments[0].size
    for t in range(steps):
        noise = -increments[t].ravel().astype("float64")
        expected_variance = stddev**2 / (1 + t) ** decay
        # The sample variance of n Gaussian draws has relative std sqrt(2 / n)
        # (1% here); 5% is five standard errors.
        assert np.var(noise) == pytest.approx(expected_variance, rel=0.05), f"step t={t}"
        assert abs(noise.mean()) < 5 * math.sqrt(expected_variance / n), f"step t={t}"
    # Fresh draws at every step (not a seed frozen into the compiled step).
    for t in range(steps - 1):
        corr = np.corrcoef(increments[t].ravel(), increments[t + 1].ravel())[0, 1]
        assert abs(corr) < 0.05
    assert int(optimizer.iterations) == steps
    testing.assert_allclose(
        optimizer.noise_stddev(), stddev / (1 + steps) ** (decay / 2), rtol=1e-6
    )


def test_noise_is_independent_across_variables():
    model = keras.Sequential(
        [
            keras.Input((50,)),
            keras.layers.Dense(40, use_bias=False, kernel_initializer="zeros"),
            keras.layers.Dense(40, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    optimizer = GradientNoise(keras.optimizers.SGD(1.0), stddev=1.0, seed=3)
    optimizer.apply(
        [keras.ops.zeros((50, 40)), keras.ops.zeros((40, 40))], model.trainable_variables
    )
    first = testing.to_numpy(model.layers[0].kernel)[:40].ravel()
    second = testing.to_numpy(model.layers[1].kernel).ravel()
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.1


def test_same_seed_same_noise_and_different_seed_different_noise():
    draws = [_record_noise(0.1, 0.55, 2, False, seed=s, shape=(10, 10))[0] for s in (5, 5, 6)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.allclose(draws[0], draws[2])


@pytest.mark.parametrize("jit_compile", JIT)
def test_training_resumes_identically_after_keras_reload(jit_compile):
    x, y = _data()

    def compiled():
        model = _mlp()
        inner = keras.optimizers.Adam(0.01)
        model.compile(
            optimizer=GradientNoise(inner, stddev=0.3, seed=11),
            loss="mse",
            jit_compile=jit_compile,
        )
        return model

    fit_kwargs = dict(batch_size=8, shuffle=False, verbose=0)
    straight = compiled()
    straight.fit(x, y, epochs=2, **fit_kwargs)

    resumed = compiled()
    resumed.fit(x, y, epochs=1, **fit_kwargs)
    revived = testing.save_and_reload(resumed)
    assert isinstance(revived.optimizer, GradientNoise)
    assert int(revived.optimizer.iterations) == 4
    for a, b in zip(resumed.optimizer.variables, revived.optimizer.variables, strict=True):
        np.testing.assert_array_equal(testing.to_numpy(b), testing.to_numpy(a))
    revived.fit(x, y, epochs=1, **fit_kwargs)

    assert int(revived.optimizer.iterations) == int(straight.optimizer.iterations) == 8
    for a, b in zip(_weights(straight), _weights(revived), strict=True):
        testing.assert_allclose(b, a, atol=1e-6, rtol=0)


def test_compiled_model_saves_with_safe_mode():
    x, y = _data()
    model = _mlp()
    model.compile(optimizer=GradientNoise("adam", stddev=0.1, seed=2), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    revived = testing.run_model_saving_test(model, x)
    testing.assert_configs_equal(model.optimizer.get_config(), revived.optimizer.get_config())


def test_learning_rate_is_the_inner_optimizers():
    optimizer = GradientNoise(keras.optimizers.SGD(0.1), stddev=0.1)
    optimizer.learning_rate = 0.25
    assert testing.to_numpy(optimizer.inner_optimizer.learning_rate) == pytest.approx(0.25)
    x, y = _data()
    model = _mlp()
    model.compile(optimizer=optimizer, loss="mse")
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.01 / (1 + epoch))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[schedule])
    assert testing.to_numpy(optimizer.learning_rate) == pytest.approx(0.005)


def test_mixed_precision_and_sparse_gradients():
    # mixed_float16 wraps the optimizer in a LossScaleOptimizer; an Embedding
    # gives TensorFlow IndexedSlices gradients.
    keras.config.set_dtype_policy("mixed_float16")
    model = keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.Flatten(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile(optimizer=GradientNoise("adam", stddev=0.01, seed=1), loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).integers(0, 20, size=(16, 3)).astype("int32")
    history = model.fit(x, np.ones((16, 1), "float32"), batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": 3}, "Invalid value for argument `optimizer`"),
        ({"optimizer": "not_an_optimizer"}, "Invalid value for argument `optimizer`"),
        (
            {"optimizer": keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())},
            "a LossScaleOptimizer cannot be wrapped",
        ),
        ({"stddev": -0.1}, "Invalid value for argument `stddev`: expected a non-negative"),
        ({"stddev": float("nan")}, "Invalid value for argument `stddev`"),
        ({"decay": -1}, "Invalid value for argument `decay`: expected a non-negative"),
        ({"decay": "fast"}, "Invalid value for argument `decay`"),
        ({"seed": 1.5}, "Invalid value for argument `seed`: expected an int or None"),
    ],
)
def test_invalid_arguments(kwargs, message):
    kwargs = {"optimizer": "sgd", **kwargs}
    with pytest.raises(ValueError, match=message):
        GradientNoise(**kwargs)


def test_docstring_example():
    from keras_regkit.optimizers import gradient_noise

    results = doctest.testmod(gradient_noise, extraglobs={"np": np, "keras": keras})
    assert results.attempted > 0 and results.failed == 0
