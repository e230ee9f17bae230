"""`compare` on a Dask distributed cluster: the same runs as one process, clear errors."""

import time

import keras
import pytest

from keras_regkit import cli
from keras_regkit.compare import compare, engine
from keras_regkit.version import __version__
from tests.compare.test_engine import _task

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.one_backend  # the workers run this process's backend


@pytest.fixture(scope="module")
def cluster():
    # Two worker processes, as a small real cluster; they inherit KERAS_BACKEND.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_cluster_gives_the_same_runs_as_one_process(cluster):
    task = _task(n=80)
    kwargs = {"epochs": 1, "batch_size": 40, "hidden_units": (4,), "seed": 5, "repeats": 2}
    one = compare(task, ["none", "dropout"], jobs=1, **kwargs)
    finished = []
    on_cluster = compare(
        task,
        ["none", "dropout"],
        scheduler=cluster.scheduler_address,
        on_run=finished.append,
        **kwargs,
    )
    assert len(finished) == 4  # every run is handed over as it finishes
    # Same seeds, same backend: the same table to float tolerance (another process may differ in
    # the last bits of a reduction).
    assert [r.key for r in on_cluster.runs] == [r.key for r in one.runs]
    for got, want in zip(on_cluster.runs, one.runs, strict=True):
        for field in ("train_loss", "val_loss", "test_auc", "test_accuracy", "fpr_gap"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), abs=1e-6), field
    assert one.runs[0].val_loss != one.runs[2].val_loss  # the repeats differ


def test_a_client_is_accepted_and_left_open(cluster):
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        kwargs = {"epochs": 1, "batch_size": 40, "hidden_units": (4,), "repeats": 1}
        result = compare(_task(n=80), ["none"], scheduler=client, **kwargs)
        assert len(result.runs) == 1
        assert client.status == "running"


def test_unreachable_scheduler_fails_within_seconds():
    start = time.perf_counter()
    with pytest.raises(engine.SchedulerError, match="cannot reach the Dask scheduler at"):
        engine.connect("tcp://127.0.0.1:9", timeout=2)
    assert time.perf_counter() - start < 15


def test_unreachable_scheduler_exits_with_2_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine, "connect", _fast_connect)
    argv = ["compare", "--scheduler", "tcp://127.0.0.1:9", "--max-train-rows", "200"]
    assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err, err
    assert "Running" not in err
    assert not (tmp_path / "o").exists()


_real_connect = engine.connect


def _fast_connect(scheduler):
    return _real_connect(scheduler, timeout=1)


class Client:
    """Looks like a `distributed.Client` whose one worker reports `environment`."""

    def __init__(self, environment):
        self.environment = environment
        self.scheduler = type("Scheduler", (), {"address": "tcp://fake:8786"})()

    def submit(self, *args, **kwargs):
        raise AssertionError("nothing is submitted to a mismatched cluster")

    def wait_for_workers(self, n, timeout):
        pass

    def run(self, function):
        return {"tcp://worker:1": self.environment}


def _other_backend():
    return "torch" if keras.backend.backend() != "torch" else "tensorflow"


@pytest.mark.parametrize(
    "environment, message",
    [
        ((_other_backend(), __version__), f"{__version__} on the {_other_backend()} backend"),
        ((keras.backend.backend(), "0.0.1"), "runs keras-regkit 0.0.1"),
    ],
)
def test_mismatched_workers_are_refused(environment, message):
    with pytest.raises(engine.SchedulerError, match=message):
        compare(_task(n=80), ["none"], epochs=1, scheduler=Client(environment))
