import dataclasses
import json
import re

import keras
import numpy as np
import pytest

from keras_regkit import recipes, testing
from keras_regkit.recipes import Recipe, recommend
from keras_regkit.regularizers import ElasticNet

LARGE, SMALL = 30_000, 1_000


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


# -- the rules of `recommend` -------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [SMALL, LARGE])
@pytest.mark.parametrize("problem_type", recipes.PROBLEM_TYPES)
def test_early_stopping_always(problem_type, n_samples):
    recipe = recommend(problem_type, n_samples=n_samples, n_features=10)
    [callback] = recipe.callbacks()
    assert isinstance(callback, keras.callbacks.EarlyStopping)
    assert callback.monitor == "val_loss"
    assert callback.restore_best_weights
    # Small data: a noisier validation loss, so more patience.
    assert callback.patience == (10 if n_samples < recipes.recipe.SMALL_DATA_SAMPLES else 5)
    assert "early stopping" in recipe.techniques
    assert recipe.reasons[0].startswith("early stopping")


def test_callbacks_monitor_argument():
    [callback] = recommend("binary", LARGE, 10).callbacks(monitor="val_binary_crossentropy")
    assert callback.monitor == "val_binary_crossentropy"


@pytest.mark.parametrize("problem_type", recipes.PROBLEM_TYPES)
def test_l2_for_classification_and_regression(problem_type):
    recipe = recommend(problem_type, n_samples=LARGE, n_features=20)
    regularizer = recipe.kernel_regularizer()
    assert type(regularizer) is keras.regularizers.L2
    assert regularizer.l2 == pytest.approx(1e-4)
    assert recipe.techniques == ("L2", "early stopping")
    # Small data: a stronger penalty.
    small = recommend(problem_type, n_samples=SMALL, n_features=20).kernel_regularizer()
    assert type(small) is keras.regularizers.L2
    assert small.l2 == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "n_samples, n_features, many",
    [
        (LARGE, 99, False),
        (LARGE, 100, True),  # n_features >= 100
        (500, 50, False),  # exactly 0.1 * n_samples
        (500, 51, True),  # n_features > 0.1 * n_samples
    ],
)
def test_elastic_net_for_many_features(n_samples, n_features, many):
    recipe = recommend("binary", n_samples=n_samples, n_features=n_features)
    regularizer = recipe.kernel_regularizer()
    if many:
        assert isinstance(regularizer, ElasticNet)
        assert regularizer.l1_ratio == 0.5
        assert regularizer.factor == pytest.approx(recipe.weight_decay)
        assert any(r.startswith("ElasticNet") for r in recipe.reasons)
    else:
        assert type(regularizer) is keras.regularizers.L2


# The guide's boundary: small data is < 10,000 samples.
@pytest.mark.parametrize("n_samples, small", [(9_999, True), (10_000, False)])
def test_strong_augmentation_for_small_data(n_samples, small):
    recipe = recommend("binary", n_samples=n_samples, n_features=10)
    layers = recipe.input_layers()
    if small:
        assert recipe.mixup_alpha == 0.4
        assert recipe.training_data(np.zeros((8, 10)), np.zeros(8)).alpha == 0.4
        [noise] = layers
        assert isinstance(noise, keras.layers.GaussianNoise)
        assert noise.stddev == pytest.approx(0.1)
        assert {"MixUp", "input noise"} <= set(recipe.techniques)
    else:
        assert recipe.mixup_alpha is None
        assert recipe.training_data(np.zeros((8, 10)), np.zeros(8)).alpha is None
        assert layers == []


@pytest.mark.parametrize("depth, deep", [(2, False), (3, True), (6, True)])
def test_dropout_and_batch_norm_for_deep_networks(depth, deep):
    recipe = recommend("regression", n_samples=LARGE, n_features=10, depth=depth)
    model = recipe.build_model((10,), hidden_units=(8,) * depth)
    types = _layer_types(model)
    if deep:
        assert recipe.dropout_rate == 0.2 and recipe.batch_norm
        assert types == ["Dense", "BatchNormalization", "Activation", "Dropout"] * depth + ["Dense"]
        assert all(layer.rate == 0.2 for layer in model.layers if "Dropout" in type(layer).__name__)
        # Batch normalization has its own offset: the hidden Dense layers drop theirs.
        assert not any(layer.use_bias for layer in model.layers[:-1] if hasattr(layer, "use_bias"))
    else:
        assert recipe.dropout_rate == 0 and not recipe.batch_norm
        assert types == ["Dense", "Activation"] * depth + ["Dense"]


def test_all_rules_together_and_description():
    recipe = recommend("binary", n_samples=2_000, n_features=300, depth=4, seed=3)
    assert recipe.techniques == (
        "ElasticNet",
        "dropout",
        "batch norm",
        "MixUp",
        "input noise",
        "early stopping",
    )
    assert len(recipe.reasons) == 4
    text = str(recipe)
    assert text.splitlines()[0] == (
        "Recipe for binary: ElasticNet + dropout + batch norm + MixUp + input noise + "
        "early stopping"
    )
    assert all(reason in text for reason in recipe.reasons)


# -- the Keras objects a recipe builds ----------------------------------------------------


def test_penalty_of_built_model_matches_numpy():
    recipe = recommend("binary", n_samples=SMALL, n_features=120, depth=3, seed=0)
    model = recipe.build_model((120,), hidden_units=(16, 8, 4))
    model(np.zeros((2, 120), "float32"))
    kernels = [testing.to_numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")]
    factor, l1_ratio = recipe.weight_decay, recipe.l1_ratio
    expected = sum(
        factor * (l1_ratio * np.abs(k).sum() + (1 - l1_ratio) * np.square(k).sum()) for k in kernels
    )
    actual = sum(float(testing.to_numpy(loss)) for loss in model.losses)
    assert len(kernels) == 4
    np.testing.assert_allclose(actual, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "problem_type, units, activation",
    [("binary", None, "sigmoid"), ("multiclass", 4, "softmax"), ("regression", None, "linear")],
)
def test_output_layer(problem_type, units, activation):
    layer = Recipe(problem_type).output_layer(units)
    assert layer.units == (units or 1)
    assert layer.activation.__name__ == activation


def test_seeded_recipe_builds_identical_models_and_distinct_dropout_seeds():
    recipe = recommend("binary", n_samples=SMALL, n_features=6, depth=3, seed=5)
    first = recipe.build_model((6,), hidden_units=(8, 8, 8))
    second = recipe.build_model((6,), hidden_units=(8, 8, 8))
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    seeds = [layer.seed for layer in first.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(set(seeds)) == 3
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    np.testing.assert_array_equal(
        testing.to_numpy(first(x, training=True)), testing.to_numpy(second(x, training=True))
    )


def test_recipe_model_trains_saves_and_reloads():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")[:, None]
    recipe = recommend("binary", n_samples=len(x), n_features=6, depth=3, seed=0)
    # fit shuffles a PyDataset's batch order with Python's global `random`.
    keras.utils.set_random_seed(0)

    model = recipe.build_model((6,), hidden_units=(16, 16, 8))
    model.compile(
        keras.optimizers.Adam(1e-2),
        "binary_crossentropy",
        jit_compile=testing.jit_compile_options()[-1],  # XLA on tensorflow and jax
    )
    history = model.fit(
        recipe.training_data(x, y, batch_size=64),
        validation_data=(x, y),
        validation_batch_size=len(x),
        epochs=30,  # 4 steps an epoch, under dropout, MixUp and input noise
        callbacks=recipe.callbacks(),
        verbose=0,
    )
    # A linearly separable problem: the regularized MLP must still learn it.
    scores = testing.to_numpy(model.predict(x, batch_size=len(x), verbose=0))
    accuracy = np.mean((scores > 0.5) == (y > 0.5))
    assert accuracy > 0.9, (accuracy, history.history["val_loss"])
    testing.run_model_saving_test(model, x)


def test_serialization_round_trip():
    recipe = recommend("multiclass", n_samples=SMALL, n_features=200, depth=3, seed=1)
    restored = testing.run_serialization_test(recipe)
    assert restored == recipe
    assert Recipe.from_config(recipe.get_config()) == recipe


def test_replace_and_no_penalty():
    recipe = dataclasses.replace(recommend("binary", LARGE, 10), weight_decay=0.0)
    assert recipe.kernel_regularizer() is None
    assert recipe.techniques == ("early stopping",)


def test_multiclass_output_needs_units():
    with pytest.raises(ValueError, match="Invalid value for argument `units`: a multiclass"):
        Recipe("multiclass").output_layer()


# -- the regularization guide's vocabulary -------------------------------------------------


@pytest.mark.parametrize(
    "n_samples, data_size",
    [(9_999, "small"), (10_000, "medium"), (1_000_000, "medium"), (1_000_001, "large")],
)
@pytest.mark.parametrize(
    "n_features, features", [(99, "low"), (100, "medium"), (10_000, "medium"), (10_001, "high")]
)
def test_guide_categories_equal_the_numbers_at_their_boundaries(
    n_samples, data_size, n_features, features
):
    # Numbers at each category's edges give the category's recipe (here n_features < 100 is
    # always <= 0.1 * n_samples, so the per-sample feature rule, which needs both numbers, is off).
    by_number = recommend("binary", n_samples=n_samples, n_features=n_features)
    by_word = recommend("classification", data_size=data_size, features=features)
    fields = ("weight_decay", "l1_ratio", "mixup_alpha", "input_noise_stddev")
    assert {f: getattr(by_word, f) for f in fields} == {f: getattr(by_number, f) for f in fields}
    assert by_word.early_stopping_patience == by_number.early_stopping_patience
    assert by_word.problem_type == "binary"
    assert recipes.recipe.SMALL_DATA_SAMPLES == 10_000
    assert recipes.recipe.LARGE_DATA_SAMPLES == 1_000_000


def test_the_issue_example_runs():
    recipe = recommend("classification", n_samples=5000, n_features=20000)
    assert recipe.problem_type == "binary"
    assert recipe.techniques == ("ElasticNet", "MixUp", "input noise", "early stopping")
    assert any("20,000 for 5,000 samples" in reason for reason in recipe.reasons)


@pytest.mark.parametrize(
    "n_classes, expected", [(None, "binary"), (2, "binary"), (5, "multiclass")]
)
def test_classification_is_binary_or_multiclass(n_classes, expected):
    recipe = recommend("classification", data_size="medium", features="low", n_classes=n_classes)
    assert recipe.problem_type == expected
    assert recipe.output_layer(n_classes or 1).activation.__name__ == (
        "softmax" if expected == "multiclass" else "sigmoid"
    )


@pytest.mark.parametrize("data_size", ["small", "large"])
def test_generation_gets_dropout_and_batch_norm_and_no_penalty(data_size):
    recipe = recommend("generation", data_size=data_size, features="low", depth=2)
    assert recipe.weight_decay == 0 and recipe.kernel_regularizer() is None
    assert recipe.dropout_rate == 0.2 and recipe.batch_norm
    assert recipe.mixup_alpha is None and recipe.input_noise_stddev == 0
    assert recipe.techniques == ("dropout", "batch norm", "early stopping")
    assert any("no weight penalty: generation" in reason for reason in recipe.reasons)
    model = recipe.build_model((4,), hidden_units=(8, 8))
    assert model.layers[-1].activation.__name__ == "linear"
    assert Recipe.from_config(recipe.get_config()) == recipe


def test_large_data_is_recorded():
    recipe = recommend("regression", data_size="large", features="low")
    assert recipe.techniques == ("L2", "early stopping")
    assert any(reason.startswith("large data") for reason in recipe.reasons)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"n_samples": None, "data_size": "huge"},
            "argument `data_size`: expected one of ('small', 'medium', ",
        ),
        (
            {"n_features": None, "features": "many"},
            "argument `features`: expected one of ('low', 'medium', 'high')",
        ),
        ({"n_samples": None}, "argument `n_samples`: give exactly one of `n_samples`"),
        ({"data_size": "small"}, "argument `n_samples`: give exactly one of"),
        ({"n_features": None}, "argument `n_features`: give exactly one of `n_features`"),
        ({"features": "low"}, "argument `n_features`: give exactly one of"),
        ({"n_classes": 1}, "argument `n_classes`: expected an int >= 2"),
        ({"n_classes": 3}, "argument `n_classes`: a binary problem has 2 classes"),
        (
            {"problem_type": "regression", "n_classes": 3},
            "argument `n_classes`: only classification problems have classes",
        ),
    ],
)
def test_recommend_validates_guide_arguments(kwargs, message):
    arguments = {"problem_type": "binary", "n_samples": 100, "n_features": 5}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(f"Invalid value for {message}")):
        recommend(**arguments)


# -- argument validation, one test per argument --------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"problem_type": "ranking"}, "argument `problem_type`: expected one of"),
        ({"n_samples": 0}, "argument `n_samples`: expected an int >= 1. Received: n_samples=0"),
        ({"n_samples": 10.5}, "argument `n_samples`: expected an int >= 1"),
        ({"n_features": 0}, "argument `n_features`: expected an int >= 1"),
        ({"depth": 0}, "argument `depth`: expected an int >= 1. Received: depth=0"),
        ({"seed": "1"}, "argument `seed`: expected an int or None >= 0. Received: seed='1'"),
    ],
)
def test_recommend_validates_arguments(kwargs, message):
    arguments = {"problem_type": "binary", "n_samples": 100, "n_features": 5}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"Invalid value for {message}"):
        recommend(**arguments)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"problem_type": "clustering"}, "`problem_type`: expected one of"),
        ({"weight_decay": -1.0}, "`weight_decay`: expected a non-negative float"),
        ({"l1_ratio": 1.5}, r"`l1_ratio`: expected a float in \[0, 1\]. Received: l1_ratio=1.5"),
        ({"dropout_rate": 1.0}, r"`dropout_rate`: expected a float in \[0, 1\)"),
        ({"batch_norm": 1}, "`batch_norm`: expected a bool. Received: batch_norm=1"),
        ({"mixup_alpha": 0.0}, "`mixup_alpha`: expected a positive float or None"),
        ({"input_noise_stddev": float("nan")}, "`input_noise_stddev`: expected a non-negative"),
        ({"early_stopping_patience": 0}, "`early_stopping_patience`: expected an int or None >= 1"),
        ({"seed": 1.5}, "`seed`: expected an int or None >= 0. Received: seed=1.5"),
        ({"reasons": "one string"}, "`reasons`: expected a sequence of strings"),
    ],
)
def test_recipe_validates_fields(kwargs, message):
    arguments = {"problem_type": "binary"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"Invalid value for argument {message}"):
        Recipe(**arguments)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: r.hidden_block(0), "`units`: expected an int >= 1. Received: units=0"),
        (lambda r: r.hidden_block(4, block_index=-1), "`block_index`: expected an int >= 0"),
        (lambda r: r.output_layer(0), "`units`: expected an int >= 1"),
    ],
)
def test_builders_validate_arguments(call, message):
    with pytest.raises(ValueError, match=f"Invalid value for argument {message}"):
        call(Recipe("binary"))


# -- recipe files --------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    recipe = recommend("classification", data_size="small", features="high", depth=3, seed=4)
    path = tmp_path / "recipe.json"
    recipe.save(path, evidence={"technique": "l2", "val_loss": [0.3, 0.01]})
    assert Recipe.load(path) == recipe
    document = json.loads(path.read_text())
    assert document["format"] == "keras_regkit.Recipe/1"
    assert document["evidence"]["technique"] == "l2"
    assert not (tmp_path / "recipe.json.partial").exists()
    # The loaded recipe builds the same model, layer for layer.
    a = Recipe.load(path).build_model((6,), hidden_units=(4, 4, 4))
    b = recipe.build_model((6,), hidden_units=(4, 4, 4))
    assert _layer_types(a) == _layer_types(b)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"recipe": {}}', "field `format`: expected 'keras_regkit.Recipe/1'. Received: None"),
        ("[1, 2]", "field `format`: expected"),
        ('{"format": "keras_regkit.Recipe/1"}', "field `recipe`: expected an object"),
        (
            '{"format": "keras_regkit.Recipe/1", "recipe": {"problem_type": "binary", "l3": 1}}',
            "field `recipe.l3` is not a recipe field",
        ),
        (
            '{"format": "keras_regkit.Recipe/1", "recipe": {"problem_type": "binary", '
            '"dropout_rate": 2.0}}',
            "field `recipe`: Invalid value for argument `dropout_rate`",
        ),
        ('{"format": "keras_regkit.Recipe/1", "recipe": {}}', "field `recipe`: .*problem_type"),
    ],
)
def test_malformed_recipe_file_names_the_file_and_the_field(tmp_path, text, message):
    path = tmp_path / "recipe.json"
    path.write_text(text)
    with pytest.raises(
        ValueError, match=f"Invalid recipe file '{re.escape(str(path))}': {message}"
    ):
        Recipe.load(path)
