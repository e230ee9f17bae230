import json

import pytest

from keras_regkit.compare import RunResult
from keras_regkit.compare import journal as journal_module
from keras_regkit.compare.journal import Journal, OutputError, read_runs

pytestmark = pytest.mark.one_backend


def _run(repeat, technique="none"):
    return RunResult(
        technique=technique,
        label="None",
        min_diff_weight=None,
        repeat=repeat,
        seed=repeat,
        epochs=1,
        train_loss=0.1,
        val_loss=0.2,
        overfit_gap=0.1,
        test_auc=0.9,
        test_accuracy=0.8,
        dp_gap=float("nan"),
        eo_gap=0.0,
        fpr_gap=0.0,
        sparsity=0.0,
        seconds=1.0,
        history={"loss": [0.3]},
    )


def test_runs_round_trip_and_a_torn_last_line_is_skipped(tmp_path):
    journal = Journal(tmp_path / "out", {"epochs": 1})
    for r in range(3):
        journal.append(_run(r))
    path = tmp_path / "out" / journal_module.RUNS
    with open(path, "ab") as file:  # what SIGKILL in the middle of a write leaves
        file.write(json.dumps(_run(3).to_dict()).encode()[:40])
    runs, skipped = read_runs(path)
    assert [r.repeat for r in runs] == [0, 1, 2] and skipped == 1
    assert runs[0].row().keys() == _run(0).row().keys()
    assert runs[0].history == {"loss": [0.3]} and runs[0].dp_gap != runs[0].dp_gap  # NaN kept
    resumed = Journal(tmp_path / "out", {"epochs": 1}, resume=True)
    assert [r.key for r in resumed.completed] == [("none", None, r) for r in range(3)]
    # The torn line is cut, so the next run is appended on a line of its own.
    resumed.append(_run(3))
    runs, skipped = read_runs(path)
    assert [r.repeat for r in runs] == [0, 1, 2, 3] and skipped == 0


def test_a_folder_holding_a_comparison_needs_resume_or_overwrite(tmp_path):
    Journal(tmp_path, {"epochs": 1}).append(_run(0))
    with pytest.raises(OutputError, match="holds another comparison .*pass --resume"):
        Journal(tmp_path, {"epochs": 1})
    with pytest.raises(OutputError, match=r"different configuration \(epochs: 1 there, 2 here\)"):
        Journal(tmp_path, {"epochs": 2}, resume=True)
    with pytest.raises(OutputError, match="exclude each other"):
        Journal(tmp_path, {"epochs": 1}, resume=True, overwrite=True)
    (tmp_path / "report.md").write_text("old")
    fresh = Journal(tmp_path, {"epochs": 2}, overwrite=True)
    assert fresh.completed == [] and not (tmp_path / "report.md").exists()
    assert json.loads((tmp_path / "config.json").read_text()) == {"epochs": 2, "format": 1}
    # A folder of other files only is not a comparison; --resume of nothing starts afresh.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert Journal(other, {"epochs": 1}, resume=True).completed == []
    assert (other / "notes.txt").read_text() == "mine"
