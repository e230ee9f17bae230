import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.counterfactual import (
    CounterfactualModel,
    CounterfactualPyDataset,
    PairwiseAbsoluteDifferenceLoss,
    PairwiseCosineLoss,
    PairwiseMSELoss,
    losses,
    swap_sensitive_columns,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype("float32")
X[:, 2] = RNG.uniform(size=64) > 0.5
X[:, 3] = 1 - X[:, 2]
Y = (X[:, :1] > 0).astype("float32")
XC = swap_sensitive_columns(X, [2, 3])


def original():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1, "sigmoid")]
    )


def test_losses_closed_form():
    o = np.array([[1.0, 9.0], [2.0, -5.0], [-2.0, 6.0]], "float32")
    c = np.array([[4.0, 8.0], [12.0, 8.0], [1.0, 3.0]], "float32")
    w = np.array([1.2, 0.0, 3.4], "float32")
    testing.assert_allclose(PairwiseMSELoss()(o, c), np.mean(np.mean((o - c) ** 2, -1)))
    testing.assert_allclose(
        PairwiseAbsoluteDifferenceLoss()(o, c, w), np.mean(w * np.mean(np.abs(o - c), -1))
    )
    cos = np.sum(o * c, -1) / np.linalg.norm(o, axis=-1) / np.linalg.norm(c, axis=-1)
    testing.assert_allclose(PairwiseCosineLoss()(o, c, w), np.mean(-cos * w), atol=1e-6)


def test_swap_sensitive_columns():
    np.testing.assert_array_equal(XC[:, 2], X[:, 3])
    np.testing.assert_array_equal(XC[:, :2], X[:, :2])


def test_fit_evaluate_reload():
    model = CounterfactualModel(original(), "pairwise_mse", loss_weight=2.0)
    model.compile("adam", "binary_crossentropy", jit_compile=testing.jit_compile_options()[-1])
    history = model.fit(
        CounterfactualPyDataset(X, Y, counterfactual_x=XC, batch_size=16, seed=0),
        epochs=1,
        verbose=0,
    )
    assert {"loss", "counterfactual_loss", "original_loss"} <= set(history.history)
    assert "counterfactual_loss" not in model.evaluate(X, Y, verbose=0, return_dict=True)
    expected = 2.0 * PairwiseMSELoss()(model.predict(X, verbose=0), model.predict(XC, verbose=0))
    logs = model.evaluate(
        CounterfactualPyDataset(X, Y, counterfactual_x=XC, batch_size=64, shuffle=False),
        verbose=0,
        return_dict=True,
    )
    testing.assert_allclose(logs["counterfactual_loss"], expected, atol=1e-5)
    testing.run_model_saving_test(model, X)


def test_subclass_with_custom_train_step():
    class Custom(keras.Model):
        calls = 0

        def train_step(self, *args, **kwargs):
            Custom.calls += 1
            return super().train_step(*args, **kwargs)

    inputs = keras.Input((4,))
    base = Custom(inputs, keras.layers.Dense(1, "sigmoid")(inputs))

    class CustomCounterfactualModel(CounterfactualModel, Custom):
        pass

    model = CustomCounterfactualModel(base, "mae")
    model.compile("adam", "binary_crossentropy")
    history = model.fit(
        CounterfactualPyDataset(X, Y, counterfactual_x=XC, batch_size=32), epochs=1, verbose=0
    )
    assert Custom.calls >= 1 and "counterfactual_loss" in history.history


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid value for argument `loss`"):
        losses.get("msee")
    with pytest.raises(ValueError, match="Invalid value for argument `loss_weight`"):
        CounterfactualModel(original(), loss_weight=float("nan"))
    with pytest.raises(ValueError, match="Invalid value for argument `counterfactual_x`"):
        CounterfactualPyDataset(X, Y, counterfactual_x=XC[:10])
