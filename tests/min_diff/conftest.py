"""Runs TensorFlow Model Remediation once per test session, in a subprocess."""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REFERENCE_SCRIPT = Path(__file__).with_name("tfmr_reference.py")


def make_cases():
    rng = np.random.default_rng(2024)
    cases = {}

    def add(name, **fields):
        for key, value in fields.items():
            cases[f"{name}/{key}"] = np.asarray(value)

    n = 24
    membership = np.zeros((n, 1), "float32")
    membership[rng.permutation(n)[: n // 3]] = 1.0
    for d in (1, 3):
        predictions = rng.uniform(size=(n, d)).astype("float32")
        weights = rng.uniform(0.0, 2.0, size=(n, 1)).astype("float32")
        weights[3] = 0.0
        for weighted in (False, True):
            specs = [("abs_corr", "gaussian", 0.1)]
            for loss in ("mmd", "adjusted_mmd"):
                specs += [
                    (loss, "gaussian", 0.1),
                    (loss, "laplacian", 0.1),
                    (loss, "gaussian", 0.5),
                ]
            for loss, kernel, length in specs:
                add(
                    f"{loss}-{kernel}-{length}-d{d}-w{int(weighted)}",
                    kind="loss",
                    loss=loss,
                    kernel=kernel,
                    kernel_length=length,
                    predictions=predictions,
                    membership=membership,
                    sample_weight=weights,
                    has_weight=weighted,
                )
    for kernel in ("gaussian", "laplacian"):
        for d in (1, 2):
            add(
                f"kernel-{kernel}-d{d}",
                kind="kernel",
                kernel=kernel,
                kernel_length=0.3,
                x=rng.uniform(size=(7, d)).astype("float32"),
            )
    for loss in ("mmd", "abs_corr"):
        add(
            f"train-{loss}",
            kind="train",
            loss=loss,
            loss_weight=1.5,
            lr=0.5,
            w1=rng.normal(size=(5, 8)).astype("float32") * 0.5,
            b1=rng.normal(size=(8,)).astype("float32") * 0.1,
            w2=rng.normal(size=(8, 1)).astype("float32") * 0.5,
            b2=np.zeros((1,), "float32"),
            x=rng.normal(size=(32, 5)).astype("float32"),
            y=(rng.uniform(size=(32, 1)) > 0.5).astype("float32"),
            md_x=rng.normal(size=(32, 5)).astype("float32") + 0.3,
            membership=(np.arange(32) % 2 == 0).astype("float32")[:, None],
        )
    return cases


def _grouped(flat):
    grouped = {}
    for key in flat:
        name, field = key.split("/", 1)
        grouped.setdefault(name, {})[field] = flat[key]
    return grouped


@pytest.fixture(scope="session")
def tfmr_cases(request):
    """(cases, TFMR results), each a dict name -> dict field -> array.

    TFMR's results do not depend on the Keras backend under test, so they are computed once (in a
    TensorFlow subprocess) and kept in pytest's cache, keyed by the cases and the reference script:
    the other backends' runs and xdist workers reuse them.
    """
    cases = make_cases()
    digest = hashlib.sha256(REFERENCE_SCRIPT.read_bytes())
    for key in sorted(cases):
        digest.update(key.encode() + np.ascontiguousarray(cases[key]).tobytes())
    cached = request.config.cache.mkdir("tfmr_reference") / f"{digest.hexdigest()[:20]}.npz"
    if cached.exists():
        return _grouped(cases), _grouped(dict(np.load(cached)))
    with tempfile.TemporaryDirectory() as tmp:
        cases_path, out_path = os.path.join(tmp, "cases.npz"), os.path.join(tmp, "out.npz")
        np.savez(cases_path, **cases)
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")
        env.pop("KERAS_BACKEND", None)
        proc = subprocess.run(
            [sys.executable, str(REFERENCE_SCRIPT), cases_path, out_path],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (
            "TFMR reference run failed (the dev extra installs tensorflow-model-remediation, "
            f"tf-keras, tensorboard, tensorflow-hub, setuptools<81):\n{proc.stderr[-3000:]}"
        )
        results = dict(np.load(out_path))
        partial = cached.with_suffix(f".{os.getpid()}.npz")
        np.savez(partial, **results)
        os.replace(partial, cached)  # atomic: a concurrent worker sees all of it or nothing
    return _grouped(cases), _grouped(results)
