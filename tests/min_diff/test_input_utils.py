import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.min_diff import (
    MinDiffModel,
    MinDiffPackedInputs,
    MinDiffPyDataset,
    build_min_diff_dataset,
    pack_min_diff_data,
    unpack_min_diff_data,
    unpack_original_inputs,
)

RNG = np.random.default_rng(3)
X = RNG.normal(size=(50, 4)).astype("float32")
Y = (RNG.uniform(size=(50, 1)) > 0.5).astype("float32")
SENSITIVE = RNG.normal(size=(7, 4)).astype("float32") + 10.0  # marked by offset 10
NONSENSITIVE = RNG.normal(size=(23, 4)).astype("float32") - 10.0


def test_unpack():
    packed = MinDiffPackedInputs(X, ("md", "m"))
    assert unpack_original_inputs(packed) is X and unpack_min_diff_data(packed) == ("md", "m")
    assert unpack_original_inputs(X) is X and unpack_min_diff_data(X) is None


def test_py_dataset_batches():
    data = MinDiffPyDataset(
        X,
        Y,
        sensitive_x=SENSITIVE,
        nonsensitive_x=NONSENSITIVE,
        batch_size=16,
        min_diff_batch_size=5,
        seed=0,
    )
    assert len(data) == 4  # ceil(50 / 16): an epoch is one pass over the original data
    seen = []
    for i in range(len(data)):
        packed, y = data[i]
        md_x, membership = packed.min_diff_data
        assert md_x.shape == (10, 4) and membership.shape == (10, 1)
        np.testing.assert_array_equal(membership[:, 0], [1] * 5 + [0] * 5)
        assert (md_x[:5] > 5).all() and (md_x[5:] < -5).all()  # right group, right label
        seen.append(packed.original_inputs)
        assert len(y) == len(packed.original_inputs)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen), axis=0), np.sort(X, axis=0))


def test_py_dataset_cycles_small_group_without_repeats_within_a_pass():
    data = MinDiffPyDataset(
        X,
        Y,
        sensitive_x=SENSITIVE,
        nonsensitive_x=NONSENSITIVE,
        batch_size=10,
        min_diff_batch_size=7,
        seed=1,
    )
    drawn = np.concatenate([data[i][0].min_diff_data[0][:7] for i in range(len(data))])
    # 5 steps x 7 = 35 draws from 7 sensitive rows: each pass uses all 7 exactly once.
    for start in range(0, 35, 7):
        np.testing.assert_array_equal(
            np.sort(drawn[start : start + 7], axis=0), np.sort(SENSITIVE, axis=0)
        )


def test_py_dataset_weights():
    s_w = np.arange(1, 8, dtype="float32")
    data = MinDiffPyDataset(
        X,
        Y,
        np.ones(50),
        sensitive_x=SENSITIVE,
        nonsensitive_x=NONSENSITIVE,
        sensitive_sample_weight=s_w,
        batch_size=8,
        min_diff_batch_size=3,
        seed=0,
    )
    packed, _, w = data[0]
    _, _, md_w = packed.min_diff_data
    assert md_w.shape == (6, 1) and w.shape == (8,)
    assert set(md_w[:3, 0]) <= set(s_w) and (md_w[3:, 0] == 1.0).all()


def test_py_dataset_trains_min_diff_model():
    original = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model = MinDiffModel(original, "mmd")
    model.compile("adam", "binary_crossentropy")
    data = MinDiffPyDataset(
        X, Y, sensitive_x=SENSITIVE, nonsensitive_x=NONSENSITIVE, batch_size=16, seed=0
    )
    history = model.fit(data, epochs=2, verbose=0)
    assert len(history.history["min_diff_loss"]) == 2
    assert "min_diff_loss" in model.evaluate(data, verbose=0, return_dict=True)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "`batch_size`: expected an int >= 1"),
        ({"min_diff_batch_size": -1}, "`min_diff_batch_size`: expected an int >= 1"),
        ({"seed": -1}, "`seed`: expected an int or None >= 0"),
        ({"shuffle": "yes"}, "`shuffle`: expected a bool"),
        ({"sensitive_x": SENSITIVE[:0]}, "`sensitive_x`: expected at least one example"),
        ({"y": Y[:10]}, r"`y`: expected 50 rows \(the length of `x`\)"),
        ({"y": np.array(["a"] * 50)}, "`y`: expected a numeric array"),
        ({"sample_weight": np.ones(3)}, "`sample_weight`: expected 50 rows"),
        ({"sensitive_sample_weight": -np.ones(7)}, "`sensitive_sample_weight`: expected non-neg"),
        ({"nonsensitive_sample_weight": np.ones(3)}, "`nonsensitive_sample_weight`: expected 23"),
        (
            {"sensitive_x": SENSITIVE[:, :3]},
            r"`sensitive_x`: expected 4 features \(the width of `x`",
        ),
        ({"nonsensitive_x": NONSENSITIVE[:, 0]}, "`nonsensitive_x`: expected an array of rank 2"),
        ({"x": np.where(X > 2, np.nan, X)}, "`x`: expected finite values"),
        ({"sensitive_x": SENSITIVE + np.inf}, "`sensitive_x`: expected finite values"),
        ({"sensitive_x": {"a": SENSITIVE}}, "`sensitive_x`: expected the structure of `x`"),
        ({"allow_non_finite": 1}, "`allow_non_finite`: expected a bool"),
    ],
)
@pytest.mark.one_backend
def test_py_dataset_errors(kwargs, match):
    arguments = {"x": X, "y": Y, "sensitive_x": SENSITIVE, "nonsensitive_x": NONSENSITIVE}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MinDiffPyDataset(**arguments)


@pytest.mark.one_backend
def _leaves_equal(a, b):
    keras.tree.assert_same_structure(a, b)
    for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b), strict=True):
        u, v = keras.ops.convert_to_numpy(u), keras.ops.convert_to_numpy(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


def _weighted_py_dataset(**kwargs):
    return MinDiffPyDataset(
        {"a": X[:, :2], "b": X[:, 2:]},
        Y,
        np.linspace(0.0, 2.0, 50, dtype="float32"),
        sensitive_x={"a": SENSITIVE[:, :2], "b": SENSITIVE[:, 2:]},
        nonsensitive_x={"a": NONSENSITIVE[:, :2], "b": NONSENSITIVE[:, 2:]},
        sensitive_sample_weight=np.arange(7, dtype="float32"),
        batch_size=16,
        min_diff_batch_size=9,  # > 7 sensitive rows: the whole group in every step
        seed=5,
        **kwargs,
    )


@pytest.mark.parametrize("shuffle_batches", [True, False])
def test_py_dataset_as_tf_dataset_gives_the_batches_of_fit(shuffle_batches):
    import random

    reference, data = _weighted_py_dataset(), _weighted_py_dataset()
    random.seed(11)
    expected = []
    for _ in range(3):  # what Keras's PyDataset adapter does in three epochs of `fit`
        order = list(range(len(reference)))
        if shuffle_batches:
            random.shuffle(order)
        expected.append([reference[i] for i in order])
        reference.on_epoch_end()
    random.seed(11)
    dataset = data.as_tf_dataset(shuffle_batches=shuffle_batches)
    assert int(dataset.cardinality()) == len(data) == 4
    for epoch in expected:  # one iteration of the dataset per epoch, each reshuffled
        got = list(dataset)
        data.on_epoch_end()
        assert len(got) == len(epoch)
        for batch, reference_batch in zip(got, epoch, strict=True):
            assert isinstance(batch[0], MinDiffPackedInputs)
            _leaves_equal(batch, reference_batch)
    np.testing.assert_array_equal(data.order, reference.order)  # the next epoch's draws too


class _RecordingMinDiffModel(MinDiffModel):
    """Records the batches `fit` feeds it (run eagerly)."""

    def train_step(self, *args):  # (data) or, on JAX, (state, data)
        self.batches.append(keras.tree.map_structure(keras.ops.convert_to_numpy, args[-1]))
        return super().train_step(*args)


def test_min_diff_model_fit_on_py_dataset_feeds_the_keras_batches(monkeypatch):
    """`fit` on a MinDiffPyDataset feeds the batches of Keras's PyDataset path (tf.data on the
    tensorflow backend, that path elsewhere), over several reshuffled epochs."""
    import random

    def fit(fit_fn):
        keras.utils.set_random_seed(0)
        original = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, "sigmoid")])
        model = _RecordingMinDiffModel(original, "mmd")
        model.batches = []
        model.compile("sgd", "binary_crossentropy", run_eagerly=True)
        inputs = keras.Input((2,), name="a"), keras.Input((2,), name="b")
        original.build((None, 4))
        model.original_model = keras.Model(
            {"a": inputs[0], "b": inputs[1]},
            original(keras.layers.Concatenate()(list(inputs))),
        )
        data = _weighted_py_dataset()
        random.seed(3)
        fit_fn(model, data, epochs=2, verbose=0)  # shuffle=True: reshuffled batch order
        return model, data

    calls = []
    getitem = MinDiffPyDataset.__getitem__
    monkeypatch.setattr(
        MinDiffPyDataset, "__getitem__", lambda self, i: calls.append(i) or getitem(self, i)
    )
    ours, ours_data = fit(MinDiffModel.fit)
    native = keras.backend.backend() == "tensorflow"
    assert (len(calls) == 0) == native  # no batch went through `__getitem__`
    keras_path, keras_data = fit(keras.Model.fit)  # Keras's own PyDataset adapter
    assert len(ours.batches) == len(keras_path.batches) == 2 * len(ours_data)
    for batch, reference in zip(ours.batches, keras_path.batches, strict=True):
        _leaves_equal(batch, reference)
    np.testing.assert_array_equal(ours_data.order, keras_data.order)
    for a, b in zip(ours.get_weights(), keras_path.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_py_dataset_non_finite_opt_out_and_dict_widths():
    bad = np.where(X > 2, np.nan, X)
    data = MinDiffPyDataset(
        bad, Y, sensitive_x=SENSITIVE, nonsensitive_x=NONSENSITIVE, allow_non_finite=True
    )
    assert np.isnan(data.x).sum() == np.isnan(bad).sum()
    with pytest.raises(ValueError, match=r"`sensitive_x\['b'\]`: expected 1 features"):
        MinDiffPyDataset(
            {"a": X, "b": X[:, :1]},
            Y,
            sensitive_x={"a": SENSITIVE, "b": SENSITIVE[:, :2]},
            nonsensitive_x={"a": NONSENSITIVE, "b": NONSENSITIVE[:, :1]},
        )
    with pytest.raises(ValueError, match=r"`x`: expected arrays of one length"):
        MinDiffPyDataset(
            {"a": X, "b": X[:10]},
            sensitive_x={"a": SENSITIVE, "b": SENSITIVE},
            nonsensitive_x={"a": NONSENSITIVE, "b": NONSENSITIVE},
        )


# --- tf.data packers (Keras feeds tf.data to every backend) -----------------------------


def _tf():
    import tensorflow as tf

    return tf


def test_build_min_diff_dataset_structure():
    tf = _tf()
    sensitive = tf.data.Dataset.from_tensor_slices((SENSITIVE, np.zeros(7))).batch(3)
    nonsensitive = tf.data.Dataset.from_tensor_slices(
        (NONSENSITIVE, np.zeros(23), np.full(23, 2.0, "float32"))
    ).batch(4)
    x, membership, weight = next(iter(build_min_diff_dataset(sensitive, nonsensitive)))
    assert x.shape == (7, 4)
    np.testing.assert_array_equal(membership.numpy()[:, 0], [1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(weight.numpy()[:, 0], [1, 1, 1, 2, 2, 2, 2])


def test_pack_min_diff_data_trains_on_any_backend():
    tf = _tf()
    original_ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(10)
    dataset = pack_min_diff_data(
        original_ds,
        sensitive_group_dataset=tf.data.Dataset.from_tensor_slices(SENSITIVE).batch(4).repeat(),
        nonsensitive_group_dataset=tf.data.Dataset.from_tensor_slices(NONSENSITIVE)
        .batch(4)
        .repeat(),
    )
    packed, y = next(iter(dataset))
    assert isinstance(packed, MinDiffPackedInputs) and packed.min_diff_data[0].shape == (8, 4)
    original = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model = MinDiffModel(original, "mmd")
    model.compile("adam", "binary_crossentropy", jit_compile=max(testing.jit_compile_options()))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["min_diff_loss"][0])
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    assert "min_diff_loss" in logs
    assert "min_diff_loss" not in model.evaluate(original_ds, verbose=0, return_dict=True)


def test_pack_min_diff_data_dict_of_applications():
    tf = _tf()
    original_ds = tf.data.Dataset.from_tensor_slices(X).batch(10)
    md = tf.data.Dataset.from_tensor_slices((SENSITIVE[:6], np.ones((6, 1), "float32")))
    dataset = pack_min_diff_data(
        original_ds, min_diff_dataset={"a": md.batch(3).repeat(), "b": md.batch(2).repeat()}
    )
    packed = next(iter(dataset))  # x-only originals stay x-only
    assert isinstance(packed, MinDiffPackedInputs) and set(packed.min_diff_data) == {"a", "b"}


def test_pack_min_diff_data_validates_membership_values():
    tf = _tf()
    original_ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(10)
    md = tf.data.Dataset.from_tensor_slices((SENSITIVE, np.full((7, 1), 0.5, "float32")))
    dataset = pack_min_diff_data(original_ds, min_diff_dataset=md.batch(3).repeat())
    with pytest.raises(tf.errors.InvalidArgumentError, match="membership"):
        next(iter(dataset))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "pass either only `min_diff_dataset`"),
        ({"sensitive_group_dataset": "s"}, "pass either only `min_diff_dataset`"),
        ({"min_diff_dataset": [1, 2]}, "must be a tf.data.Dataset or a dict of them"),
    ],
)
def test_pack_min_diff_data_errors(kwargs, match):
    tf = _tf()
    original_ds = tf.data.Dataset.from_tensor_slices(X).batch(10)
    with pytest.raises(ValueError, match=match):
        pack_min_diff_data(original_ds, **kwargs)


def test_pack_min_diff_data_needs_a_dataset():
    with pytest.raises(ValueError, match="For NumPy arrays use `MinDiffPyDataset`"):
        pack_min_diff_data(X, min_diff_dataset=_tf().data.Dataset.range(3))
