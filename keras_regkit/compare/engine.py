"""Trains the base model once per technique and measures it."""

from __future__ import annotations

import dataclasses
import math
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import keras
import numpy as np

from keras_regkit import fairness, recipes
from keras_regkit._validation import check_choice, check_float, check_int
from keras_regkit.compare import counterfactuals
from keras_regkit.compare import techniques as techniques_module
from keras_regkit.compare.compiled import CompiledModels, build_for_fit
from keras_regkit.compare.data import TabularTask
from keras_regkit.compare.techniques import (
    DEFAULT_MIN_DIFF_WEIGHTS,
    DEFAULT_TECHNIQUES,
    TECHNIQUES,
    check_combination,
    is_combination,
    uses_min_diff,
)

# A kernel weight this close to zero counts as pruned in the sparsity column.
SPARSITY_THRESHOLD = 1e-3
DECISION_THRESHOLD = 0.5
PREDICT_BATCH = 8192
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 256
DEFAULT_HIDDEN_UNITS = (128, 64, 32)
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_REPEATS = 5
# The validation loss without penalties (a compiled metric), which early stopping monitors.
VAL_METRIC = "val_binary_crossentropy"


@dataclasses.dataclass
class RunResult:
    """The measurements of one technique.

    Losses are the binary cross-entropy of the final model (the restored best
    weights under early stopping) on the clean training and validation rows,
    without any penalty or augmentation, so that `overfit_gap = val_loss -
    train_loss` compares like with like. AUC, accuracy and the fairness gaps
    (Fairlearn's definitions, predictions `score > 0.5`) are on the test rows.
    """

    technique: str
    label: str
    min_diff_weight: float | None
    repeat: int
    seed: int
    epochs: int
    train_loss: float
    val_loss: float
    overfit_gap: float
    test_auc: float
    test_accuracy: float
    dp_gap: float
    eo_gap: float
    fpr_gap: float
    sparsity: float
    seconds: float
    history: dict[str, list[float]] = dataclasses.field(repr=False)
    strength: float | None = None  # the strength that ran (MinDiff: the loss weight)
    # The share of test decisions that change when only the sensitive attribute is swapped
    # (NaN when the sensitive attribute is not a two-valued feature; runs journaled before
    # this field read back as NaN).
    flip_rate: float = float("nan")

    @property
    def key(self) -> tuple[str, float | None, int]:
        """What identifies the run in a comparison: technique, MinDiff weight and repeat."""
        return self.technique, self.min_diff_weight, self.repeat

    def row(self) -> dict[str, Any]:
        """The result as a flat dict (the columns of results.csv)."""
        row = dataclasses.asdict(self)
        del row["history"]
        return row

    def to_dict(self) -> dict[str, Any]:
        """Everything, history included (a JSON-ready dict; `from_dict` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunResult:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclasses.dataclass
class Comparison:
    """Everything `compare` measured, and how."""

    task: TabularTask
    runs: list[RunResult]
    epochs: int
    batch_size: int
    hidden_units: tuple[int, ...]
    learning_rate: float
    seed: int
    min_diff_weights: tuple[float, ...]
    recipe: recipes.Recipe | None
    backend: str
    total_seconds: float
    notes: list[str]
    repeats: int = 1
    planned: int = 0  # runs planned; more than len(runs) when interrupted
    interrupted: bool = False
    resumed: int = 0  # runs taken from `completed` (an earlier job), not trained now

    def environment(self) -> str:
        return (
            f"Keras {keras.__version__} ({self.backend} backend), Python "
            f"{platform.python_version()}, {platform.machine() or 'unknown CPU'}"
        )


class ConsoleProgress:
    """Prints what `compare` is doing: one line per technique, epochs live on a terminal.

    Args:
        stream: where to write; defaults to `sys.stderr`.
        live: rewrite an epoch counter in place; defaults to `stream.isatty()`.
    """

    def __init__(self, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._prefix = ""

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, index: int, total: int, label: str, setting: str) -> None:
        width = len(str(total))
        self._prefix = f"[{index:>{width}}/{total}] {label}"
        if self.live:
            self.stream.write(f"{self._prefix}: {setting}\r")
            self.stream.flush()

    def epoch(self, epoch: int, epochs: int, logs: dict) -> None:
        if self.live:
            val = logs.get(VAL_METRIC)
            val = "" if val is None else f", val loss {val:.4f}"
            self.stream.write(f"\033[2K{self._prefix}: epoch {epoch + 1}/{epochs}{val}\r")
            self.stream.flush()

    def interrupted(self, text: str) -> None:
        """Ends a live line, then prints `text`."""
        if self.live:
            self.stream.write("\033[2K\r")
        self.message(text)

    def done(self, result: RunResult) -> None:
        clear = "\033[2K" if self.live else ""
        fairness_text = "" if math.isnan(result.fpr_gap) else f", FPR gap {result.fpr_gap:.3f}"
        self.stream.write(
            f"{clear}{self._prefix}: {result.epochs} epochs in {result.seconds:.1f} s, "
            f"val loss {result.val_loss:.4f}, test AUC {result.test_auc:.4f}{fairness_text}\n"
        )
        self.stream.flush()


class _SigintLatch:
    """Remembers a Ctrl-C, so one that lands where Python swallows exceptions still stops.

    SIGINT raises KeyboardInterrupt wherever the interpreter happens to be; inside a garbage
    collector callback (JAX installs one) the exception is printed and ignored, and training
    would go on. The latch records the signal and `check()` raises it again between runs.
    """

    def __init__(self):
        self.requested = False
        self.previous = None
        installable = threading.current_thread() is threading.main_thread()
        if installable and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def check(self):
        if self.requested:
            raise KeyboardInterrupt

    def restore(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class _EpochCallback(keras.callbacks.Callback):
    def __init__(self, progress: ConsoleProgress, epochs: int):
        super().__init__()
        self.progress = progress
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        self.progress.epoch(epoch, self.epochs, logs or {})


def compare(
    task: TabularTask | Callable[[int], TabularTask],
    techniques: Sequence[str] = DEFAULT_TECHNIQUES,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    hidden_units: Sequence[int] = DEFAULT_HIDDEN_UNITS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    min_diff_weights: Sequence[float] = DEFAULT_MIN_DIFF_WEIGHTS,
    seed: int = 0,
    repeats: int = DEFAULT_REPEATS,
    progress: ConsoleProgress | None = None,
    completed: Sequence[RunResult] = (),
    on_run: Callable[[RunResult], None] | None = None,
    strengths: dict[str, float] | None = None,
    jobs: int = 1,
    scheduler: Any = None,
) -> Comparison:
    """Trains the same MLP once per technique and repeat, and measures every run.

    The base model is an MLP (`hidden_units`, ReLU, sigmoid output) trained
    with Adam and binary cross-entropy for `epochs` epochs. Repeat `r` of
    every technique uses the seed `seed + r` for the initial weights, the data
    order and the random layers (and, when `task` is a function of the seed,
    the data split), so the runs of one repeat are paired across techniques:
    within a repeat every technique starts from the same initial weights. The
    whole comparison is deterministic for a given `seed` and backend, and
    `repeats=1` is the single-seed comparison. `"min_diff"` runs once per
    weight in `min_diff_weights`; it needs the task's sensitive groups.

    Ctrl-C (KeyboardInterrupt) stops after the runs that finished: the
    returned comparison has `interrupted=True`.

    Args:
        task: a `TabularTask` (`load_adult_task()` or `load_csv_task(...)`),
            or a function `seed -> TabularTask`, called once per repeat, whose
            split then varies with the repeat.
        techniques: names from `TECHNIQUES`, run in this order.
        epochs: maximum epochs per run.
        batch_size: examples per training batch.
        hidden_units: widths of the hidden layers.
        learning_rate: Adam's learning rate.
        min_diff_weights: the MinDiff loss weights to run.
        seed: the seed of repeat 0.
        repeats: how many times each technique is trained, with seeds
            `seed, seed + 1, ...`.
        progress: a `ConsoleProgress`, or None for silence.
        completed: runs already done (from an earlier, interrupted
            comparison); they are kept and not trained again.
        on_run: called with every new `RunResult` as soon as it is measured
            (the command line appends it to the output folder).
        strengths: `{technique: strength}` to run instead of the defaults
            (`TECHNIQUES[name].strength`); the report describes what ran.
        jobs: worker processes (joblib) that train runs side by side; each gets
            `cores // jobs` threads. The same seeds give the same runs as `jobs=1`.
        scheduler: a Dask distributed scheduler to send the runs to instead: its
            address (`"tcp://host:8786"`) or a `distributed.Client`. Its workers
            need keras-regkit and the same Keras backend (checked before any run);
            the same seeds give the same runs as `jobs=1`. `jobs` is then unused.

    Returns:
        A `Comparison`; `keras_regkit.compare.write_report` turns it into
        report.md, results.csv, summary.csv and plots.

    Example:

    ```python
    from keras_regkit.compare import compare, format_table, load_adult_task

    result = compare(load_adult_task, ["none", "dropout", "min_diff"], epochs=5, repeats=3)
    print(format_table(result))
    ```
    """
    _validate(techniques, epochs, batch_size, hidden_units, learning_rate, min_diff_weights, seed)
    repeats = check_int("repeats", repeats, 1)
    jobs = check_int("jobs", jobs, 1)
    strengths = dict(strengths or {})
    for name, value in strengths.items():
        check_choice("strengths", name, [t for t, v in TECHNIQUES.items() if v.strength])
        check_float(f"strengths[{name!r}]", value, 0, min_inclusive=False)
    hidden_units = tuple(hidden_units)
    task_for_seed = task if callable(task) else (lambda _seed: task)
    tasks = {seed: task_for_seed(seed)}
    first_task = tasks[seed]
    notes = list(first_task.notes)
    kinds: list[tuple[str, float | None]] = []
    for name in dict.fromkeys(techniques):
        # MinDiff: see below.
        needs_groups = bool(set(name.split("+")) & set(techniques_module.NEEDS_GROUPS))
        reason = None
        if needs_groups and first_task.groups_train is None:
            reason = "no sensitive column (pass --sensitive COLUMN)"
        elif "clp" in name.split("+"):
            reason = counterfactuals.unavailable(first_task)
        if reason:
            label = techniques_module.technique(name).label
            notes.append(f"{label} skipped: {reason}")
            if progress:
                progress.message(f"{label} skipped: {reason}")
            continue
        if not uses_min_diff(name):
            kinds.append((name, None))
            continue
        reason = _min_diff_unavailable(first_task)
        if reason:
            notes.append(f"MinDiff skipped: {reason}")
            if progress:
                progress.message(f"MinDiff skipped: {reason}")
            continue
        kinds.extend((name, float(w)) for w in min_diff_weights)
    # Repeat by repeat: after an interruption every technique has about as many runs.
    plan = [(name, weight, r) for r in range(repeats) for name, weight in kinds]
    done = {run.key: run for run in completed}
    results: dict[tuple, RunResult] = {}
    recipe, interrupted = None, False
    start = time.perf_counter()
    todo = [key for key in plan if key not in done]
    train_kwargs = {
        "epochs": epochs,
        "batch_size": batch_size,
        "hidden_units": hidden_units,
        "learning_rate": learning_rate,
    }
    client, own_client = None, False
    if scheduler is not None and todo:
        client, own_client = connect(scheduler), not _is_client(scheduler)
    in_workers = client is not None or (jobs > 1 and len(todo) > 1)
    sigint = _SigintLatch()
    compiled = CompiledModels()
    try:
        if in_workers:
            run_all = _on_cluster if client is not None else _parallel
            finished = run_all(
                task_for_seed, todo, seed, strengths, train_kwargs, client if client else jobs
            )
            for index, result in enumerate(finished):
                results[result.key] = result
                if on_run is not None:
                    on_run(result)
                if progress:
                    shown = _shown(result.label, result.repeat, repeats)
                    progress.start(index + 1, len(todo), shown, "")
                    progress.done(result)
        for index, (name, weight, r) in enumerate([] if in_workers else todo):
            sigint.check()
            run_seed = seed + r
            if run_seed not in tasks:
                tasks.clear()  # one task in memory besides the first
                tasks[seed] = first_task
                tasks[run_seed] = task_for_seed(run_seed)
            result, run_recipe = _train_one(
                tasks[run_seed],
                name,
                weight,
                r,
                run_seed,
                progress=progress,
                position=(index + 1, len(todo), repeats),
                strength=strengths.get(name),
                compiled=compiled,
                **train_kwargs,
            )
            recipe = recipe or run_recipe
            results[result.key] = result
            if on_run is not None:
                on_run(result)
            if progress:
                progress.done(result)
        sigint.check()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sigint.restore()
        if own_client:
            client.close()
    if recipe is None and any(name == "recipe" for name, _ in kinds):
        recipe = techniques_module.recipe_for(first_task, hidden_units, seed)
    runs = [results.get(key) or done.get(key) for key in plan]
    return Comparison(
        task=first_task,
        runs=[run for run in runs if run is not None],
        epochs=epochs,
        batch_size=batch_size,
        hidden_units=hidden_units,
        learning_rate=learning_rate,
        seed=seed,
        min_diff_weights=tuple(float(w) for w in min_diff_weights),
        recipe=recipe,
        backend=keras.backend.backend(),
        total_seconds=time.perf_counter() - start,
        resumed=sum(1 for key in plan if key in done and key not in results),
        notes=notes,
        repeats=repeats,
        planned=len(plan),
        interrupted=interrupted,
    )


def _train_one(
    task,
    name,
    weight,
    repeat,
    seed,
    *,
    epochs,
    batch_size,
    hidden_units,
    learning_rate,
    progress=None,
    position=(1, 1, 1),
    strength=None,
    compiled=None,
):
    """Trains and measures one run; returns `(RunResult, recipe or None)`.

    `compiled`, a `CompiledModels`, trains the run in the kept compiled model of
    its configuration (reset to the state of a fresh one) when there is one.
    """
    technique = techniques_module.technique(name)
    label = technique.label if weight is None else f"{technique.label} w={weight:g}"
    keras.utils.set_random_seed(seed)
    setup = techniques_module.build(
        name,
        task,
        hidden_units,
        batch_size,
        seed,
        min_diff_weight=weight,
        strength=strength,
        epochs=epochs,
    )

    def compile_model(model):
        # The metric is the loss without penalties: early stopping and the plots use it.
        optimizer = keras.optimizers.Adam(learning_rate)
        model.compile(
            optimizer=setup.optimizer(optimizer) if setup.optimizer else optimizer,
            loss="binary_crossentropy",
            metrics=["binary_crossentropy"],
        )

    def build_model(model):
        build_for_fit(
            model, setup.x, setup.y, batch_size=setup.batch_size, sample_weight=setup.sample_weight
        )

    if compiled is None:
        compile_model(setup.model)
        build_model(setup.model)
        model, original = setup.model, setup.original
    else:  # the kept compiled model of this configuration, in the fresh model's state
        model, original = compiled.prepare(setup.model, setup.original, compile_model, build_model)
    callbacks = list(setup.callbacks)
    if progress:
        index, total, repeats = position
        shown = _shown(label, repeat, repeats)
        progress.start(index, total, shown, technique.describe(setup.strength))
        callbacks.append(_EpochCallback(progress, epochs))
    fit_start = time.perf_counter()
    if getattr(setup.postprocess, "trains", False):  # a reduction trains its own models
        logs = setup.postprocess.train(task, epochs, batch_size, learning_rate)
        original = setup.postprocess.model
    else:
        logs = model.fit(
            setup.x,
            setup.y,
            batch_size=setup.batch_size,
            sample_weight=setup.sample_weight,
            epochs=epochs,
            validation_data=(task.x_val, task.y_val.reshape(-1, 1)),
            # One validation batch shape per run (one compile), for up to 8192 rows.
            validation_batch_size=min(len(task.y_val), PREDICT_BATCH),
            callbacks=callbacks,
            verbose=0,
        ).history
    if setup.postprocess is not None:
        setup.postprocess.fit(original, task)
    seconds = time.perf_counter() - fit_start
    result = _measure(
        original,
        task,
        name,
        label,
        weight,
        logs,
        seconds,
        repeat,
        seed,
        postprocess=setup.postprocess,
    )
    result.strength = setup.strength
    return result, setup.recipe


def _shown(label: str, repeat: int, repeats: int) -> str:
    return label if repeats == 1 else f"{label} (repeat {repeat + 1}/{repeats})"


def _worker_run(task_for_seed, key, seed, strength, train_kwargs) -> RunResult:
    """One run in a worker process (module level, so joblib can send it)."""
    name, weight, repeat = key
    task = task_for_seed(seed + repeat)
    result, _ = _train_one(
        task,
        name,
        weight,
        repeat,
        seed + repeat,
        strength=strength,
        compiled=_WORKER_COMPILED,
        **train_kwargs,
    )
    return result


# A worker process keeps its compiled models between the runs it is sent.
_WORKER_COMPILED = CompiledModels(size=8)


def _parallel(task_for_seed, todo, seed, strengths, train_kwargs, jobs):
    """Yields the runs of `todo` as `jobs` joblib worker processes finish them."""
    import os

    import joblib

    threads = max(1, (os.cpu_count() or 1) // jobs)
    # The workers inherit the environment: cap XLA's and TF's thread pools like BLAS/OpenMP's
    # (joblib's inner_max_num_threads), so `jobs` workers do not oversubscribe the cores.
    saved = {k: os.environ.get(k) for k in ("XLA_FLAGS", "TF_NUM_INTRAOP_THREADS")}
    flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    os.environ["XLA_FLAGS"] = f"{saved['XLA_FLAGS'] or ''} {flags}".strip()
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    try:
        with joblib.parallel_config(backend="loky", inner_max_num_threads=threads):
            parallel = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered")
            yield from parallel(
                joblib.delayed(_worker_run)(
                    task_for_seed, key, seed, strengths.get(key[0]), train_kwargs
                )
                for key in todo
            )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached, or its workers cannot train the runs."""


def _is_client(scheduler: Any) -> bool:
    return type(scheduler).__name__ == "Client" and hasattr(scheduler, "submit")


def _worker_environment() -> tuple[str, str]:
    """The Keras backend and keras-regkit version of a Dask worker (run on each worker)."""
    import keras as worker_keras

    import keras_regkit

    return worker_keras.backend.backend(), keras_regkit.__version__


def connect(scheduler: Any, timeout: float = 10.0):
    """A `distributed.Client` for `scheduler` whose workers can train the runs.

    `scheduler` is an address or a `distributed.Client` (returned as is once its
    workers are checked). Raises `SchedulerError` within about `timeout` seconds
    when the scheduler cannot be reached, has no workers, or its workers lack
    keras-regkit or run another Keras backend than this process.
    """
    try:
        import distributed
    except ImportError as error:
        raise SchedulerError(
            "--scheduler needs Dask's `distributed` package: "
            "`pip install keras-regkit[cluster]` installs it."
        ) from error
    import keras_regkit

    if _is_client(scheduler):
        client, address = scheduler, scheduler.scheduler.address
    else:
        address = str(scheduler)
        try:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s: {error}"
            ) from error
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
            found = client.run(_worker_environment)
        except (OSError, TimeoutError) as error:
            raise SchedulerError(
                f"the Dask scheduler at {address!r} has no worker that answers within "
                f"{timeout:g} s: {error}"
            ) from error
        except ImportError as error:
            raise SchedulerError(
                f"the workers of the Dask scheduler at {address!r} cannot import keras-regkit "
                f"({error}); install it where they run"
            ) from error
        wanted = (keras.backend.backend(), keras_regkit.__version__)
        wrong = {w: env for w, env in found.items() if tuple(env) != wanted}
        if wrong:
            worker, (backend, version) = next(iter(wrong.items()))
            raise SchedulerError(
                f"the Dask worker {worker} runs keras-regkit {version} on the {backend} backend, "
                f"this process keras-regkit {wanted[1]} on the {wanted[0]} backend; the runs must "
                "match (set KERAS_BACKEND where the workers start)"
            )
    except SchedulerError:
        if not _is_client(scheduler):
            client.close()
        raise
    return client


def _on_cluster(task_for_seed, todo, seed, strengths, train_kwargs, client):
    """Yields the runs of `todo` as the Dask cluster behind `client` finishes them."""
    import distributed

    futures = [
        client.submit(
            _worker_run,
            task_for_seed,
            key,
            seed,
            strengths.get(key[0]),
            train_kwargs,
            pure=False,
        )
        for key in todo
    ]
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def _min_diff_unavailable(task: TabularTask) -> str | None:
    if task.groups_train is None:
        return "no sensitive column (pass --sensitive COLUMN)"
    negatives = task.y_train == 0
    for name, rows in (
        (task.sensitive_group, task.groups_train),
        (task.reference_group, ~task.groups_train),
    ):
        if not (rows & negatives).any():
            return f"the group {name!r} has no negative training example"
    return None


def _measure(
    model, task, name, label, weight, history, seconds, repeat=0, seed=0, postprocess=None
) -> RunResult:
    # One predict over the three splits (and the counterfactual test rows): fewer distinct
    # batch shapes, fewer XLA compiles.
    parts = [task.x_train, task.x_val, task.x_test]
    with_counterfactuals = counterfactuals.unavailable(task) is None
    if with_counterfactuals:
        swapped = counterfactuals.counterfactual_x(task, task.x_test)
        parts.append(swapped)
    sizes = np.cumsum([len(part) for part in parts[:-1]])
    x = np.concatenate(parts)
    scores = keras.ops.convert_to_numpy(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))
    train_scores, val_scores, test_scores, *rest = np.split(
        np.asarray(scores, dtype="float64").reshape(-1), sizes
    )
    flip_rate = float("nan")
    if with_counterfactuals:
        flip_rate = fairness.counterfactual_flip_rate(
            test_scores, rest[0], threshold=DECISION_THRESHOLD
        )
    train_loss = log_loss(task.y_train, train_scores)
    val_loss = log_loss(task.y_val, val_scores)
    predictions = test_scores > DECISION_THRESHOLD
    if postprocess is not None:
        # Post-processed decisions: AUC from the probability of a positive decision, no
        # losses (the decisions are not calibrated probabilities).
        train_loss = val_loss = float("nan")
        test_scores = postprocess.scores(task.x_test, task.groups_test)
        predictions = postprocess.decide(task.x_test, task.groups_test)
        if with_counterfactuals:
            # A row whose sensitive columns changed changed group.
            moved = np.any(swapped != task.x_test, axis=1)
            flips = postprocess.decide(swapped, task.groups_test ^ moved) != predictions
            flip_rate = float(np.mean(flips))
    if task.groups_test is None:
        dp_gap = eo_gap = fpr_gap = float("nan")
    else:
        kwargs = {"sensitive_features": task.groups_test}
        y_test = task.y_test.astype("int32")
        dp_gap = fairness.demographic_parity_difference(y_test, predictions, **kwargs)
        eo_gap = fairness.equal_opportunity_difference(y_test, predictions, **kwargs)
        fpr_gap = fairness.false_positive_rate_difference(y_test, predictions, **kwargs)
    kernels = techniques_module.kernels(model)
    n_weights = sum(k.size for k in kernels)
    n_small = sum(int((np.abs(k) < SPARSITY_THRESHOLD).sum()) for k in kernels)
    return RunResult(
        technique=name,
        label=label,
        min_diff_weight=weight,
        repeat=repeat,
        seed=seed,
        epochs=len(history.get("loss", [])),
        train_loss=train_loss,
        val_loss=val_loss,
        overfit_gap=val_loss - train_loss,
        test_auc=roc_auc(task.y_test, test_scores),
        test_accuracy=float(np.mean(predictions == (task.y_test == 1))),
        dp_gap=float(dp_gap),
        eo_gap=float(eo_gap),
        fpr_gap=float(fpr_gap),
        sparsity=n_small / n_weights if n_weights else float("nan"),
        seconds=seconds,
        flip_rate=flip_rate,
        history={k: [float(v) for v in values] for k, values in history.items()},
    )


def log_loss(y_true, y_score, epsilon: float = 1e-7) -> float:
    """Mean binary cross-entropy (scikit-learn's), scores clipped to [epsilon, 1 - epsilon]
    as Keras clips them."""
    from sklearn.metrics import log_loss as sk_log_loss

    p = np.clip(np.asarray(y_score, dtype="float64").reshape(-1), epsilon, 1 - epsilon)
    return float(sk_log_loss(np.asarray(y_true).reshape(-1), p, labels=[0, 1]))


def roc_auc(y_true, y_score) -> float:
    """ROC AUC (scikit-learn's `roc_auc_score`); NaN when `y_true` has a single class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true).reshape(-1) == 1
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(y_score, dtype="float64").reshape(-1)))


def _validate(techniques, epochs, batch_size, hidden_units, learning_rate, weights, seed):
    if isinstance(techniques, str) or not techniques:
        raise ValueError(
            "Invalid value for argument `techniques`: expected a non-empty list of names from "
            f"{tuple(TECHNIQUES)}. Received: techniques={techniques!r}"
        )
    unknown = [t for t in techniques if t not in TECHNIQUES and not is_combination(t)]
    for name in techniques:
        if is_combination(name):
            try:
                check_combination(name)
            except ValueError as error:
                raise ValueError(
                    f"Invalid value for argument `techniques`: {error}. "
                    f"Received: techniques={list(techniques)!r}"
                ) from None
    if unknown:
        raise ValueError(
            f"Invalid value for argument `techniques`: unknown name(s) {unknown}; expected "
            f"names from {tuple(TECHNIQUES)}. Received: techniques={list(techniques)!r}"
        )
    for arg, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Invalid value for argument `{arg}`: expected a positive int. "
                f"Received: {arg}={value!r}"
            )
    if (
        isinstance(hidden_units, (str, int))
        or not hidden_units
        or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in hidden_units)
    ):
        raise ValueError(
            "Invalid value for argument `hidden_units`: expected a non-empty list of positive "
            f"ints. Received: hidden_units={hidden_units!r}"
        )
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or not (learning_rate > 0)
    ):
        raise ValueError(
            "Invalid value for argument `learning_rate`: expected a positive float. "
            f"Received: learning_rate={learning_rate!r}"
        )
    if (
        isinstance(weights, (str, int, float))
        or not weights
        or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0 for w in weights)
    ):
        raise ValueError(
            "Invalid value for argument `min_diff_weights`: expected a non-empty list of "
            f"positive floats. Received: min_diff_weights={weights!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            f"Invalid value for argument `seed`: expected an int. Received: seed={seed!r}"
        )
