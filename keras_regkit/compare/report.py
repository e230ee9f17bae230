"""The outputs of `keras-regkit compare`: a table, results.csv, report.md and PNG plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from keras_regkit.compare import measured, stats
from keras_regkit.compare.engine import (
    DECISION_THRESHOLD,
    SPARSITY_THRESHOLD,
    Comparison,
    RunResult,
)
from keras_regkit.compare.summary import BASELINE, Summary, summarize
from keras_regkit.compare.techniques import technique as technique_of
from keras_regkit.compare.techniques import uses_min_diff

CSV_COLUMNS = (
    "technique",
    "label",
    "min_diff_weight",
    "strength",
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
    "flip_rate",
    "sparsity",
    "seconds",
)

# (header, attribute, format, better): better is "min", "max" or None (not ranked).
_TABLE = (
    ("Epochs", "epochs", "{:.1f}", None),
    ("Train loss", "train_loss", "{:.4f}", None),
    ("Val loss", "val_loss", "{:.4f}", "min"),
    ("Gap", "overfit_gap", "{:+.4f}", None),
    ("Test AUC", "test_auc", "{:.4f}", "max"),
    ("Test acc", "test_accuracy", "{:.4f}", "max"),
    ("DP gap", "dp_gap", "{:.3f}", "min"),
    ("EO gap", "eo_gap", "{:.3f}", "min"),
    ("FPR gap", "fpr_gap", "{:.3f}", "min"),
    ("Flip rate", "flip_rate", "{:.3f}", "min"),
    ("Sparsity", "sparsity", "{:.1%}", None),
    ("Seconds", "seconds", "{:.1f}", None),
)
# Mean only: the number of epochs and the time are not effects to test.
_NO_INTERVAL = ("epochs", "seconds")
# The columns of the paired-difference table (technique minus the baseline).
_DIFFERENCES = (
    ("Val loss", "val_loss", "{:+.4f}", "min"),
    ("Gap", "overfit_gap", "{:+.4f}", "min"),
    ("Test AUC", "test_auc", "{:+.4f}", "max"),
    ("Test acc", "test_accuracy", "{:+.4f}", "max"),
    ("DP gap", "dp_gap", "{:+.3f}", "min"),
    ("EO gap", "eo_gap", "{:+.3f}", "min"),
    ("FPR gap", "fpr_gap", "{:+.3f}", "min"),
    ("Flip rate", "flip_rate", "{:+.3f}", "min"),
)
METRICS = tuple(attr for _, attr, _, _ in _TABLE)
LEARNING_CURVES = "learning_curves.png"
_CURVES = ("binary_crossentropy", "val_binary_crossentropy")
FRONTIER = "fairness_frontier.png"
SUMMARY = "summary.csv"
DIFFERENCES = "differences.csv"


def _baseline(rows: list[Summary]) -> Summary | None:
    return next((row for row in rows if row.technique == BASELINE), None)


def _best(rows: list[Summary], attribute: str, better: str | None) -> str | None:
    """The label whose mean is best, if significantly better than the runner-up's (paired)."""
    if better is None or len(rows) < 2:
        return None
    ranked = [row for row in rows if math.isfinite(row.interval(attribute).mean)]
    ranked.sort(key=lambda row: row.interval(attribute).mean, reverse=better == "max")
    if len(ranked) < 2:
        return None
    difference = ranked[0].difference(ranked[1], attribute)
    ahead = difference.high < 0 if better == "min" else difference.low > 0
    return ranked[0].label if difference.significant and ahead else None


def _cell(row: Summary, attribute: str, fmt: str) -> str:
    interval = row.interval(attribute)
    if attribute in _NO_INTERVAL:
        return "n/a" if math.isnan(interval.mean) else fmt.format(interval.mean)
    return stats.format_interval(interval, fmt)


def _render(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("| --- | " + " | ".join("---:" for _ in headers[1:]) + " |")
        lines.extend("| " + " | ".join(cells) + " |" for cells in rows)
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(cells) for cells in rows)
    return "\n".join(out)


def format_table(comparison: Comparison, markdown: bool = False) -> str:
    """The results table: each measurement's mean ± the half-width of its 95% t interval.

    Aligned text for a terminal, or Markdown where a column's best value is bold when it
    is significantly better than the runner-up's (their paired interval excludes 0).
    """
    summaries = summarize(comparison)
    headers = ["Technique", *(h for h, *_ in _TABLE)]
    best = {attr: _best(summaries, attr, better) for _, attr, _, better in _TABLE}
    rows = []
    for row in summaries:
        cells = [row.label]
        for _, attr, fmt, _ in _TABLE:
            text = _cell(row, attr, fmt)
            if markdown and best[attr] == row.label:
                text = f"**{text}**"
            cells.append(text)
        rows.append(cells)
    return _render(headers, rows, markdown)


def differences(comparison: Comparison) -> list[tuple[Summary, dict[str, stats.Interval]]]:
    """Each row's paired difference from the baseline (None), per measurement."""
    summaries = summarize(comparison)
    base = _baseline(summaries)
    if base is None:
        return []
    return [
        (row, {attr: row.difference(base, attr) for _, attr, _, _ in _DIFFERENCES})
        for row in summaries
        if row is not base
    ]


def format_differences(comparison: Comparison, markdown: bool = False) -> str:
    """The paired differences from the baseline with their 95% intervals; `*`: significant.

    Empty without a baseline run or other techniques.
    """
    found = differences(comparison)
    if not found:
        return ""
    headers = ["vs None", *(h for h, *_ in _DIFFERENCES)]
    rows = []
    for row, intervals in found:
        cells = [row.label]
        for _, attr, fmt, _ in _DIFFERENCES:
            interval = intervals[attr]
            text = stats.format_interval(interval, fmt, brackets=True)
            cells.append(text + (" *" if interval.significant else ""))
        rows.append(cells)
    return _render(headers, rows, markdown)


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def write_csv(comparison: Comparison, path: str | Path) -> Path:
    """Writes one row per run (floats with 6 decimals; empty where not applicable)."""
    path = Path(path)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for run in comparison.runs:
            row = run.row()
            writer.writerow({key: _number(row[key]) for key in CSV_COLUMNS})
    return path


def write_summary_csv(comparison: Comparison, path: str | Path) -> Path:
    """Writes one row per technique: each measurement's mean and 95% t interval."""
    path = Path(path)
    columns = ["technique", "label", "min_diff_weight", "repeats"]
    for attr in METRICS:
        columns += [f"{attr}_mean", f"{attr}_ci_low", f"{attr}_ci_high"]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in summarize(comparison):
            values = {
                "technique": row.technique,
                "label": row.label,
                "min_diff_weight": _number(row.min_diff_weight),
                "repeats": len(row.runs),
            }
            for attr in METRICS:
                interval = row.interval(attr)
                values[f"{attr}_mean"] = _number(interval.mean)
                values[f"{attr}_ci_low"] = _number(interval.low)
                values[f"{attr}_ci_high"] = _number(interval.high)
            writer.writerow(values)
    return path


def write_differences_csv(comparison: Comparison, path: str | Path) -> Path | None:
    """Writes the paired differences from the baseline, one row per technique and measurement."""
    found = differences(comparison)
    if not found:
        return None
    path = Path(path)
    columns = ["technique", "label", "min_diff_weight", "metric", "difference", "ci_low"]
    columns += ["ci_high", "pairs", "significant"]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row, intervals in found:
            for attr, interval in intervals.items():
                writer.writerow(
                    {
                        "technique": row.technique,
                        "label": row.label,
                        "min_diff_weight": _number(row.min_diff_weight),
                        "metric": attr,
                        "difference": _number(interval.mean),
                        "ci_low": _number(interval.low),
                        "ci_high": _number(interval.high),
                        "pairs": interval.n,
                        "significant": int(interval.significant),
                    }
                )
    return path


def _curve(runs: list[RunResult], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch: the mean over the runs that reached it, and its t interval (band)."""
    length = max((len(run.history.get(key, [])) for run in runs), default=0)
    mean, low, high = (np.full(length, np.nan) for _ in range(3))
    for epoch in range(length):
        interval = stats.t_interval(
            run.history[key][epoch] for run in runs if len(run.history.get(key, [])) > epoch
        )
        mean[epoch], low[epoch], high[epoch] = interval.mean, interval.low, interval.high
    return mean, low, high


def plot_learning_curves(comparison: Comparison, path: str | Path) -> Path:
    """One panel per technique: training and validation loss per epoch, mean and 95% band."""
    rows = summarize(comparison)
    ncols = min(4, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig = _figure(figsize=(3.6 * ncols, 2.6 * nrows))
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    values = [v for r in comparison.runs for k in _CURVES for v in r.history.get(k, [])]
    finite = sorted(v for v in values if math.isfinite(v))
    if finite:
        low = finite[0]
        high = finite[min(len(finite) - 1, int(0.95 * len(finite)))]
        pad = 0.05 * (high - low or 1.0)
    for ax, row in zip(axes.flat, rows, strict=False):
        for key, style, color, name in (
            (_CURVES[0], "--", "tab:blue", "training"),
            (_CURVES[1], "-", "tab:orange", "validation"),
        ):
            mean, band_low, band_high = _curve(row.runs, key)
            epochs = np.arange(1, len(mean) + 1)
            ax.plot(epochs, mean, style, color=color, label=name)
            if np.isfinite(band_low).any():
                ax.fill_between(epochs, band_low, band_high, color=color, alpha=0.2, lw=0)
            if key == _CURVES[1] and len(mean) and np.isfinite(mean).any():
                best = int(np.nanargmin(mean))
                ax.plot(best + 1, mean[best], "o", color=color, markersize=4)
        ax.set_title(row.label, fontsize=9)
        ax.grid(alpha=0.3)
        if finite:
            ax.set_ylim(low - pad, high + pad)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss")
    axes.flat[0].legend(fontsize=8)
    repeats = max(len(row.runs) for row in rows)
    band = f"mean of {repeats} repeats with its 95% interval; " if repeats > 1 else ""
    fig.suptitle(
        "Learning curves: binary cross-entropy without penalties (training: running mean over "
        f"the epoch's batches, with dropout/noise/MixUp active); {band}dot: best validation "
        "epoch",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


# The frontier's legend: (colour, marker) per family of fairness mitigation.
_FAMILIES = {
    None: ("0.6", "o"),
    "pre-processing": ("tab:green", "s"),
    "in-processing": ("tab:blue", "D"),
    "post-processing": ("tab:purple", "^"),
}


def _family(name: str) -> str | None:
    """A technique's (or combination's) family: its parts' fairness family, if any."""
    families = [technique_of(part).family for part in name.split("+")]
    return next((family for family in families if family), None)


def plot_frontier(comparison: Comparison, path: str | Path) -> Path | None:
    """Test AUC against the FPR gap, along the MinDiff weights (and the other techniques).

    Every point is the mean over the repeats, with its 95% t interval on both axes.
    """
    rows = [r for r in summarize(comparison) if math.isfinite(r.interval("fpr_gap").mean)]
    min_diff = sorted(
        (r for r in rows if r.technique == "min_diff"), key=lambda r: r.min_diff_weight
    )
    if not min_diff:
        return None

    def points(group):
        x = [r.interval("fpr_gap") for r in group]
        y = [r.interval("test_auc") for r in group]
        errors = [[0 if math.isnan(i.half_width) else i.half_width for i in v] for v in (x, y)]
        return [i.mean for i in x], [i.mean for i in y], errors[0], errors[1]

    fig = _figure(figsize=(7, 4.8))
    ax = fig.subplots()
    others = [r for r in rows if r.technique != "min_diff"]
    baseline = _baseline(others)
    x, y, xerr, yerr = points(others)
    # One colour and marker per family of fairness mitigation; the regularizers in grey.
    for family, (color, marker) in _FAMILIES.items():
        members = [i for i, r in enumerate(others) if _family(r.technique) == family]
        if not members:
            continue
        ax.errorbar(
            [x[i] for i in members],
            [y[i] for i in members],
            xerr=[xerr[i] for i in members],
            yerr=[yerr[i] for i in members],
            fmt=marker,
            color=color,
            ms=4 if family is None else 6,
            lw=0.8,
            label="regularization" if family is None else f"{family} mitigation",
        )
    # Neighbours in AUC order get their labels above and below, so close points stay legible.
    order = sorted(range(len(others)), key=lambda i: y[i])
    for rank, i in enumerate(order):
        ax.annotate(
            others[i].label,
            (x[i], y[i]),
            fontsize=7,
            color="0.4",
            xytext=(3, 3 if rank % 2 else -9),
            textcoords="offset points",
        )
    line = ([baseline] if baseline else []) + min_diff
    x, y, xerr, yerr = points(line)
    ax.errorbar(
        x,
        y,
        xerr=xerr,
        yerr=yerr,
        fmt="-o",
        color="tab:red",
        ms=5,
        lw=1,
        capsize=2,
        label="MinDiff, by loss weight" + (" (from no MinDiff)" if baseline else ""),
    )
    for r, xi, yi in zip(line, x, y, strict=True):
        if r.technique == "min_diff":
            ax.annotate(
                f"w={r.min_diff_weight:g}",
                (xi, yi),
                fontsize=8,
                color="tab:red",
                xytext=(4, -10),
                textcoords="offset points",
            )
    # The axes span the means: a wide interval (few repeats, an unstable run) runs off the
    # plot instead of shrinking every other point.
    means = [points(rows)[0], points(rows)[1]]
    for axis, values in zip((ax.set_xlim, ax.set_ylim), means, strict=True):
        low, high = min(values), max(values)
        pad = 0.15 * (high - low) or 0.01
        axis(low - pad, high + pad)
    group = comparison.task.sensitive_group
    reference = comparison.task.reference_group
    ax.set_xlabel(f"false positive rate gap, {group} vs {reference} (test; lower is fairer)")
    ax.set_ylabel("test AUC (higher is better)")
    repeats = max(len(r.runs) for r in rows)
    ax.set_title(
        "Fairness-accuracy frontier"
        + (f" (mean of {repeats} repeats, 95% intervals)" if repeats > 1 else "")
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def write_report(comparison: Comparison, out_dir: str | Path, command: str | None = None):
    """Writes results.csv, summary.csv, differences.csv, the plots and report.md into `out_dir`.

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
    written.append(write_summary_csv(comparison, out / SUMMARY))
    diff = write_differences_csv(comparison, out / DIFFERENCES)
    if diff is not None:
        written.append(diff)
    plots, plot_note = [], None
    if comparison.runs:
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
    chosen = measured.choose(comparison)
    if chosen is not None:
        written.append(measured.write_recipe(chosen, out / measured.RECIPE_FILE))
    report = out / "report.md"
    _write_atomic(
        report, _markdown(comparison, [p.name for p in plots], plot_note, command, chosen)
    )
    return [report, *written]


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _timing(comparison: Comparison) -> str:
    runs, resumed = len(comparison.runs), comparison.resumed
    if not resumed:
        return f"{runs} runs in {comparison.total_seconds:.0f} s"
    return (
        f"{runs} runs, {resumed} of them from the earlier job this one resumed; the other "
        f"{runs - resumed} in {comparison.total_seconds:.0f} s"
    )


def _seeds(comparison: Comparison) -> str:
    first, last = comparison.seed, comparison.seed + comparison.repeats - 1
    if comparison.repeats == 1:
        return f"seed {first}"
    return f"{comparison.repeats} repeats with seeds {first}..{last}"


def _markdown(comparison: Comparison, plots: list[str], plot_note, command, chosen=None) -> str:
    task = comparison.task
    runs = comparison.runs
    n_train, n_val, n_test = len(task.y_train), len(task.y_val), len(task.y_test)
    lines = ["# keras-regkit compare", ""]
    for warning in task.warnings:
        lines += [f"**Warning: {warning}.**", ""]
    if comparison.interrupted:
        lines += [
            f"**Interrupted: {len(runs)} of {comparison.planned} runs finished.** This report "
            "covers them; rerun the command with `--resume` to finish the rest.",
            "",
        ]
    lines.append(
        f"Data: {task.name}. Target `{task.target}` (positive: `{task.positive_label}`), "
        f"{task.n_features} features; {n_train:,} training, {n_val:,} validation and "
        f"{n_test:,} test rows"
        + (" (repeat 0; every repeat draws its own split)." if comparison.repeats > 1 else ".")
    )
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
        f"up to {comparison.epochs} epochs, {_seeds(comparison)}; within a repeat every run "
        f"starts from the same initial weights. {comparison.environment()}; {_timing(comparison)}.",
        "",
        format_table(comparison, markdown=True),
        "",
    ]
    table = format_differences(comparison, markdown=True)
    if table:
        lines += [
            "Paired differences from None (technique minus None, seed by seed), mean and 95% "
            "t interval; `*`: significant (the interval excludes 0):",
            "",
            table,
            "",
        ]
    lines += [
        *_highlights(comparison),
        "How to read it:",
        "",
        "- Every cell is the mean over the repeats ± the half-width of its 95% Student-t "
        "confidence interval (no interval with a single repeat).",
        "- *Train loss* and *Val loss*: binary cross-entropy of the final model (best weights "
        "when early stopping restores them) on the clean training and validation rows, without "
        "penalties or augmentation. *Gap* = val - train, the overfitting gap.",
        f"- *Test AUC*, *Test acc* and the fairness gaps are on the test rows, a prediction "
        f"being positive when the score is above {DECISION_THRESHOLD}. *DP gap*: demographic "
        "parity difference (selection rates); *EO gap*: equal opportunity difference (true "
        "positive rates); *FPR gap*: false positive rate difference, between the two groups "
        "(Fairlearn's definitions; lower is fairer). *Flip rate*: the share of test decisions "
        "that change when only the sensitive attribute is swapped in the features (the "
        "counterfactual flip rate; n/a when it is not a two-valued feature).",
        f"- *Sparsity*: the share of kernel weights with |w| < {SPARSITY_THRESHOLD:g}.",
        "- Bold: a column's best mean, shown only where it is significantly better than the "
        "runner-up's (their paired 95% interval excludes 0).",
        "",
        "## Techniques",
        "",
    ]
    used = list(dict.fromkeys(r.technique for r in runs))
    for name in used:
        technique = technique_of(name)
        # The text comes from the strengths that ran, not from a second copy of them.
        setting = technique.describe(
            [
                r.min_diff_weight if r.strength is None else r.strength
                for r in runs
                if r.technique == name
            ]
        )
        reference = f" ({technique.reference})" if technique.reference else ""
        family = _family(name)
        kind = f", {family} fairness mitigation" if family else ""
        lines.append(f"- **{technique.label}** (`{name}`{kind}): {setting}{reference}.")
    if comparison.recipe is not None:
        lines += ["", "The recipe (`keras_regkit.recipes.recommend`):", "", "```"]
        lines += [str(comparison.recipe), "```"]
    if chosen is not None:
        lines += ["", "## Measured recipe", "", measured.describe(*chosen)]
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


def _effect(interval: stats.Interval, fmt: str, what: str) -> str:
    """A difference in words: its interval, and whether it is significant."""
    if interval.n < 2:
        return f"{what} {fmt.format(interval.mean)} (one repeat: no interval)"
    text = stats.format_interval(interval, fmt, brackets=True)
    if not interval.significant:
        return f"no significant change in {what} ({text})"
    return f"{what} {'up' if interval.mean > 0 else 'down'} {text}"


def highlights(comparison: Comparison) -> list[str]:
    """Sentences on the table that state only effects whose 95% intervals support them."""
    rows = summarize(comparison)
    base = _baseline(rows)
    lines: list[str] = []
    if base is None or len(rows) < 2:
        return lines
    found = differences(comparison)
    lower = [row.label for row, d in found if d["val_loss"].significant and d["val_loss"].high < 0]
    higher = [row.label for row, d in found if d["val_loss"].significant and d["val_loss"].low > 0]
    if base.runs and len(base.runs) > 1:
        if lower:
            lines.append("Validation loss significantly below None's: " + ", ".join(lower) + ".")
        else:
            lines.append("No technique has a validation loss significantly below None's.")
        if higher:
            lines.append("Significantly above None's: " + ", ".join(higher) + ".")
    others = [(row, d) for row, d in found if math.isfinite(row.interval("val_loss").mean)]
    if others:
        row, d = min(others, key=lambda item: item[0].interval("val_loss").mean)
        lines.append(
            f"Lowest mean validation loss: {row.label}, "
            f"{stats.format_interval(row.interval('val_loss'), '{:.4f}')} against "
            f"{stats.format_interval(base.interval('val_loss'), '{:.4f}')} for None: "
            f"{_effect(d['val_loss'], '{:+.4f}', 'validation loss')}; "
            f"{_effect(d['test_auc'], '{:+.4f}', 'test AUC')}."
        )
    if math.isfinite(base.interval("fpr_gap").mean):
        for row, d in found:
            if not uses_min_diff(row.technique):
                continue
            lines.append(
                f"{row.label}: FPR gap "
                f"{stats.format_interval(row.interval('fpr_gap'), '{:.3f}')} against "
                f"{stats.format_interval(base.interval('fpr_gap'), '{:.3f}')}: "
                f"{_effect(d['fpr_gap'], '{:+.3f}', 'FPR gap')}; "
                f"{_effect(d['test_auc'], '{:+.4f}', 'test AUC')}."
            )
        lines.extend(_family_highlights(found))
    return lines


def _family_highlights(found) -> list[str]:
    """Each mitigation family's lowest mean FPR gap, and whether one family's is lower."""
    best = {}
    for row, d in found:
        family = _family(row.technique)
        if family is None or not math.isfinite(row.interval("fpr_gap").mean):
            continue
        if (
            family not in best
            or row.interval("fpr_gap").mean < best[family][0].interval("fpr_gap").mean
        ):
            best[family] = (row, d)
    if not best:
        return []
    parts = [
        f"{family}: {row.label}, {_effect(d['fpr_gap'], '{:+.3f}', 'FPR gap')}, "
        f"{_effect(d['test_auc'], '{:+.4f}', 'test AUC')}"
        for family, (row, d) in best.items()
    ]
    lines = ["Lowest mean FPR gap of each mitigation family: " + "; ".join(parts) + "."]
    if len(best) > 1:
        ranked = sorted(best.items(), key=lambda item: item[1][0].interval("fpr_gap").mean)
        (family, (first, _)), (second_family, (second, _)) = ranked[0], ranked[1]
        difference = first.difference(second, "fpr_gap")
        if difference.significant and difference.high < 0:
            lines.append(
                f"The {family} family has the lowest FPR gap: {first.label} is below the next "
                f"family's best ({second.label}) by "
                f"{stats.format_interval(difference, '{:+.3f}', brackets=True)}."
            )
        else:
            lines.append(
                f"No family's FPR gap is significantly below another's: {first.label} "
                f"({family}) against {second.label} ({second_family}), "
                f"{_effect(difference, '{:+.3f}', 'FPR gap')}."
            )
    return lines


def _highlights(comparison: Comparison) -> list[str]:
    lines = highlights(comparison)
    if not lines:
        return []
    return ["Highlights (generated from the intervals):", "", *(f"- {x}" for x in lines), ""]


def _figure(**kwargs):
    # A bare Figure renders PNGs with the Agg canvas and leaves pyplot's global
    # backend (a notebook's inline one, say) untouched.
    from matplotlib.figure import Figure

    return Figure(**kwargs)
