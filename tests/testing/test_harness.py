"""The harness must fail on broken objects; otherwise it proves nothing."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit import testing

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")


@keras.saving.register_keras_serializable(package="regkit_tests")
class Scale(keras.layers.Layer):
    """A correct layer with a trainable weight and a config argument."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return self.factor * x * ops.cast(self.w, x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


@keras.saving.register_keras_serializable(package="regkit_tests")
class ForgetsFactor(Scale):
    """Broken: get_config omits an __init__ argument."""

    def get_config(self):
        return keras.layers.Layer.get_config(self)


@keras.saving.register_keras_serializable(package="regkit_tests")
class WrongFactor(Scale):
    """Broken: get_config reports a value the layer does not use."""

    def get_config(self):
        config = super().get_config()
        config["factor"] = 1.0
        return config


@keras.saving.register_keras_serializable(package="regkit_tests")
class LosesState(Scale):
    """Broken: its trained weight is not written to (or read from) the .keras file."""

    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass


@keras.saving.register_keras_serializable(package="regkit_tests")
class Untracked(keras.layers.Layer):
    """Broken: state set from data at build time and never saved."""

    def build(self, input_shape):
        self.shift = float(np.random.default_rng().normal())

    def call(self, x):
        return x + self.shift


@keras.saving.register_keras_serializable(package="regkit_tests")
class Unseeded(keras.layers.Layer):
    """Broken: draws unseeded random numbers."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def call(self, x, training=False):
        if training:
            return x + keras.random.normal(ops.shape(x))  # no seed
        return x

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="regkit_tests")
class FrozenRandom(Unseeded):
    """Broken: reseeds every call, so every 'random' draw is the same."""

    def call(self, x, training=False):
        if training:
            return x + keras.random.normal(ops.shape(x), seed=self.seed)
        return x


@keras.saving.register_keras_serializable(package="regkit_tests")
class Seeded(Unseeded):
    """Correct random layer."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if training:
            return x + keras.random.normal(ops.shape(x), seed=self.generator)
        return x


def test_correct_layer_passes():
    testing.run_layer_test(
        Scale, {"factor": 3.0}, X, expected_output_shape=(8, 5), expected_output=3.0 * X
    )


def test_correct_random_layer_passes():
    testing.run_layer_test(Seeded, {"seed": 1}, X, expected_output=X, random=True)


def test_fails_on_missing_config_argument():
    with pytest.raises(AssertionError, match="does not return the __init__"):
        testing.run_layer_test(ForgetsFactor, {"factor": 3.0}, X)


def test_fails_on_wrong_config_value():
    with pytest.raises(AssertionError, match="factor"):
        testing.run_layer_test(WrongFactor, {"factor": 3.0}, X)


def test_fails_on_layer_losing_state():
    with pytest.raises(AssertionError, match="reload"):
        testing.run_layer_test(LosesState, {"factor": 3.0}, X)


def test_fails_on_layer_with_unsaved_build_state():
    with pytest.raises(AssertionError, match="reload"):
        testing.run_layer_test(Untracked, {}, X, run_mixed_precision_check=False)


def test_fails_on_unseeded_random_layer():
    with pytest.raises(AssertionError, match="unseeded"):
        testing.run_layer_test(Unseeded, {"seed": 1}, X, random=True)


def test_fails_on_randomness_that_does_not_advance():
    with pytest.raises(AssertionError, match="does not advance"):
        testing.run_layer_test(FrozenRandom, {"seed": 1}, X, random=True)


def test_random_layer_without_seed_is_refused():
    with pytest.raises(ValueError, match="fixed `seed`"):
        testing.run_layer_test(Seeded, {}, X, random=True)


def test_fails_on_wrong_reference_output():
    with pytest.raises(AssertionError, match="reference"):
        testing.run_layer_test(Scale, {"factor": 3.0}, X, expected_output=2.0 * X)


def test_fails_on_wrong_mixed_precision_dtype():
    @keras.saving.register_keras_serializable(package="regkit_tests")
    class AlwaysFloat32(Scale):
        def call(self, x):
            return ops.cast(super().call(x), "float32")

    with pytest.raises(AssertionError, match="mixed_float16"):
        testing.run_layer_test(
            AlwaysFloat32, {"factor": 3.0}, X, run_training_check=False, run_saving_check=False
        )


def test_fails_on_unregistered_class():
    class NotRegistered(Scale):
        pass

    with pytest.raises(TypeError, match="Could not locate class"):
        testing.run_serialization_test(NotRegistered(2.0))


def test_regularizer_harness_fails_on_wrong_reference():
    with pytest.raises(AssertionError, match="reference"):
        testing.run_regularizer_test(keras.regularizers.L2(0.1), lambda w: 0.2 * np.sum(w**2))


def test_regularizer_harness_passes_keras_l2():
    testing.run_regularizer_test(keras.regularizers.L2(0.1), lambda w: 0.1 * np.sum(w**2))


def test_constraint_harness_fails_on_wrong_reference():
    with pytest.raises(AssertionError, match="reference"):
        testing.run_constraint_test(keras.constraints.NonNeg(), lambda w: np.abs(w))


@keras.saving.register_keras_serializable(package="regkit_tests")
class TraceTimeConstant(keras.layers.Layer):
    """Broken for serving: bakes Python state, changed at every trace, into the graph."""

    def call(self, x):
        self.traces = getattr(self, "traces", 0) + 1
        return x + float(self.traces)


def test_export_check_serves_predict_outputs():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, Scale(3.0)(inputs))
    ran = testing.run_export_test(model, X)
    assert ran == (testing.backend() in ("tensorflow", "jax"))


def test_export_check_fails_on_trace_time_state():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, TraceTimeConstant()(inputs))
    if testing.backend() == "torch":  # Keras exports TF SavedModels from tensorflow and jax
        assert not testing.run_export_test(model, X)
        return
    with pytest.raises(AssertionError, match="served by export"):
        testing.run_export_test(model, X)
