"""MinDiff on UCI Adult: overhead against plain training and against TFMR, and the fairness effect.

Setup (issues 3 and 20): MLP 64-32-1, batch 128 plus 128 MinDiff examples (64 female and 64 male
examples with label 0, i.e. false-positive-rate parity), Adam(1e-3), 5 epochs, MMD loss with a
Gaussian kernel on the predicted probabilities, loss_weight 1.5. Two paths, as users take them:

- README path: plain `fit(x, y, batch_size=128)` on NumPy arrays against MinDiff
  `fit(MinDiffPyDataset(x, y, ..., batch_size=128, min_diff_batch_size=64))`;
- TFMR-migration path: plain `fit` on a `tf.data` pipeline of shuffled `(x, y)` batches of 128
  against MinDiff `fit(pack_min_diff_data(that pipeline, sensitive_group_dataset=...,
  nonsensitive_group_dataset=...))` with shuffled, repeated group datasets batched by 64; and
  TFMR 0.1.7.1 (tf_keras, TF_USE_LEGACY_KERAS=1) on exactly the same pipelines.

    python benchmarks/min_diff_adult.py [--backends tensorflow jax torch] [--rounds 3]
        [--loss-weight 1.5] [--epochs 5] [--jit-compile auto|true|false] [--no-tfmr]

Each (backend, round) runs in a fresh process that times the four fits alternately (plain and
MinDiff back to back, so each ratio is taken side by side); TFMR runs the same way in its own
process. Rounds interleave the processes. The table reports medians of the per-round ratios (robust
to load that drifts on a shared machine) and of the seconds; "vs TFMR" pairs each round's MinDiff
fit with TFMR's MinDiff fit of the same round. Fit seconds include tracing/compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH, MD_GROUP_BATCH = 128, 64
TARGETS = {"arrays_vs_py_dataset": 1.2, "tf_data_vs_packed": 1.3, "vs_tfmr": 0.5}


def load():
    from keras_regkit.datasets import load_adult

    train, test = load_adult()
    female_tr = train.sensitive["sex"] == "Female"
    female_te = test.sensitive["sex"] == "Female"
    negatives = train.y == 0
    return {
        "x": train.x.astype("float32"),
        "y": train.y.astype("float32")[:, None],
        "sensitive_x": train.x[female_tr & negatives].astype("float32"),
        "nonsensitive_x": train.x[~female_tr & negatives].astype("float32"),
        "x_test": test.x.astype("float32"),
        "y_test": test.y,
        "female_test": female_te,
    }


def auc(y, score):
    """Rank-based ROC AUC (Mann-Whitney U), ties averaged."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def quality(data, scores):
    pred = scores >= 0.5
    neg = data["y_test"] == 0
    female = data["female_test"]
    fpr_f = pred[neg & female].mean()
    fpr_m = pred[neg & ~female].mean()
    return {
        "auc": float(auc(data["y_test"], scores)),
        "fpr_gap": float(abs(fpr_f - fpr_m)),
    }


def tf_pipelines(tf, data, seed):
    """The TFMR-migration path's pipelines: shuffled original batches, repeated group batches."""

    def group(x):
        ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=seed)
        return ds.repeat().batch(MD_GROUP_BATCH, drop_remainder=True)

    original = (
        tf.data.Dataset.from_tensor_slices((data["x"], data["y"]))
        .shuffle(len(data["x"]), seed=seed)
        .batch(BATCH)
    )
    return original, group(data["sensitive_x"]), group(data["nonsensitive_x"])


def timed_fits(fits, repeats, warmup=None):
    """Runs `fits` (name -> fn returning (seconds, model)) `repeats` times, alternating order.

    `warmup()` runs first, untimed, so one-time costs of the process (imports, the first
    compilation of the framework's own functions) do not fall on the first fit.
    """
    if warmup is not None:
        warmup()
    seconds = {name: [] for name in fits}
    models = {}
    names = list(fits)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            s, model = fits[name]()
            seconds[name].append(s)
            models.setdefault(name, model)
    return {name: statistics.median(v) for name, v in seconds.items()}, models


def worker_keras(args):
    import keras

    tf = None
    if "tf_data" in args.paths:
        import tensorflow as tf

    from keras_regkit.min_diff import MinDiffModel, MinDiffPyDataset, MMDLoss, pack_min_diff_data

    data = load()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]

    def build(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [
                keras.Input((data["x"].shape[1],)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )

    def timed(model, *fit_args, **fit_kwargs):
        start = time.perf_counter()
        model.fit(*fit_args, epochs=args.epochs, verbose=0, **fit_kwargs)
        return time.perf_counter() - start

    def plain_model():
        model = build(args.seed)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", jit_compile=jit)
        return model

    def min_diff_model():
        original = build(args.seed)
        model = MinDiffModel(original, MMDLoss("gaussian"), loss_weight=args.loss_weight)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", jit_compile=jit)
        return model, original

    def plain_arrays():
        model = plain_model()
        return timed(model, data["x"], data["y"], batch_size=BATCH), model

    def min_diff_py_dataset():
        model, original = min_diff_model()
        dataset = MinDiffPyDataset(
            data["x"],
            data["y"],
            sensitive_x=data["sensitive_x"],
            nonsensitive_x=data["nonsensitive_x"],
            batch_size=BATCH,
            min_diff_batch_size=MD_GROUP_BATCH,
            seed=args.seed,
        )
        return timed(model, dataset), original

    def plain_tf_data():
        model = plain_model()
        original_ds, _, _ = tf_pipelines(tf, data, args.seed)
        return timed(model, original_ds), model

    def min_diff_packed():
        model, original = min_diff_model()
        original_ds, sensitive_ds, nonsensitive_ds = tf_pipelines(tf, data, args.seed)
        dataset = pack_min_diff_data(
            original_ds,
            sensitive_group_dataset=sensitive_ds,
            nonsensitive_group_dataset=nonsensitive_ds,
        )
        return timed(model, dataset), original

    fits = {}
    if "arrays" in args.paths:
        fits.update(plain_arrays=plain_arrays, min_diff_py_dataset=min_diff_py_dataset)
    if "tf_data" in args.paths:
        fits.update(plain_tf_data=plain_tf_data, min_diff_packed=min_diff_packed)

    def warmup():
        small = {k: v[:1024] for k, v in data.items()}
        plain_model().fit(small["x"], small["y"], batch_size=BATCH, verbose=0)
        model, _ = min_diff_model()
        model.fit(
            MinDiffPyDataset(
                small["x"],
                small["y"],
                sensitive_x=small["sensitive_x"],
                nonsensitive_x=small["nonsensitive_x"],
                batch_size=BATCH,
                min_diff_batch_size=MD_GROUP_BATCH,
            ),
            verbose=0,
        )
        if tf is None:
            return
        original_ds, sensitive_ds, nonsensitive_ds = tf_pipelines(tf, small, args.seed)
        plain_model().fit(original_ds, verbose=0)
        model, _ = min_diff_model()
        model.fit(pack_min_diff_data(original_ds, sensitive_ds, nonsensitive_ds), verbose=0)

    seconds, models = timed_fits(fits, args.repeats, warmup)
    results = {"backend": keras.backend.backend(), "seconds": seconds}
    for name in ("plain_arrays", "min_diff_py_dataset", "min_diff_packed"):
        if name not in models:
            continue
        scores = models[name].predict(data["x_test"], batch_size=4096, verbose=0)[:, 0]
        results[name] = quality(data, scores)
    return results


def worker_tfmr(args):
    import tensorflow as tf
    import tf_keras
    from tensorflow_model_remediation import min_diff

    data = load()

    def build(seed):
        tf_keras.utils.set_random_seed(seed)
        return tf_keras.Sequential(
            [
                tf_keras.layers.Dense(64, activation="relu", input_shape=(data["x"].shape[1],)),
                tf_keras.layers.Dense(32, activation="relu"),
                tf_keras.layers.Dense(1, activation="sigmoid"),
            ]
        )

    def plain_tf_data():
        model = build(args.seed)
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        original_ds, _, _ = tf_pipelines(tf, data, args.seed)
        start = time.perf_counter()
        model.fit(original_ds, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, model

    def min_diff_packed():
        original = build(args.seed)
        model = min_diff.keras.MinDiffModel(
            original, min_diff.losses.MMDLoss("gaussian"), loss_weight=args.loss_weight
        )
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        original_ds, sensitive_ds, nonsensitive_ds = tf_pipelines(tf, data, args.seed)
        dataset = min_diff.keras.utils.pack_min_diff_data(
            original_ds,
            sensitive_group_dataset=sensitive_ds,
            nonsensitive_group_dataset=nonsensitive_ds,
        )
        start = time.perf_counter()
        model.fit(dataset, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, original

    def warmup():
        small = {k: v[:1024] for k, v in data.items()}
        model = build(args.seed)
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        original_ds, sensitive_ds, nonsensitive_ds = tf_pipelines(tf, small, args.seed)
        model.fit(original_ds, verbose=0)
        model = min_diff.keras.MinDiffModel(build(args.seed), min_diff.losses.MMDLoss("gaussian"))
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        model.fit(
            min_diff.keras.utils.pack_min_diff_data(original_ds, sensitive_ds, nonsensitive_ds),
            verbose=0,
        )

    seconds, models = timed_fits(
        {"plain_tf_data": plain_tf_data, "min_diff_packed": min_diff_packed},
        args.repeats,
        warmup,
    )
    results = {"backend": "tfmr", "seconds": seconds}
    scores = models["min_diff_packed"].predict(data["x_test"], batch_size=4096, verbose=0)[:, 0]
    results["min_diff_packed"] = quality(data, scores)
    return results


def tfmr_available() -> bool:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    code = "import tf_keras, tensorflow_model_remediation.min_diff"
    return (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0
    )


def run_worker(kind, args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if kind == "tfmr":
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env["KERAS_BACKEND"] = kind
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--epochs",
        str(args.epochs),
        "--loss-weight",
        str(args.loss_weight),
        "--seed",
        str(args.seed),
        "--jit-compile",
        args.jit_compile,
        "--repeats",
        str(args.repeats),
        "--paths",
        *args.paths,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=1, help="alternating repeats of each fit per process"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--loss-weight", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tfmr", action="store_true")
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=["arrays", "tf_data"],
        default=["arrays", "tf_data"],
        help="arrays: the README path (needs no TensorFlow); tf_data: the TFMR-migration path",
    )
    parser.add_argument("--json", help="also write the raw runs to this file")
    parser.add_argument(
        "--jit-compile",
        choices=["auto", "true", "false"],
        default="auto",
        help="Model.compile's jit_compile for the Keras 3 runs (auto = XLA on tensorflow "
        "and jax; fit seconds include the compilation)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker_tfmr(args) if args.worker == "tfmr" else worker_keras(args)
        print(json.dumps(result))
        return

    kinds = list(args.backends)
    if not args.no_tfmr and "tf_data" in args.paths and tfmr_available():
        kinds.append("tfmr")
    runs = {kind: [] for kind in kinds}
    for round_index in range(args.rounds):
        for kind in kinds if round_index % 2 == 0 else kinds[::-1]:
            print(f"round {round_index + 1}/{args.rounds}: {kind}", file=sys.stderr, flush=True)
            runs[kind].append(run_worker(kind, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)

    def med(values):
        return statistics.median(values)

    def seconds(kind, name):
        return [r["seconds"][name] for r in runs[kind]]

    def ratio(kind, num, den):
        return med([a / b for a, b in zip(seconds(kind, num), seconds(kind, den), strict=True)])

    print(
        f"\nMinDiff on Adult: MLP 64-32-1, batch {BATCH} + {2 * MD_GROUP_BATCH} MinDiff "
        f"examples, {args.epochs} epochs, MMD(gaussian) loss_weight={args.loss_weight}, "
        f"jit_compile={args.jit_compile}, median of {args.rounds} rounds x {args.repeats} "
        "repeats\n"
    )
    header = (
        f"{'backend':<11} {'arrays s':>8} {'PyDS s':>7} {'PyDS/arr':>8} | {'tf.data s':>9} "
        f"{'packed s':>8} {'pack/tfd':>8} {'vs TFMR':>8} | {'AUC plain':>9} {'AUC MD':>7} "
        f"{'FPR gap plain':>13} {'FPR gap MD':>10}"
    )
    print(header)
    print("-" * len(header))
    tfmr = runs.get("tfmr")

    def cell(value, width, spec=".2f", suffix=""):
        return (
            f"{'-':>{width}}" if value is None else f"{value:>{width - len(suffix)}{spec}}{suffix}"
        )

    def median_of(kind, name, key=None):
        values = [r[name] if key is None else r[name][key] for r in runs[kind] if name in r]
        return med(values) if values else None

    def seconds_of(kind, name):
        return median_of(kind, "seconds", name) if name in runs[kind][0]["seconds"] else None

    def min_diff_quality(kind, key):
        # The MinDiffPyDataset fit where it ran, else the pack_min_diff_data fit (TFMR's only one).
        value = median_of(kind, "min_diff_py_dataset", key)
        return median_of(kind, "min_diff_packed", key) if value is None else value

    def ratio_of(kind, num, den):
        have = runs[kind][0]["seconds"]
        return ratio(kind, num, den) if num in have and den in have else None

    for kind in kinds:
        vs = None
        if tfmr is not None and kind != "tfmr":
            ours = seconds(kind, "min_diff_packed")
            theirs = [r["seconds"]["min_diff_packed"] for r in tfmr]
            vs = med([a / b for a, b in zip(ours, theirs, strict=True)])
        print(
            f"{kind:<11} {cell(seconds_of(kind, 'plain_arrays'), 8)} "
            f"{cell(seconds_of(kind, 'min_diff_py_dataset'), 7)} "
            f"{cell(ratio_of(kind, 'min_diff_py_dataset', 'plain_arrays'), 8, suffix='x')} | "
            f"{cell(seconds_of(kind, 'plain_tf_data'), 9)} "
            f"{cell(seconds_of(kind, 'min_diff_packed'), 8)} "
            f"{cell(ratio_of(kind, 'min_diff_packed', 'plain_tf_data'), 8, suffix='x')} "
            f"{cell(vs, 8, suffix='x')} | "
            f"{cell(median_of(kind, 'plain_arrays', 'auc'), 9, '.4f')} "
            f"{cell(min_diff_quality(kind, 'auc'), 7, '.4f')} "
            f"{cell(median_of(kind, 'plain_arrays', 'fpr_gap'), 13, '.4f')} "
            f"{cell(min_diff_quality(kind, 'fpr_gap'), 10, '.4f')}"
        )
    print(
        f"\nTargets (issue 20): PyDS/arr <= {TARGETS['arrays_vs_py_dataset']}x, "
        f"pack/tfd <= {TARGETS['tf_data_vs_packed']}x, vs TFMR <= {TARGETS['vs_tfmr']}x on every "
        "backend. AUC/FPR gap of the MinDiff column: the MinDiffPyDataset fit."
    )


if __name__ == "__main__":
    main()
