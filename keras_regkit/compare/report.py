"""The outputs of `keras-regkit compare`: a table, results.csv, report.md and PNG plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from keras_regkit.compare.engine import (
    DECISION_THRESHOLD,
    SPARSITY_THRESHOLD,
    Comparison,
    RunResult,
)
from keras_regkit.compare.techniques import TECHNIQUES

CSV_COLUMNS = (
    "technique",
    "label",
    "min_diff_weight",
    "repeat",
    "seed",
    "epochs",
    "train_loss",
    "val_loss",
    "overfit_gap",
    "test_auc",
    "test_accuracy",
    "dp_gap",
    "eo_gap",
    "fpr_gap",
    "sparsity",
    "seconds",
)

# (header, attribute, format, better): better is "min", "max" or None (not ranked).
_TABLE = (
    ("Epochs", "epochs", "{:d}", None),
    ("Train loss", "train_loss", "{:.4f}", None),
    ("Val loss", "val_loss", "{:.4f}", "min"),
    ("Gap", "overfit_gap", "{:+.4f}", None),
    ("Test AUC", "test_auc", "{:.4f}", "max"),
    ("Test acc", "test_accuracy", "{:.4f}", "max"),
    ("DP gap", "dp_gap", "{:.3f}", "min"),
    ("EO gap", "eo_gap", "{:.3f}", "min"),
    ("FPR gap", "fpr_gap", "{:.3f}", "min"),
    ("Sparsity", "sparsity", "{:.1%}", None),
    ("Seconds", "seconds", "{:.1f}", None),
)
LEARNING_CURVES = "learning_curves.png"
_CURVES = ("binary_crossentropy", "val_binary_crossentropy")
FRONTIER = "fairness_frontier.png"


def _cell(run: RunResult, attribute: str, fmt: str) -> str:
    value = getattr(run, attribute)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return fmt.format(value)


def _best(runs: list[RunResult], attribute: str, better: str | None) -> float | None:
    values = [getattr(r, attribute) for r in runs]
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if better is None or not values or len(runs) < 2:
        return None
    return min(values) if better == "min" else max(values)


def format_table(comparison: Comparison, markdown: bool = False) -> str:
    """The results table: aligned text for a terminal, or Markdown with the best values in bold."""
    runs = comparison.runs
    headers = ["Technique", *(h for h, *_ in _TABLE)]
    best = {attr: _best(runs, attr, better) for _, attr, _, better in _TABLE}
    rows = []
    for run in runs:
        cells = [run.label]
        for _, attr, fmt, _ in _TABLE:
            text = _cell(run, attr, fmt)
            if markdown and best[attr] is not None and text == fmt.format(best[attr]):
                text = f"**{text}**"
            cells.append(text)
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("| --- | " + " | ".join("---:" for _ in _TABLE) + " |")
        lines.extend("| " + " | ".join(cells) + " |" for cells in rows)
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(cells) for cells in rows)
    return "\n".join(out)


def write_csv(comparison: Comparison, path: str | Path) -> Path:
    """Writes one row per run (floats with 6 decimals; empty where not applicable)."""
    path = Path(path)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for run in comparison.runs:
            row = run.row()
            for key, value in row.items():
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    row[key] = ""
                elif isinstance(value, float):
                    row[key] = f"{value:.6f}"
            writer.writerow(row)
    return path


def plot_learning_curves(comparison: Comparison, path: str | Path) -> Path:
    """One panel per run: training loss (as optimized) and validation loss per epoch."""
    runs = comparison.runs
    ncols = min(4, len(runs))
    nrows = math.ceil(len(runs) / ncols)
    fig = _figure(figsize=(3.6 * ncols, 2.6 * nrows))
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    values = [v for r in runs for k in _CURVES for v in r.history.get(k, [])]
    finite = sorted(v for v in values if math.isfinite(v))
    if finite:
        low = finite[0]
        high = finite[min(len(finite) - 1, int(0.95 * len(finite)))]
        pad = 0.05 * (high - low or 1.0)
    for ax, run in zip(axes.flat, runs, strict=False):
        train = run.history.get(_CURVES[0], [])
        ax.plot(range(1, len(train) + 1), train, "--", color="tab:blue", label="training")
        val = run.history.get(_CURVES[1], [])
        ax.plot(range(1, len(val) + 1), val, color="tab:orange", label="validation")
        if val:
            best = min(range(len(val)), key=val.__getitem__)
            ax.plot(best + 1, val[best], "o", color="tab:orange", markersize=4)
        ax.set_title(run.label, fontsize=9)
        ax.grid(alpha=0.3)
        if finite:
            ax.set_ylim(low - pad, high + pad)
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        "Learning curves: binary cross-entropy without penalties (training: running mean over "
        "the epoch's batches, with dropout/noise/MixUp active); dot: best validation epoch",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_frontier(comparison: Comparison, path: str | Path) -> Path | None:
    """Test AUC against the FPR gap, along the MinDiff weights (and the other techniques)."""
    runs = [r for r in comparison.runs if not math.isnan(r.fpr_gap)]
    min_diff = sorted(
        (r for r in runs if r.technique == "min_diff"), key=lambda r: r.min_diff_weight
    )
    if not min_diff:
        return None
    fig = _figure(figsize=(7, 4.8))
    ax = fig.subplots()
    others = [r for r in runs if r.technique != "min_diff"]
    baseline = next((r for r in others if r.technique == "none"), None)
    ax.scatter(
        [r.fpr_gap for r in others],
        [r.test_auc for r in others],
        color="0.6",
        s=18,
        label="other techniques",
    )
    # Neighbours in AUC order get their labels above and below, so close points stay legible.
    for rank, r in enumerate(sorted(others, key=lambda r: r.test_auc)):
        ax.annotate(
            r.label,
            (r.fpr_gap, r.test_auc),
            fontsize=7,
            color="0.4",
            xytext=(3, 3 if rank % 2 else -9),
            textcoords="offset points",
        )
    line = ([baseline] if baseline else []) + min_diff
    ax.plot(
        [r.fpr_gap for r in line],
        [r.test_auc for r in line],
        "-o",
        color="tab:red",
        label="MinDiff, by loss weight" + (" (from no MinDiff)" if baseline else ""),
    )
    for r in min_diff:
        ax.annotate(
            f"w={r.min_diff_weight:g}",
            (r.fpr_gap, r.test_auc),
            fontsize=8,
            color="tab:red",
            xytext=(4, -10),
            textcoords="offset points",
        )
    group = comparison.task.sensitive_group
    reference = comparison.task.reference_group
    ax.set_xlabel(f"false positive rate gap, {group} vs {reference} (test; lower is fairer)")
    ax.set_ylabel("test AUC (higher is better)")
    ax.set_title("Fairness-accuracy frontier")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def write_report(comparison: Comparison, out_dir: str | Path, command: str | None = None):
    """Writes results.csv, the plots (with matplotlib) and report.md into `out_dir`.

    Args:
        comparison: what `compare` returned.
        out_dir: the output folder (created if needed).
        command: the command line to show under "Reproduce".

    Returns:
        The list of written paths, report.md first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_csv(comparison, out / "results.csv")]
    plots, plot_note = [], None
    try:
        _figure()
    except ImportError:
        plot_note = "Plots skipped: install matplotlib (`pip install keras-regkit[plot]`)."
    else:
        plots.append(plot_learning_curves(comparison, out / LEARNING_CURVES))
        frontier = plot_frontier(comparison, out / FRONTIER)
        if frontier is not None:
            plots.append(frontier)
    written.extend(plots)
    report = out / "report.md"
    report.write_text(_markdown(comparison, [p.name for p in plots], plot_note, command))
    return [report, *written]


def _markdown(comparison: Comparison, plots: list[str], plot_note, command) -> str:
    task = comparison.task
    runs = comparison.runs
    n_train, n_val, n_test = len(task.y_train), len(task.y_val), len(task.y_test)
    lines = [
        "# keras-regkit compare",
        "",
        f"Data: {task.name}. Target `{task.target}` (positive: `{task.positive_label}`), "
        f"{task.n_features} features; {n_train:,} training, {n_val:,} validation and "
        f"{n_test:,} test rows.",
    ]
    if task.sensitive is not None:
        counts = int(task.groups_test.sum()), int((~task.groups_test).sum())
        lines[-1] += (
            f" Sensitive attribute `{task.sensitive}`: {task.sensitive_group} "
            f"({counts[0]:,} test rows) vs {task.reference_group} ({counts[1]:,})."
        )
    units = "-".join(str(u) for u in comparison.hidden_units)
    lines += [
        "",
        f"Model: MLP {task.n_features}-{units}-1 (ReLU, sigmoid output), Adam "
        f"({comparison.learning_rate:g}), binary cross-entropy, batch {comparison.batch_size}, "
        f"up to {comparison.epochs} epochs, seed {comparison.seed}; every run starts from the "
        f"same initial weights. {comparison.environment()}; {len(runs)} runs in "
        f"{comparison.total_seconds:.0f} s.",
        "",
        format_table(comparison, markdown=True),
        "",
        *_highlights(comparison),
        "How to read it:",
        "",
        "- *Train loss* and *Val loss*: binary cross-entropy of the final model (best weights "
        "when early stopping restores them) on the clean training and validation rows, without "
        "penalties or augmentation. *Gap* = val - train, the overfitting gap.",
        f"- *Test AUC*, *Test acc* and the fairness gaps are on the test rows, a prediction "
        f"being positive when the score is above {DECISION_THRESHOLD}. *DP gap*: demographic "
        "parity difference (selection rates); *EO gap*: equal opportunity difference (true "
        "positive rates); *FPR gap*: false positive rate difference, between the two groups "
        "(Fairlearn's definitions; lower is fairer).",
        f"- *Sparsity*: the share of kernel weights with |w| < {SPARSITY_THRESHOLD:g}.",
        "- Bold: the best value of a column.",
        "",
        "## Techniques",
        "",
    ]
    used = list(dict.fromkeys(r.technique for r in runs))
    for name in used:
        technique = TECHNIQUES[name]
        setting = technique.setting
        if name == "min_diff":
            weights = ", ".join(f"{w:g}" for w in comparison.min_diff_weights)
            setting += f"; loss weights {weights}"
        reference = f" ({technique.reference})" if technique.reference else ""
        lines.append(f"- **{technique.label}** (`{name}`): {setting}{reference}.")
    if comparison.recipe is not None:
        lines += ["", "The recipe (`keras_regkit.recipes.recommend`):", "", "```"]
        lines += [str(comparison.recipe), "```"]
    if comparison.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in comparison.notes]
    if plots or plot_note:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({name})" for name in plots]
        if plot_note:
            lines.append(plot_note)
    if command:
        lines += ["", "## Reproduce", "", "```bash", command, "```"]
    return "\n".join(lines) + "\n"


def _highlights(comparison: Comparison) -> list[str]:
    """A few sentences on the table: what helped most against overfitting, what MinDiff cost."""
    runs = comparison.runs
    base = next((r for r in runs if r.technique == "none"), None)
    lines = []
    finite = [r for r in runs if not math.isnan(r.val_loss)]
    if base is not None and len(finite) > 1:
        best = min(finite, key=lambda r: r.val_loss)
        if best is not base:
            lines.append(
                f"- Lowest validation loss: {best.label}, {best.val_loss:.4f} against "
                f"{base.val_loss:.4f} without regularization (whose train/validation gap is "
                f"{base.overfit_gap:+.4f}); test AUC {best.test_auc:.4f} against "
                f"{base.test_auc:.4f}."
            )
    min_diff = [r for r in runs if r.technique == "min_diff" and not math.isnan(r.fpr_gap)]
    if base is not None and min_diff and not math.isnan(base.fpr_gap) and base.fpr_gap > 0:
        for run in sorted(min_diff, key=lambda r: r.min_diff_weight):
            cut = 1 - run.fpr_gap / base.fpr_gap
            lines.append(
                f"- {run.label}: FPR gap {run.fpr_gap:.3f} against {base.fpr_gap:.3f} "
                f"({-cut:+.0%}), test AUC {run.test_auc - base.test_auc:+.4f}."
            )
    return ["Highlights:", "", *lines, ""] if lines else []


def _figure(**kwargs):
    # A bare Figure renders PNGs with the Agg canvas and leaves pyplot's global
    # backend (a notebook's inline one, say) untouched.
    from matplotlib.figure import Figure

    return Figure(**kwargs)
