"""Parity with TensorFlow Model Remediation 0.1.7.1's Counterfactual module (in a subprocess)."""

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.counterfactual import (
    CounterfactualModel,
    CounterfactualPackedInputs,
    PairwiseAbsoluteDifferenceLoss,
    PairwiseCosineLoss,
    PairwiseMSELoss,
)

LOSSES = {
    "mse": PairwiseMSELoss,
    "mae": PairwiseAbsoluteDifferenceLoss,
    "cosine": PairwiseCosineLoss,
}


def _gradient(fn, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(np.asarray(x)))
    if backend == "torch":
        import torch

        t = torch.tensor(np.asarray(x), requires_grad=True)
        fn(t).backward()
        return t.grad.numpy()
    import tensorflow as tf

    v = tf.Variable(np.asarray(x))
    with tf.GradientTape() as tape:
        value = fn(v)
    return tape.gradient(value, v).numpy()


def _loss_cases(cases):
    return {name: case for name, case in cases.items() if str(case["kind"]) == "loss"}


def test_losses_equal_tfmr(tfmr_counterfactual_cases):
    """Every loss, 1 and 3 outputs, unweighted and with [n], [n, 1] and scalar weights."""
    cases, reference = tfmr_counterfactual_cases
    loss_cases = _loss_cases(cases)
    assert len(loss_cases) == 24
    for name, case in loss_cases.items():
        weights = case["sample_weight"] if bool(case["has_weight"]) else None
        value = LOSSES[str(case["loss"])]()(case["original"], case["counterfactual"], weights)
        testing.assert_allclose(value, reference[name]["value"], atol=1e-5, rtol=1e-5, err_msg=name)


def test_loss_gradients_equal_tfmr(tfmr_counterfactual_cases):
    """d loss / d original equals TFMR's (through each backend's autodiff)."""
    cases, reference = tfmr_counterfactual_cases
    for name, case in _loss_cases(cases).items():
        weights = case["sample_weight"] if bool(case["has_weight"]) else None
        loss = LOSSES[str(case["loss"])]()
        grad = _gradient(
            lambda o, fn=loss, c=case["counterfactual"], w=weights: fn(o, c, w), case["original"]
        )
        testing.assert_allclose(grad, reference[name]["grad"], atol=1e-5, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("loss", ["mse", "mae", "cosine"])
def test_one_training_step_equals_tfmr(tfmr_counterfactual_cases, loss):
    """Same start weights, one SGD step: weights and the three logged losses equal TFMR's."""
    cases, reference = tfmr_counterfactual_cases
    name = f"train-{loss}"
    case, expected = cases[name], reference[name]
    original = keras.Sequential(
        [
            keras.Input((case["w1"].shape[0],)),
            keras.layers.Dense(case["w1"].shape[1], activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    original.set_weights([case["w1"], case["b1"], case["w2"], case["b2"]])
    model = CounterfactualModel(original, LOSSES[loss](), loss_weight=float(case["loss_weight"]))
    model.compile(keras.optimizers.SGD(float(case["lr"])), "binary_crossentropy")
    history = model.fit(
        CounterfactualPackedInputs(case["x"], (case["x"], case["cf_x"], case["cf_weight"])),
        case["y"],
        batch_size=len(case["x"]),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    testing.assert_allclose(
        history.history["counterfactual_loss"][0], expected["counterfactual_loss"], atol=1e-5
    )
    # TFMR logs the total as `total_loss`; Keras 3 logs it as `loss`.
    testing.assert_allclose(history.history["loss"][0], expected["total_loss"], atol=1e-5)
    testing.assert_allclose(
        history.history["original_loss"][0], expected["original_loss"], atol=1e-5
    )
    for i, weight in enumerate(original.get_weights()):
        testing.assert_allclose(weight, expected[f"weight_{i}"], atol=1e-5, err_msg=name)
