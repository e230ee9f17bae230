"""`--techniques a+b`: techniques trained together in one model."""

import re

import keras
import numpy as np
import pytest

from keras_regkit import min_diff, recipes, testing
from keras_regkit.compare import TECHNIQUES, check_combination, compare, techniques
from tests.compare.test_engine import _task

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def _config(model):
    # Layer by layer, without the names Keras numbers ("dropout_3").
    return [
        (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
        for layer in model.layers
    ]


def test_a_combination_builds_each_part_as_its_technique_does():
    task = _task()
    combined = techniques.build("l2+dropout+max_norm", task, (8, 4), 32, seed=0)
    # The same model as the base MLP built with the three parts' arguments by hand.
    strength = {name: TECHNIQUES[name].strength for name in ("l2", "dropout", "max_norm")}
    expected = techniques.mlp(
        task.n_features,
        (8, 4),
        0,
        kernel_regularizer=lambda: keras.regularizers.L2(strength["l2"]),
        dropout=strength["dropout"],
        kernel_constraint=lambda: keras.constraints.MaxNorm(strength["max_norm"]),
    )
    assert _config(combined.model) == _config(expected)
    for got, want in zip(combined.model.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(testing.to_numpy(got), testing.to_numpy(want))
    assert combined.strength is None and combined.batch_size == 32

    stopped = techniques.build("dropout+early_stopping+mixup", task, (8, 4), 32, seed=0)
    assert isinstance(stopped.x, recipes.MixUpPyDataset)
    assert stopped.x.alpha == TECHNIQUES["mixup"].strength
    [stopper] = stopped.callbacks
    assert stopper.patience == TECHNIQUES["early_stopping"].strength

    fair = techniques.build("l2+min_diff", task, (8, 4), 32, seed=0, min_diff_weight=2.0)
    assert isinstance(fair.model, min_diff.MinDiffModel) and fair.model.loss_weight == 2.0
    assert fair.original is fair.model.original_model and fair.strength == 2.0
    assert isinstance(fair.original.layers[0].kernel_regularizer, keras.regularizers.L2)
    assert isinstance(fair.x, min_diff.MinDiffPyDataset)

    deployed = techniques.build("recipe+min_diff", task, (8, 4), 32, seed=0, min_diff_weight=1.0)
    alone = techniques.build("recipe", task, (8, 4), 32, seed=0)
    assert deployed.recipe == alone.recipe
    assert _config(deployed.original) == _config(alone.model)
    assert [type(c) for c in deployed.callbacks] == [type(c) for c in alone.callbacks]
    assert isinstance(deployed.x, min_diff.MinDiffPyDataset)

    described = techniques.technique("l2+min_diff")
    assert described.label == "L2 + MinDiff"
    assert described.describe(1.5).startswith(
        "keras.regularizers.L2(0.001) on every kernel; MinDiffModel(MMDLoss('gaussian'), "
        "loss_weight=1.5)"
    )


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "l2+elastic_net",
            "l2 and elastic_net cannot be trained together: both change the "
            "MLP's kernel_regularizer",
        ),
        ("drop_connect+weight_noise", "both change the MLP's dense_cls, the MLP's dense_kwargs"),
        (
            "mixup+min_diff",
            "mixup and min_diff cannot be trained together: both change the training batches",
        ),
        (
            "recipe+dropout",
            "recipe and dropout cannot be trained together: both change the network",
        ),
        ("recipe+early_stopping", "both change the callbacks"),
        ("l2+l2", "l2+l2 is not a pair"),
        ("none+l2", "none+l2 is not a pair"),
        ("l2+lasso", "unknown: ['lasso']"),
        ("l2+", "unknown: ['']"),
    ],
)
def test_a_pair_that_cannot_compose_is_named(name, message):
    with pytest.raises(ValueError, match=re.escape(f"Invalid combination {name!r}")) as info:
        check_combination(name)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="Invalid value for argument `techniques`"):
        compare(_task(), ["none", name], epochs=1)


def test_combinations_run_in_compare_with_their_min_diff_weights():
    result = compare(
        _task(n=96),
        ["none", "l2+dropout", "dropout+min_diff"],
        epochs=1,
        batch_size=32,
        hidden_units=(4,),
        min_diff_weights=[0.5, 2.0],
        repeats=1,
    )
    assert [(r.technique, r.min_diff_weight) for r in result.runs] == [
        ("none", None),
        ("l2+dropout", None),
        ("dropout+min_diff", 0.5),
        ("dropout+min_diff", 2.0),
    ]
    assert [r.label for r in result.runs][1:] == [
        "L2 + Dropout",
        "Dropout + MinDiff w=0.5",
        "Dropout + MinDiff w=2",
    ]
