"""compare's measured recipe: recipe.json, the choice rule, and its equivalence to the runs."""

import json

import keras
import numpy as np
import pytest

from keras_regkit import recipes
from keras_regkit.compare import (
    TECHNIQUES,
    Comparison,
    RunResult,
    TabularTask,
    compare,
    measured,
    techniques,
    write_report,
)
from keras_regkit.recipes import Recipe

pytestmark = pytest.mark.one_backend  # the choice and the mapping are backend-independent


def _toy_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2)).astype("float32")
    y = np.array([0, 1, 0, 1, 0, 1], "float32")
    g = np.array([True, False] * 3)
    return TabularTask("toy", x, y, x, y, x, y, g, g, g, ("a", "b"), "y", "1", "g", "g1", "g0")


def _comparison(val_losses, recipe=None):
    """A comparison whose rows have the given per-seed validation losses."""
    runs = []
    for name, values in val_losses.items():
        technique = techniques.technique(name.split("@")[0])
        weight = float(name.split("@")[1]) if "@" in name else None
        for repeat, val in enumerate(values):
            runs.append(
                RunResult(
                    technique=technique.name,
                    label=technique.label + (f" w={weight:g}" if weight else ""),
                    min_diff_weight=weight,
                    repeat=repeat,
                    seed=repeat,
                    epochs=3,
                    train_loss=0.3,
                    val_loss=val,
                    overfit_gap=val - 0.3,
                    test_auc=0.9,
                    test_accuracy=0.85,
                    dp_gap=0.1,
                    eo_gap=0.05,
                    fpr_gap=0.08,
                    sparsity=0.0,
                    seconds=1.0,
                    history={"val_binary_crossentropy": [val]},
                    strength=weight if weight else technique.strength,
                )
            )
    repeats = max((len(values) for values in val_losses.values()), default=1)
    return Comparison(
        task=_toy_task(),
        runs=runs,
        epochs=3,
        batch_size=8,
        hidden_units=(4,),
        learning_rate=1e-3,
        seed=0,
        min_diff_weights=(5.0,),
        recipe=recipe,
        backend="jax",
        total_seconds=1.0,
        notes=[],
        repeats=repeats,
    )


def test_lowest_mean_wins_and_ties_go_to_the_simpler_row():
    comparison = _comparison(
        {
            "none": [0.33, 0.34, 0.32],
            "l2": [0.30, 0.31, 0.29],
            "dropout": [0.305, 0.30, 0.31],  # ties with L2 (paired difference spans 0)
            "l2+min_diff@5": [0.299, 0.305, 0.29],  # lowest mean, but ties with L2
        }
    )
    recipe, evidence = measured.choose(comparison)
    # Lowest mean: L2 + MinDiff (0.298); L2 (0.300) and Dropout tie with it and are
    # simpler; of those, L2 has the lower mean. None is significantly worse.
    assert evidence["best_by_mean"] == "L2 + MinDiff w=5"
    assert evidence["chosen"]["label"] == "L2"
    tied = {row["label"]: row["tied_with_best"] for row in evidence["rows"]}
    assert tied == {"None": False, "L2": True, "Dropout": True, "L2 + MinDiff w=5": True}
    assert recipe.weight_decay == TECHNIQUES["l2"].strength and recipe.l1_ratio == 0
    assert recipe.early_stopping_patience is None and recipe.techniques == ("L2",)


def test_a_tie_with_no_technique_chooses_no_technique():
    comparison = _comparison({"none": [0.33, 0.30, 0.35], "l2": [0.32, 0.31, 0.33]})
    recipe, evidence = measured.choose(comparison)
    assert evidence["chosen"]["label"] == "None" and evidence["best_by_mean"] == "L2"
    assert recipe.techniques == () and recipe.weight_decay == 0


def test_one_repeat_takes_the_lowest_loss():
    recipe, evidence = measured.choose(_comparison({"none": [0.33], "dropout": [0.32]}))
    assert evidence["chosen"]["label"] == "Dropout" and recipe.dropout_rate == 0.3
    assert "one repeat" in measured.describe(recipe, evidence)


def test_no_runs_no_recipe():
    assert measured.choose(_comparison({})) is None


def test_write_report_writes_a_recipe_json_that_loads(tmp_path):
    comparison = _comparison({"none": [0.33, 0.34, 0.32], "l2": [0.30, 0.31, 0.29]})
    paths = write_report(comparison, tmp_path)
    assert tmp_path / "recipe.json" in paths
    loaded = Recipe.load(tmp_path / "recipe.json")
    assert loaded == measured.choose(comparison)[0]
    document = json.loads((tmp_path / "recipe.json").read_text())
    assert document["evidence"]["chosen"]["val_loss"]["mean"] == pytest.approx(0.30)
    assert document["evidence"]["repeats"] == 3
    report = (tmp_path / "report.md").read_text()
    assert "## Measured recipe" in report and "**L2**" in report


def _task(seed=0, n=48, d=24):
    """Tiny and noisy: 48 rows, 24 features, the label a weak function of one feature."""
    rng = np.random.default_rng(seed)

    def split(m):
        x = rng.normal(size=(m, d)).astype("float32")
        g = rng.random(m) < 0.5
        y = (0.3 * x[:, 0] + rng.normal(size=m) > 0).astype("float32")
        return x, y, g

    (xt, yt, gt), (xv, yv, gv), (xs, ys, gs) = split(n), split(200), split(200)
    names = tuple(f"f{i}" for i in range(d))
    return TabularTask(
        "noisy", xt, yt, xv, yv, xs, ys, gt, gv, gs, names, "y", "1", "g", "g1", "g0"
    )


def test_strong_l2_on_tiny_noisy_data_is_the_measured_recipe(tmp_path):
    # An MLP of 64 units memorizes 48 noisy rows in 60 epochs; a strong L2 keeps the
    # weights small and the validation loss near log 2.
    comparison = compare(
        _task,
        ["none", "dropout", "l2"],
        epochs=60,
        batch_size=16,
        hidden_units=(64,),
        learning_rate=1e-2,
        repeats=3,
        strengths={"l2": 0.05, "dropout": 0.1},
    )
    recipe, evidence = measured.choose(comparison)
    assert evidence["chosen"]["label"] == "L2", evidence["rows"]
    assert recipe.weight_decay == pytest.approx(0.05)
    write_report(comparison, tmp_path)
    assert Recipe.load(tmp_path / "recipe.json").weight_decay == pytest.approx(0.05)


_MODEL_LEVEL = [
    "none",
    "l2",
    "elastic_net",
    "group_lasso",
    "dropout",
    "drop_connect",
    "batch_norm",
    "gaussian_noise",
    "max_norm",
    "weight_noise",
    "l2+dropout",
    "group_lasso+max_norm+gaussian_noise",
]


def _layer_summary(model):
    """What regularizes each layer: its class, penalty, constraint and rates."""
    rows = []
    for layer in model.layers:
        row = [type(layer).__name__]
        for attribute in ("kernel_regularizer", "kernel_constraint"):
            value = getattr(layer, attribute, None)
            row.append(None if value is None else (type(value).__name__, value.get_config()))
        for attribute in ("rate", "stddev"):
            row.append(getattr(layer, attribute, None))
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", _MODEL_LEVEL)
def test_the_recipe_of_a_technique_builds_the_network_compare_trained(name):
    task = _task()
    setup = techniques.build(name, task, (8, 4), 16, seed=0)
    recipe = measured.recipe_of(name, None, None, None, seed=0)
    model = recipe.build_model((task.n_features,), hidden_units=(8, 4))
    compared, built = _layer_summary(setup.original), _layer_summary(model)
    # Under batch normalization the recipe's Dense layers drop their (redundant) bias.
    assert [row for row in compared] == [row for row in built]
    assert recipe.callbacks() == []


@pytest.mark.parametrize(
    "name, fields",
    [
        ("mixup", {"mixup_alpha": TECHNIQUES["mixup"].strength}),
        ("early_stopping", {"early_stopping_patience": TECHNIQUES["early_stopping"].strength}),
        ("min_diff", {"min_diff_weight": 1.5}),
        ("reweighing", {"reweighing": True}),
        ("sam", {"sam_rho": TECHNIQUES["sam"].strength}),
        ("lookahead", {"lookahead_sync_period": TECHNIQUES["lookahead"].strength}),
        ("l2+min_diff", {"weight_decay": TECHNIQUES["l2"].strength, "min_diff_weight": 1.5}),
        ("dropout+sam", {"dropout_rate": 0.3, "sam_rho": TECHNIQUES["sam"].strength}),
    ],
)
def test_the_recipe_of_a_training_technique_sets_its_field(name, fields):
    recipe = measured.recipe_of(name, None, 1.5, None, seed=0)
    for field, value in fields.items():
        assert getattr(recipe, field) == value, field


def test_the_recipe_technique_keeps_the_recommended_rules_and_min_diff_drops_mixup():
    recommended = recipes.recommend("binary", n_samples=500, n_features=20, depth=2, seed=0)
    assert recommended.mixup_alpha is not None
    recipe = measured.recipe_of("recipe", None, None, recommended, seed=0)
    for field in ("weight_decay", "dropout_rate", "mixup_alpha", "early_stopping_patience"):
        assert getattr(recipe, field) == getattr(recommended, field)
    combined = measured.recipe_of("recipe+min_diff", None, 3.0, recommended, seed=0)
    assert combined.mixup_alpha is None and combined.min_diff_weight == 3.0
    with pytest.raises(ValueError, match="needs the recommended recipe"):
        measured.recipe_of("recipe", None, None, None)


def test_a_tuned_strength_is_the_strength_of_the_recipe():
    recipe = measured.recipe_of("dropout", 0.1, None, None)
    assert recipe.dropout_rate == 0.1
    model = recipe.build_model((4,), (8,))
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [
        0.1
    ]
