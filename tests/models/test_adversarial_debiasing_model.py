import keras
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from keras_regkit import testing
from keras_regkit.models import AdversarialDebiasingModel
from keras_regkit.models.adversarial_debiasing_model import projection_correction

JIT = testing.jit_compile_options()
BCE = keras.losses.BinaryCrossentropy(from_logits=True)


def _planted(n=1000, seed=0):
    """The label depends on the group, and a feature reveals the group."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    x1 = rng.normal(size=n)
    y = (x1 + 1.2 * (2 * s - 1) + 0.3 * rng.normal(size=n) > 0).astype("float32")
    x = np.stack([x1, s + 0.3 * rng.normal(size=n), rng.normal(size=n)], 1).astype("float32")
    return x, y, s


def _mlp(d=3, seed=1):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(8, "relu", kernel_initializer=init),
            keras.layers.Dense(1, kernel_initializer=init),
        ]
    )


def _leak(logits, s):
    """Accuracy of a fresh logistic regression predicting the group from the output."""
    logits = np.asarray(logits).reshape(-1, 1)
    return LogisticRegression().fit(logits, s).score(logits, s)


def test_adversary_falls_to_chance_while_task_accuracy_holds():
    x, y, s = _planted(n=2000)
    results = {}
    for weight in (0.0, 2.0):
        keras.utils.set_random_seed(0)  # the batches' shuffling
        model = AdversarialDebiasingModel(_mlp(), loss_weight=weight)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=BCE)
        model.fit({"features": x, "sensitive": s}, y, epochs=20, batch_size=100, verbose=0)
        logits = testing.to_numpy(model.predict(x, verbose=0))[:, 0]
        results[weight] = (((logits > 0) == y).mean(), _leak(logits, s))
    # The best group-blind classifier (x1 only): what a fair predictor can reach.
    blind = LogisticRegression().fit(x[:, :1], y).score(x[:, :1], y)
    (plain_accuracy, plain_leak), (fair_accuracy, fair_leak) = results[0.0], results[2.0]
    assert plain_leak > 0.75, results
    assert fair_leak < 0.62, results
    assert fair_accuracy > blind - 0.08, (results, blind)
    assert plain_accuracy > fair_accuracy, results


@pytest.mark.parametrize("jit_compile", JIT)
@pytest.mark.parametrize("criterion", ["demographic_parity", "equalized_odds"])
def test_zero_weight_trains_like_plain(criterion, jit_compile):
    x, y, s = _planted(n=64)
    plain = _mlp()
    wrapped = AdversarialDebiasingModel(_mlp(), loss_weight=0.0, criterion=criterion)
    plain.compile(optimizer=keras.optimizers.Adam(0.01), loss=BCE, jit_compile=jit_compile)
    wrapped.compile(optimizer=keras.optimizers.Adam(0.01), loss=BCE, jit_compile=jit_compile)
    plain.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    history = wrapped.fit(
        {"features": x, "sensitive": s}, y, batch_size=16, epochs=2, verbose=0, shuffle=False
    )
    for a, b in zip(plain.weights, wrapped.predictor.weights, strict=True):
        testing.assert_allclose(b, a, atol=1e-6, rtol=1e-6, err_msg=a.path)
    assert {"adversary_loss", "adversary_accuracy"} <= set(history.history)


def test_projection_correction_closed_form():
    g_p = [np.array([1.0, 2.0]), np.array([[3.0]])]
    g_a = [np.array([1.0, 0.0]), np.array([[1.0]])]
    # g_P . g_A = 4, ||g_A||^2 = 2: proj = 2 g_A; with alpha = 0.5: -(2 + 0.5) g_A.
    correction = testing.to_numpy(projection_correction(g_p, g_a, 0.5))
    testing.assert_allclose(correction, [-2.5 * g_a[0], -2.5 * g_a[1]], atol=1e-6)
    update = [p + c for p, c in zip(g_p, correction, strict=True)]
    # Without alpha the corrected update is orthogonal to the adversary's gradient.
    no_alpha = testing.to_numpy(projection_correction(g_p, g_a, 0.0))
    orthogonal = sum(np.sum((p + c) * a) for p, c, a in zip(g_p, no_alpha, g_a, strict=True))
    assert abs(float(orthogonal)) < 1e-6
    testing.assert_allclose(update[0], [-1.5, 2.0], atol=1e-6)
    testing.assert_allclose(projection_correction(g_p, g_a, 0.5, project=False)[1], [[-0.5]])


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("jit_compile", JIT)
def test_one_sgd_step_matches_numpy(jit_compile):
    rng = np.random.default_rng(3)
    n, d, lr, alpha = 8, 3, 0.5, 0.7
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.integers(0, 2, n).astype("float32")
    s = rng.integers(0, 2, n)
    w, b = rng.normal(size=(d, 1)), np.array([0.1])
    c, e = np.array([[1.3]]), np.array([-0.2])
    const = keras.initializers.Constant
    predictor = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(1, kernel_initializer=const(w), bias_initializer=const(b)),
        ]
    )
    adversary = keras.Sequential(
        [keras.layers.Dense(1, kernel_initializer=const(c), bias_initializer=const(e))]
    )
    model = AdversarialDebiasingModel(predictor, adversary, loss_weight=alpha)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=BCE, jit_compile=jit_compile)
    model.fit({"features": x, "sensitive": s}, y, batch_size=n, epochs=1, verbose=0)

    z = (x @ w + b)[:, 0]
    a = c[0, 0] * z + e[0]
    d_z_task = (_sigmoid(z) - y) / n
    d_a = (_sigmoid(a) - s) / n
    g_p = [x.T @ d_z_task[:, None], np.array([d_z_task.sum()])]
    g_a = [x.T @ (d_a * c[0, 0])[:, None], np.array([(d_a * c[0, 0]).sum()])]
    dot = sum(np.sum(p * q) for p, q in zip(g_p, g_a, strict=True))
    norm = sum(np.sum(q**2) for q in g_a)
    update = [p - (dot / norm + alpha) * q for p, q in zip(g_p, g_a, strict=True)]
    expected_predictor = [w - lr * update[0], b - lr * update[1]]
    expected_adversary = [c - lr * np.array([[np.sum(d_a * z)]]), e - lr * np.array([d_a.sum()])]
    testing.assert_allclose(predictor.weights, expected_predictor, atol=1e-5, rtol=1e-5)
    testing.assert_allclose(adversary.weights, expected_adversary, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("criterion", ["demographic_parity", "equalized_odds"])
def test_harness_fit_reload_export(criterion):
    x, y, s = _planted(n=32)
    groups = s + (x[:, 2] > 0)  # three groups

    def build_model():
        return AdversarialDebiasingModel(_mlp(), loss_weight=0.5, criterion=criterion, num_groups=3)

    model = testing.run_model_test(
        build_model,
        {"features": x, "sensitive": groups},
        y,
        compile_kwargs={"loss": BCE, "metrics": ["accuracy"]},
        predict_data=x,
        batch_size=16,
    )
    revived = testing.run_serialization_test(model)
    assert (revived.criterion, revived.num_groups, revived.loss_weight) == (criterion, 3, 0.5)
    reloaded = testing.save_and_reload(model)
    assert isinstance(reloaded, AdversarialDebiasingModel)
    testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predictor.predict(x, verbose=0), atol=1e-6
    )
    # Packed inputs predict like plain features.
    testing.assert_allclose(
        model.predict({"features": x, "sensitive": groups}, verbose=0),
        model.predict(x, verbose=0),
        atol=1e-6,
    )


def test_single_group_sensitive_attribute():
    x, y, _ = _planted(n=16)
    model = AdversarialDebiasingModel(_mlp())
    model.compile(optimizer="adam", loss=BCE)
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `sensitive`: expected at least 2 distinct"
    ):
        model.fit({"features": x, "sensitive": np.zeros(16, "int32")}, y, verbose=0)


def test_groups_outside_num_groups():
    x, y, s = _planted(n=16)
    model = AdversarialDebiasingModel(_mlp())
    model.compile(optimizer="adam", loss=BCE)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `sensitive`: expected integer groups in \[0, 2\)",
    ):
        model.fit({"features": x, "sensitive": s + 1}, y, verbose=0)


def test_bad_num_groups():
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `num_groups`: expected an int >= 2"
    ):
        AdversarialDebiasingModel(_mlp(), num_groups=1)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -1.0, "1"])
def test_bad_loss_weight(weight):
    with pytest.raises(
        ValueError, match=r"Invalid value for argument `loss_weight`: expected a non-negative float"
    ):
        AdversarialDebiasingModel(_mlp(), loss_weight=weight)


def test_unknown_criterion():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `criterion`: expected one of \('demographic_parity'",
    ):
        AdversarialDebiasingModel(_mlp(), criterion="equal_opportunity")


def test_adversary_output_shape_must_match_groups():
    x, y, s = _planted(n=16)
    adversary = keras.Sequential([keras.layers.Dense(3)])
    model = AdversarialDebiasingModel(_mlp(), adversary, num_groups=2)
    model.compile(optimizer="adam", loss=BCE)
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `adversary`: expected an output of shape \(batch, 1\)",
    ):
        model.fit({"features": x, "sensitive": s}, y, verbose=0)


def test_bad_predictor_and_adversary_types():
    with pytest.raises(ValueError, match=r"Invalid value for argument `predictor`: expected a"):
        AdversarialDebiasingModel(keras.layers.Dense(1))
    with pytest.raises(ValueError, match=r"Invalid value for argument `adversary`: expected a"):
        AdversarialDebiasingModel(_mlp(), adversary="dense")
    with pytest.raises(ValueError, match=r"Invalid value for argument `project_gradient`"):
        AdversarialDebiasingModel(_mlp(), project_gradient=1)


def test_training_without_sensitive_attribute():
    x, y, _ = _planted(n=16)
    model = AdversarialDebiasingModel(_mlp())
    model.compile(optimizer="adam", loss=BCE)
    with pytest.raises(ValueError, match=r"training without the sensitive attribute"):
        model.fit(x, y, verbose=0)
