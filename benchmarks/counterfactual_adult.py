"""Counterfactual Logit Pairing on UCI Adult: flip rate and AUC before/after, and the fit overhead.

Setup (issue 15): MLP 64-32-1 (sigmoid), Adam(1e-3), batch 128, 3 epochs. Counterfactual rows
swap the one-hot `sex=Female` / `sex=Male` columns (`swap_sensitive_columns`). CLP trains
`CounterfactualModel(mlp, PairwiseMSELoss, loss_weight)` on `CounterfactualPyDataset(x, y,
counterfactual_x=x_cf, batch_size=128)` (every training row paired with its counterfactual);
the plain model trains on `fit(x, y, batch_size=128)` from the same initial weights.

    python benchmarks/counterfactual_adult.py [--backends jax tensorflow] [--seeds 0 1 2]
        [--loss-weight 5] [--epochs 3] [--tfmr]

`--tfmr` adds the TFMR-migration path: on the tensorflow backend, our `CounterfactualModel` fit on
`pack_counterfactual_data(tf.data batches of (x, y), tf.data batches of (x, x_cf))`, and TFMR
0.1.7.1's `CounterfactualModel` fit on the same pipelines (tf_keras, TF_USE_LEGACY_KERAS=1, its
own process), seed by seed: the ratio ours / TFMR (target <= 0.7).

Each backend runs in a fresh process that, per seed, times the plain fit and the CLP fit back to
back, alternating which goes first (a side-by-side ratio). On the test split it reports the
counterfactual flip rate (the decision at 0.5 changes when only sex is swapped), the mean absolute
counterfactual score gap and the ROC AUC, for the plain model ("before") and the CLP model
("after"). Means over seeds with 95% Student-t intervals. Fit seconds include tracing/compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH = 128
SEX_COLUMNS = ["sex=Female", "sex=Male"]


def _auc(y, score):
    """Rank-based ROC AUC (Mann-Whitney U), ties averaged."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _interval(values):
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, float(half)


def worker(args):
    import keras

    from keras_regkit.counterfactual import (
        CounterfactualModel,
        CounterfactualPyDataset,
        PairwiseMSELoss,
        swap_sensitive_columns,
    )
    from keras_regkit.datasets import load_adult
    from keras_regkit.fairness import counterfactual_flip_rate, mean_counterfactual_score_gap

    train, test = load_adult()
    x, y = train.x.astype("float32"), train.y.astype("float32")[:, None]
    x_cf = swap_sensitive_columns(x, SEX_COLUMNS, feature_names=train.feature_names)
    x_test = test.x.astype("float32")
    x_test_cf = swap_sensitive_columns(x_test, SEX_COLUMNS, feature_names=test.feature_names)

    def mlp():
        return keras.Sequential(
            [
                keras.Input((x.shape[1],)),
                keras.layers.Dense(64, "relu"),
                keras.layers.Dense(32, "relu"),
                keras.layers.Dense(1, "sigmoid"),
            ]
        )

    def evaluate(model):
        p = model.predict(x_test, batch_size=2048, verbose=0)[:, 0]
        pc = model.predict(x_test_cf, batch_size=2048, verbose=0)[:, 0]
        return {
            "flip_rate": counterfactual_flip_rate(p, pc),
            "score_gap": mean_counterfactual_score_gap(p, pc),
            "auc": _auc(test.y, p),
        }

    def fit_plain(seed, start_weights):
        model = mlp()
        model.set_weights(start_weights)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0)
        return model, time.perf_counter() - t0

    def fit_clp(seed, start_weights):
        original = mlp()
        original.set_weights(start_weights)
        model = CounterfactualModel(original, PairwiseMSELoss(), loss_weight=args.loss_weight)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
        data = CounterfactualPyDataset(x, y, counterfactual_x=x_cf, batch_size=BATCH, seed=seed)
        t0 = time.perf_counter()
        model.fit(data, epochs=args.epochs, verbose=0)
        return original, time.perf_counter() - t0

    def fit_clp_tf_data(seed, start_weights):
        from keras_regkit.counterfactual import pack_counterfactual_data

        original = mlp()
        original.set_weights(start_weights)
        model = CounterfactualModel(original, PairwiseMSELoss(), loss_weight=args.loss_weight)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
        t0 = time.perf_counter()
        model.fit(
            pack_counterfactual_data(*tf_pipelines(x, y, x_cf, seed)), epochs=args.epochs, verbose=0
        )
        return original, time.perf_counter() - t0

    rows = []
    for i, seed in enumerate(args.seeds):
        keras.utils.set_random_seed(seed)
        start_weights = mlp().get_weights()
        # Alternate which fit goes first, so process warm-up does not favour one side.
        if i % 2 == 0:
            plain, plain_s = fit_plain(seed, start_weights)
            clp, clp_s = fit_clp(seed, start_weights)
        else:
            clp, clp_s = fit_clp(seed, start_weights)
            plain, plain_s = fit_plain(seed, start_weights)
        row = {
            "seed": seed,
            "plain_s": plain_s,
            "clp_s": clp_s,
            "before": evaluate(plain),
            "after": evaluate(clp),
        }
        if args.tfmr and keras.backend.backend() == "tensorflow":
            packed, row["clp_tf_data_s"] = fit_clp_tf_data(seed, start_weights)
            row["after_tf_data"] = evaluate(packed)
        rows.append(row)
    print("RESULT " + json.dumps(rows))


def tf_pipelines(x, y, x_cf, seed):
    """Shuffled (x, y) batches and (x, x_cf) batches in the same order (the same shuffle seed)."""
    import tensorflow as tf

    def shuffled(*arrays):
        data = tf.data.Dataset.from_tensor_slices(arrays)
        return data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(BATCH)

    return shuffled(x, y), shuffled(x, x_cf)


def worker_tfmr(args):
    """TFMR 0.1.7.1's CLP on the same pipelines and start weights (tf_keras)."""
    import tf_keras
    from tensorflow_model_remediation import counterfactual

    from keras_regkit.counterfactual import swap_sensitive_columns
    from keras_regkit.datasets import load_adult

    train, test = load_adult()
    x, y = train.x.astype("float32"), train.y.astype("float32")[:, None]
    x_cf = swap_sensitive_columns(x, SEX_COLUMNS, feature_names=train.feature_names)
    rows = []
    for seed in args.seeds:
        tf_keras.utils.set_random_seed(seed)
        original = tf_keras.Sequential(
            [
                tf_keras.layers.Dense(64, activation="relu", input_shape=(x.shape[1],)),
                tf_keras.layers.Dense(32, activation="relu"),
                tf_keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model = counterfactual.keras.CounterfactualModel(
            original, counterfactual.losses.PairwiseMSELoss(), loss_weight=args.loss_weight
        )
        model.compile(tf_keras.optimizers.Adam(1e-3), "binary_crossentropy")
        original_ds, pairs_ds = tf_pipelines(x, y, x_cf, seed)
        packed = counterfactual.keras.utils.pack_counterfactual_data(original_ds, pairs_ds)
        t0 = time.perf_counter()
        model.fit(packed, epochs=args.epochs, verbose=0)
        p = original.predict(test.x.astype("float32"), batch_size=2048, verbose=0)[:, 0]
        rows.append({"seed": seed, "tfmr_s": time.perf_counter() - t0, "auc": _auc(test.y, p)})
    print("RESULT " + json.dumps(rows))


def report(backend, rows):
    def stat(values, fmt="{:.4f}"):
        mean, half = _interval(values)
        return f"{fmt.format(mean)} ± {fmt.format(half)}"

    print(f"\n## {backend} ({len(rows)} seeds; mean ± 95% t-interval)")
    print("| metric | plain (before) | CLP (after) |")
    print("|---|---|---|")
    for key in ("flip_rate", "score_gap", "auc"):
        before = [r["before"][key] for r in rows]
        after = [r["after"][key] for r in rows]
        print(f"| {key} | {stat(before)} | {stat(after)} |")
    cut = [1 - r["after"]["flip_rate"] / max(r["before"]["flip_rate"], 1e-12) for r in rows]
    auc_drop = [r["before"]["auc"] - r["after"]["auc"] for r in rows]
    ratio = [r["clp_s"] / r["plain_s"] for r in rows]
    print(f"| flip-rate cut | | {stat(cut)} |")
    print(f"| AUC drop | | {stat(auc_drop)} |")
    print(
        f"| fit seconds | {stat([r['plain_s'] for r in rows], '{:.2f}')} "
        f"| {stat([r['clp_s'] for r in rows], '{:.2f}')} |"
    )
    print(f"| CLP / plain fit time | | {stat(ratio, '{:.2f}')} |")
    if "clp_tf_data_s" in rows[0]:
        packed = stat([r["clp_tf_data_s"] for r in rows], "{:.2f}")
        print(f"| CLP on pack_counterfactual_data, s | | {packed} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--loss-weight", type=float, default=5.0)
    parser.add_argument("--tfmr", action="store_true", help="add the TFMR-migration path")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tfmr-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.tfmr_worker:
        worker_tfmr(args)
        return
    print(
        f"CLP on Adult, sex swapped: MLP 64-32-1, Adam(1e-3), batch {BATCH}, "
        f"{args.epochs} epochs, PairwiseMSELoss, loss_weight {args.loss_weight}"
    )
    for backend in args.backends:
        rows = _run(args, "--worker", KERAS_BACKEND=backend)
        if rows is None:
            continue
        report(backend, rows)
        if args.tfmr and backend == "tensorflow":
            theirs = _run(args, "--tfmr-worker", TF_USE_LEGACY_KERAS="1")
            if theirs is None:
                continue
            ratio = [r["clp_tf_data_s"] / t["tfmr_s"] for r, t in zip(rows, theirs, strict=True)]
            mean, half = _interval(ratio)
            print("\n## TFMR-migration path (tensorflow): ours / TFMR fit time, seed by seed")
            print(
                f"ours {[round(r['clp_tf_data_s'], 2) for r in rows]} s, TFMR "
                f"{[round(t['tfmr_s'], 2) for t in theirs]} s: {mean:.2f} ± {half:.2f} "
                f"(target <= 0.7); AUC ours {[round(r['after_tf_data']['auc'], 4) for r in rows]}, "
                f"TFMR {[round(t['auc'], 4) for t in theirs]}"
            )


def _run(args, flag, **env_vars):
    command = [sys.executable, __file__, flag, "--epochs", str(args.epochs)]
    command += ["--loss-weight", str(args.loss_weight), "--seeds", *map(str, args.seeds)]
    if args.tfmr:
        command.append("--tfmr")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env_vars)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"\n## {flag} {env_vars}: failed\n{proc.stderr[-2000:]}")
        return None
    return json.loads(lines[-1][len("RESULT ") :])


if __name__ == "__main__":
    main()
