import doctest

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.models import AdversarialModel

JIT = testing.jit_compile_options()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bce(p, y):
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def _logistic_problem(n=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.9, size=(n, d)).astype("float32")
    y = (rng.uniform(size=(n, 1)) < 0.5).astype("float32")
    w = rng.normal(scale=0.5, size=(d, 1)).astype("float32")
    b = np.float32(0.1)
    return x, y, w, b


def _logistic_model(w, b):
    return keras.Sequential(
        [
            keras.Input((w.shape[0],)),
            keras.layers.Dense(
                1,
                activation="sigmoid",
                kernel_initializer=keras.initializers.Constant(w),
                bias_initializer=keras.initializers.Constant(float(b)),
            ),
        ]
    )


def _fgsm_reference(x, y, w, b, epsilon, clip_min=None, clip_max=None):
    # Logistic regression with cross-entropy: grad_x loss = (sigmoid(w.x + b) - y) * w.
    grad = (_sigmoid(x @ w + b) - y) * w.T
    x_adv = x + epsilon * np.sign(grad)
    return np.clip(x_adv, clip_min, clip_max) if clip_min is not None else x_adv


def test_fgsm_perturbation_matches_closed_form():
    x, y, w, b = _logistic_problem()
    model = AdversarialModel(_logistic_model(w, b), epsilon=0.05)
    model.compile(loss="binary_crossentropy")
    x_adv = model.adversarial_examples(x, y)
    testing.assert_allclose(x_adv, _fgsm_reference(x, y, w, b, 0.05), atol=1e-6)
    # The perturbation is exactly epsilon in every coordinate.
    testing.assert_allclose(np.abs(testing.to_numpy(x_adv) - x), np.full_like(x, 0.05), atol=1e-6)

    # Valid-range clipping, and a zero sample weight leaves that example alone.
    clipped = AdversarialModel(_logistic_model(w, b), epsilon=0.2, clip_min=0.0, clip_max=0.8)
    clipped.compile(loss="binary_crossentropy")
    sample_weight = np.ones(len(x), "float32")
    sample_weight[3] = 0.0
    x_adv = testing.to_numpy(clipped.adversarial_examples(x, y, sample_weight))
    expected = _fgsm_reference(x, y, w, b, 0.2, 0.0, 0.8)
    expected[3] = x[3]
    testing.assert_allclose(x_adv, expected, atol=1e-6)


def test_fgsm_matches_numpy_gradient_of_a_nonlinear_model():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = rng.normal(size=(10, 2)).astype("float32")
    init = keras.initializers.GlorotNormal(seed=2)
    base = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="tanh", kernel_initializer=init),
            # The attack runs in inference mode: dropout must not randomise it.
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2, kernel_initializer=init),
        ]
    )
    model = AdversarialModel(base, epsilon=0.01)
    model.compile(loss="mse")
    x_adv = testing.to_numpy(model.adversarial_examples(x, y))

    w1, b1, w2, b2 = (testing.to_numpy(v).astype("float64") for v in base.weights)
    hidden = np.tanh(x @ w1 + b1)
    residual = hidden @ w2 + b2 - y
    # d/dx of mean_k (f_k(x) - y_k)^2, by the chain rule.
    grad = ((2 / y.shape[1]) * residual @ w2.T * (1 - hidden**2)) @ w1.T
    confident = np.abs(grad) > 1e-4
    assert confident.mean() > 0.9
    np.testing.assert_array_equal(
        np.sign(x_adv - x)[confident], np.sign(grad)[confident], err_msg="FGSM sign"
    )
    testing.assert_allclose(np.abs(x_adv - x)[confident], 0.01, atol=1e-6, rtol=0)


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_training_step_matches_closed_form(method, jit_compile):
    # One full-batch SGD step on logistic regression. For a linear model the
    # worst case in the L-inf ball is the FGSM corner, and PGD's default step
    # size (2.5 * epsilon / steps in total) reaches it from any random start.
    x, y, w, b = _logistic_problem()
    epsilon, weight, lr = 0.1, 0.3, 0.5
    model = AdversarialModel(
        _logistic_model(w, b),
        epsilon=epsilon,
        method=method,
        steps=2,
        adversarial_weight=weight,
        seed=5,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy", jit_compile=jit_compile
    )
    logs = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    x_adv = _fgsm_reference(x, y, w, b, epsilon)
    p, p_adv = _sigmoid(x @ w + b), _sigmoid(x_adv @ w + b)
    clean, adversarial = _bce(p, y), _bce(p_adv, y)
    assert logs["clean_loss"] == pytest.approx(clean, rel=1e-5)
    assert logs["adversarial_loss"] == pytest.approx(adversarial, rel=1e-5)
    assert logs["loss"] == pytest.approx((1 - weight) * clean + weight * adversarial, rel=1e-5)

    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    n = len(x)
    # The adversarial inputs are constants for the weight gradient.
    grad_w = (1 - weight) * x.T @ (p - y) / n + weight * x_adv.T @ (p_adv - y) / n
    grad_b = (1 - weight) * np.mean(p - y) + weight * np.mean(p_adv - y)
    kernel, bias = model.model.layers[0].weights
    testing.assert_allclose(kernel, w - lr * grad_w, atol=1e-6, rtol=1e-5)
    testing.assert_allclose(bias, [b - lr * grad_b], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("jit_compile", JIT)
def test_zero_adversarial_weight_trains_like_the_plain_model(jit_compile):
    # Several steps: also checks that no gradient leaks or accumulates across steps.
    x, y, w, b = _logistic_problem(n=24)
    plain = _logistic_model(w, b)
    plain.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = AdversarialModel(_logistic_model(w, b), epsilon=0.1, adversarial_weight=0.0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", jit_compile=jit_compile
    )
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b_ in zip(plain.weights, model.model.weights, strict=True):
        testing.assert_allclose(b_, a, atol=1e-6)
    # The adversarial loss is still measured.
    assert history.history["adversarial_loss"][-1] > history.history["clean_loss"][-1]


def test_pgd_stays_in_the_ball_and_is_seeded():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(16, 6)).astype("float32")
    y = rng.integers(0, 3, size=(16,))

    def attacker(seed):
        init = keras.initializers.GlorotUniform(seed=1)
        base = keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(8, activation="relu", kernel_initializer=init),
                keras.layers.Dense(3, kernel_initializer=init),
            ]
        )
        model = AdversarialModel(
            base, epsilon=0.3, method="pgd", steps=3, step_size=0.05, clip_max=1.0, seed=seed
        )
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    first, twin = attacker(7), attacker(7)
    a = testing.to_numpy(first.adversarial_examples(x, y))
    assert np.all(np.abs(a - x) <= 0.3 + 1e-6)
    assert np.all(a <= 1.0)
    # Random start: uniform over the ball, so most coordinates end strictly
    # inside it (3 steps of 0.05 cannot reach the boundary from the centre).
    assert np.mean(np.abs(a - x) < 0.29) > 0.5
    np.testing.assert_array_equal(testing.to_numpy(twin.adversarial_examples(x, y)), a)
    again = testing.to_numpy(first.adversarial_examples(x, y))
    assert not np.allclose(again, a), "PGD's random start does not advance"
    assert not np.allclose(testing.to_numpy(attacker(8).adversarial_examples(x, y)), a)


def test_pgd_increases_the_loss_more_than_random_noise():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, :1] * x[:, 1:2] > 0).astype("float32")
    init = keras.initializers.GlorotUniform(seed=1)
    base = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu", kernel_initializer=init),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init),
        ]
    )
    base.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
    base.fit(x, y, batch_size=64, epochs=20, verbose=0)

    def loss(inputs):
        return float(testing.to_numpy(keras.losses.binary_crossentropy(y, base(inputs))).mean())

    losses = {}
    for method in ("fgsm", "pgd"):
        model = AdversarialModel(base, epsilon=0.3, method=method, steps=10, seed=1)
        model.compile(loss="binary_crossentropy")
        losses[method] = loss(model.adversarial_examples(x, y))
    noise = rng.choice([-0.3, 0.3], size=x.shape).astype("float32")
    assert losses["pgd"] > losses["fgsm"] > loss(x + noise) > 0.5 * loss(x)
    assert losses["pgd"] > 1.2 * loss(x)


def test_model_harness_pgd_with_dropout_and_batch_norm():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, size=(32,))

    def build_model():
        base = keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dropout(0.2, seed=1),
                keras.layers.Dense(3),
            ]
        )
        return AdversarialModel(
            base, epsilon=0.05, method="pgd", steps=2, clip_min=0.0, clip_max=1.0, seed=3
        )

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
    assert {"clean_loss", "adversarial_loss", "accuracy"} <= set(model.get_metrics_result())
    revived = testing.run_serialization_test(model)
    assert isinstance(revived.model, keras.Sequential)
    # predict takes plain inputs and runs the wrapped model.
    testing.assert_allclose(
        model.predict(x, verbose=0), model.model.predict(x, verbose=0), atol=1e-6
    )


def test_keras_reload_keeps_the_attack_configuration():
    x, y, w, b = _logistic_problem()
    model = AdversarialModel(
        _logistic_model(w, b), epsilon=0.05, method="pgd", steps=3, step_size=0.02,
        adversarial_weight=0.7, clip_min=0.0, clip_max=1.0, seed=9,
    )  # fmt: skip
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    revived = testing.run_model_saving_test(model, x)
    testing.assert_configs_equal(model.get_config(), revived.get_config())
    assert isinstance(revived.optimizer, keras.optimizers.SGD)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    revived_logs = revived.evaluate(x, y, verbose=0, return_dict=True)
    assert revived_logs["clean_loss"] == pytest.approx(logs["clean_loss"], rel=1e-6)
    revived.fit(x, y, batch_size=6, epochs=1, verbose=0)


def test_only_floating_point_inputs_are_perturbed():
    features = keras.Input((3,), name="features")
    category = keras.Input((1,), dtype="int32", name="category")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(5, 2)(category))
    outputs = keras.layers.Dense(1)(keras.layers.Concatenate()([features, embedded]))
    base = keras.Model({"features": features, "category": category}, outputs)
    model = AdversarialModel(base, epsilon=0.1)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = {
        "features": rng.normal(size=(8, 3)).astype("float32"),
        "category": rng.integers(0, 5, size=(8, 1)).astype("int32"),
    }
    y = rng.normal(size=(8, 1)).astype("float32")
    x_adv = model.adversarial_examples(x, y)
    np.testing.assert_array_equal(testing.to_numpy(x_adv["category"]), x["category"])
    testing.assert_allclose(
        np.abs(testing.to_numpy(x_adv["features"]) - x["features"]), np.full((8, 3), 0.1)
    )
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["adversarial_loss"][0])

    ids_only = keras.Sequential([keras.Input((2,), dtype="int32"), keras.layers.Embedding(5, 1)])
    model = AdversarialModel(ids_only)
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="perturbs floating-point inputs"):
        model.adversarial_examples(np.zeros((2, 2), "int32"), np.zeros((2, 2, 1), "float32"))


def test_mixed_precision_multi_output():
    keras.config.set_dtype_policy("mixed_float16")
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = {
        "label": keras.layers.Dense(3, dtype="float32", name="label")(hidden),
        "value": keras.layers.Dense(1, dtype="float32", name="value")(hidden),
    }
    model = AdversarialModel(keras.Model(inputs, outputs), epsilon=0.05, method="pgd", steps=1)
    model.compile(
        optimizer="adam",
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "value": "mse",
        },
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 6)).astype("float32")
    y = {"label": rng.integers(0, 3, size=(32,)), "value": x[:, :1]}
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.all(np.isfinite(history.history["loss"]))
    perturbation = np.abs(testing.to_numpy(model.adversarial_examples(x, y)) - x)
    assert perturbation.max() == pytest.approx(0.05, abs=1e-6)
    # Float16 activations: the input gradients have not underflowed to zero.
    assert np.mean(perturbation > 0) > 0.9


def test_adversarial_examples_needs_a_compiled_loss():
    x, y, w, b = _logistic_problem()
    model = AdversarialModel(_logistic_model(w, b))
    with pytest.raises(ValueError, match="call `model.compile"):
        model.adversarial_examples(x, y)


def test_adversarial_training_improves_accuracy_under_attack_on_digits():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype("float32")  # pixels in [0, 1]
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order].astype("int32")
    x_train, y_train = images[:1300], labels[:1300]
    x_test, y_test = images[1300:], labels[1300:]
    epsilon = 0.1
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def mlp():
        init = keras.initializers.GlorotUniform(seed=0)
        return keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(64, activation="relu", kernel_initializer=init),
                keras.layers.Dense(10, kernel_initializer=init),
            ]
        )

    def accuracies(model):
        attack = AdversarialModel(model, epsilon=epsilon, clip_min=0.0, clip_max=1.0)
        attack.compile(loss=loss)
        x_adv = attack.adversarial_examples(x_test, y_test)
        clean = np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test)
        attacked = np.mean(np.argmax(model.predict(x_adv, verbose=0), -1) == y_test)
        return clean, attacked

    fit_kwargs = dict(batch_size=200, epochs=8, verbose=0)
    plain = mlp()
    plain.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    plain.fit(x_train, y_train, **fit_kwargs)
    robust = mlp()
    trainer = AdversarialModel(robust, epsilon=epsilon, clip_min=0.0, clip_max=1.0)
    trainer.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    trainer.fit(x_train, y_train, **fit_kwargs)

    plain_clean, plain_attacked = accuracies(plain)
    robust_clean, robust_attacked = accuracies(robust)
    print(
        f"digits, FGSM eps={epsilon}: plain clean={plain_clean:.3f} attacked={plain_attacked:.3f}; "
        f"adversarial clean={robust_clean:.3f} attacked={robust_attacked:.3f}"
    )
    assert plain_clean > 0.9 and robust_clean > 0.9
    assert robust_attacked > plain_attacked + 0.15


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": keras.layers.Dense(2)}, "Invalid value for argument `model`: expected a"),
        ({"epsilon": 0.0}, "Invalid value for argument `epsilon`: expected a positive float"),
        ({"epsilon": "big"}, "Invalid value for argument `epsilon`"),
        ({"method": "cw"}, "Invalid value for argument `method`: expected one of"),
        ({"steps": 0}, "Invalid value for argument `steps`: expected an int >= 1"),
        ({"steps": 2.5}, "Invalid value for argument `steps`"),
        ({"step_size": -0.1}, "Invalid value for argument `step_size`: expected a positive"),
        ({"adversarial_weight": 1.5}, "Invalid value for argument `adversarial_weight`"),
        ({"adversarial_weight": float("nan")}, "argument `adversarial_weight`: expected a float"),
        ({"adversarial_weight": True}, "argument `adversarial_weight`: expected a float in"),
        ({"epsilon": float("inf")}, "Invalid value for argument `epsilon`: expected a positive"),
        ({"clip_min": "low"}, "Invalid value for argument `clip_min`: expected a finite float or"),
        ({"clip_max": float("inf")}, "Invalid value for argument `clip_max`"),
        ({"clip_min": 1.0, "clip_max": 0.0}, "expected clip_min < clip_max"),
        ({"seed": "s"}, "Invalid value for argument `seed`: expected an int or None"),
    ],
)
def test_invalid_arguments(kwargs, message):
    if "model" not in kwargs:
        kwargs["model"] = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=message):
        AdversarialModel(**kwargs)


def test_docstring_example():
    from keras_regkit.models import adversarial_model

    results = doctest.testmod(adversarial_model, extraglobs={"np": np, "keras": keras})
    assert results.attempted > 0 and results.failed == 0
