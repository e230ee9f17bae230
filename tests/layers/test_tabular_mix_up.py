import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_regkit import backend, testing
from keras_regkit.layers import TabularMixUp

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(8, 5)).astype("float32")
LABELS = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=8)]
DATA = {"features": FEATURES, "labels": LABELS}


def reference(data, mix_weight, permutation):
    """NumPy MixUp: lambda_i * v_i + (1 - lambda_i) * v_perm(i) for every tensor."""
    w = np.asarray(mix_weight, np.float64)
    p = np.asarray(permutation)

    def mix(v):
        v = np.asarray(v, np.float64)
        wv = w.reshape((-1,) + (1,) * (v.ndim - 1))
        return wv * v + (1 - wv) * v[p]

    return {key: mix(value) for key, value in data.items()}


def beta_float32(alpha, n):
    """SciPy Beta(alpha, alpha) samples rounded to float32, like the layer's: for a
    small alpha a few percent of the mass lies within float32's spacing of 1.0."""
    return stats.beta(alpha, alpha).rvs(n, random_state=0).astype("float32")


def test_harness():
    testing.run_layer_test(
        TabularMixUp,
        {"alpha": 0.4, "seed": 1},
        DATA,
        expected_output_shape={"features": (8, 5), "labels": (8, 3)},
        random=True,
    )


def test_matches_numpy_reference_with_seeded_draws():
    # The twin layer, seeded alike, draws the same permutation and Beta sample.
    transformation = TabularMixUp(0.3, seed=7).get_random_transformation(DATA)
    out = TabularMixUp(0.3, seed=7)(DATA)
    weights = testing.to_numpy(transformation["mix_weight"])
    permutation = testing.to_numpy(transformation["permutation_order"])
    assert sorted(permutation.tolist()) == list(range(8))
    assert np.all((weights >= 0) & (weights <= 1))
    testing.assert_allclose(out, reference(DATA, weights, permutation), atol=1e-6)


@pytest.mark.parametrize("alpha", [0.2, 2.0])
def test_mix_weights_follow_beta_alpha_alpha(alpha):
    n = 20000
    layer = TabularMixUp(alpha, seed=3)
    features = np.zeros((n, 1), "float32")
    weights = testing.to_numpy(layer.get_random_transformation(features)["mix_weight"])
    assert stats.ks_2samp(weights, beta_float32(alpha, n)).pvalue > 1e-3
    permutation = testing.to_numpy(layer.get_random_transformation(features)["permutation_order"])
    assert np.array_equal(np.sort(permutation), np.arange(n))


def test_tf_data_draws_follow_beta_alpha_alpha():
    # The TensorFlow computation used inside tf.data on JAX/PyTorch, on an identity
    # batch: the diagonal of the mixed batch holds the weights.
    n, alpha = 2000, 0.3
    generator = backend.tf_random_generator(5)
    (mixed,) = backend.tf_mix_up([tf.eye(n)], alpha, generator, ["float32"])
    mixed = mixed.numpy()
    weights = np.diag(mixed)
    fixed = np.isclose(mixed.sum(axis=1) - weights, 0) & np.isclose(weights, 1)
    assert fixed.sum() < 10  # a random permutation has ~1 fixed point
    assert stats.ks_2samp(weights[~fixed], beta_float32(alpha, n)).pvalue > 1e-3
    testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)


def test_rank_1_labels_column_dict_and_tensor_input():
    binary = RNG.integers(0, 2, size=8).astype("int32")
    columns = {"age": FEATURES[:, 0], "onehot": FEATURES[:, 1:4]}
    data = {"features": columns, "labels": binary}
    t = TabularMixUp(0.5, seed=2).get_random_transformation(data)
    out = TabularMixUp(0.5, seed=2)(data)
    w, p = testing.to_numpy(t["mix_weight"]), testing.to_numpy(t["permutation_order"])
    assert keras.backend.standardize_dtype(out["labels"].dtype) == "float32"
    expected = reference({"age": columns["age"], "onehot": columns["onehot"]}, w, p)
    testing.assert_allclose(out["features"], expected, atol=1e-6)
    testing.assert_allclose(out["labels"], reference({"y": binary}, w, p)["y"], atol=1e-6)
    # A bare features tensor is mixed the same way.
    bare = TabularMixUp(0.5, seed=2)(FEATURES)
    testing.assert_allclose(bare, reference({"x": FEATURES}, w, p)["x"], atol=1e-6)


def test_labels_stay_consistent_with_features():
    # Mixing preserves every linear relation between features and labels.
    coef = RNG.normal(size=(5, 2)).astype("float32")
    x = RNG.normal(size=(8, 5)).astype("float32")
    out = TabularMixUp(1.0, seed=5)({"features": x, "labels": x @ coef})
    testing.assert_allclose(out["features"] @ testing.to_numpy(coef), out["labels"], atol=1e-4)
    assert not np.allclose(testing.to_numpy(out["features"]), x)


def test_identity_when_not_training_and_inside_predict():
    out = TabularMixUp(0.2, seed=1)(DATA, training=False)
    testing.assert_allclose(out, DATA, atol=0)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, TabularMixUp(0.2, seed=1)(inputs))
    testing.assert_allclose(model.predict(FEATURES, verbose=0), FEATURES, atol=0)


def test_unspecified_training_mixes_alone_but_not_in_a_model():
    """Alone, `layer(x)` mixes (Keras's preprocessing default); in a model, `model(x)`
    and export's serving call, which pass no `training`, return the inputs."""
    mixed = testing.to_numpy(TabularMixUp(0.2, seed=1)(FEATURES))
    assert not np.allclose(mixed, FEATURES)
    layer = TabularMixUp(0.2, seed=1)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layer(inputs))
    testing.assert_allclose(model(FEATURES), FEATURES, atol=0)
    testing.assert_allclose(layer(FEATURES), FEATURES, atol=0)
    testing.assert_allclose(model(FEATURES, training=True), mixed, atol=1e-6)


def _index_batches(n=48, batch_size=16):
    """Features whose first `batch_size` columns one-hot each example's position in
    its batch, so the weight and partner used for each output row can be read back."""
    rest = RNG.normal(size=(n, 3)).astype("float32")
    position = np.tile(np.eye(batch_size, dtype="float32"), (n // batch_size, 1))
    features = np.concatenate([position, rest], axis=1)
    labels = RNG.integers(0, 2, size=(n, 1)).astype("float32")
    return features, labels


def _check_batch(x, y, mixed_x, mixed_y, batch_size=16):
    """Recovers (lambda_i, partner_i) from the position one-hots and checks every
    other column and the labels against the NumPy reference."""
    position = mixed_x[:, :batch_size]
    weights = position[np.arange(batch_size), np.arange(batch_size)]
    masked = position.copy()
    masked[np.arange(batch_size), np.arange(batch_size)] = -1
    partners = np.where(np.isclose(weights, 1.0), np.arange(batch_size), masked.argmax(axis=1))
    expected = reference({"x": x, "y": y}, weights, partners)
    testing.assert_allclose(mixed_x, expected["x"], atol=1e-5)
    testing.assert_allclose(mixed_y, expected["y"], atol=1e-5)
    return weights


def _pipeline(features, labels, layer, batch_size=16):
    return (
        tf.data.Dataset.from_tensor_slices({"features": features, "labels": labels})
        .batch(batch_size)
        .map(layer)
    )


def test_tf_data_pipeline_matches_reference_on_every_backend():
    features, labels = _index_batches()
    layer = TabularMixUp(0.5, seed=11)
    ds = _pipeline(features, labels, layer)
    epochs = [[(b["features"].numpy(), b["labels"].numpy()) for b in ds] for _ in range(2)]
    weights = []
    for epoch in epochs:
        for i, (mixed_x, mixed_y) in enumerate(epoch):
            batch = slice(16 * i, 16 * (i + 1))
            weights.append(_check_batch(features[batch], labels[batch], mixed_x, mixed_y))
    weights = np.concatenate(weights)
    assert 0.02 < np.mean((weights > 0.01) & (weights < 0.99))  # mixing happened
    # New draws every batch and every epoch; the same seed repeats the stream.
    assert not np.allclose(epochs[0][0][0], epochs[1][0][0])
    assert not np.allclose(weights[:16], weights[16:32])
    again = [b["features"].numpy() for b in _pipeline(features, labels, TabularMixUp(0.5, seed=11))]
    testing.assert_allclose(again[0], epochs[0][0][0], atol=0)


def test_tf_data_pipeline_feeds_fit_on_every_backend():
    features, labels = _index_batches(n=64)
    ds = _pipeline(features, labels, TabularMixUp(0.2, seed=1)).map(
        lambda d: (d["features"], d["labels"])
    )
    model = keras.Sequential([keras.Input((19,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_tf_data_training_false_and_rank_errors():
    features, labels = _index_batches(n=16)
    ds = tf.data.Dataset.from_tensor_slices({"features": features, "labels": labels}).batch(16)
    layer = TabularMixUp(0.2, seed=1)
    out = next(iter(ds.map(lambda d: layer(d, training=False))))
    testing.assert_allclose(out["features"].numpy(), features, atol=0)
    images = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2, 2, 3), "float32")).batch(2)
    with pytest.raises(ValueError, match=r"features of shape \(batch, n_features\)"):
        images.map(layer)


def test_bad_ranks_and_keys():
    layer = TabularMixUp(0.2, seed=1)
    with pytest.raises(ValueError, match=r"features of shape \(batch, n_features\)"):
        layer(np.zeros((2, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match=r"labels of shape \(batch,\) or \(batch, n_classes\)"):
        layer({"features": FEATURES, "labels": np.zeros((8, 2, 2), "float32")})
    with pytest.raises(ValueError, match=r"unknown keys: \['images'\]"):
        layer({"features": FEATURES, "images": FEATURES})


@pytest.mark.parametrize("alpha", [0, -0.2, "0.2", True, None, float("nan"), float("inf")])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match=r"`alpha`: expected a positive float. Received"):
        TabularMixUp(alpha)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed`: expected an int or None >= 0. Received"):
        TabularMixUp(0.2, seed=seed)


def test_integer_class_ids_are_refused_binary_and_one_hot_integers_pass():
    layer = TabularMixUp(0.2, seed=1)
    class_ids = np.array([0, 1, 2, 1, 0, 2, 1, 0], "int32")
    message = r"argument `labels`: expected one-hot labels .* one-hot them first"
    for labels in (class_ids, class_ids[:, None]):
        with pytest.raises(ValueError, match=message + r".*holding \[0, 1, 2\]"):
            layer({"features": FEATURES, "labels": labels})
    # Binary integer labels and integer one-hot labels average to valid soft labels.
    layer({"features": FEATURES, "labels": class_ids % 2})
    out = layer({"features": FEATURES, "labels": np.eye(3, dtype="int32")[class_ids]})
    testing.assert_allclose(np.sum(testing.to_numpy(out["labels"]), axis=1), np.ones(8), atol=1e-6)
    # Not mixing (inference) leaves any labels alone.
    layer({"features": FEATURES, "labels": class_ids}, training=False)


def test_integer_class_ids_are_refused_in_a_tf_data_pipeline():
    ds = tf.data.Dataset.from_tensor_slices(
        {"features": FEATURES, "labels": np.array([0, 1, 2, 1, 0, 2, 1, 0], "int64")}
    )
    ds = ds.batch(8).map(TabularMixUp(0.2, seed=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="integer class ids cannot be"):
        next(iter(ds))
