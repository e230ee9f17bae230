"""MixUp for NumPy training data: MixUpPyDataset against calling TabularMixUp on every batch.

One epoch of Adult-sized data (24,129 x 104 float32, batch 256) is read batch by batch, as
`fit` reads it, three ways:

- `MixUpPyDataset(alpha=None)`: shuffled, unmixed batches (the floor);
- `MixUpPyDataset(alpha=0.2)`: shuffled batches mixed in NumPy;
- `TabularMixUp(0.2)` called eagerly on each shuffled NumPy batch and converted back, the
  alternative `recipes.MixUpPyDataset` replaces (the layer's own home is a model or a
  `tf.data` pipeline, where it runs compiled).

Each backend runs in a fresh process; within it the three variants alternate for `--rounds`
rounds after a warm-up epoch, and the table reports median seconds per epoch and ratios.

    python benchmarks/mix_up_py_dataset.py [--backends jax torch tensorflow] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N, D, BATCH = 24_129, 104, 256


def worker(rounds: int) -> dict:
    import keras
    import numpy as np

    from keras_regkit.layers import TabularMixUp
    from keras_regkit.recipes import MixUpPyDataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = (rng.random((N, 1)) < 0.25).astype("float32")
    layer = TabularMixUp(0.2, seed=0)

    def epoch_dataset(data):
        def run():
            for i in range(len(data)):
                data[i]
            data.on_epoch_end()

        return run

    def epoch_layer():
        order = rng.permutation(N)
        for start in range(0, N, BATCH):
            rows = order[start : start + BATCH]
            mixed = layer({"features": x[rows], "labels": y[rows]}, training=True)
            keras.ops.convert_to_numpy(mixed["features"])
            keras.ops.convert_to_numpy(mixed["labels"])

    variants = {
        "unmixed": epoch_dataset(MixUpPyDataset(x, y, alpha=None, batch_size=BATCH, seed=0)),
        "MixUpPyDataset": epoch_dataset(MixUpPyDataset(x, y, alpha=0.2, batch_size=BATCH, seed=0)),
        "TabularMixUp per batch": epoch_layer,
    }
    for run in variants.values():  # warm-up: first-call tracing and compilation
        run()
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {"backend": keras.backend.backend(), "times": times}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.rounds)))
        return

    print(
        f"One epoch of {N:,} x {D} float32 rows in batches of {BATCH}, median of "
        f"{args.rounds} interleaved rounds (seconds per epoch)\n"
    )
    header = (
        f"{'backend':<11} {'unmixed':>8} {'MixUpPyDataset':>15} {'layer/batch':>12} {'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker", "--rounds", str(args.rounds)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{backend} worker failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        med = {name: statistics.median(values) for name, values in result["times"].items()}
        ratio = med["TabularMixUp per batch"] / med["MixUpPyDataset"]
        print(
            f"{backend:<11} {med['unmixed']:>8.3f} {med['MixUpPyDataset']:>15.3f} "
            f"{med['TabularMixUp per batch']:>12.3f} {ratio:>7.1f}x"
        )
    print("\nratio: eager TabularMixUp per batch / MixUpPyDataset (higher: the dataset is faster)")


if __name__ == "__main__":
    main()
