"""Lookahead, AdaptiveGradientClipping and GradientCentralization against NumPy references."""

import doctest

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.optimizers import (
    AdaptiveGradientClipping,
    GradientCentralization,
    Lookahead,
    adaptive_gradient_clipping,
    gradient_centralization,
    lookahead,
)

JIT = testing.jit_compile_options()
FEATURES, UNITS = 4, 3


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = rng.normal(size=(n, UNITS)).astype("float32")
    return x, y


def _model():
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(UNITS, kernel_initializer=keras.initializers.GlorotUniform(seed=2)),
        ]
    )


def _linear_mse_grads(w, b, x, y):
    """Gradients of Keras's mean squared error of `x @ w + b` (mean over all elements)."""
    residual = x @ w + b - y
    scale = 2.0 / residual.size
    return scale * x.T @ residual, scale * residual.sum(0)


def _reference_agc(grad, weight, clip_factor, eps):
    axes = tuple(range(grad.ndim - 1)) if grad.ndim > 1 else None
    w_norm = np.sqrt((weight**2).sum(axis=axes, keepdims=True))
    g_norm = np.sqrt((grad**2).sum(axis=axes, keepdims=True))
    max_norm = clip_factor * np.maximum(w_norm, eps)
    return grad * np.minimum(1.0, max_norm / np.maximum(g_norm, 1e-6))


def _reference_gc(grad, weight):
    if grad.ndim < 2:
        return grad
    return grad - grad.mean(axis=tuple(range(grad.ndim - 1)), keepdims=True)


def _train(optimizer, jit_compile, steps, batch_size=8):
    x, y = _data()
    model = _model()
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    w0 = [w.astype("float64") for w in model.get_weights()]
    epochs = steps // (len(x) // batch_size)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return model, w0, x.astype("float64"), y.astype("float64")


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize(
    "make, reference",
    [
        (
            lambda: AdaptiveGradientClipping(keras.optimizers.SGD(0.5), clip_factor=0.02),
            lambda g, w: _reference_agc(g, w, 0.02, 1e-3),
        ),
        (lambda: GradientCentralization(keras.optimizers.SGD(0.5)), _reference_gc),
    ],
    ids=["agc", "gc"],
)
def test_gradient_transform_equals_numpy_over_six_sgd_steps(make, reference, jit_compile):
    model, (w, b), x, y = _train(make(), jit_compile, steps=6)
    for step in range(6):
        xb, yb = x[8 * (step % 3) : 8 * (step % 3 + 1)], y[8 * (step % 3) : 8 * (step % 3 + 1)]
        gw, gb = _linear_mse_grads(w, b, xb, yb)
        w, b = w - 0.5 * reference(gw, w), b - 0.5 * reference(gb, b)
    testing.assert_allclose(model.get_weights(), [w, b], atol=1e-5, rtol=1e-5)


def test_agc_clips_unitwise_and_leaves_small_gradients():
    # A conv kernel (h, w, in, out): one norm per output filter.
    rng = np.random.default_rng(3)
    variable = keras.Variable(rng.normal(size=(3, 3, 2, 4)).astype("float32"))
    grad = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    grad[..., 0] *= 1e-4  # well under the threshold: unchanged
    optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(1.0), clip_factor=0.05)
    optimizer.build([variable])
    before = testing.to_numpy(variable).astype("float64")
    optimizer.apply([keras.ops.convert_to_tensor(grad)], [variable])
    applied = before - testing.to_numpy(variable)
    expected = _reference_agc(grad.astype("float64"), before, 0.05, 1e-3)
    testing.assert_allclose(applied, expected, atol=1e-6, rtol=1e-5)
    testing.assert_allclose(applied[..., 0], grad[..., 0], atol=1e-7, rtol=1e-5)
    norms = np.sqrt((applied**2).sum(axis=(0, 1, 2)))
    limits = 0.05 * np.sqrt((before**2).sum(axis=(0, 1, 2)))
    assert np.all(norms[1:] == pytest.approx(limits[1:], rel=1e-5))


def _reference_lookahead(w, b, x, y, lr, k, alpha, steps, batch_size=8):
    slow = [w.copy(), b.copy()]
    for step in range(steps):
        start = batch_size * (step % (len(x) // batch_size))
        batch = slice(start, start + batch_size)
        gw, gb = _linear_mse_grads(w, b, x[batch], y[batch])
        w, b = w - lr * gw, b - lr * gb
        if (step + 1) % k == 0:
            slow = [s + alpha * (f - s) for s, f in zip(slow, (w, b), strict=True)]
            w, b = slow[0].copy(), slow[1].copy()
    return [w, b], slow


@pytest.mark.parametrize("jit_compile", JIT)
def test_lookahead_equals_numpy_over_twelve_steps(jit_compile):
    optimizer = Lookahead(keras.optimizers.SGD(0.3), sync_period=5, slow_step_size=0.5)
    model, (w, b), x, y = _train(optimizer, jit_compile, steps=12)
    fast, slow = _reference_lookahead(w, b, x, y, 0.3, 5, 0.5, 12)
    testing.assert_allclose(model.get_weights(), fast, atol=1e-5, rtol=1e-5)
    testing.assert_allclose(optimizer.slow_weights, slow, atol=1e-5, rtol=1e-5)
    assert int(optimizer.iterations) == 12


def test_lookahead_with_unit_step_is_the_inner_optimizer():
    x, y = _data()
    weights = []
    for wrap in (False, True):
        model = _model()
        inner = keras.optimizers.Adam(0.01)
        model.compile(optimizer=Lookahead(inner, 3, 1.0) if wrap else inner, loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    testing.assert_allclose(weights[1], weights[0], atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize(
    "optimizer",
    [
        Lookahead(keras.optimizers.Adam(0.003), sync_period=4, slow_step_size=0.8),
        AdaptiveGradientClipping("sgd", clip_factor=0.1, eps=1e-2),
        GradientCentralization(keras.optimizers.AdamW(0.01), min_ndim=3),
        AdaptiveGradientClipping(GradientCentralization("adam")),
    ],
    ids=["lookahead", "agc", "gc", "agc_of_gc"],
)
def test_harness_serialization_reload_and_resume(optimizer):
    restored = testing.run_serialization_test(optimizer)
    testing.assert_configs_equal(
        restored.inner_optimizer.get_config(), optimizer.inner_optimizer.get_config()
    )
    x, y = _data()

    def compiled(opt):
        model = _model()
        model.compile(optimizer=opt, loss="mse")
        return model

    fit = dict(batch_size=8, shuffle=False, verbose=0)
    straight = compiled(type(optimizer).from_config(optimizer.get_config()))
    straight.fit(x, y, epochs=2, **fit)
    resumed = compiled(optimizer)
    resumed.fit(x, y, epochs=1, **fit)
    revived = testing.run_model_saving_test(resumed, x)
    assert type(revived.optimizer) is type(optimizer)
    for a, b in zip(resumed.optimizer.variables, revived.optimizer.variables, strict=True):
        np.testing.assert_array_equal(testing.to_numpy(b), testing.to_numpy(a))
    revived.fit(x, y, epochs=1, **fit)
    testing.assert_allclose(revived.get_weights(), straight.get_weights(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "make", [lambda: Lookahead("adam"), lambda: AdaptiveGradientClipping("adam")]
)
def test_fit_steps_and_mixed_precision(make):
    x, y = _data()
    for jit_compile in JIT:  # eager and XLA fits, each with a fresh optimizer
        model = _model()
        model.compile(optimizer=make(), loss="mse", jit_compile=jit_compile)
        assert np.all(np.isfinite(model.fit(x, y, batch_size=8, verbose=0).history["loss"]))
    keras.config.set_dtype_policy("mixed_float16")
    model = _model()
    model.compile(optimizer=make(), loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations) == 6


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (Lookahead, {"optimizer": 3}, "Invalid value for argument `optimizer`: expected a keras"),
        (Lookahead, {"optimizer": "nope"}, "Invalid value for argument `optimizer`"),
        (
            AdaptiveGradientClipping,
            {"optimizer": keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())},
            "not a LossScaleOptimizer",
        ),
        (GradientCentralization, {"optimizer": object()}, "argument `optimizer`"),
        (Lookahead, {"sync_period": 0}, "argument `sync_period`: expected an int >= 1"),
        (
            Lookahead,
            {"slow_step_size": 0.0},
            r"`slow_step_size`: expected a float in \(0, 1\]",
        ),
        (Lookahead, {"slow_step_size": 1.5}, "argument `slow_step_size`"),
        (AdaptiveGradientClipping, {"clip_factor": -1}, "argument `clip_factor`"),
        (AdaptiveGradientClipping, {"clip_factor": float("inf")}, "argument `clip_factor`"),
        (AdaptiveGradientClipping, {"eps": 0}, "argument `eps`"),
        (GradientCentralization, {"min_ndim": 1}, "argument `min_ndim`: expected an int >= 2"),
    ],
)
def test_invalid_arguments(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**{"optimizer": "sgd", **kwargs})


@pytest.mark.one_backend
@pytest.mark.parametrize("module", [lookahead, adaptive_gradient_clipping, gradient_centralization])
def test_docstring_examples(module):
    results = doctest.testmod(module, extraglobs={"np": np, "keras": keras})
    assert results.attempted > 0 and results.failed == 0
