"""TFMR's MinDiff guides ("Customizing MinDiffModel", "Integrating MinDiff without MinDiffModel",
"MinDiff data preparation"), run with only the imports changed (tf.keras -> keras). TFMR's
`tutorials_utils` (UCI download helpers) are replaced by a small synthetic table of the same form.
Where Keras 3 removed an API the guide uses, the Keras 3 way of docs/min_diff_migration.md runs.
"""

import keras
import numpy as np
import pytest

from keras_regkit import min_diff

RNG = np.random.default_rng(7)
N, F = 96, 4
X = RNG.normal(size=(N, F)).astype("float32")
Y = (X[:, :1] + 0.3 * RNG.normal(size=(N, 1)) > 0).astype("float32")
SEX = np.where(RNG.uniform(size=N) < 0.4, " Female", " Male")


def get_model(model_class=keras.Model):
    """Stands in for `tutorials_utils.get_uci_model(model_class=...)`: a functional model."""
    inputs = keras.Input((F,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return model_class(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


@pytest.fixture(scope="module")
def tf():
    import tensorflow as tf

    return tf


@pytest.fixture(scope="module")
def train_with_min_diff_ds(tf):
    """The data preparation guide's packing, as `get_uci_with_min_diff_dataset` does it."""
    original = tf.data.Dataset.from_tensor_slices((X, Y)).batch(32)
    female = X[(SEX == " Female") & (Y[:, 0] == 0)]
    male = X[(SEX == " Male") & (Y[:, 0] == 0)]
    return min_diff.keras.utils.pack_min_diff_data(
        original_dataset=original,
        sensitive_group_dataset=tf.data.Dataset.from_tensor_slices(female)
        .repeat()
        .batch(8, drop_remainder=True),
        nonsensitive_group_dataset=tf.data.Dataset.from_tensor_slices(male)
        .repeat()
        .batch(8, drop_remainder=True),
    )


# --- Customizing MinDiffModel -----------------------------------------------------------


class CustomModel(keras.Model):
    # Customized train_step
    def train_step(self, *args, **kwargs):
        self.used_custom_train_step = True  # Marker that we can check for.
        return super(CustomModel, self).train_step(*args, **kwargs)  # noqa: UP008 (TFMR's text)


class CustomMinDiffModel(min_diff.keras.MinDiffModel, CustomModel):
    pass  # No need for any further implementation.


def test_subclass_with_custom_train_step(train_with_min_diff_ds):
    model = get_model(model_class=CustomModel)  # Use CustomModel.
    model.compile(optimizer="adam", loss="binary_crossentropy")
    _ = model.fit(
        train_with_min_diff_ds.map(lambda x, y: (x.original_inputs, y)).take(1), epochs=1, verbose=0
    )
    assert hasattr(model, "used_custom_train_step")

    model = get_model(model_class=CustomModel)
    plain = min_diff.keras.MinDiffModel(model, min_diff.losses.MMDLoss())
    plain.compile(optimizer="adam", loss="binary_crossentropy")
    _ = plain.fit(train_with_min_diff_ds.take(1), epochs=1, verbose=0)
    assert not hasattr(plain, "used_custom_train_step")

    model = get_model(model_class=CustomModel)
    model = CustomMinDiffModel(model, min_diff.losses.MMDLoss())
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(train_with_min_diff_ds.take(2), epochs=1, verbose=0)
    assert hasattr(model, "used_custom_train_step")
    assert np.isfinite(history.history["min_diff_loss"][0])
    # Still the original model at inference, and a MinDiff loss that is the real one.
    np.testing.assert_allclose(
        model.predict(X, verbose=0), model.original_model.predict(X, verbose=0), atol=1e-6
    )


class CustomUnpackingMinDiffModel(min_diff.keras.MinDiffModel):
    def unpack_min_diff_data(self, inputs):
        return inputs["min_diff_data"]

    def unpack_original_inputs(self, inputs):
        return inputs["original_inputs"]


def test_custom_unpacking_hooks(train_with_min_diff_ds):
    def _reformat_input(inputs, original_labels):
        min_diff_data = min_diff.keras.utils.unpack_min_diff_data(inputs)
        original_inputs = min_diff.keras.utils.unpack_original_inputs(inputs)

        return (
            {"min_diff_data": min_diff_data, "original_inputs": original_inputs},
            original_labels,
        )

    customized_train_with_min_diff_ds = train_with_min_diff_ds.map(_reformat_input)
    for x, _ in customized_train_with_min_diff_ds.take(1):
        assert set(x.keys()) == {"min_diff_data", "original_inputs"}

    def make(cls):
        keras.utils.set_random_seed(3)
        model = cls(get_model(), min_diff.losses.MMDLoss(), loss_weight=2.0)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
        return model

    model = make(CustomUnpackingMinDiffModel)
    history = model.fit(customized_train_with_min_diff_ds, epochs=1, verbose=0)
    reference = make(min_diff.keras.MinDiffModel)
    expected = reference.fit(train_with_min_diff_ds, epochs=1, verbose=0)
    # The hooks read the custom structure: the same training as the packed default.
    for key in ("loss", "min_diff_loss"):
        np.testing.assert_allclose(history.history[key], expected.history[key], atol=1e-5)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


class DoubledMinDiffLoss(min_diff.keras.MinDiffModel):
    def compute_min_diff_loss(self, min_diff_data, training=None, mask=None):
        return 2.0 * super().compute_min_diff_loss(min_diff_data, training=training, mask=mask)


def test_compute_min_diff_loss_is_a_hook(train_with_min_diff_ds):
    logs = {}
    for cls in (min_diff.keras.MinDiffModel, DoubledMinDiffLoss):
        keras.utils.set_random_seed(3)
        model = cls(get_model(), "mmd")
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        logs[cls] = model.evaluate(train_with_min_diff_ds.take(1), verbose=0, return_dict=True)
    np.testing.assert_allclose(
        logs[DoubledMinDiffLoss]["min_diff_loss"],
        2 * logs[min_diff.keras.MinDiffModel]["min_diff_loss"],
        rtol=1e-5,
    )


# --- Integrating MinDiff without MinDiffModel (the Keras 3 way: override compute_loss) -------

min_diff_loss_fn = min_diff.losses.MMDLoss()  # Hard coded for convenience.
min_diff_weight = 2  # Arbitrary number for example, hard coded for convenience.


class CustomModelWithMinDiff(keras.Model):
    # The packed batch reaches `call`, so the network is held by a subclassed model (a functional
    # one checks its inputs' structure before `call` runs) that unpacks the original inputs.
    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=None):
        return self.network(min_diff.keras.utils.unpack_original_inputs(inputs), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        min_diff_data = min_diff.keras.utils.unpack_min_diff_data(x)
        if min_diff_data is not None:
            min_diff_x, membership, min_diff_sample_weight = keras.utils.unpack_x_y_sample_weight(
                min_diff_data
            )
            min_diff_predictions = self(min_diff_x, training=training)
            loss = loss + min_diff_weight * min_diff_loss_fn(
                membership, min_diff_predictions, min_diff_sample_weight
            )
        return loss


def test_integrating_without_min_diff_model(train_with_min_diff_ds):
    def make(kind):
        keras.utils.set_random_seed(5)
        if kind == "custom":
            model = CustomModelWithMinDiff(get_model())
        else:
            model = min_diff.keras.MinDiffModel(
                get_model(), min_diff_loss_fn, min_diff_weight, fuse_forward_passes=False
            )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
        return model

    custom, wrapper = make("custom"), make("wrapper")
    h_custom = custom.fit(train_with_min_diff_ds, epochs=1, verbose=0)
    h_wrapper = wrapper.fit(train_with_min_diff_ds, epochs=1, verbose=0)
    np.testing.assert_allclose(h_custom.history["loss"], h_wrapper.history["loss"], atol=1e-5)
    for a, b in zip(custom.get_weights(), wrapper.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


# --- MinDiff data preparation ---------------------------------------------------------------


@pytest.mark.one_backend
def test_data_preparation_guide(tf):
    import pandas as pd

    train = pd.DataFrame({f"f{i}": X[:, i] for i in range(F)})
    train["sex"] = SEX
    train["target"] = Y[:, 0].astype("int64")

    # Function to convert a DataFrame into a tf.data.Dataset.
    def df_to_dataset(dataframe, shuffle=True):
        dataframe = dataframe.copy()
        labels = dataframe.pop("target")
        ds = tf.data.Dataset.from_tensor_slices((dict(dataframe), labels))
        if shuffle:
            ds = ds.shuffle(buffer_size=5000)  # Reasonable but arbitrary buffer_size.
        return ds

    original_train_ds = df_to_dataset(train)
    female_pos = train[(train["sex"] == " Female") & (train["target"] == 1)]
    male_pos = train[(train["sex"] == " Male") & (train["target"] == 1)]
    min_diff_male_ds = df_to_dataset(male_pos)
    min_diff_female_ds = df_to_dataset(female_pos)

    def male_predicate(x, y):
        return tf.equal(x["sex"], b" Male") and tf.equal(y, 0)

    alternate_min_diff_male_ds = original_train_ds.filter(male_predicate).cache()
    assert all(x["sex"].numpy() == b" Male" for x, _ in alternate_min_diff_male_ds)

    original_train_ds = original_train_ds.batch(32)  # Same as before MinDiff.
    min_diff_female_ds = min_diff_female_ds.batch(8, drop_remainder=True)
    min_diff_male_ds = min_diff_male_ds.batch(8, drop_remainder=True)
    train_with_min_diff_ds = min_diff.keras.utils.pack_min_diff_data(
        original_dataset=original_train_ds,
        sensitive_group_dataset=min_diff_female_ds.repeat(),
        nonsensitive_group_dataset=min_diff_male_ds.repeat(),
    )
    for inputs, _original_labels in train_with_min_diff_ds.take(1):
        min_diff_data = min_diff.keras.utils.unpack_min_diff_data(inputs)
        min_diff_examples, min_diff_membership = min_diff_data
        original_inputs = min_diff.keras.utils.unpack_original_inputs(inputs)
    assert set(original_inputs) == {"f0", "f1", "f2", "f3", "sex"}
    np.testing.assert_array_equal(min_diff_membership.numpy()[:, 0], [1] * 8 + [0] * 8)
    assert (min_diff_examples["sex"].numpy()[:8] == b" Female").all()
    assert (min_diff_examples["sex"].numpy()[8:] == b" Male").all()

    # Reformat input to be a dict.
    def _reformat_input(inputs, original_labels):
        unpacked_min_diff_data = min_diff.keras.utils.unpack_min_diff_data(inputs)
        unpacked_original_inputs = min_diff.keras.utils.unpack_original_inputs(inputs)

        return {
            "min_diff_data": unpacked_min_diff_data,
            "original_data": (unpacked_original_inputs, original_labels),
        }

    customized_train_with_min_diff_ds = train_with_min_diff_ds.map(_reformat_input)
    for batch in customized_train_with_min_diff_ds.take(1):
        min_diff_data = batch["min_diff_data"]
        original_data = batch["original_data"]
    assert original_data[1].shape[0] == 32 and min_diff_data[1].shape == (16, 1)
