import io

import fairlearn.metrics
import keras
import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from keras_regkit import layers as regkit_layers
from keras_regkit import min_diff, regularizers, testing
from keras_regkit.compare import (
    TECHNIQUES,
    ConsoleProgress,
    TabularTask,
    compare,
    engine,
    format_table,
    log_loss,
    roc_auc,
    techniques,
    write_report,
)
from keras_regkit.compare import report as report_module

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def _task(n=120, d=5, seed=0, groups=True):
    rng = np.random.default_rng(seed)

    def split(m):
        x = rng.normal(size=(m, d)).astype("float32")
        g = rng.random(m) < 0.4
        y = ((x[:, 0] + 0.8 * g + rng.normal(0, 0.5, m)) > 0.3).astype("float32")
        return x, y, (g if groups else None)

    (xt, yt, gt), (xv, yv, gv), (xs, ys, gs) = split(n), split(n // 2), split(n // 2)
    return TabularTask(
        name="synthetic",
        x_train=xt,
        y_train=yt,
        x_val=xv,
        y_val=yv,
        x_test=xs,
        y_test=ys,
        groups_train=gt,
        groups_val=gv,
        groups_test=gs,
        feature_names=tuple(f"f{i}" for i in range(d)),
        target="y",
        positive_label="1",
        sensitive="g" if groups else None,
        sensitive_group="g1" if groups else None,
        reference_group="g0" if groups else None,
    )


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    for scores in (rng.random(500), rng.integers(0, 5, 500).astype(float)):  # many ties
        np.testing.assert_allclose(roc_auc(y, scores), sk_metrics.roc_auc_score(y, scores))
    assert np.isnan(roc_auc(np.zeros(4), np.arange(4)))


def test_log_loss_matches_sklearn_and_keras():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype("float32")
    p = rng.random(300).astype("float32")
    p[:3] = [0.0, 1.0, 1.0]  # clipped like Keras
    keras_value = testing.to_numpy(keras.losses.binary_crossentropy(y[:, None], p[:, None])).mean()
    np.testing.assert_allclose(log_loss(y, p), keras_value, rtol=1e-5)
    q = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(log_loss(y, q), sk_metrics.log_loss(y, q), rtol=1e-10)


def test_measurements_match_sklearn_and_fairlearn():
    task = _task()
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(1, "sigmoid")]
    )
    for layer in model.layers:  # no weight of the random draw below the sparsity threshold
        kernel = testing.to_numpy(layer.kernel)
        layer.kernel.assign(np.where(np.abs(kernel) < 0.01, 0.3, kernel))
    kernel = testing.to_numpy(model.layers[0].kernel).copy()
    kernel[:2] = 0.0  # 8 of the 20 + 4 kernel weights
    model.layers[0].kernel.assign(kernel)
    result = engine._measure(model, task, "none", "None", None, {"loss": [1.0, 0.5]}, 2.5)

    def scores(x):
        return testing.to_numpy(model.predict(x, verbose=0))[:, 0].astype("float64")

    p_train, p_val, p_test = scores(task.x_train), scores(task.x_val), scores(task.x_test)
    np.testing.assert_allclose(result.train_loss, sk_metrics.log_loss(task.y_train, p_train))
    np.testing.assert_allclose(result.val_loss, sk_metrics.log_loss(task.y_val, p_val))
    np.testing.assert_allclose(result.overfit_gap, result.val_loss - result.train_loss)
    np.testing.assert_allclose(result.test_auc, sk_metrics.roc_auc_score(task.y_test, p_test))
    predictions = p_test > 0.5
    np.testing.assert_allclose(
        result.test_accuracy, sk_metrics.accuracy_score(task.y_test, predictions)
    )
    for ours, theirs in (
        (result.dp_gap, fairlearn.metrics.demographic_parity_difference),
        (result.eo_gap, fairlearn.metrics.equal_opportunity_difference),
        (result.fpr_gap, fairlearn.metrics.false_positive_rate_difference),
    ):
        expected = theirs(task.y_test, predictions, sensitive_features=task.groups_test)
        np.testing.assert_allclose(ours, expected, atol=1e-12)
    assert result.sparsity == pytest.approx(8 / 24)
    assert result.epochs == 2 and result.seconds == 2.5


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_every_technique_builds_what_it_says():
    task = _task()
    setups = {
        name: techniques.build(name, task, (8, 4), 32, seed=0, min_diff_weight=1.0)
        for name in TECHNIQUES
        if name != "clp"  # its task needs the sensitive column among the features
    }
    dense = ["Dense", "Activation"] * 2 + ["Dense"]
    assert _layer_types(setups["none"].model) == dense
    for name, cls in (("l2", keras.regularizers.L2), ("elastic_net", regularizers.ElasticNet)):
        regs = [layer.kernel_regularizer for layer in setups[name].model.layers[::2]]
        assert len(regs) == 3 and all(type(r) is cls for r in regs)
    regs = [layer.kernel_regularizer for layer in setups["group_lasso"].model.layers[::2]]
    assert isinstance(regs[0], regularizers.GroupLasso) and regs[1:] == [None, None]
    assert _layer_types(setups["dropout"].model).count("Dropout") == 2
    assert _layer_types(setups["drop_connect"].model)[::2] == ["DropConnectDense"] * 2 + ["Dense"]
    assert isinstance(setups["drop_connect"].model.layers[0], regkit_layers.DropConnectDense)
    assert _layer_types(setups["batch_norm"].model).count("BatchNormalization") == 2
    assert _layer_types(setups["gaussian_noise"].model)[0] == "GaussianNoise"
    constraints = [layer.kernel_constraint for layer in setups["max_norm"].model.layers[:3:2]]
    assert all(isinstance(c, keras.constraints.MaxNorm) for c in constraints)
    assert _layer_types(setups["weight_noise"].model)[::2] == ["NoisyDense"] * 2 + ["Dense"]
    [stopper] = setups["early_stopping"].callbacks
    assert stopper.monitor == "val_binary_crossentropy" and stopper.restore_best_weights
    assert setups["mixup"].x.alpha == 0.2
    # Every strength applied is the one its Technique declares (and its setting text shows).
    assert setups["l2"].model.layers[0].kernel_regularizer.l2 == pytest.approx(1e-3)
    assert setups["dropout"].model.layers[2].rate == TECHNIQUES["dropout"].strength
    assert setups["mixup"].x.alpha == TECHNIQUES["mixup"].strength
    assert setups["early_stopping"].callbacks[0].patience == TECHNIQUES["early_stopping"].strength
    for name, setup in setups.items():
        expected = 1.0 if name == "min_diff" else TECHNIQUES[name].strength
        assert setup.strength == expected, name
    assert TECHNIQUES["l2"].setting == "keras.regularizers.L2(0.001) on every kernel"
    custom = techniques.build("dropout", task, (8, 4), 32, seed=0, strength=0.1)
    assert custom.model.layers[2].rate == 0.1 and custom.strength == 0.1
    assert (
        TECHNIQUES["dropout"].describe(custom.strength) == "Dropout(0.1) after every hidden layer"
    )
    assert (
        TECHNIQUES["min_diff"]
        .describe([0.5, 5.0, 0.5])
        .startswith("MinDiffModel(MMDLoss('gaussian'), loss_weight={0.5, 5})")
    )
    md = setups["min_diff"]
    assert isinstance(md.model, min_diff.MinDiffModel) and md.original is md.model.original_model
    assert md.model.loss_weight == 1.0
    recipe = setups["recipe"].recipe
    assert recipe is not None and setups["recipe"].callbacks
    # Every variant starts from the base model's initial kernels.
    base = setups["none"].model.layers[0].kernel
    for name in ("l2", "dropout", "drop_connect", "max_norm", "min_diff"):
        np.testing.assert_array_equal(
            testing.to_numpy(setups[name].original.layers[0].kernel), testing.to_numpy(base)
        )


def test_compare_runs_and_reports(tmp_path, monkeypatch):
    task = _task()
    stream = io.StringIO()
    result = compare(
        task,
        ["none", "min_diff", "recipe"],
        epochs=2,
        batch_size=40,  # 120 training rows: no partial batch, one compile
        hidden_units=(8, 4),
        min_diff_weights=(0.5, 2.0),
        seed=0,
        repeats=1,
        progress=ConsoleProgress(stream),
    )
    labels = [run.label for run in result.runs]
    assert labels == ["None", "MinDiff w=0.5", "MinDiff w=2", "Recipe"]
    assert [run.min_diff_weight for run in result.runs] == [None, 0.5, 2.0, None]
    assert result.recipe is not None and "MixUp" in result.recipe.techniques  # small data
    for run in result.runs:
        assert run.epochs == 2
        assert set(run.history) >= {"loss", "binary_crossentropy", "val_binary_crossentropy"}
        assert 0 <= run.test_auc <= 1 and 0 <= run.fpr_gap <= 1
    log = stream.getvalue().splitlines()
    assert len(log) == 4 and log[0].startswith("[1/4] None: 2 epochs in")
    table = format_table(result).splitlines()
    assert table[0].split()[:3] == ["Technique", "Epochs", "Train"]
    assert len(table) == 2 + 4
    base = result.runs[0]
    assert f"{base.val_loss:.4f}" in table[2] and "±" not in table[2]  # one repeat

    paths = write_report(result, tmp_path, command="keras-regkit compare")
    assert [p.name for p in paths] == [
        "report.md",
        "results.csv",
        "summary.csv",
        "differences.csv",
        "learning_curves.png",
        "fairness_frontier.png",
        "recipe.json",
    ]
    report = paths[0].read_text()
    for run in result.runs[1:3]:  # the MinDiff runs, against the baseline
        assert (
            f"- {run.label}: FPR gap {run.fpr_gap:.3f} against {base.fpr_gap:.3f}: FPR gap "
            f"{run.fpr_gap - base.fpr_gap:+.3f} (one repeat: no interval)"
        ) in report
    assert "Recipe for binary:" in report and "```bash\nkeras-regkit compare\n```" in report

    def no_matplotlib(**kwargs):
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(report_module, "_figure", no_matplotlib)
    paths = write_report(result, tmp_path / "no_plots")
    assert [p.name for p in paths] == [
        "report.md",
        "results.csv",
        "summary.csv",
        "differences.csv",
        "recipe.json",
    ]
    assert "Plots skipped: install matplotlib" in paths[0].read_text()


def test_live_progress_rewrites_one_line():
    stream = io.StringIO()
    progress = ConsoleProgress(stream, live=True)
    progress.start(2, 12, "Dropout", "Dropout(0.3)")
    progress.epoch(4, 20, {"val_binary_crossentropy": 0.31234})
    text = stream.getvalue()
    assert text == (
        "[ 2/12] Dropout: Dropout(0.3)\r\033[2K[ 2/12] Dropout: epoch 5/20, val loss 0.3123\r"
    )


def test_min_diff_is_skipped_without_groups():
    stream = io.StringIO()
    result = compare(
        _task(groups=False),
        ["none", "min_diff"],
        epochs=1,
        hidden_units=(4,),
        repeats=1,
        progress=ConsoleProgress(stream),
    )
    assert [run.technique for run in result.runs] == ["none"]
    assert np.isnan(result.runs[0].dp_gap)
    assert result.notes == ["MinDiff skipped: no sensitive column (pass --sensitive COLUMN)"]
    assert "MinDiff skipped" in stream.getvalue()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"techniques": []}, "`techniques`: expected a non-empty list"),
        ({"techniques": ["lasso"]}, r"`techniques`: unknown name\(s\) \['lasso'\]"),
        ({"epochs": 0}, "`epochs`: expected a positive int. Received: epochs=0"),
        ({"batch_size": 1.5}, "`batch_size`: expected a positive int"),
        ({"hidden_units": (8, 0)}, "`hidden_units`: expected a non-empty list of positive"),
        ({"learning_rate": 0}, "`learning_rate`: expected a positive float"),
        ({"min_diff_weights": (1.0, -1.0)}, "`min_diff_weights`: expected a non-empty list"),
        ({"seed": None}, "`seed`: expected an int. Received: seed=None"),
        ({"repeats": 0}, "`repeats`: expected an int >= 1. Received: repeats=0"),
        ({"jobs": 0}, "`jobs`: expected an int >= 1. Received: jobs=0"),
    ],
)
def test_compare_validates_arguments(kwargs, message):
    arguments = {"techniques": ["none"], "repeats": 1}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"Invalid value for argument {message}"):
        compare(_task(), **arguments)


def _comparable(run):
    """A run's row without its time, NaN (which equals nothing) as None."""
    row = run.row() | {"seconds": 0}
    return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()}


def test_repeats_are_paired_and_each_equals_a_single_seed_run():
    def task_for_seed(seed):
        return _task(seed=seed)

    kwargs = {"epochs": 1, "batch_size": 40, "hidden_units": (4,), "min_diff_weights": (1.0,)}
    result = compare(task_for_seed, ["none", "dropout"], seed=3, repeats=2, **kwargs)
    assert [(r.technique, r.repeat, r.seed) for r in result.runs] == [
        ("none", 0, 3),
        ("dropout", 0, 3),
        ("none", 1, 4),
        ("dropout", 1, 4),
    ]
    assert result.repeats == 2 and result.planned == 4 and not result.interrupted
    # Repeat 1 is the single-seed comparison at seed 4, split included (`repeats=1`).
    [single] = compare(task_for_seed, ["dropout"], seed=4, repeats=1, **kwargs).runs
    again = result.runs[3]
    for field in ("train_loss", "val_loss", "test_auc", "fpr_gap", "epochs"):
        assert getattr(single, field) == getattr(again, field), field
    assert result.runs[0].val_loss != result.runs[2].val_loss  # the repeats differ

    # A resumed comparison trains only the missing runs and gives the same runs.
    trained = []
    resumed = compare(
        task_for_seed,
        ["none", "dropout"],
        seed=3,
        repeats=2,
        completed=result.runs[:3],
        on_run=trained.append,
        **kwargs,
    )
    assert [r.key for r in trained] == [("dropout", None, 1)]
    assert resumed.resumed == 3 and result.resumed == 0
    assert "4 runs, 3 of them from the earlier job this one resumed; the other 1 in" in (
        report_module._timing(resumed)
    )
    assert [_comparable(r) for r in resumed.runs] == [_comparable(r) for r in result.runs]


def test_jobs_give_the_same_runs_as_one_process():
    # A plain task (not a function of this test module): the workers need not import the tests.
    task = _task(n=80)
    kwargs = {"epochs": 1, "batch_size": 40, "hidden_units": (4,), "seed": 5, "repeats": 2}
    one = compare(task, ["dropout"], jobs=1, **kwargs)
    two = compare(task, ["dropout"], jobs=2, **kwargs)  # one run per worker process
    assert [_comparable(r) for r in two.runs] == [_comparable(r) for r in one.runs]
    assert one.runs[0].val_loss != one.runs[1].val_loss
