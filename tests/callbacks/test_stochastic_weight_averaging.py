import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.callbacks import StochasticWeightAveraging, update_batch_norm
from keras_regkit.callbacks.stochastic_weight_averaging import cyclic_learning_rate

JIT = testing.jit_compile_options()


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _bn_model(seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, kernel_initializer=init),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.Dense(1, kernel_initializer=init),
        ]
    )


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.rates = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([testing.to_numpy(v) for v in self.model.trainable_variables])


def _numpy_bn_stats(x, kernel, bias, batch_size):
    # Equal weight per batch (the last, smaller batch too), biased batch variance.
    hidden = x.astype("float64") @ kernel + bias
    batches = [hidden[i : i + batch_size] for i in range(0, len(x), batch_size)]
    return np.mean([b.mean(0) for b in batches], 0), np.mean([b.var(0) for b in batches], 0)


@pytest.mark.parametrize("jit_compile", JIT)
def test_average_and_batch_norm_statistics_match_numpy(jit_compile):
    x, y = _data()
    model = _bn_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile)
    recorder = _Recorder()
    swa = StochasticWeightAveraging(start_epoch=1, swa_lr=0.05, bn_data=x, batch_size=8)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[recorder, swa])

    assert swa.averaged_epochs == [1, 2, 3]
    expected = [np.mean([epoch[i] for epoch in recorder.weights[1:]], 0) for i in range(6)]
    # The average differs from the last iterate, so the comparison can fail.
    assert np.abs(expected[0] - recorder.weights[-1][0]).max() > 1e-4
    testing.assert_allclose(
        [testing.to_numpy(v) for v in model.trainable_variables], expected, atol=1e-6, rtol=1e-6
    )
    # SGD(0.1) for epoch 0 (3 batches), then the constant SWA rate.
    np.testing.assert_allclose(recorder.rates, [0.1] * 3 + [0.05] * 9, rtol=1e-6)

    bn = model.layers[1]
    mean, var = _numpy_bn_stats(x, expected[0], expected[1], 8)
    testing.assert_allclose(bn.moving_mean, mean, atol=1e-6, rtol=1e-6)
    testing.assert_allclose(bn.moving_variance, var, atol=1e-6, rtol=1e-6)
    assert bn.momentum == 0.5  # restored after the recomputation


def test_update_batch_norm_from_a_dataset_of_pairs():
    x, y = _data(n=12)
    model = _bn_model()
    model(x)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4]

    update_batch_norm(model, Batches())
    kernel, bias = (testing.to_numpy(v) for v in model.layers[0].weights)
    mean, var = _numpy_bn_stats(x, kernel, bias, 4)
    testing.assert_allclose(model.layers[1].moving_mean, mean, atol=1e-6, rtol=1e-6)
    testing.assert_allclose(model.layers[1].moving_variance, var, atol=1e-6, rtol=1e-6)


def test_cyclic_learning_rate():
    x, y = _data(n=16)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss="mse")
    recorder = _Recorder()
    swa = StochasticWeightAveraging(start_epoch=1, swa_lr=0.1, swa_lr_min=0.02)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[recorder, swa])
    # Izmailov et al.: alpha(i) = (1 - t(i)) alpha_1 + t(i) alpha_2, t(i) = i / c, i = 1..c.
    cycle = [(1 - i / 4) * 0.1 + (i / 4) * 0.02 for i in range(1, 5)]
    np.testing.assert_allclose(recorder.rates, [0.2] * 4 + cycle * 2, rtol=1e-6)
    assert cyclic_learning_rate(3, 4, 0.1, 0.02) == pytest.approx(0.02)


def test_harness():
    testing.run_callback_test(
        lambda: StochasticWeightAveraging(start_epoch=1, swa_lr=0.01, batch_size=16),
        epochs=2,
        config_exclude=("bn_data",),
    )


def test_start_epoch_beyond_the_run_raises():
    x, y = _data(n=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"`start_epoch`: expected an epoch of the run.*epochs=2"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[StochasticWeightAveraging(2)])


def test_batch_norm_without_data_and_schedule_with_swa_lr_raise():
    x, y = _data(n=8)
    model = _bn_model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="`bn_data` is None"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[StochasticWeightAveraging(1)])
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    dense.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    with pytest.raises(ValueError, match="float learning rate"):
        dense.fit(x, y, epochs=2, verbose=0, callbacks=[StochasticWeightAveraging(1, swa_lr=0.1)])


def test_early_stop_before_start_warns_and_keeps_weights():
    x, y = _data(n=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")

    class StopNow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    swa = StochasticWeightAveraging(1)
    with pytest.warns(UserWarning, match="no weights were averaged"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[StopNow(), swa])
    assert swa.averaged_epochs == []


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"start_epoch": -1}, "start_epoch"),
        ({"start_epoch": 1.5}, "start_epoch"),
        ({"start_epoch": 1, "swa_lr": 0.0}, "swa_lr"),
        ({"start_epoch": 1, "swa_lr": float("nan")}, "swa_lr"),
        ({"start_epoch": 1, "swa_lr_min": 0.01}, "swa_lr_min"),
        ({"start_epoch": 1, "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"Invalid value for argument `{argument}`: expected"):
        StochasticWeightAveraging(**kwargs)
