import argparse
import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from keras_regkit import cli
from keras_regkit.compare import TECHNIQUES
from keras_regkit.version import __version__

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def _run(argv):
    """The exit status of `keras-regkit ARGV` (argparse exits, our errors return)."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 160
    group = rng.choice(["a", "b"], n, p=[0.7, 0.3])
    age = rng.normal(40, 10, n).round()
    color = rng.choice(["red", "green", "blue"], n)
    score = 0.08 * (age - 40) + (color == "red") - 0.7 * (group == "b") + rng.normal(0, 0.7, n)
    frame = pd.DataFrame(
        {"age": age, "color": color, "group": group, "label": np.where(score > 0, "yes", "no")}
    )
    path = tmp_path_factory.mktemp("data") / "data.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _read(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_help_and_version(capsys):
    assert _run(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert _run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"keras-regkit {__version__}"
    assert _run(["compare", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "Exit status: 0 on success, 2 for bad arguments or unusable data, 130 when interrupted."
    ) in text
    assert all(name in text for name in TECHNIQUES)
    assert "run by default: recipe+min_diff" in text
    defaults = cli.build_parser().parse_args(["compare"]).techniques
    assert defaults[-1] == "recipe+min_diff" and "weight_noise" not in defaults


def _csv_argv(csv_path):
    argv = ["compare", "--data", csv_path, "--target", "label", "--sensitive", "group"]
    argv += ["--techniques", "none,min_diff", "--min-diff-weights", "1", "--epochs", "1"]
    return [*argv, "--batch-size", "32", "--hidden-units", "8", "--seed", "3", "--repeats", "2"]


@pytest.fixture(scope="module")
def csv_run(csv_path, tmp_path_factory):
    """One uninterrupted comparison (4 runs), shared: `(out folder, stdout, stderr)`."""
    out = tmp_path_factory.mktemp("csv_run") / "a"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert _run([*_csv_argv(csv_path), "--out", str(out)]) == 0
    return out, stdout.getvalue(), stderr.getvalue()


def test_compare_csv_writes_every_output(csv_run):
    out, stdout, stderr = csv_run
    tmp_path = out.parent
    captured = argparse.Namespace(out=stdout, err=stderr)
    assert sorted(os.listdir(tmp_path / "a")) == [
        "config.json",
        "differences.csv",
        "fairness_frontier.png",
        "learning_curves.png",
        "recipe.json",
        "report.md",
        "results.csv",
        "runs.jsonl",
        "summary.csv",
    ]
    # The table on stdout, progress on stderr.
    assert "MinDiff w=1" in captured.out and "Wrote report.md, results.csv" in captured.out
    assert "[1/4] None (repeat 1/2): 1 epochs in" in captured.err
    assert "Paired differences from None" in captured.out
    assert "sensitive `group`: b vs a" in captured.err

    first = _read(tmp_path / "a" / "results.csv")
    assert [row["technique"] for row in first] == ["none", "min_diff"] * 2
    assert [row["min_diff_weight"] for row in first] == ["", "1.000000"] * 2
    assert [(row["repeat"], row["seed"]) for row in first] == [("0", "3")] * 2 + [("1", "4")] * 2
    for row in first:
        assert 0 <= float(row["test_auc"]) <= 1 and float(row["dp_gap"]) >= 0

    report = (tmp_path / "a" / "report.md").read_text()
    assert "| Technique | Epochs | Train loss | Val loss | Gap |" in report
    assert "![fairness_frontier.png](fairness_frontier.png)" in report
    assert "keras-regkit compare --data" in report and "--seed 3" in report


def test_compare_bundled_adult(tmp_path, capsys):
    out = tmp_path / "adult"
    argv = ["compare", "--techniques", "none", "--epochs", "1", "--max-train-rows", "256"]
    argv += ["--batch-size", "32", "--repeats", "1"]
    assert _run([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Loading the bundled UCI Adult data" in err
    assert "sensitive `sex`: Female vs Male" in err
    assert "note: training rows limited to 256" in err
    [row] = _read(out / "results.csv")
    assert row["technique"] == "none" and row["epochs"] == "1"
    assert float(row["test_auc"]) > 0.6  # even 256 rows and one epoch beat chance
    report = (out / "report.md").read_text()
    assert "UCI Adult (bundled" in report and "15,060 test rows" in report


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "{missing}", "--target", "label"], "no such file"),
        (["--data", "{empty}", "--target", "label"], "the file is empty"),
        (["--data", "{ragged}", "--target", "label"], "as CSV: Error tokenizing data"),
        (["--data", "{csv}", "--target", "income"], "--target column 'income' is not in"),
        (
            ["--data", "{csv}", "--target", "label", "--sensitive", "sex"],
            "--sensitive column 'sex' is not in",
        ),
        (["--data", "{csv}", "--target", "color"], "must be binary (exactly two values)"),
        (["--data", "{csv}"], "--data needs --target COL"),
        (["--target", "label"], "--target applies to --data CSV"),
        (["--drop", "age"], "--drop applies to --data CSV"),
        (
            ["--data", "{csv}", "--target", "label", "--drop", "nope"],
            "--drop column 'nope' is not a feature column",
        ),
        (["--features", "age"], "--features applies to --data CSV"),
        (
            ["--data", "{csv}", "--target", "label", "--features", "age", "nope"],
            "--features column 'nope' is not a feature column",
        ),
        (["--sensitive", "age"], "the bundled Adult data has the sensitive columns"),
        (["--techniques", "none", "lasso"], "argument --techniques: unknown technique(s) lasso"),
        (["--techniques", ","], "argument --techniques: unknown technique(s) (none given)"),
        (["--techniques", "l2+lasso"], "argument --techniques: unknown technique(s) lasso"),
        (
            ["--techniques", "none", "mixup+min_diff"],
            "argument --techniques: Invalid combination 'mixup+min_diff': mixup and min_diff "
            "cannot be trained together: both change the training batches",
        ),
        (["--seed", "-1"], "argument --seed: expected a non-negative int, received '-1'"),
        (["--seed", "x"], "argument --seed: expected a non-negative int, received 'x'"),
        (["--max-train-rows", "1"], "--max-train-rows 1: too few rows for a stratified subset"),
        (["--hidden-units", "8", "0"], "argument --hidden-units: expected a positive int"),
        (["--batch-size", "2.5"], "argument --batch-size: expected a positive int"),
        (["--min-diff-weights", "nan"], "argument --min-diff-weights: expected a positive"),
        (["--epochs", "0"], "argument --epochs: expected a positive int, received '0'"),
        (["--repeats", "0"], "argument --repeats: expected a positive int, received '0'"),
        (["--jobs", "0"], "argument --jobs: expected a positive int, received '0'"),
        (["--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume"),
        (["--min-diff-weights", "-1"], "expected a positive number, received '-1'"),
    ],
)
def test_compare_bad_input_exits_with_2(extra, message, csv_path, tmp_path, capsys):
    empty, ragged = tmp_path / "empty.csv", tmp_path / "ragged.csv"
    empty.write_text("")
    ragged.write_text("a,label\n1,yes\n1,2,3,4\n")
    paths = {
        "missing": str(tmp_path / "missing.csv"),
        "empty": str(empty),
        "ragged": str(ragged),
        "csv": csv_path,
    }
    argv = ["compare", *(arg.format(**paths) for arg in extra), "--out", str(tmp_path / "o")]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


def test_compare_unwritable_out_exits_with_2_before_training(csv_path, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    argv = ["compare", "--data", csv_path, "--target", "label", "--out", str(blocker / "out")]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "is not a writable folder, so the report cannot be written" in err, err
    assert "Running" not in err  # it stopped before training


def test_compare_unknown_sensitive_group_exits_with_2(csv_path, tmp_path, capsys):
    argv = ["compare", "--data", csv_path, "--target", "label", "--sensitive", "group"]
    argv += ["--sensitive-group", "martian", "--out", str(tmp_path / "o")]
    assert _run(argv) == 2
    assert "--sensitive-group 'martian' does not occur" in capsys.readouterr().err


def test_console_script_exit_status(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "keras_regkit.cli", "compare", "--data"]
    result = subprocess.run(
        [*command, str(tmp_path / "nope.csv"), "--target", "y"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "keras-regkit compare: error: cannot read" in result.stderr


def _metrics(path):
    """results.csv without the timing column: what must match between two runs."""
    rows = _read(path)
    for row in rows:
        row.pop("seconds")
    return rows


def _lines(path):
    return path.read_text().count("\n") if path.exists() else 0


def _start_and_stop(argv, out, stop_after, sig):
    """Starts `keras-regkit compare ARGV` in a subprocess; sends `sig` after `stop_after` runs."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # A terminal's Ctrl-C: the job must start with SIGINT at its default disposition. A
    # process inherits an ignored SIGINT (this test worker's may be), and a job started so
    # rightly keeps ignoring it (as under nohup); a handled one resets to the default at exec.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "keras_regkit.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while _lines(out / "runs.jsonl") < stop_after and process.poll() is None:
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.02)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


# The runs after a configuration's first train in its kept compiled model in tens of
# milliseconds: enough of them (300 runs, seconds of work) that a signal sent after the first run
# arrives mid-way even when the test process is descheduled on a loaded machine.
LONG_REPEATS = 150
LONG_RUNS = 2 * LONG_REPEATS


def _long_argv(csv_path):
    argv = _csv_argv(csv_path)
    return [*argv[:-1], str(LONG_REPEATS)]


@pytest.fixture(scope="module")
def long_run(csv_path, tmp_path_factory):
    """The uninterrupted comparison the stopped ones resume to (LONG_RUNS runs)."""
    out = tmp_path_factory.mktemp("long_run") / "a"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert _run([*_long_argv(csv_path), "--out", str(out)]) == 0
    return out


def test_interrupted_runs_are_kept_and_resume_gives_the_same_table(
    csv_path, long_run, tmp_path, capsys
):
    argv = _long_argv(csv_path)
    out = tmp_path / "stopped"
    code, stdout, stderr = _start_and_stop([*argv, "--out", str(out)], out, 1, signal.SIGINT)
    assert code == 130, stderr
    assert "Traceback" not in stderr and stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("keras-regkit compare: interrupted after ") and "--resume" in last
    kept = _lines(out / "runs.jsonl")
    assert 1 <= kept < LONG_RUNS
    assert f"interrupted after {kept} of {LONG_RUNS} runs" in last
    assert (
        f"**Interrupted: {kept} of {LONG_RUNS} runs finished.**" in (out / "report.md").read_text()
    )
    assert len(_read(out / "results.csv")) == kept  # the partial report has every kept run

    # What SIGKILL in the middle of an append leaves: a torn last line, skipped on resume.
    with open(out / "runs.jsonl", "a") as file:
        file.write('{"technique": "none", "lab')
    killed = kept

    # Without --resume or --overwrite the folder is refused, with --resume it is finished.
    assert cli.main([*argv, "--out", str(out)]) == 2
    assert "holds another comparison" in capsys.readouterr().err
    assert cli.main([*argv, "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"Resuming {out}: {killed} finished run(s) kept, 1 unreadable line(s)" in err
    assert len(_read(out / "results.csv")) == LONG_RUNS
    straight_out = long_run  # the same comparison, uninterrupted
    assert _metrics(out / "results.csv") == _metrics(straight_out / "results.csv")
    summary = (out / "summary.csv").read_text().splitlines()
    straight = (straight_out / "summary.csv").read_text().splitlines()
    columns = summary[0].split(",")
    keep = [i for i, c in enumerate(columns) if not c.startswith("seconds")]
    assert [[r.split(",")[i] for i in keep] for r in summary] == [
        [r.split(",")[i] for i in keep] for r in straight
    ]

    # --resume refuses a folder from another configuration, naming what differs.
    other = [*argv, "--out", str(out), "--resume"]
    assert other[argv.index("--epochs") + 1] == "1"
    other[argv.index("--epochs") + 1] = "5"
    assert cli.main(other) == 2
    err = capsys.readouterr().err
    assert "come from a different configuration (epochs: 1 there, 5 here)" in err
    config = json.loads((out / "config.json").read_text())
    assert config["arguments"]["epochs"] == 1 and config["backend"] == "jax"


def test_tune_reports_the_chosen_strength(csv_path, tmp_path, monkeypatch, capsys):
    from keras_regkit.compare import tuning

    monkeypatch.setattr(tuning, "GRIDS", {"dropout": (0.1, 0.5)})
    argv = [*_csv_argv(csv_path), "--techniques", "none,dropout", "--tune", "--out", str(tmp_path)]
    assert _run(argv) == 0
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    [note] = [line for line in lines if line.startswith("--tune: Dropout strength")]
    report = (tmp_path / "report.md").read_text()
    assert note in report
    chosen = float(note.split()[3].rstrip(","))
    with open(tmp_path / "results.csv") as file:
        rows = [row for row in csv.DictReader(file) if row["technique"] == "dropout"]
    assert [float(row["strength"]) for row in rows] == [chosen, chosen]


def test_a_killed_run_keeps_its_finished_runs_and_resumes_to_the_same_table(
    csv_path, long_run, tmp_path
):
    argv = _long_argv(csv_path)
    out = tmp_path / "killed"
    code, _, _ = _start_and_stop([*argv, "--out", str(out)], out, 1, signal.SIGKILL)
    assert code == -signal.SIGKILL
    kept = _lines(out / "runs.jsonl")
    assert 1 <= kept < LONG_RUNS  # every run that finished before the kill is on disk
    assert _run([*argv, "--out", str(out), "--resume"]) == 0
    assert _metrics(out / "results.csv") == _metrics(long_run / "results.csv")
