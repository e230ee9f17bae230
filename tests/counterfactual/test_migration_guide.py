"""The Counterfactual Logit Pairing example of docs/min_diff_migration.md, on a tiny table.

Same code as the guide's keras-regkit block (n_features, feature_names and the data are small
stand-ins for Adult's), plus checks of what it claims.
"""

import keras
import numpy as np
import pytest

from keras_regkit import counterfactual, fairness, testing

RNG = np.random.default_rng(11)
N = 64
FEATURE_NAMES = ["age", "hours", "sex=Female", "sex=Male"]
X = RNG.normal(size=(N, 4)).astype("float32")
X[:, 2] = RNG.uniform(size=N) < 0.4
X[:, 3] = 1 - X[:, 2]
Y = (X[:, :1] + X[:, 2:3] > 0.5).astype("float32")


def _guide_model(n_features):
    original = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model = counterfactual.keras.CounterfactualModel(  # also counterfactual.CounterfactualModel
        original, counterfactual.losses.PairwiseMSELoss(), loss_weight=5.0
    )
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    return original, model


@pytest.mark.parametrize("source", ["numpy", "tf.data"])
def test_guide_example(source, tmp_path):
    x, y, feature_names = X, Y, FEATURE_NAMES
    original, model = _guide_model(x.shape[1])
    # Counterfactual rows: only the one-hot sex columns swapped.
    x_cf = counterfactual.swap_sensitive_columns(
        x, ["sex=Female", "sex=Male"], feature_names=feature_names
    )
    if source == "numpy":
        dataset = counterfactual.CounterfactualPyDataset(
            x, y, counterfactual_x=x_cf, batch_size=128, seed=0
        )
    else:
        import tensorflow as tf

        train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(128)
        pairs_ds = tf.data.Dataset.from_tensor_slices((x, x_cf)).batch(128)
        dataset = counterfactual.keras.utils.pack_counterfactual_data(train_ds, pairs_ds)
    history = model.fit(dataset, epochs=2, verbose=0)
    flip_rate = fairness.counterfactual_flip_rate(
        original.predict(x, verbose=0), original.predict(x_cf, verbose=0)
    )
    model.save(tmp_path / "clp.keras")
    model.save_original_model(tmp_path / "original.keras")

    assert {"loss", "original_loss", "counterfactual_loss"} <= set(history.history)
    assert 0.0 <= flip_rate <= 1.0
    np.testing.assert_array_equal(x_cf[:, 2], x[:, 3])
    reloaded = keras.saving.load_model(tmp_path / "clp.keras", safe_mode=True)
    testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    served = keras.saving.load_model(tmp_path / "original.keras", safe_mode=True)
    testing.assert_allclose(served.predict(x, verbose=0), original.predict(x, verbose=0))
