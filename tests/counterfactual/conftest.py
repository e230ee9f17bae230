"""Runs TensorFlow Model Remediation's Counterfactual code once, in a subprocess (cached)."""

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
    rng = np.random.default_rng(2025)
    cases = {}

    def add(name, **fields):
        for key, value in fields.items():
            cases[f"{name}/{key}"] = np.asarray(value)

    n = 16
    for d in (1, 3):
        original = rng.normal(size=(n, d)).astype("float32")
        counterfactual = (original + rng.normal(scale=0.5, size=(n, d))).astype("float32")
        weights = rng.uniform(0.0, 2.0, size=(n,)).astype("float32")
        weights[2] = 0.0
        for loss in ("mse", "mae", "cosine"):
            for weighting, sample_weight in (
                ("none", weights),
                ("vector", weights),
                ("column", weights[:, None]),
                ("scalar", np.float32(0.7)),
            ):
                add(
                    f"{loss}-d{d}-{weighting}",
                    kind="loss",
                    loss=loss,
                    original=original,
                    counterfactual=counterfactual,
                    sample_weight=sample_weight,
                    has_weight=weighting != "none",
                )
    for loss in ("mse", "mae", "cosine"):
        x = rng.normal(size=(32, 5)).astype("float32")
        cf_x = x.copy()
        cf_x[:, 4] = -cf_x[:, 4]
        cf_weight = rng.uniform(0.0, 2.0, size=(32,)).astype("float32")
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
            x=x,
            y=(rng.uniform(size=(32, 1)) > 0.5).astype("float32"),
            cf_x=cf_x,
            cf_weight=cf_weight,
        )
    return cases


def _grouped(flat):
    grouped = {}
    for key in flat:
        name, field = key.split("/", 1)
        grouped.setdefault(name, {})[field] = flat[key]
    return grouped


@pytest.fixture(scope="session")
def tfmr_counterfactual_cases(request):
    """(cases, TFMR results), each a dict name -> dict field -> array.

    TFMR's results do not depend on the Keras backend under test: they are computed once in a
    TensorFlow subprocess and kept in pytest's cache, keyed by the cases and the script.
    """
    cases = make_cases()
    digest = hashlib.sha256(REFERENCE_SCRIPT.read_bytes())
    for key in sorted(cases):
        digest.update(key.encode() + np.ascontiguousarray(cases[key]).tobytes())
    cached = request.config.cache.mkdir("tfmr_counterfactual") / f"{digest.hexdigest()[:20]}.npz"
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
