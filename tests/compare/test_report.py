import csv

import numpy as np
import pytest
from scipy import stats as scipy_stats

from keras_regkit.compare import (
    Comparison,
    RunResult,
    TabularTask,
    format_differences,
    format_table,
    highlights,
    write_report,
)

pytestmark = pytest.mark.one_backend

# val loss, test AUC and FPR gap per seed 0, 1, 2.
_VALUES = {
    "none": ([0.33, 0.34, 0.32], [0.89, 0.90, 0.88], [0.08, 0.07, 0.09]),
    "l2": ([0.30, 0.31, 0.29], [0.91, 0.92, 0.90], [0.09, 0.07, 0.08]),
    "dropout": ([0.305, 0.30, 0.31], [0.90, 0.91, 0.89], [0.085, 0.075, 0.08]),
    "min_diff": ([0.33, 0.345, 0.325], [0.889, 0.901, 0.878], [0.04, 0.03, 0.05]),
}
_LABELS = {"none": "None", "l2": "L2", "dropout": "Dropout", "min_diff": "MinDiff w=5"}


def _run(name, repeat):
    val, auc, fpr = (v[repeat] for v in _VALUES[name])
    return RunResult(
        technique=name,
        label=_LABELS[name],
        min_diff_weight=5.0 if name == "min_diff" else None,
        repeat=repeat,
        seed=10 + repeat,
        epochs=3,
        train_loss=0.3,
        val_loss=val,
        overfit_gap=val - 0.3,
        test_auc=auc,
        test_accuracy=0.85,
        dp_gap=0.1,
        eo_gap=0.05,
        fpr_gap=fpr,
        sparsity=0.01,
        seconds=1.0,
        history={
            "binary_crossentropy": [0.5, 0.4, 0.3],
            "val_binary_crossentropy": [0.5, 0.4, val],
            "loss": [0.5, 0.4, 0.3],
        },
    )


@pytest.fixture
def comparison():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2)).astype("float32")
    y = np.array([0, 1, 0, 1, 0, 1], "float32")
    g = np.array([True, False] * 3)
    task = TabularTask("toy", x, y, x, y, x, y, g, g, g, ("a", "b"), "y", "1", "g", "g1", "g0")
    runs = [_run(name, r) for r in range(3) for name in _VALUES]
    return Comparison(
        task=task,
        runs=runs,
        epochs=3,
        batch_size=8,
        hidden_units=(4,),
        learning_rate=1e-3,
        seed=10,
        min_diff_weights=(5.0,),
        recipe=None,
        backend="jax",
        total_seconds=12.0,
        notes=[],
        repeats=3,
        planned=12,
    )


def _interval(values):
    low, high = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values)
    )
    return np.mean(values), (high - low) / 2


def test_table_shows_means_with_t_intervals(comparison):
    table = format_table(comparison).splitlines()
    assert table[0].split()[:3] == ["Technique", "Epochs", "Train"]
    assert len(table) == 2 + 4
    mean, half = _interval(_VALUES["none"][0])
    assert f"{mean:.4f} ±{half:.4f}" in table[2]
    mean, half = _interval(_VALUES["min_diff"][2])
    assert table[5].startswith("MinDiff w=5") and f"{mean:.3f} ±{half:.3f}" in table[5]
    assert " 3.0 " in table[2] and "±" not in table[2].split()[1]  # epochs: mean only


def test_bold_only_when_significantly_better_than_the_runner_up(comparison):
    rows = {line.split(" | ")[0][2:]: line for line in format_table(comparison, True).splitlines()}
    # Test AUC: L2 beats the runner-up (Dropout) by 0.01 on every seed: significant.
    auc_mean, auc_half = _interval(_VALUES["l2"][1])
    assert f"**{auc_mean:.4f} ±{auc_half:.4f}**" in rows["L2"]
    # Val loss: L2's mean is lowest, but its differences from Dropout (-0.005, +0.01, -0.02)
    # straddle 0: no bold. FPR gap: MinDiff beats None by 0.04 on every seed: bold.
    val_mean, val_half = _interval(_VALUES["l2"][0])
    assert f"| {val_mean:.4f} ±{val_half:.4f} |" in rows["L2"]
    assert rows["MinDiff w=5"].count("**") == 2 and rows["Dropout"].count("**") == 0


def test_paired_differences_against_the_baseline(comparison, tmp_path):
    table = format_differences(comparison).splitlines()
    assert table[0].split()[:4] == ["vs", "None", "Val", "loss"]
    l2 = next(line for line in table if line.startswith("L2"))
    # L2 - None is -0.03 on every seed: a zero-width interval, significant.
    assert "-0.0300 [-0.0300, -0.0300] *" in l2
    dropout = next(line for line in table if line.startswith("Dropout"))
    diffs = np.subtract(_VALUES["dropout"][2], _VALUES["none"][2])  # FPR gap: not significant
    test = scipy_stats.ttest_1samp(diffs, 0.0)
    low, high = test.confidence_interval(0.95)
    assert f"{diffs.mean():+.3f} [{low:+.3f}, {high:+.3f}]" in dropout
    assert f"{high:+.3f}] *" not in dropout

    paths = write_report(comparison, tmp_path, command="keras-regkit compare --repeats 3")
    names = [p.name for p in paths]
    assert names[:4] == ["report.md", "results.csv", "summary.csv", "differences.csv"]
    with open(tmp_path / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 12 and [rows[i]["seed"] for i in (0, 4, 8)] == ["10", "11", "12"]
    assert rows[0]["repeat"] == "0" and rows[0]["technique"] == "none"
    with open(tmp_path / "summary.csv", newline="") as file:
        summary = {row["label"]: row for row in csv.DictReader(file)}
    mean, half = _interval(_VALUES["none"][0])
    assert float(summary["None"]["val_loss_mean"]) == pytest.approx(mean, abs=1e-6)
    assert float(summary["None"]["val_loss_ci_high"]) == pytest.approx(mean + half, abs=1e-6)
    assert summary["None"]["repeats"] == "3"
    with open(tmp_path / "differences.csv", newline="") as file:
        diff_rows = list(csv.DictReader(file))
    fpr = next(r for r in diff_rows if r["label"] == "MinDiff w=5" and r["metric"] == "fpr_gap")
    assert float(fpr["difference"]) == pytest.approx(-0.04) and fpr["significant"] == "1"
    report = (tmp_path / "report.md").read_text()
    assert "3 repeats with seeds 10..12" in report
    assert "Paired differences from None" in report and "| L2 | -0.0300 [" in report
    # The settings come from the strengths that ran.
    assert "- **L2** (`l2`): keras.regularizers.L2(0.001) on every kernel" in report
    assert "loss_weight=5) for false-positive-rate parity" in report


def test_highlights_state_only_supported_effects(comparison):
    lines = highlights(comparison)
    assert lines[0] == "Validation loss significantly below None's: L2."  # not Dropout
    assert lines[1].startswith("Lowest mean validation loss: L2, 0.3000 ±")
    assert "validation loss down -0.0300 [-0.0300, -0.0300]" in lines[1]
    # MinDiff: FPR gap down by 0.04 on every seed; its AUC differences straddle 0.
    [min_diff] = [line for line in lines if line.startswith("MinDiff w=5")]
    assert "FPR gap down -0.040 [-0.040, -0.040]" in min_diff
    assert "no significant change in test AUC" in min_diff


def test_settings_show_the_strengths_that_ran(comparison, tmp_path):
    for run in comparison.runs:
        run.strength = 0.1 if run.technique == "dropout" else run.strength
    write_report(comparison, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "- **Dropout** (`dropout`): Dropout(0.1) after every hidden layer" in report


def test_single_repeat_has_no_intervals_and_no_bold(comparison):
    comparison.runs = [run for run in comparison.runs if run.repeat == 0]
    comparison.repeats = 1
    assert "±" not in format_table(comparison)
    assert "**" not in format_table(comparison, markdown=True)
    assert "(one repeat: no interval)" in " ".join(highlights(comparison))
