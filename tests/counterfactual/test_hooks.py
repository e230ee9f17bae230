"""TFMR's customization hooks on CounterfactualModel: a custom batch structure and loss."""

import keras
import numpy as np

from keras_regkit import testing
from keras_regkit.counterfactual import (
    CounterfactualModel,
    CounterfactualPackedInputs,
    swap_sensitive_columns,
)

RNG = np.random.default_rng(3)
X = RNG.normal(size=(32, 4)).astype("float32")
X[:, 2] = RNG.uniform(size=32) > 0.5
X[:, 3] = 1 - X[:, 2]
Y = (X[:, :1] > 0).astype("float32")
XC = swap_sensitive_columns(X, [2, 3])
CW = RNG.uniform(0.5, 1.5, size=(32,)).astype("float32")


def _original(seed_weights):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(1, "sigmoid")]
    )
    model.set_weights(seed_weights)
    return model


def _start_weights():
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(4, 4)).astype("float32") * 0.5,
        np.zeros(4, "float32"),
        rng.normal(size=(4, 1)).astype("float32") * 0.5,
        np.zeros(1, "float32"),
    ]


class DictBatchModel(CounterfactualModel):
    """Reads batches of the form {"features": x, "pairs": (original_x, counterfactual_x, w)}."""

    def unpack_original_inputs(self, inputs):
        return inputs["features"] if isinstance(inputs, dict) else inputs

    def unpack_counterfactual_data(self, inputs):
        return inputs["pairs"] if isinstance(inputs, dict) else None


def _train(model, x):
    model.compile(keras.optimizers.SGD(0.3), "binary_crossentropy")
    history = model.fit(x, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return history.history


def test_custom_batch_structure_equals_packed_inputs():
    """Overriding both unpack hooks trains exactly as the default packed structure does."""
    reference = _original(_start_weights())
    expected = _train(
        CounterfactualModel(reference, "pairwise_mse", loss_weight=2.0),
        CounterfactualPackedInputs(X, (X, XC, CW)),
    )
    custom = _original(_start_weights())
    model = DictBatchModel(custom, "pairwise_mse", loss_weight=2.0)
    got = _train(model, {"features": X, "pairs": (X, XC, CW)})
    testing.assert_allclose(got["counterfactual_loss"], expected["counterfactual_loss"], atol=1e-6)
    for a, b in zip(custom.get_weights(), reference.get_weights(), strict=True):
        testing.assert_allclose(a, b, atol=1e-6)
    # evaluate sees the counterfactual data through the hook, and plain inputs still predict.
    logs = model.evaluate({"features": X, "pairs": (X, XC, CW)}, Y, verbose=0, return_dict=True)
    assert "counterfactual_loss" in logs
    testing.assert_allclose(model.predict(X, verbose=0), custom.predict(X, verbose=0))


def test_compute_counterfactual_loss_override():
    """A zero penalty through the hook gives the plain model's training step."""

    class NoPenalty(CounterfactualModel):
        def compute_counterfactual_loss(self, original, counterfactual, weight):
            return keras.ops.zeros(())

    plain = _original(_start_weights())
    _train(plain, X)
    wrapped = _original(_start_weights())
    history = _train(NoPenalty(wrapped, loss_weight=5.0), CounterfactualPackedInputs(X, (X, XC)))
    assert history["counterfactual_loss"] == [0.0, 0.0]
    for a, b in zip(wrapped.get_weights(), plain.get_weights(), strict=True):
        testing.assert_allclose(a, b, atol=1e-6)
