"""MinDiff on UCI Adult: overhead against plain training and against TFMR, and the fairness effect.

Setup (issue 3): MLP 64-32-1, batch 128 plus 128 MinDiff examples (64 female and 64 male
examples with label 0, i.e. false-positive-rate parity), Adam(1e-3), 5 epochs, MMD loss with a
Gaussian kernel on the predicted probabilities.

    python benchmarks/min_diff_adult.py [--backends tensorflow jax torch] [--rounds 2]
        [--loss-weight 1.5] [--epochs 5] [--jit-compile auto|true|false]

Each (backend, round) runs in a fresh process that times plain `fit` and MinDiff `fit`
alternately; TFMR (tf_keras, TF_USE_LEGACY_KERAS=1) runs the same way when its stack is
installed. Rounds interleave the processes; the table reports medians and ratios.
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


def load():
    from keras_regkit.datasets import load_adult

    train, test = load_adult()
    female_tr = train.sensitive["sex"] == "Female"
    female_te = test.sensitive["sex"] == "Female"
    negatives = train.y == 0
    return {
        "x": train.x,
        "y": train.y.astype("float32")[:, None],
        "sensitive_x": train.x[female_tr & negatives],
        "nonsensitive_x": train.x[~female_tr & negatives],
        "x_test": test.x,
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
        "accuracy": float((pred == (data["y_test"] == 1)).mean()),
    }


def worker_keras(args):
    import keras

    from keras_regkit.min_diff import MinDiffModel, MinDiffPyDataset, MMDLoss

    data = load()
    results = {"backend": keras.backend.backend()}
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

    def plain():
        model = build(args.seed)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", jit_compile=jit)
        start = time.perf_counter()
        model.fit(data["x"], data["y"], batch_size=BATCH, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, model

    def min_diff():
        original = build(args.seed)
        model = MinDiffModel(original, MMDLoss("gaussian"), loss_weight=args.loss_weight)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", jit_compile=jit)
        dataset = MinDiffPyDataset(
            data["x"],
            data["y"],
            sensitive_x=data["sensitive_x"],
            nonsensitive_x=data["nonsensitive_x"],
            batch_size=BATCH,
            min_diff_batch_size=MD_GROUP_BATCH,
            seed=args.seed,
        )
        start = time.perf_counter()
        model.fit(dataset, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, original

    for name, fn in (("plain", plain), ("min_diff", min_diff)):
        seconds, model = fn()
        scores = model.predict(data["x_test"], batch_size=4096, verbose=0)[:, 0]
        results[name] = {"seconds": seconds, **quality(data, scores)}
    return results


def worker_tfmr(args):
    import tensorflow as tf
    import tf_keras
    from tensorflow_model_remediation import min_diff

    data = load()
    results = {"backend": "tfmr"}

    def build(seed):
        tf_keras.utils.set_random_seed(seed)
        return tf_keras.Sequential(
            [
                tf_keras.layers.Dense(64, activation="relu", input_shape=(data["x"].shape[1],)),
                tf_keras.layers.Dense(32, activation="relu"),
                tf_keras.layers.Dense(1, activation="sigmoid"),
            ]
        )

    def plain():
        model = build(args.seed)
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        start = time.perf_counter()
        model.fit(data["x"], data["y"], batch_size=BATCH, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, model

    def md():
        original = build(args.seed)
        model = min_diff.keras.MinDiffModel(
            original, min_diff.losses.MMDLoss("gaussian"), loss_weight=args.loss_weight
        )
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")

        def group(x):
            ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=args.seed)
            return ds.repeat().batch(MD_GROUP_BATCH, drop_remainder=True)

        original_ds = (
            tf.data.Dataset.from_tensor_slices((data["x"], data["y"]))
            .shuffle(len(data["x"]), seed=args.seed)
            .batch(BATCH)
        )
        dataset = min_diff.keras.utils.pack_min_diff_data(
            original_ds,
            sensitive_group_dataset=group(data["sensitive_x"]),
            nonsensitive_group_dataset=group(data["nonsensitive_x"]),
        )
        start = time.perf_counter()
        model.fit(dataset, epochs=args.epochs, verbose=0)
        return time.perf_counter() - start, original

    for name, fn in (("plain", plain), ("min_diff", md)):
        seconds, model = fn()
        scores = model.predict(data["x_test"], batch_size=4096, verbose=0)[:, 0]
        results[name] = {"seconds": seconds, **quality(data, scores)}
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
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--loss-weight", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-tfmr", action="store_true")
    parser.add_argument(
        "--jit-compile",
        choices=["auto", "true", "false"],
        default="auto",
        help="Model.compile's jit_compile for both Keras 3 runs (auto = XLA on tensorflow "
        "and jax; fit seconds include the compilation)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker_tfmr(args) if args.worker == "tfmr" else worker_keras(args)
        print(json.dumps(result))
        return

    kinds = list(args.backends)
    if not args.no_tfmr and tfmr_available():
        kinds.append("tfmr")
    runs = {kind: [] for kind in kinds}
    for round_index in range(args.rounds):
        for kind in kinds:
            print(f"round {round_index + 1}/{args.rounds}: {kind}", file=sys.stderr, flush=True)
            runs[kind].append(run_worker(kind, args))

    def med(kind, part, key):
        return statistics.median(r[part][key] for r in runs[kind])

    print(
        f"\nMinDiff on Adult: MLP 64-32-1, batch {BATCH} + {2 * MD_GROUP_BATCH} MinDiff "
        f"examples, {args.epochs} epochs, MMD(gaussian) loss_weight={args.loss_weight}, "
        f"jit_compile={args.jit_compile}, median of {args.rounds} rounds\n"
    )
    header = (
        f"{'backend':<11} {'plain s':>8} {'MinDiff s':>9} {'MD/plain':>8} {'vs TFMR':>8} "
        f"{'AUC plain':>9} {'AUC MD':>7} {'FPR gap plain':>13} {'FPR gap MD':>10} "
        f"{'gap cut':>7}"
    )
    print(header)
    print("-" * len(header))
    tfmr_md = med("tfmr", "min_diff", "seconds") if "tfmr" in runs else None
    for kind in kinds:
        plain_s, md_s = med(kind, "plain", "seconds"), med(kind, "min_diff", "seconds")
        vs = "" if tfmr_md is None or kind == "tfmr" else f"{md_s / tfmr_md:.2f}x"
        gap_p, gap_m = med(kind, "plain", "fpr_gap"), med(kind, "min_diff", "fpr_gap")
        cut = 1 - gap_m / gap_p if gap_p > 0 else float("nan")
        print(
            f"{kind:<11} {plain_s:>8.2f} {md_s:>9.2f} {md_s / plain_s:>7.2f}x {vs:>8} "
            f"{med(kind, 'plain', 'auc'):>9.4f} {med(kind, 'min_diff', 'auc'):>7.4f} "
            f"{gap_p:>13.4f} {gap_m:>10.4f} {cut:>7.0%}"
        )
    print(
        "\nTargets: MinDiff/plain <= 1.25x; ours/TFMR <= 0.5x (jax), <= 0.9x (tensorflow); "
        "FPR gap cut >= 50% with AUC drop <= 0.015."
    )


if __name__ == "__main__":
    main()
