"""compare's counterfactual rows, the CLP technique and the flip-rate column."""

import dataclasses

import keras
import numpy as np
import pytest

from keras_regkit import counterfactual, fairness
from keras_regkit.compare import (
    DEFAULT_TECHNIQUES,
    TECHNIQUES,
    RunResult,
    TabularTask,
    compare,
    counterfactuals,
    engine,
    format_table,
    techniques,
)

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def _task(seed=0, n=160, categories=("F", "M"), one_hot=True):
    """Labels that lean on the sensitive feature, which is one-hot (or one numeric code)."""
    rng = np.random.default_rng(seed)

    def split(m):
        other = rng.normal(size=(m, 3)).astype("float32")
        category = rng.integers(0, len(categories), m)
        group = category == 0
        y = (other[:, 0] + 1.5 * group + rng.normal(0, 0.5, m) > 0.5).astype("float32")
        if one_hot:
            code = np.eye(len(categories), dtype="float32")[category]
        else:
            code = np.where(group, 1.0, -1.0).astype("float32")[:, None]
        return np.concatenate([other, code], axis=1), y, group

    (xt, yt, gt), (xv, yv, gv), (xs, ys, gs) = split(n), split(n), split(n)
    names = ("a", "b", "c", *((f"sex={c}" for c in categories) if one_hot else ("sex",)))
    return TabularTask(
        "synthetic", xt, yt, xv, yv, xs, ys, gt, gv, gs, names, "y", "1", "sex", "F", "M"
    )


def test_two_categories_are_swapped_as_swap_sensitive_columns_does():
    task = _task()
    swapped = counterfactuals.counterfactual_x(task, task.x_test)
    expected = counterfactual.swap_sensitive_columns(
        task.x_test, ["sex=F", "sex=M"], feature_names=task.feature_names
    )
    np.testing.assert_array_equal(swapped, expected)
    np.testing.assert_array_equal(swapped[:, :3], task.x_test[:, :3])
    np.testing.assert_array_equal(swapped[:, 3], task.x_test[:, 4])


def test_a_numeric_code_is_swapped():
    task = _task(one_hot=False)
    swapped = counterfactuals.counterfactual_x(task, task.x_test)
    np.testing.assert_array_equal(swapped[:, 3], -task.x_test[:, 3])


def test_more_categories_swap_the_two_groups_most_common_ones():
    task = _task(categories=("F", "M", "X"))
    # Reference group (not "F"): "M" and "X" equally likely; the most common is the
    # reference category; "F" is the sensitive group's. The third keeps its rows.
    reference = 3 + 1 + int(np.argmax(task.x_train[~task.groups_train][:, 4:].sum(axis=0)))
    swapped = counterfactuals.counterfactual_x(task, task.x_test)
    np.testing.assert_array_equal(swapped[:, 3], task.x_test[:, reference])
    np.testing.assert_array_equal(swapped[:, reference], task.x_test[:, 3])
    third = ({4, 5} - {reference}).pop()
    np.testing.assert_array_equal(swapped[:, third], task.x_test[:, third])


def test_unavailable_says_why():
    no_groups = dataclasses.replace(_task(), sensitive=None, groups_train=None)
    assert "no sensitive column" in counterfactuals.unavailable(no_groups)
    not_a_feature = dataclasses.replace(_task(), sensitive="race")
    assert "'race' is not a feature" in counterfactuals.unavailable(not_a_feature)
    three = _task(one_hot=False)
    three.x_train[:3, 3] = 0.0
    assert "numeric with 3 values" in counterfactuals.unavailable(three)
    with pytest.raises(ValueError, match="No counterfactual rows: .*numeric with 3 values"):
        counterfactuals.counterfactual_x(three, three.x_test)


def test_flip_rate_of_a_run_is_the_numpy_flip_rate_of_its_model():
    task = _task()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="sigmoid")])
    result = engine._measure(model, task, "none", "None", None, {"loss": [1.0]}, 0.1)
    swapped = counterfactuals.counterfactual_x(task, task.x_test)
    p = model.predict(task.x_test, verbose=0)[:, 0]
    q = model.predict(swapped, verbose=0)[:, 0]
    assert result.flip_rate == pytest.approx(np.mean((p > 0.5) != (q > 0.5)))
    assert result.flip_rate == pytest.approx(fairness.counterfactual_flip_rate(p, q))
    not_a_feature = dataclasses.replace(task, sensitive="race")
    other = engine._measure(model, not_a_feature, "none", "None", None, {"loss": [1.0]}, 0.1)
    assert np.isnan(other.flip_rate) and other.test_auc == pytest.approx(result.test_auc)


def test_clp_builds_counterfactual_logit_pairing_on_the_swapped_rows():
    task = _task()
    setup = techniques.build("clp", task, (8,), 32, seed=0)
    assert isinstance(setup.model, counterfactual.CounterfactualModel)
    assert setup.model.original_model is setup.original
    assert setup.model.loss_weight == TECHNIQUES["clp"].strength == setup.strength == 5.0
    assert isinstance(setup.x, counterfactual.CounterfactualPyDataset)
    packed, _ = setup.x[0]
    original_x, counterfactual_x = packed.counterfactual_data[:2]
    np.testing.assert_array_equal(
        counterfactual_x, counterfactuals.counterfactual_x(task, original_x)
    )
    combined = techniques.build("l2+clp", task, (8,), 32, seed=0)
    assert isinstance(combined.model, counterfactual.CounterfactualModel)
    assert combined.original.layers[0].kernel_regularizer is not None
    with pytest.raises(ValueError, match="both change the model wrapper, the training batches"):
        techniques.check_combination("clp+min_diff")
    assert "clp" in DEFAULT_TECHNIQUES


def test_clp_cuts_the_flip_rate_in_compare_and_is_skipped_without_counterfactuals():
    # The label leans on the sensitive feature, so the plain MLP's decisions flip with it;
    # CLP pairs each row with its swap and so its decisions flip less, in every repeat.
    kwargs = {"epochs": 8, "batch_size": 32, "hidden_units": (16,), "repeats": 3}
    result = compare(_task, ["none", "clp"], strengths={"clp": 20.0}, **kwargs)
    base = {r.seed: r.flip_rate for r in result.runs if r.technique == "none"}
    clp = {r.seed: r.flip_rate for r in result.runs if r.technique == "clp"}
    assert all(clp[seed] < base[seed] for seed in base), (base, clp)
    assert "Flip rate" in format_table(result)
    numeric = _task(one_hot=False)
    numeric.x_train[:3, 3] = 0.0
    plain = compare(numeric, ["none", "clp"], **{**kwargs, "repeats": 1, "epochs": 1})
    assert [r.technique for r in plain.runs] == ["none"]
    assert any(note.startswith("CLP skipped: the sensitive column") for note in plain.notes)
    assert "n/a" in format_table(plain)


def test_runs_journaled_before_the_flip_rate_read_back_as_nan():
    values = {
        field.name: 0.0
        for field in dataclasses.fields(RunResult)
        if field.name not in ("technique", "label", "history", "flip_rate")
    }
    values.update(technique="none", label="None", history={}, min_diff_weight=None)
    assert np.isnan(RunResult.from_dict(values).flip_rate)
