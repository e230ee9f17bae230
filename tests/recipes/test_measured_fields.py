"""The Recipe fields that `keras-regkit compare` measures beyond `recommend`'s rules."""

import dataclasses

import keras
import numpy as np
import pytest

from keras_regkit import fairness, layers, min_diff, models, optimizers, regularizers, testing
from keras_regkit.recipes import MixUpPyDataset, Recipe


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")[:, None]
    groups = rng.random(n) < 0.4
    return x, y, groups


def _dense(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def test_hidden_layer_fields_build_the_layers_they_name():
    recipe = Recipe(
        "binary", weight_decay=1e-3, group_lasso=2e-3, max_norm=0.5, drop_connect_rate=0.25, seed=3
    )
    model = recipe.build_model((5,), hidden_units=(8, 4))
    first, second, output = _dense(model)
    assert isinstance(first, layers.DropConnectDense) and first.rate == 0.25
    assert isinstance(second, layers.DropConnectDense)
    assert type(output) is keras.layers.Dense  # the output layer stays a plain Dense
    # GroupLasso replaces the penalty on the first kernel; L2 elsewhere.
    assert isinstance(first.kernel_regularizer, regularizers.GroupLasso)
    assert first.kernel_regularizer.factor == pytest.approx(2e-3)
    assert second.kernel_regularizer.get_config() == {"l2": pytest.approx(1e-3)}
    assert first.kernel_constraint.get_config()["max_value"] == 0.5
    assert output.kernel_constraint is None
    noisy = Recipe("binary", weight_noise_stddev=0.02, seed=0).build_model((5,), (8,))
    assert isinstance(_dense(noisy)[0], layers.NoisyDense) and _dense(noisy)[0].stddev == 0.02
    assert recipe.techniques == ("L2", "GroupLasso", "MaxNorm", "DropConnect", "early stopping")


def test_penalty_of_group_lasso_recipe_matches_numpy():
    recipe = Recipe("binary", weight_decay=1e-3, group_lasso=2e-3, seed=0)
    model = recipe.build_model((5,), hidden_units=(8,))
    first, output = (testing.to_numpy(layer.kernel) for layer in _dense(model))
    expected = 2e-3 * np.sqrt(first.shape[1]) * np.sqrt((first**2).sum(axis=1)).sum()
    expected += 1e-3 * (output**2).sum()
    actual = sum(float(testing.to_numpy(loss)) for loss in model.losses)
    assert actual == pytest.approx(expected, rel=1e-5)


def test_wrap_model_optimizer_and_callbacks():
    base = Recipe("binary", weight_decay=0.0, early_stopping_patience=None)
    model = base.build_model((5,), (4,))
    assert base.wrap_model(model) is model
    assert base.callbacks() == [] and base.techniques == ()
    assert str(base) == "Recipe for binary: no regularization"
    assert isinstance(base.optimizer("adam"), keras.optimizers.Adam)

    wrapped = Recipe("binary", min_diff_weight=1.5).wrap_model(model)
    assert isinstance(wrapped, min_diff.MinDiffModel) and wrapped.original_model is model
    sam = Recipe("binary", sam_rho=0.05).wrap_model(model)
    assert isinstance(sam, models.SharpnessAwareModel) and sam.rho == 0.05
    lookahead = Recipe("binary", lookahead_sync_period=4).optimizer(keras.optimizers.SGD(0.1))
    assert isinstance(lookahead, optimizers.Lookahead) and lookahead.sync_period == 4


def test_reweighing_training_data_carries_the_reweighing_weights():
    x, y, groups = _data()
    data = Recipe("binary", reweighing=True, seed=0).training_data(
        x, y, batch_size=len(x), shuffle=False, groups=groups
    )
    xb, yb, wb = data[0]
    np.testing.assert_array_equal(xb, x)
    np.testing.assert_allclose(wb, fairness.reweighing_weights(y[:, 0], groups))


def test_mixup_mixes_sample_weights_as_labels():
    x, y, _ = _data()
    w = np.linspace(0.5, 2.0, len(x))
    data = MixUpPyDataset(x, y, alpha=0.4, batch_size=32, seed=1, sample_weight=w)
    plain = MixUpPyDataset(x, y, alpha=0.4, batch_size=32, seed=1)
    for index in range(len(data)):
        xb, yb, wb = data[index]
        xp, yp = plain[index]
        np.testing.assert_array_equal(xb, xp)
        np.testing.assert_array_equal(yb, yp)
        # Same draws: the weight of a mixed example is mixed as its label.
        rows = data._order[np.arange(index * 32, min(index * 32 + 32, len(x)))]
        partners = data._order[data._partners[np.arange(index * 32, index * 32 + len(rows))]]
        lam = data._weights[index * 32 : index * 32 + len(rows)]
        np.testing.assert_allclose(wb, lam * w[rows] + (1 - lam) * w[partners], rtol=1e-6)


def test_min_diff_training_data_pairs_the_negatives_of_each_group():
    x, y, groups = _data()
    data = Recipe("binary", min_diff_weight=1.0, seed=0).training_data(
        x, y, batch_size=16, groups=groups
    )
    assert isinstance(data, min_diff.MinDiffPyDataset)
    negatives = y[:, 0] == 0
    np.testing.assert_array_equal(data.sensitive_x, x[groups & negatives])
    np.testing.assert_array_equal(data.nonsensitive_x, x[~groups & negatives])


def test_measured_recipe_model_trains_saves_and_reloads():
    x, y, groups = _data(128)
    recipe = Recipe(
        "binary",
        weight_decay=1e-4,
        max_norm=2.0,
        drop_connect_rate=0.2,
        group_lasso=1e-3,
        min_diff_weight=1.0,
        early_stopping_patience=None,
        seed=0,
    )
    keras.utils.set_random_seed(0)
    model = recipe.build_model((5,), hidden_units=(8,))
    trained = recipe.wrap_model(model)
    trained.compile(
        recipe.optimizer(keras.optimizers.Adam(1e-2)),
        "binary_crossentropy",
        jit_compile=testing.jit_compile_options()[-1],
    )
    history = trained.fit(
        recipe.training_data(x, y, batch_size=32, groups=groups),
        epochs=2,
        callbacks=recipe.callbacks(),
        verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
    assert "min_diff_loss" in history.history
    testing.run_model_saving_test(model, x)  # the built model reloads with safe_mode=True


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"group_lasso": -1.0}, "argument `group_lasso`"),
        ({"max_norm": 0.0}, "argument `max_norm`"),
        ({"drop_connect_rate": 1.0}, "argument `drop_connect_rate`"),
        ({"weight_noise_stddev": float("nan")}, "argument `weight_noise_stddev`"),
        ({"min_diff_weight": float("inf")}, "argument `min_diff_weight`"),
        ({"sam_rho": -0.1}, "argument `sam_rho`"),
        ({"lookahead_sync_period": 0}, "argument `lookahead_sync_period`"),
        ({"lookahead_sync_period": 2.0}, "argument `lookahead_sync_period`"),
        ({"reweighing": 1}, "argument `reweighing`"),
        ({"early_stopping_patience": 0}, "argument `early_stopping_patience`"),
        (
            {"drop_connect_rate": 0.1, "weight_noise_stddev": 0.1},
            "`drop_connect_rate` cannot also have `weight_noise_stddev`",
        ),
        ({"min_diff_weight": 1.0, "mixup_alpha": 0.2}, "cannot also have `mixup_alpha`"),
        ({"min_diff_weight": 1.0, "sam_rho": 0.05}, "cannot also have `sam_rho`"),
        ({"reweighing": True, "mixup_alpha": 0.2}, "cannot also have `mixup_alpha`"),
        ({"reweighing": True, "min_diff_weight": 1.0}, "cannot also have `min_diff_weight`"),
    ],
)
def test_measured_fields_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Recipe("binary", **kwargs)


def test_numpy_scalars_are_accepted():
    recipe = Recipe("binary", sam_rho=np.float32(0.1), lookahead_sync_period=np.int64(3))
    assert recipe.sam_rho == pytest.approx(0.1) and type(recipe.lookahead_sync_period) is int


@pytest.mark.parametrize("fields", [{"min_diff_weight": 1.0}, {"reweighing": True}])
def test_training_data_needs_groups(fields):
    x, y, groups = _data()
    recipe = Recipe("binary", **fields)
    with pytest.raises(ValueError, match="argument `groups`.*Received: groups=None"):
        recipe.training_data(x, y)
    with pytest.raises(ValueError, match="argument `groups`"):
        recipe.training_data(x, y, groups=groups.astype("int32"))
    with pytest.raises(ValueError, match="groups"):
        recipe.training_data(x, y, groups=groups[:-1])


def test_config_round_trip_keeps_the_measured_fields(tmp_path):
    recipe = Recipe("binary", max_norm=1.0, lookahead_sync_period=5, reweighing=True, seed=2)
    assert Recipe.from_config(recipe.get_config()) == recipe
    recipe.save(tmp_path / "recipe.json")
    assert Recipe.load(tmp_path / "recipe.json") == recipe
    assert dataclasses.replace(recipe, reweighing=False).techniques == (
        "L2",
        "MaxNorm",
        "Lookahead",
        "early stopping",
    )
