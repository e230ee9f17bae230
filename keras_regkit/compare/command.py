"""The `keras-regkit compare` subcommand: arguments and entry point."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time

from keras_regkit.compare.engine import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN_UNITS,
    DEFAULT_REPEATS,
)
from keras_regkit.compare.techniques import (
    DEFAULT_COMBINATIONS,
    DEFAULT_MIN_DIFF_WEIGHTS,
    DEFAULT_TECHNIQUES,
    TECHNIQUES,
    check_combination,
    is_combination,
)

DESCRIPTION = """\
Train the same MLP --repeats times per regularization technique and compare them:
train vs validation loss (the overfitting gap), test AUC and accuracy, fairness gaps
on a sensitive attribute (demographic parity, equal opportunity, false positive
rate), weight sparsity and fit time, each as the mean over the repeats with its 95%
confidence interval, and each technique's paired difference from no regularization.
Repeat r uses seed --seed + r for the initial weights, the data order, the random
layers and the train/validation split, so the runs of one repeat are paired across
techniques. Writes report.md, results.csv (one row per run), summary.csv and PNG
plots (learning curves, fairness-accuracy frontier over the MinDiff loss weights)
to --out.

Without --data it uses the bundled UCI Adult data (income > 50K, sensitive
attribute sex). A CSV file needs --target (a binary column); numeric columns are
standardized and the others one-hot encoded (training-split statistics), and the
rows are split 60/20/20 into train/validation/test, stratified, by --seed. The
sensitive column's groups: its most frequent value against all the others (the
minority of a binary column), or --sensitive-group VALUE against the rest.

Ctrl-C stops after the finished runs, writes a partial report and exits with 130;
--resume continues from there.

Exit status: 0 on success, 2 for bad arguments or unusable data, 130 when
interrupted."""

EPILOG = (
    "techniques: "
    + ", ".join(
        f"{name}{'' if name in DEFAULT_TECHNIQUES else ' (not run by default)'}"
        for name in TECHNIQUES
    )
    + "; and combinations of them joined by '+', trained together in one model (e.g. "
    "l2+min_diff, dropout+mixup; run by default: "
    + ", ".join(DEFAULT_COMBINATIONS)
    + "); a combination with MinDiff runs once per MinDiff weight"
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, received {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, received {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-regkit compare` to `parser`."""
    data = parser.add_argument_group("data (default: the bundled UCI Adult data)")
    data.add_argument("--data", metavar="CSV", help="a CSV file with a header row")
    data.add_argument("--target", metavar="COL", help="the binary target column of --data")
    data.add_argument(
        "--positive",
        metavar="VALUE",
        help="the target value that is the positive class (default: 1, True, or the larger "
        "of the two values in sorted order)",
    )
    data.add_argument(
        "--sensitive",
        metavar="COL",
        help="the sensitive attribute for the fairness gaps and MinDiff (Adult: sex (default) "
        "or race); without it a CSV run has no fairness gaps and skips MinDiff",
    )
    data.add_argument(
        "--sensitive-group",
        metavar="VALUE",
        help="the value of --sensitive that forms the sensitive group (default: every value "
        "but the most frequent one)",
    )
    data.add_argument(
        "--drop",
        metavar="COL",
        nargs="+",
        default=[],
        help="leave these columns of --data out of the features (a leak, an identifier)",
    )
    data.add_argument(
        "--features",
        metavar="COL",
        nargs="+",
        help="use only these columns of --data as features (default: every column but the "
        "target and --drop)",
    )
    data.add_argument(
        "--max-train-rows",
        metavar="N",
        type=_positive_int,
        help="train on a random, stratified subset of N training rows (a quick look)",
    )
    runs = parser.add_argument_group("runs")
    runs.add_argument(
        "--techniques",
        metavar="NAME",
        nargs="+",
        default=[*DEFAULT_TECHNIQUES, *DEFAULT_COMBINATIONS],
        help="techniques to run, in order (space or comma separated; a+b trains a and b "
        "together; default: all but weight_noise, and " + ", ".join(DEFAULT_COMBINATIONS) + ")",
    )
    runs.add_argument(
        "--min-diff-weights",
        metavar="W",
        nargs="+",
        type=_positive_float,
        default=list(DEFAULT_MIN_DIFF_WEIGHTS),
        help="MinDiff loss weights, one run each (default: "
        + " ".join(f"{w:g}" for w in DEFAULT_MIN_DIFF_WEIGHTS)
        + ")",
    )
    runs.add_argument(
        "--epochs",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_EPOCHS,
        help="maximum epochs per run (default: %(default)s)",
    )
    runs.add_argument(
        "--batch-size",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="default: %(default)s",
    )
    runs.add_argument(
        "--hidden-units",
        metavar="N",
        nargs="+",
        type=_positive_int,
        default=list(DEFAULT_HIDDEN_UNITS),
        help="hidden layer widths of the MLP (default: "
        + " ".join(map(str, DEFAULT_HIDDEN_UNITS))
        + ")",
    )
    runs.add_argument(
        "--repeats",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_REPEATS,
        help="train every technique N times, with seeds --seed, --seed + 1, ... "
        "(default: %(default)s; 1 is a single-seed run)",
    )
    runs.add_argument(
        "--tune",
        action="store_true",
        help="first pick each technique's strength from a small grid (keras_regkit.compare."
        "tuning.GRIDS: e.g. L2 1e-4 ... 3e-3, dropout 0.1 ... 0.5) by the mean validation loss "
        "over the repeats, never by test metrics; the report shows every candidate (MinDiff "
        "keeps its --min-diff-weights sweep)",
    )
    runs.add_argument(
        "--jobs",
        metavar="N",
        type=_positive_int,
        default=1,
        help="train N runs at a time in worker processes (joblib), each with its share of "
        "the cores; the same seeds give the same results (default: 1)",
    )
    runs.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="send the runs to the Dask distributed scheduler at ADDRESS (e.g. "
        "tcp://host:8786) instead of training them here; its workers need keras-regkit and "
        "the same Keras backend; the same seeds give the same results",
    )
    runs.add_argument(
        "--seed", metavar="S", type=_seed, default=0, help="the seed of repeat 0 (default: 0)"
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="DIR",
        default="regkit-compare",
        help="output folder for report.md, results.csv, summary.csv and the plots; every "
        "finished run is appended to its runs.jsonl at once (default: %(default)s)",
    )
    reuse = out.add_mutually_exclusive_group()
    reuse.add_argument(
        "--resume",
        action="store_true",
        help="continue the comparison in --out: keep its finished runs, train the others "
        "(refused when they came from other data, arguments or backend; --repeats may grow)",
    )
    reuse.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the comparison in --out (without --resume or --overwrite, a folder "
        "that holds one is refused)",
    )


def _techniques(values: list[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [
        part
        for name in names
        if name not in TECHNIQUES
        for part in name.split("+")
        if part not in TECHNIQUES
    ]
    if unknown or not names:
        raise _UsageError(
            f"argument --techniques: unknown technique(s) {', '.join(unknown) or '(none given)'}"
            f"; choose from {', '.join(TECHNIQUES)}"
        )
    for name in names:
        if is_combination(name):
            try:
                check_combination(name)
            except ValueError as error:
                raise _UsageError(f"argument --techniques: {error}") from None
    return list(dict.fromkeys(names))


class _UsageError(Exception):
    pass


def _check_writable(out: str) -> None:
    """Raises `_UsageError` when the report folder can be neither found nor created."""
    path = os.path.abspath(out)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not os.path.isdir(path) or not os.access(path, os.W_OK):
        raise _UsageError(
            f"--out {out!r}: {path!r} is not a writable folder, so the report cannot be written"
        )


def _configuration(args: argparse.Namespace, techniques: list[str]) -> dict:
    """What determines the runs: the data, the arguments, the backend (not --repeats)."""
    import keras

    from keras_regkit.compare import journal

    if args.data is None:
        data = {"data": "bundled UCI Adult"}
    else:
        data = {"data": os.path.abspath(args.data), "data_sha256": journal.file_digest(args.data)}
    arguments = {
        name: getattr(args, name)
        for name in (
            "target",
            "positive",
            "sensitive",
            "sensitive_group",
            "max_train_rows",
            "drop",
            "min_diff_weights",
            "epochs",
            "batch_size",
            "hidden_units",
            "seed",
        )
    }
    return {
        "data": data,
        "arguments": {"techniques": techniques, **arguments},
        "backend": keras.backend.backend(),
    }


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Runs `keras-regkit compare` with parsed `args`; returns the exit status."""
    try:
        return _run(args, argv)
    except KeyboardInterrupt:  # before or after the training loop, which handles its own
        print("\nkeras-regkit compare: interrupted.", file=sys.stderr)
        return 130


def _missing_extra() -> str | None:
    import importlib.util

    for module, package in (("sklearn", "scikit-learn"), ("scipy", "scipy"), ("joblib", "joblib")):
        if importlib.util.find_spec(module) is None:
            return package
    return None


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # if Keras imports TF for seeding
    missing = _missing_extra()
    if missing:
        print(
            f"keras-regkit compare: error: it needs {missing}: "
            "`pip install keras-regkit[compare]` installs what it uses.",
            file=sys.stderr,
        )
        return 2
    from keras_regkit.compare import data as data_module
    from keras_regkit.compare import engine, journal, report, tuning

    client = None
    try:
        techniques = _techniques(args.techniques)
        if args.data is None:
            for option in ("target", "positive", "drop", "features"):
                if getattr(args, option):
                    raise _UsageError(f"--{option} applies to --data CSV")
        elif args.target is None:
            raise _UsageError("--data needs --target COL, the binary target column")
        progress = engine.ConsoleProgress()
        if args.data is None:
            progress.message("Loading the bundled UCI Adult data ...")
        else:
            progress.message(f"Loading {args.data} ...")

        def load(seed: int) -> data_module.TabularTask:
            if args.data is None:
                task = data_module.load_adult_task(
                    sensitive=args.sensitive or "sex",
                    sensitive_group=args.sensitive_group,
                    seed=seed,
                )
            else:
                task = data_module.load_csv_task(
                    args.data,
                    target=args.target,
                    sensitive=args.sensitive,
                    sensitive_group=args.sensitive_group,
                    positive=args.positive,
                    seed=seed,
                    drop=tuple(args.drop),
                    features=None if args.features is None else tuple(args.features),
                )
            if args.max_train_rows is not None:
                task = task.limit_train_rows(args.max_train_rows, seed=seed)
            return task

        task = load(args.seed)  # the data errors come now, before any training

        def task_for_seed(seed: int) -> data_module.TabularTask:
            return task if seed == args.seed else load(seed)

        _check_writable(args.out)  # before training, not after minutes of it
        if args.scheduler is not None:
            progress.message(f"Connecting to the Dask scheduler at {args.scheduler} ...")
            client = engine.connect(args.scheduler)
        runs_journal = journal.Journal(
            args.out,
            _configuration(args, techniques),
            resume=args.resume,
            overwrite=args.overwrite,
        )
    except (
        _UsageError,
        data_module.DataError,
        journal.OutputError,
        engine.SchedulerError,
    ) as error:
        if client is not None:
            client.close()
        print(f"keras-regkit compare: error: {error}", file=sys.stderr)
        return 2

    sizes = f"{len(task.y_train):,}/{len(task.y_val):,}/{len(task.y_test):,}"
    groups = ""
    if task.sensitive is not None:
        groups = f"; sensitive `{task.sensitive}`: {task.sensitive_group} vs {task.reference_group}"
    progress.message(
        f"{task.n_features} features; train/val/test rows {sizes}{groups}. Running "
        f"{len(techniques)} technique(s) {args.repeats} time(s) each (seeds {args.seed}.."
        f"{args.seed + args.repeats - 1}) for up to {args.epochs} epochs."
    )
    for warning in task.warnings:
        progress.message(f"warning: {warning}")
    for note in task.notes:
        progress.message(f"note: {note}")
    if args.resume:
        kept = len(runs_journal.completed)
        torn = runs_journal.skipped_lines
        progress.message(
            f"Resuming {args.out}: {kept} finished run(s) kept"
            + (f", {torn} unreadable line(s) of {journal.RUNS} ignored" if torn else "")
            + "."
        )
    start = time.perf_counter()
    try:
        settings = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "hidden_units": tuple(args.hidden_units),
            "seed": args.seed,
            "repeats": args.repeats,
            "jobs": args.jobs,
            "scheduler": client,
            "progress": progress,
        }
        strengths, tuning_notes = {}, []
        if args.tune:
            progress.message("--tune: training every strength of each technique's grid ...")
            strengths, tuning_notes = tuning.tune(
                engine.compare, task_for_seed, techniques, **settings
            )
            for note in tuning_notes:
                progress.message(note)
        comparison = engine.compare(
            task_for_seed,
            techniques,
            min_diff_weights=tuple(args.min_diff_weights),
            completed=runs_journal.completed,
            on_run=runs_journal.append,
            strengths=strengths,
            **settings,
        )
        comparison.notes.extend(tuning_notes)
    finally:
        if client is not None:
            client.close()
    command = shlex.join(["keras-regkit", "compare", *(argv or [])])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: report first
    try:
        paths = report.write_report(comparison, args.out, command=command)
    except OSError as error:
        print(
            f"keras-regkit compare: error: cannot write the report to {args.out}: {error}",
            file=sys.stderr,
        )
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    if comparison.interrupted:
        progress.interrupted(
            f"keras-regkit compare: interrupted after {len(comparison.runs)} of "
            f"{comparison.planned} runs; they are kept in {args.out}/{journal.RUNS} with a "
            "partial report.md; rerun with --resume to finish."
        )
        return 130
    print(report.format_table(comparison))
    differences = report.format_differences(comparison)
    if differences:
        print(f"\nPaired differences from None, mean [95% interval]; *: significant\n{differences}")
    print(
        f"\n{len(comparison.runs)} runs in {time.perf_counter() - start:.0f} s "
        f"({comparison.backend} backend). Wrote {', '.join(p.name for p in paths)} to "
        f"{args.out}/"
    )
    return 0
