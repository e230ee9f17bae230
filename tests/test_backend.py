import keras
import numpy as np
from keras import ops

from keras_regkit import backend, testing


def test_input_gradient_matches_closed_form():
    x = np.linspace(-2.0, 2.0, 12, dtype="float32").reshape(3, 4)
    grad = backend.input_gradient(lambda t: ops.sum(t**3), ops.convert_to_tensor(x))
    testing.assert_allclose(grad, 3 * x**2, rtol=1e-6)


def test_input_gradient_of_a_structure_with_an_unused_entry():
    a = np.array([1.0, -2.0, 3.0], "float32")
    b = np.array([[0.5, 4.0]], "float32")
    inputs = {"a": ops.convert_to_tensor(a), "b": ops.convert_to_tensor(b), "c": ops.ones((2,))}

    def fn(t):
        return ops.sum(ops.sin(t["a"])) + ops.sum(t["a"][:2] * t["b"][0])

    grads = backend.input_gradient(fn, inputs)
    assert set(grads) == {"a", "b", "c"}
    testing.assert_allclose(grads["a"], np.cos(a) + np.array([0.5, 4.0, 0.0]), rtol=1e-6)
    testing.assert_allclose(grads["b"], a[None, :2], rtol=1e-6)
    testing.assert_allclose(grads["c"], np.zeros(2), atol=0)


def test_input_gradient_through_a_model_leaves_weight_gradients_alone():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones", use_bias=False)]
    )
    x = ops.convert_to_tensor(np.array([[1.0, 2.0, 3.0]], "float32"))
    grad = backend.input_gradient(lambda t: ops.sum(model(t)), x)
    # d/dx sum(x @ ones(3, 2)) = 2 for every input.
    testing.assert_allclose(grad, np.full((1, 3), 2.0))
    if testing.backend() == "torch":
        assert model.layers[0].kernel.value.grad is None
