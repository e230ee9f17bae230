"""compare's fairness mitigations by family: adversarial debiasing and the threshold optimizer."""

import dataclasses

import numpy as np
import pytest
from fairlearn.postprocessing import ThresholdOptimizer

from keras_regkit import fairness, models
from keras_regkit.compare import DEFAULT_TECHNIQUES, TECHNIQUES, compare, engine, techniques
from keras_regkit.compare import report as report_module
from tests.compare.test_counterfactuals import _task

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def test_adversarial_debiasing_builds_the_model_with_the_groups_in_its_inputs():
    task = _task()
    setup = techniques.build("adversarial_debiasing", task, (8,), 32, seed=0)
    assert isinstance(setup.model, models.AdversarialDebiasingModel)
    assert setup.model.predictor is setup.original
    assert setup.model.loss_weight == TECHNIQUES["adversarial_debiasing"].strength == 0.1
    assert setup.model.criterion == "demographic_parity"
    np.testing.assert_array_equal(setup.x["sensitive"], task.groups_train.astype("int32"))
    np.testing.assert_array_equal(setup.x["features"], task.x_train)
    combined = techniques.build("l2+adversarial_debiasing", task, (8,), 32, seed=0)
    assert combined.original.layers[0].kernel_regularizer is not None
    with pytest.raises(ValueError, match="both change the model wrapper, the training batches"):
        techniques.check_combination("adversarial_debiasing+min_diff")


def test_a_kept_adversarial_model_trains_each_repeat_as_a_fresh_one():
    # The adversary is built at the first step: the kept compiled model must still load a
    # fresh run's state (repeat 1 equals the single run at its seed).
    kwargs = {"epochs": 2, "batch_size": 32, "hidden_units": (8,)}
    both = compare(_task, ["adversarial_debiasing"], seed=0, repeats=2, **kwargs)
    [single] = compare(_task, ["adversarial_debiasing"], seed=1, repeats=1, **kwargs).runs
    assert both.runs[1].val_loss == single.val_loss
    assert both.runs[1].test_auc == single.test_auc


def test_threshold_optimizer_decides_as_fairlearn_on_the_base_models_scores():
    task = _task(n=240)
    setup = techniques.build("threshold_optimizer", task, (8,), 32, seed=3)
    setup.model.compile("adam", "binary_crossentropy")
    setup.model.fit(task.x_train, task.y_train, epochs=3, verbose=0)
    decisions = setup.postprocess.fit(setup.original, task)
    theirs = ThresholdOptimizer(
        estimator=techniques._prefit(setup.original),
        constraints="false_positive_rate_parity",
        prefit=True,
        predict_method="predict",
    ).fit(task.x_val, task.y_val.astype("int32"), sensitive_features=task.groups_val)
    expected = theirs.predict(task.x_test, sensitive_features=task.groups_test, random_state=3)
    np.testing.assert_array_equal(decisions.decide(task.x_test, task.groups_test), expected == 1)
    np.testing.assert_allclose(
        decisions.scores(task.x_test, task.groups_test),
        theirs._pmf_predict(task.x_test, sensitive_features=task.groups_test)[:, 1],
    )
    result = engine._measure(
        setup.original,
        task,
        "threshold_optimizer",
        "T",
        None,
        {"loss": [1.0]},
        0.1,
        postprocess=decisions,
    )
    assert np.isnan(result.train_loss) and np.isnan(result.val_loss)
    assert result.fpr_gap == pytest.approx(
        fairness.false_positive_rate_difference(
            task.y_test.astype("int32"), expected == 1, sensitive_features=task.groups_test
        )
    )
    assert result.test_auc == pytest.approx(
        engine.roc_auc(task.y_test, decisions.scores(task.x_test, task.groups_test))
    )
    # Its decisions use the group, so swapping it (features and group) can flip them.
    swapped = techniques.counterfactuals.counterfactual_x(task, task.x_test)
    flipped = decisions.decide(swapped, ~task.groups_test) != (expected == 1)
    assert result.flip_rate == pytest.approx(np.mean(flipped))


def test_the_mitigations_run_by_default_and_need_groups():
    for name in ("reweighing", "adversarial_debiasing", "threshold_optimizer"):
        assert name in techniques.NEEDS_GROUPS
    assert {"adversarial_debiasing", "threshold_optimizer", "clp"} <= set(DEFAULT_TECHNIQUES)
    no_groups = dataclasses.replace(_task(), groups_train=None, groups_val=None, groups_test=None)
    kwargs = {"epochs": 1, "batch_size": 32, "hidden_units": (4,), "repeats": 1}
    result = compare(no_groups, ["none", "adversarial_debiasing", "threshold_optimizer"], **kwargs)
    assert [r.technique for r in result.runs] == ["none"]
    assert "Threshold optimizer skipped: no sensitive column (pass --sensitive COLUMN)" in (
        result.notes
    )


def test_each_technique_has_its_family_on_the_frontier():
    family = report_module._family
    assert family("reweighing") == "pre-processing"
    assert family("min_diff") == family("clp") == family("adversarial_debiasing")
    assert family("clp") == "in-processing"
    assert family("threshold_optimizer") == "post-processing"
    assert family("recipe+min_diff") == "in-processing"
    assert family("l2") is None and family("dropout+sam") is None


def _with_gaps(values, gaps):
    from tests.compare.test_measured import _comparison

    comparison = _comparison(values)
    for run in comparison.runs:
        run.fpr_gap = gaps[run.technique][run.repeat]
    return comparison


def test_the_family_highlight_says_which_family_is_lower_only_when_significant():
    values = {"none": [0.33, 0.34, 0.32], "reweighing": [0.3, 0.31, 0.33]}
    values["min_diff@5"] = [0.35, 0.36, 0.34]
    gaps = {"none": [0.09, 0.085, 0.08], "reweighing": [0.03, 0.035, 0.03]}
    gaps["min_diff"] = [0.05, 0.055, 0.05]
    lines = report_module.highlights(_with_gaps(values, gaps))
    # Reweighing - MinDiff: -0.02 at every seed, a significant (degenerate) interval.
    assert (
        "The pre-processing family has the lowest FPR gap: Reweighing is below the next "
        "family's best (MinDiff w=5) by -0.020 [-0.020, -0.020]." in lines
    )
    family_line = next(x for x in lines if x.startswith("Lowest mean FPR gap of each"))
    assert "pre-processing: Reweighing, FPR gap down -0.053 [" in family_line
    assert "in-processing: MinDiff w=5" in family_line
    gaps["min_diff"] = [0.02, 0.06, 0.035]  # now the difference changes sign across seeds
    lines = report_module.highlights(_with_gaps(values, gaps))
    assert any(x.startswith("No family's FPR gap is significantly below another's") for x in lines)


def test_exponentiated_gradient_decides_as_fairlearns_reduction_of_the_same_mlp():
    from fairlearn.reductions import ExponentiatedGradient, FalsePositiveRateParity

    from keras_regkit.wrappers import MinDiffClassifier

    task = _task(n=200)
    setup = techniques.build("exponentiated_gradient", task, (8,), 64, seed=2, strength=2)
    reduction = setup.postprocess
    logs = reduction.train(task, epochs=2, batch_size=64, learning_rate=1e-2)
    assert len(logs["loss"]) == 2 and reduction.model is not None

    def build(X, y):
        import keras

        model = techniques.mlp(task.n_features, (8,), 2)
        model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
        return model

    fit = {"epochs": 2, "batch_size": 64, "verbose": 0}
    theirs = ExponentiatedGradient(
        MinDiffClassifier(build, loss_weight=0.0, random_state=2, fit_kwargs=fit),
        FalsePositiveRateParity(),
        max_iter=2,
    ).fit(task.x_train, task.y_train.astype("int32"), sensitive_features=task.groups_train)
    np.testing.assert_allclose(
        reduction.scores(task.x_test, None), theirs._pmf_predict(task.x_test)[:, 1], atol=1e-6
    )
    np.testing.assert_array_equal(
        reduction.decide(task.x_test, None), theirs.predict(task.x_test, random_state=2) == 1
    )
    assert "exponentiated_gradient" not in DEFAULT_TECHNIQUES
    kwargs = {"epochs": 1, "batch_size": 64, "hidden_units": (4,), "repeats": 1}
    # One iteration (each iteration retrains the MLP): the engine's path, end to end.
    result = compare(
        task, ["exponentiated_gradient"], strengths={"exponentiated_gradient": 1}, **kwargs
    )
    run = result.runs[0]
    assert run.technique == "exponentiated_gradient" and np.isnan(run.val_loss)
    assert np.isfinite(run.test_auc) and np.isfinite(run.fpr_gap) and run.epochs == 1
