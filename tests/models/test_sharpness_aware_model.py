import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.models import SharpnessAwareModel

JIT = testing.jit_compile_options()
L2 = 0.01


def _problem(n=8, d=3, units=4, out=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.normal(size=(n, out)).astype("float32")
    weights = [
        rng.normal(scale=0.7, size=(d, units)).astype("float32"),
        rng.normal(scale=0.1, size=(units,)).astype("float32"),
        rng.normal(scale=0.7, size=(units, out)).astype("float32"),
        rng.normal(scale=0.1, size=(out,)).astype("float32"),
    ]
    return x, y, weights


def _tanh_mlp(weights):
    w1, b1, w2, b2 = weights
    const = keras.initializers.Constant
    return keras.Sequential(
        [
            keras.Input((w1.shape[0],)),
            keras.layers.Dense(
                w1.shape[1], "tanh", kernel_initializer=const(w1), bias_initializer=const(b1)
            ),
            keras.layers.Dense(
                w2.shape[1],
                kernel_initializer=const(w2),
                bias_initializer=const(b2),
                kernel_regularizer=keras.regularizers.L2(L2),
            ),
        ]
    )


def _numpy_grads(x, y, weights):
    """Gradient of mean((tanh(x W1 + b1) W2 + b2 - y)**2) + L2 * sum(W2**2)."""
    w1, b1, w2, b2 = weights
    h = np.tanh(x @ w1 + b1)
    d_out = 2 * (h @ w2 + b2 - y) / y.size
    d_hidden = d_out @ w2.T * (1 - h**2)
    return [x.T @ d_hidden, d_hidden.sum(0), h.T @ d_out + 2 * L2 * w2, d_out.sum(0)]


def _numpy_sam_step(x, y, weights, rho, lr, adaptive):
    weights = [w.astype("float64") for w in weights]
    grads = _numpy_grads(x, y, weights)
    scale = [np.abs(w) if adaptive else np.ones_like(w) for w in weights]
    norm = np.sqrt(sum(np.sum((s * g) ** 2) for s, g in zip(scale, grads, strict=True)))
    perturbed = [
        w + rho * s**2 * g / (norm + 1e-12) for w, s, g in zip(weights, scale, grads, strict=True)
    ]
    sam_grads = _numpy_grads(x, y, perturbed)
    return [w - lr * g for w, g in zip(weights, sam_grads, strict=True)]


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize("adaptive", [False, True])
def test_one_step_matches_numpy(adaptive, jit_compile):
    x, y, weights = _problem()
    rho, lr = (0.5 if adaptive else 0.1), 0.3
    model = SharpnessAwareModel(_tanh_mlp(weights), rho=rho, adaptive=adaptive)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse", jit_compile=jit_compile)
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    expected = _numpy_sam_step(x, y, weights, rho, lr, adaptive)
    plain_step = [w - lr * g for w, g in zip(weights, _numpy_grads(x, y, weights), strict=True)]
    # The perturbation must matter at this tolerance, or the test proves nothing.
    assert max(np.abs(a - b).max() for a, b in zip(expected, plain_step, strict=True)) > 1e-3
    actual = [testing.to_numpy(v) for v in model.model.weights]
    testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)


def _bn_model(seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, "relu", kernel_initializer=init),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(
                1, kernel_initializer=init, kernel_regularizer=keras.regularizers.L2(1e-3)
            ),
        ]
    )


@pytest.mark.parametrize("jit_compile", JIT)
def test_rho_zero_equals_plain_training(jit_compile):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    plain = _bn_model()
    sam = SharpnessAwareModel(_bn_model(), rho=0.0)
    histories = []
    for model in (plain, sam):
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=jit_compile)
        histories.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False))
    for a, b in zip(plain.weights, sam.model.weights, strict=True):
        # BatchNorm moving statistics included: they are updated once per step.
        np.testing.assert_array_equal(testing.to_numpy(b), testing.to_numpy(a), err_msg=a.path)
    np.testing.assert_array_equal(histories[1].history["loss"], histories[0].history["loss"])


def test_positive_rho_changes_training():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    results = []
    for rho in (0.0, 0.05):
        model = SharpnessAwareModel(_bn_model(), rho=rho)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        results.append(testing.to_numpy(model.model.weights[0]))
    assert np.abs(results[0] - results[1]).max() > 1e-5


def test_harness_fit_reload_export():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(32, 5)).astype("float32")
    y = (np.arange(32) % 3).astype("int32")

    def build_model():
        base = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dropout(0.2, seed=1),
                keras.layers.Dense(3),
            ]
        )
        return SharpnessAwareModel(base, rho=0.1, adaptive=True)

    model = testing.run_model_test(
        build_model,
        x,
        y,
        compile_kwargs={
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": ["accuracy"],
        },
        batch_size=16,
    )
    revived = testing.run_serialization_test(model)
    assert isinstance(revived.model, keras.Sequential)
    assert (revived.rho, revived.adaptive) == (0.1, True)
    reloaded = testing.save_and_reload(model)
    assert isinstance(reloaded, SharpnessAwareModel)
    assert (reloaded.rho, reloaded.adaptive) == (0.1, True)
    testing.assert_allclose(
        model.predict(x, verbose=0), model.model.predict(x, verbose=0), atol=1e-6
    )


def test_mixed_precision_fit():
    x, y, weights = _problem(n=16)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = SharpnessAwareModel(_tanh_mlp(weights), rho=0.05)
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(testing.to_numpy(model.model.weights[0]) - weights[0]).max() > 1e-4


@pytest.mark.parametrize("rho", [-0.1, float("nan"), float("inf"), True, "0.05"])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match=r"argument `rho`: expected a non-negative float"):
        SharpnessAwareModel(_bn_model(), rho=rho)


def test_bad_model_and_adaptive():
    with pytest.raises(ValueError, match=r"Invalid value for argument `model`: expected a keras"):
        SharpnessAwareModel(keras.layers.Dense(2))
    with pytest.raises(ValueError, match=r"Invalid value for argument `adaptive`: expected a bool"):
        SharpnessAwareModel(_bn_model(), adaptive="yes")


def test_subclassed_model_without_training_argument_matches_numpy():
    x, y, weights = _problem()

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = _tanh_mlp(weights)

        def call(self, inputs):  # no `training` argument
            return self.net(inputs)

    model = SharpnessAwareModel(Net(), rho=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    expected = _numpy_sam_step(x, y, weights, 0.1, 0.3, adaptive=False)
    testing.assert_allclose(
        [testing.to_numpy(v) for v in model.model.net.weights], expected, atol=1e-5, rtol=1e-5
    )


DISTRIBUTED_SCRIPT = """
import json, sys
import numpy as np
import keras
from keras_regkit.models import SharpnessAwareModel

mode, adaptive = sys.argv[1], sys.argv[2] == "asam"
if mode == "tf":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 5)).astype("float32")
y = (x[:, :1] + 0.3 * rng.normal(size=(64, 1)) > 0).astype("float32")

def run():
    keras.utils.set_random_seed(1)
    base = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(1, activation="sigmoid")])
    model = SharpnessAwareModel(base, rho=0.5, adaptive=adaptive)
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
    h = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    return h.history["loss"], [w.tolist() for w in base.get_weights()]

single = run()
if mode == "tf":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        multi = run()
else:
    import jax
    assert len(jax.devices()) == 2
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    multi = run()
print("RESULT" + json.dumps({"single": single, "multi": multi}))
"""


# The subprocess picks its own backend, so this runs once, in the ONE_BACKEND run.
@pytest.mark.one_backend
@pytest.mark.parametrize("mode", ["tf", "jax"])
@pytest.mark.parametrize("variant", ["sam", "asam"])
def test_distributed_training_equals_single_device(mode, variant):
    """MirroredStrategy (2 logical CPUs) / DataParallel (2 JAX host devices): same losses and
    weights as one device, to 1e-5 (the perturbation uses the gradient of the global batch)."""
    backend = {"tf": "tensorflow", "jax": "jax"}[mode]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if mode == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DISTRIBUTED_SCRIPT), mode, variant],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    (single_loss, single_w), (multi_loss, multi_w) = result["single"], result["multi"]
    np.testing.assert_allclose(multi_loss, single_loss, atol=1e-5)
    for a, b in zip(single_w, multi_w, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)
