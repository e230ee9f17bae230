import csv
import os

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.callbacks import RegularizationMonitor
from keras_regkit.regularizers import ElasticNet

STATS = (
    "regularization_penalty",
    "kernel_l2_norm",
    "kernel_max_column_norm",
    "kernel_sparsity",
)


def _conv_dense_model():
    """Conv2D (L1) -> Dense (ElasticNet kernel, L2 bias) -> BatchNorm -> Dense (L2)."""
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(3, 2, kernel_regularizer=keras.regularizers.L1(0.01), name="conv")(
        inputs
    )
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(
        6,
        kernel_regularizer=ElasticNet(0.02, l1_ratio=0.3),
        bias_regularizer=keras.regularizers.L2(0.1),
        name="hidden",
    )(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(0.05), name="head")(x)
    return keras.Model(inputs, outputs)


def _set_sparse_random_weights(model, seed=0):
    """Random weights with exact zeros, near zeros and entries on the tolerance."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        w = rng.normal(size=w.shape).astype("float32")
        flat = w.reshape(-1)
        n = flat.size
        flat[rng.random(n) < 0.2] = 0.0
        flat[rng.random(n) < 0.1] = 5e-4
        flat[rng.random(n) < 0.05] = -1e-3
        flat[rng.random(n) < 0.05] = 2e-3
        weights.append(w)
    model.set_weights(weights)


def _reference(model, layer_names, tol):
    """NumPy statistics from `get_weights()` and the regularizer formulas."""
    kernels, penalty = [], 0.0
    for name in layer_names:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()[:2]
        kernels.append(kernel.astype(np.float64))
        if name == "conv":
            penalty += 0.01 * np.abs(kernel).sum()
        elif name == "hidden":
            penalty += 0.02 * (0.3 * np.abs(kernel).sum() + 0.7 * np.square(kernel).sum())
            penalty += 0.1 * np.square(bias).sum()
        elif name == "head":
            penalty += 0.05 * np.square(kernel).sum()
    column_norms = [np.sqrt(np.square(k).sum(axis=tuple(range(k.ndim - 1)))) for k in kernels]
    return {
        "regularization_penalty": penalty,
        "kernel_l2_norm": np.sqrt(sum(np.square(k).sum() for k in kernels)),
        "kernel_max_column_norm": max(c.max() for c in column_norms),
        # Float32 weights are compared with the float32 tolerance.
        "kernel_sparsity": sum(
            (np.abs(k.astype("float32")) <= np.float32(tol)).sum() for k in kernels
        )
        / sum(k.size for k in kernels),
    }


def _epoch_end(callback, model, logs=None):
    callback.set_model(model)
    logs = {"loss": 1.25} if logs is None else logs
    callback.on_epoch_end(0, logs)
    return logs


@pytest.mark.parametrize("tol", [0.0, 1e-3, 0.01])
def test_values_match_numpy(tol):
    model = _conv_dense_model()
    _set_sparse_random_weights(model)
    logs = _epoch_end(RegularizationMonitor(sparsity_tol=tol, per_layer=True), model)
    assert logs.pop("loss") == 1.25  # the other entries are left alone

    expected = {}
    for key, value in _reference(model, ["conv", "hidden", "head"], tol).items():
        expected[key] = value
    for name in ["conv", "hidden", "head"]:
        for key, value in _reference(model, [name], tol).items():
            expected[f"{name}/{key}"] = value
    # BatchNormalization has only vectors, no regularizer: it is not a monitored layer.
    assert set(logs) == set(expected)
    testing.assert_allclose(logs, expected, atol=1e-6, rtol=1e-5)
    assert all(isinstance(v, float) for v in logs.values())
    # The tolerance test is `<=`: entries equal to -1e-3 count at tol=1e-3.
    if tol == 0.0:
        assert 0 < logs["kernel_sparsity"] < 0.3


def test_penalty_matches_model_losses():
    # Keras's own sum of weight-regularization losses on the same weights.
    model = _conv_dense_model()
    _set_sparse_random_weights(model, seed=1)
    logs = _epoch_end(RegularizationMonitor(), model)
    expected = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    testing.assert_allclose(logs["regularization_penalty"], expected, atol=1e-6, rtol=1e-5)


def test_layers_selects_what_is_monitored():
    model = _conv_dense_model()
    _set_sparse_random_weights(model, seed=2)
    logs = _epoch_end(RegularizationMonitor(layers=["hidden", "head"]), model)
    expected = _reference(model, ["hidden", "head"], 1e-3)
    assert set(logs) == {"loss", *STATS}
    testing.assert_allclose({k: logs[k] for k in STATS}, expected, atol=1e-6, rtol=1e-5)

    logs = _epoch_end(RegularizationMonitor(layers=["conv"], per_layer=True), model)
    assert set(logs) == {"loss", *STATS, *(f"conv/{k}" for k in STATS)}
    for key in STATS:
        assert logs[key] == logs[f"conv/{key}"]


def test_nested_models_and_embeddings():
    inner = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L1(0.1), name="inner"),
        ],
        name="backbone",
    )
    tokens = keras.Input((2,), dtype="int32")
    x = keras.layers.Embedding(7, 2, name="embed")(tokens)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(1, name="head")(inner(x))
    model = keras.Model(tokens, outputs)
    _set_sparse_random_weights(model, seed=3)

    logs = _epoch_end(RegularizationMonitor(per_layer=True), model)
    embed = model.get_layer("embed").get_weights()[0]
    inner_kernel = inner.get_layer("inner").get_weights()[0]
    head_kernel = model.get_layer("head").get_weights()[0]
    kernels = [embed, inner_kernel, head_kernel]
    testing.assert_allclose(
        logs["kernel_l2_norm"], np.sqrt(sum(np.square(k).sum() for k in kernels)), rtol=1e-6
    )
    testing.assert_allclose(logs["inner/regularization_penalty"], 0.1 * np.abs(inner_kernel).sum())
    testing.assert_allclose(
        logs["embed/kernel_max_column_norm"], np.linalg.norm(embed, axis=0).max()
    )
    assert logs["head/regularization_penalty"] == 0.0
    assert {"embed/kernel_sparsity", "inner/kernel_sparsity", "head/kernel_sparsity"} <= set(logs)

    # A layer inside a nested model can be named directly.
    logs = _epoch_end(RegularizationMonitor(layers=["inner"]), model)
    testing.assert_allclose(logs["kernel_l2_norm"], np.linalg.norm(inner_kernel), rtol=1e-6)


def test_frozen_layers_are_left_out():
    model = _conv_dense_model()
    _set_sparse_random_weights(model, seed=4)
    model.get_layer("conv").trainable = False
    logs = _epoch_end(RegularizationMonitor(), model)
    expected = _reference(model, ["hidden", "head"], 1e-3)
    testing.assert_allclose({k: logs[k] for k in STATS}, expected, atol=1e-6, rtol=1e-5)


def test_unknown_layer_raises():
    with pytest.raises(ValueError, match=r"no layer named \['nope'\]. Available layers: \["):
        _epoch_end(RegularizationMonitor(layers=["head", "nope"]), _conv_dense_model())


def test_no_kernel_raises():
    with pytest.raises(ValueError, match=r"found no kernel .* in layers \['bn'\]"):
        _epoch_end(RegularizationMonitor(layers=["bn"]), _conv_dense_model())


def test_follows_a_new_model_between_fits():
    monitor = RegularizationMonitor()
    first, second = _conv_dense_model(), _conv_dense_model()
    _set_sparse_random_weights(first, seed=5)
    _set_sparse_random_weights(second, seed=6)
    for model in (first, second, first):
        monitor.set_model(model)
        monitor.on_train_begin()
        logs = {}
        monitor.on_epoch_end(0, logs)
        expected = _reference(model, ["conv", "hidden", "head"], 1e-3)
        testing.assert_allclose(logs, expected, atol=1e-6, rtol=1e-5)


def _small_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 5, 5, 2)).astype("float32"),
        rng.normal(size=(n, 1)).astype("float32"),
    )


def test_history_and_csv_logger(tmp_path):
    x, y = _small_data()
    model = _conv_dense_model()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    path = os.path.join(tmp_path, "log.csv")
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[RegularizationMonitor(per_layer=True), keras.callbacks.CSVLogger(path)],
    )
    keys = [*STATS] + [f"{layer}/{k}" for layer in ("conv", "hidden", "head") for k in STATS]
    for key in keys:
        assert len(history.history[key]) == 3, key
    # Training moves the weights, so the logged statistics change between epochs.
    assert len(set(history.history["kernel_l2_norm"])) == 3

    # The last entries describe the final weights.
    final = _reference(model, ["conv", "hidden", "head"], 1e-3)
    testing.assert_allclose({k: history.history[k][-1] for k in STATS}, final, atol=1e-6, rtol=1e-5)

    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in keys:
        testing.assert_allclose(
            [float(r[key]) for r in rows], history.history[key], atol=0, rtol=1e-12
        )


def _dense_model():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(
        4,
        kernel_regularizer=ElasticNet(0.02, l1_ratio=0.3),
        bias_regularizer=keras.regularizers.L2(0.1),
        name="hidden",
    )(inputs)
    outputs = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(0.05), name="head")(x)
    return keras.Model(inputs, outputs)


def test_harness_fit():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def factory():
        return RegularizationMonitor(sparsity_tol=0.05, layers=["hidden", "head"], per_layer=True)

    histories = testing.run_callback_test(factory, x=x, y=y, epochs=2, build_model=_dense_model)
    for history in histories.values():
        assert set(history.history) == {
            "loss",
            *STATS,
            *(f"{layer}/{k}" for layer in ("hidden", "head") for k in STATS),
        }
        final = _reference(history.model, ["hidden", "head"], 0.05)
        testing.assert_allclose(
            {k: history.history[k][-1] for k in STATS}, final, atol=1e-6, rtol=1e-5
        )


@pytest.mark.parametrize("sparsity_tol", [-1e-3, "0.1", None, float("inf"), True])
def test_bad_sparsity_tol(sparsity_tol):
    with pytest.raises(
        ValueError, match=r"`sparsity_tol`: expected a non-negative float. Received"
    ):
        RegularizationMonitor(sparsity_tol=sparsity_tol)


@pytest.mark.parametrize("layers", ["dense", [], ["a", "a"], [3], ("a", "")])
def test_bad_layers(layers):
    with pytest.raises(
        ValueError, match=r"`layers`: expected None or a non-empty list of distinct layer names"
    ):
        RegularizationMonitor(layers=layers)


def test_bad_per_layer():
    with pytest.raises(ValueError, match=r"`per_layer`: expected a bool. Received: per_layer=1"):
        RegularizationMonitor(per_layer=1)


def test_tensorboard_shows_the_statistics(tmp_path):
    # TensorBoard writes its scalars with tf.summary on every backend.
    import tensorflow as tf

    x, y = _small_data(n=16)
    model = _conv_dense_model()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[
            RegularizationMonitor(per_layer=True),
            keras.callbacks.TensorBoard(str(tmp_path), write_graph=False, profile_batch=0),
        ],
    )
    scalars = {}
    train_dir = os.path.join(tmp_path, "train")
    for filename in os.listdir(train_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(train_dir, filename)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(
                    float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else None
                )
    for key in [*STATS, "hidden/kernel_sparsity", "conv/regularization_penalty"]:
        testing.assert_allclose(scalars[f"epoch_{key}"], history.history[key], rtol=1e-6)


def test_numpy_scalar_sparsity_tol():
    monitor = RegularizationMonitor(sparsity_tol=np.float32(0.25))
    assert monitor.get_config()["sparsity_tol"] == 0.25
    assert type(monitor.get_config()["sparsity_tol"]) is float


def test_group_lasso_at_work():
    """GroupLasso's penalty is logged as its closed form, and whole input rows go to zero."""
    from keras_regkit.regularizers import GroupLasso

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype("float32")
    y = (x[:, :3].sum(axis=1, keepdims=True) > 0).astype("float32")  # features 3..11 are noise
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(8, kernel_regularizer=GroupLasso(0.02), name="hidden"),
            keras.layers.Dense(1, activation="sigmoid", name="head"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    history = model.fit(
        x, y, epochs=40, batch_size=32, verbose=0, callbacks=[RegularizationMonitor(1e-2)]
    )
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel)
    closed_form = 0.02 * np.sqrt(8) * np.linalg.norm(kernel, axis=1).sum()
    testing.assert_allclose(
        history.history["regularization_penalty"][-1], closed_form, atol=1e-5, rtol=1e-4
    )
    sparsity = history.history["kernel_sparsity"]
    assert sparsity[-1] > sparsity[0]  # the monitor shows the groups emptying
    row_norms = np.linalg.norm(kernel, axis=1)
    assert row_norms[:3].min() > 10 * np.median(row_norms[3:])  # signal rows survive
