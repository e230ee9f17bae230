"""SAM, ASAM, SWA and Lookahead against plain Adam on digits: accuracy, gap, step time.

    python benchmarks/optimizer_regularization.py [--backend jax] [--seeds 0 1 2]
        [--epochs 30] [--repeats 5] [--adult]

`--adult` adds the compare MLP on UCI Adult (`keras_regkit.compare`: MLP 104-128-64-32-1,
20 epochs, one repeat per seed, paired across techniques) for plain Adam, SAM, SWA and
Lookahead: each technique's paired difference from plain Adam in validation loss, the
overfitting gap and test AUC (95% intervals), and its fit time over plain Adam's.

An MLP 64-256-256-10 on scikit-learn's digits (1300 training images, 497 held
out, pixels scaled to [0, 1], batch 100) is trained for `--epochs` epochs with
Adam(1e-3) and each technique, once per seed (the seed sets the initial
weights and the shuffling):

- plain: Adam;
- sam: `models.SharpnessAwareModel(rho=0.05)` (Foret et al., 2021);
- asam: `models.SharpnessAwareModel(rho=0.5, adaptive=True)` (Kwon et al., 2021);
- swa: `callbacks.StochasticWeightAveraging` over the last quarter of the epochs,
  constant SWA learning rate 5e-4 (Izmailov et al., 2018);
- lookahead: `optimizers.Lookahead(Adam, sync_period=5, slow_step_size=0.5)`
  (Zhang et al., 2019).

For each technique the table gives the mean over seeds and a two-sided 95%
Student-t interval (mean +- t * sd / sqrt(n)) of the test accuracy, the test
cross-entropy and the generalization gap (train accuracy - test accuracy),
and the median time per training step relative to plain Adam: one epoch over
the training set tiled 4 times (52 steps) per technique in turn, `--repeats`
times after a warm-up, so that machine load hits all alike (XLA on TensorFlow
and JAX, eager on torch). At this size a step takes about a millisecond and
fixed per-step costs weigh in; `--speed-batch 1300 --speed-width 1024` times
a compute-bound step instead (`--epochs 0` skips the accuracy runs). With 3
seeds the intervals are wide; differences inside them are not evidence either
way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCH = 100
TECHNIQUES = ("plain", "sam", "asam", "swa", "lookahead")


def _data():
    import numpy as np
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order].astype("int32")
    return images[:1300], labels[:1300], images[1300:], labels[1300:]


def _build(keras, name, seed, epochs, width=256):
    from keras_regkit.callbacks import StochasticWeightAveraging
    from keras_regkit.models import SharpnessAwareModel
    from keras_regkit.optimizers import Lookahead

    init = keras.initializers.GlorotUniform
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(width, activation="relu", kernel_initializer=init(seed)),
            keras.layers.Dense(width, activation="relu", kernel_initializer=init(seed + 1)),
            keras.layers.Dense(10, kernel_initializer=init(seed + 2)),
        ]
    )
    optimizer = keras.optimizers.Adam(1e-3)
    callbacks = []
    if name == "sam":
        model = SharpnessAwareModel(model, rho=0.05)
    elif name == "asam":
        model = SharpnessAwareModel(model, rho=0.5, adaptive=True)
    elif name == "swa":
        callbacks = [StochasticWeightAveraging(start_epoch=max(epochs * 3 // 4, 0), swa_lr=5e-4)]
    elif name == "lookahead":
        optimizer = Lookahead(optimizer, sync_period=5, slow_step_size=0.5)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, callbacks


def worker(args):
    import keras
    import numpy as np

    x, y, x_test, y_test = _data()
    results = {name: [] for name in TECHNIQUES}
    for seed in args.seeds if args.epochs > 0 else []:
        for name in TECHNIQUES:
            keras.utils.set_random_seed(seed)
            model, callbacks = _build(keras, name, seed, args.epochs)
            model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0, callbacks=callbacks)
            _, train_acc = model.evaluate(x, y, verbose=0, batch_size=500)
            test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0, batch_size=500)
            results[name].append(
                {"test_acc": test_acc, "test_loss": test_loss, "gap": train_acc - test_acc}
            )

    batch = args.speed_batch
    x_speed, y_speed = np.tile(x, (4, 1)), np.tile(y, 4)
    steps = len(x_speed) // batch
    x_speed, y_speed = x_speed[: steps * batch], y_speed[: steps * batch]
    models = {name: _build(keras, name, 0, 100, args.speed_width)[0] for name in TECHNIQUES}
    for model in models.values():
        model.fit(x_speed, y_speed, batch_size=batch, epochs=1, verbose=0)
    times = {name: [] for name in TECHNIQUES}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x_speed, y_speed, batch_size=batch, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    speed = {name: statistics.median(values) for name, values in times.items()}
    print(json.dumps({"results": results, "speed": speed}))


def _interval(values):
    import numpy as np
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(half)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--speed-batch", type=int, default=BATCH)
    parser.add_argument("--speed-width", type=int, default=256)
    parser.add_argument("--adult", action="store_true", help="add the compare MLP on Adult")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--adult-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.adult_worker:
        adult(args)
        return
    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, __file__, "--worker", "--epochs", str(args.epochs)]
    command += ["--repeats", str(args.repeats), "--seeds", *map(str, args.seeds)]
    command += ["--speed-batch", str(args.speed_batch), "--speed-width", str(args.speed_width)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{args.backend}: failed\n{out.stderr[-3000:]}")
        sys.exit(1)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    speed, results = result["speed"], result["results"]
    print(
        f"digits MLP 64-256-256-10, {args.epochs} epochs, seeds {args.seeds}, "
        f"backend {args.backend}; mean +- 95% t-interval half-width; step time of a "
        f"64-{args.speed_width}-{args.speed_width}-10 MLP, batch {args.speed_batch}, vs plain"
    )
    print("| Technique | Test accuracy | Test cross-entropy | Gap (train - test acc) | Step time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in TECHNIQUES:
        if not results[name]:
            ratio = speed[name] / speed["plain"]
            print(f"| {name} | | | | x{ratio:.2f} ({speed[name] * 1000:.2f} ms) |")
            continue
        cells = []
        for key, digits in (("test_acc", 4), ("test_loss", 4), ("gap", 4)):
            mean, half = _interval([run[key] for run in results[name]])
            cells.append(f"{mean:.{digits}f} +- {half:.{digits}f}")
        ratio = speed[name] / speed["plain"]
        print(f"| {name} | {' | '.join(cells)} | x{ratio:.2f} ({speed[name] * 1000:.2f} ms) |")
    if args.adult:
        command = [sys.executable, __file__, "--adult-worker", "--seeds", *map(str, args.seeds)]
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        print(out.stdout if out.returncode == 0 else f"adult: failed\n{out.stderr[-3000:]}")


def adult(args):
    """The compare MLP on Adult: plain Adam against SAM, SWA and Lookahead, paired by seed."""
    from keras_regkit.compare import compare, format_differences, load_adult_task

    seeds = sorted(args.seeds)
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise SystemExit("--adult needs consecutive seeds (compare's repeats)")
    result = compare(
        load_adult_task(),
        ["none", "sam", "swa", "lookahead"],
        seed=seeds[0],
        repeats=len(seeds),
    )
    print(f"\nAdult, compare MLP, {len(seeds)} repeats (seeds {seeds}), vs plain Adam:")
    print(format_differences(result, markdown=True))
    times = {}
    for run in result.runs:
        times.setdefault(run.technique, {})[run.seed] = run.seconds
    for name in ("sam", "swa", "lookahead"):
        ratios = [times[name][seed] / times["none"][seed] for seed in times["none"]]
        mean, half = _interval(ratios)
        print(f"- {name}: fit time / plain {mean:.2f} +- {half:.2f} (warm compiled models)")


if __name__ == "__main__":
    main()
