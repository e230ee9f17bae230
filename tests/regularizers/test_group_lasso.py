import keras
import numpy as np
import pytest
from keras import ops

from keras_regkit import regularizers, testing
from keras_regkit.datasets import load_adult
from keras_regkit.regularizers import GroupLasso


def reference(factor, axis=-2):
    """NumPy Group Lasso: factor * sum_g sqrt(|g|) * ||w_g||_2, groups indexed by `axis`."""

    def penalty(w):
        w = np.asarray(w, np.float64)
        group_axes = [a % w.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
        moved = np.moveaxis(w, group_axes, list(range(len(group_axes))))
        groups = moved.reshape(int(np.prod(moved.shape[: len(group_axes)])), -1)
        return factor * np.sqrt(groups.shape[1]) * np.linalg.norm(groups, axis=1).sum()

    return penalty


@pytest.mark.parametrize("factor,axis", [(0.01, -2), (0.1, -1)])
def test_harness(factor, axis):
    testing.run_regularizer_test(GroupLasso(factor, axis=axis), reference(factor, axis))


def test_closed_form_dense_rows():
    w = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], "float32")
    # Rows are the groups: norms 5, 0, 1, each group of size 2.
    testing.assert_allclose(GroupLasso(0.5)(w), 0.5 * np.sqrt(2) * 6.0, atol=1e-6)
    # Columns: norms sqrt(10) and 4, each of size 3.
    testing.assert_allclose(
        GroupLasso(0.5, axis=-1)(w), 0.5 * np.sqrt(3) * (np.sqrt(10) + 4), atol=1e-6
    )


@pytest.mark.parametrize("axis", [-2, -1, (-2, -1), (0, 1)])
def test_conv_kernel_matches_reference(axis):
    w = np.random.default_rng(0).normal(size=(3, 3, 4, 5)).astype("float32")
    testing.assert_allclose(GroupLasso(0.02, axis=axis)(w), reference(0.02, axis)(w), atol=1e-5)


def test_conv_default_groups_are_input_channels():
    # Zeroing input channel 2 of a (kh, kw, in, out) kernel removes exactly its term.
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3, 4, 5)).astype("float32")
    w0 = w.copy()
    w0[:, :, 2, :] = 0
    term = np.sqrt(45) * np.linalg.norm(w[:, :, 2, :])
    testing.assert_allclose(GroupLasso(1.0)(w) - GroupLasso(1.0)(w0), term, atol=1e-4)


def _gradient(reg, w):
    if testing.backend() == "tensorflow":
        import tensorflow as tf

        w = tf.Variable(w)
        with tf.GradientTape() as tape:
            value = reg(w)
        return tape.gradient(value, w)
    if testing.backend() == "jax":
        import jax

        return jax.grad(lambda v: reg(v))(w)
    import torch

    w = torch.tensor(w, requires_grad=True)
    reg(w).backward()
    return w.grad


def test_gradient_is_finite_at_zero():
    w = np.zeros((4, 3), "float32")
    w[1] = [3.0, 0.0, 4.0]
    grad = testing.to_numpy(_gradient(GroupLasso(1.0), w))
    assert np.all(np.isfinite(grad))
    # Zero groups get the subgradient 0; a non-zero group gets sqrt(|g|) * w_g / ||w_g||.
    expected = np.zeros_like(w)
    expected[1] = np.sqrt(3) * w[1] / 5.0
    testing.assert_allclose(grad, expected, atol=1e-6)
    grad = testing.to_numpy(_gradient(GroupLasso(1.0), np.zeros((4, 3), "float32")))
    testing.assert_allclose(grad, np.zeros((4, 3)), atol=0)


def test_fit_from_zero_kernel_stays_finite():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_initializer="zeros", kernel_regularizer=GroupLasso(0.1)),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(x, x[:, :3], epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(testing.to_numpy(model.layers[0].kernel)))


def test_adult_drops_whole_input_features():
    train, _ = load_adult()
    rng = np.random.default_rng(0)
    index = rng.choice(len(train.x), 2000, replace=False)
    x, y = train.x[index], train.y[index].astype("float32")
    names = np.asarray(train.feature_names)
    keras.utils.set_random_seed(0)
    reg = GroupLasso(0.003)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=reg),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    initial = np.linalg.norm(testing.to_numpy(model.layers[0].kernel), axis=1)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=256, verbose=0)
    kernel = testing.to_numpy(model.layers[0].kernel)
    norms = np.linalg.norm(kernel, axis=1)

    # The penalty the model optimised is the NumPy reference on the trained kernel.
    testing.assert_allclose(model.losses[0], reference(0.003)(kernel), rtol=1e-5, atol=1e-6)
    # Whole rows (input features) are driven to ~0 from a Glorot start (row norms ~0.5).
    assert initial.min() > 0.05
    dropped = norms < 0.02
    assert dropped.sum() >= 60, sorted(norms)
    assert (norms > 0.2).sum() >= 3, sorted(norms)
    # Capital gains are the strongest single signal in Adult; rare countries carry none.
    assert "capital-gain" in names[~dropped]
    assert "native-country=Holand-Netherlands" in names[dropped]
    assert history.history["accuracy"][-1] > 0.8


def test_get():
    assert isinstance(regularizers.get("group_lasso"), GroupLasso)
    assert isinstance(regularizers.get("GroupLasso"), GroupLasso)
    config = regularizers.serialize(GroupLasso(0.2, axis=(0, 1)))
    revived = regularizers.get(config)
    assert isinstance(revived, GroupLasso)
    assert revived.get_config() == {"factor": 0.2, "axis": (0, 1)}


def test_in_layer_by_name():
    layer = keras.layers.Dense(2, kernel_regularizer=regularizers.get("group_lasso"))
    layer.build((None, 3))
    testing.assert_allclose(layer.losses[0], reference(0.01)(layer.kernel), atol=1e-6)


@pytest.mark.parametrize("factor", [-0.1, "0.1", True, float("nan"), float("inf")])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match=r"`factor`: expected a non-negative float. Received"):
        GroupLasso(factor=factor)


@pytest.mark.parametrize("axis", [1.0, (), (0, 0), True, "rows", None])
def test_bad_axis(axis):
    with pytest.raises(ValueError, match=r"`axis`: expected an int or a non-empty tuple"):
        GroupLasso(axis=axis)


def test_axis_out_of_range_for_weight():
    with pytest.raises(ValueError, match=r"cannot group a weight of rank 1"):
        GroupLasso()(ops.ones((3,)))
    with pytest.raises(ValueError, match=r"names the same axis twice"):
        GroupLasso(axis=(0, -2))(ops.ones((2, 3)))
