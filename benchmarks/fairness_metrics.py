"""Fairness metrics: speed against Fairlearn, and training overhead of the Keras integrations.

    KERAS_BACKEND=jax python benchmarks/fairness_metrics.py [--repeats 5] [--n 100000]

1. `keras_regkit.fairness` functions against the Fairlearn functions of the same name
   (demographic parity and equalized odds differences, weighted), on one sensitive column
   (2 groups) and on two (2 x 5 intersectional groups); also the largest absolute
   difference between the two libraries' values.
2. Steady-state `fit` time of a small MLP (after a first, compiling epoch): plain, with
   Keras's BinaryAccuracy and AUC for reference, with `FairnessMetricsCallback` (validation
   set of 20% of the training size), and with two streaming metrics in `compile(...)`
   on the two-output model their docstring recommends (shown with no metric as well, to
   separate the cost of the second output), `jit_compile=True` where the backend has XLA.

Each comparison alternates the contenders in every repeat; the table shows medians and
ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleave(contenders: dict, repeats: int):
    times = {name: [] for name in contenders}
    results = {}
    for _ in range(repeats):
        for name, fn in contenders.items():
            seconds, results[name] = timed(fn)
            times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}, results


def functional_vs_fairlearn(n: int, repeats: int) -> None:
    import fairlearn.metrics as flm

    from keras_regkit import fairness

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, n)
    y_pred = rng.integers(0, 2, n)
    weights = rng.uniform(0.5, 2.0, n)
    cases = {
        "1 column, 2 groups": rng.choice(["f", "m"], n),
        "2 columns, 10 groups": np.stack(
            [rng.choice(["f", "m"], n), rng.choice(list("abcde"), n)], axis=1
        ),
    }
    print(f"\n## Functions vs Fairlearn (n={n}, sample_weight, median of {repeats})")
    print(
        f"{'metric':32s} {'groups':22s} {'regkit s':>10s} {'fairlearn s':>12s} {'speed-up':>9s}"
        f" {'max |diff|':>11s}"
    )
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        for label, sf in cases.items():
            kwargs = {"sensitive_features": sf, "sample_weight": weights}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                medians, results = interleave(
                    {
                        "ours": lambda name=name, kwargs=kwargs: getattr(fairness, name)(
                            y_true, y_pred, **kwargs
                        ),
                        "fairlearn": lambda name=name, kwargs=kwargs: getattr(flm, name)(
                            y_true, y_pred, **kwargs
                        ),
                    },
                    repeats,
                )
            diff = abs(results["ours"] - float(results["fairlearn"]))
            print(
                f"{name:32s} {label:22s} {medians['ours']:10.4f} {medians['fairlearn']:12.4f}"
                f" {medians['fairlearn'] / medians['ours']:8.1f}x {diff:11.1e}"
            )


def training_overhead(n: int, repeats: int) -> None:
    import keras

    from keras_regkit import fairness
    from keras_regkit.callbacks import FairnessMetricsCallback

    rng = np.random.default_rng(1)
    features = 20
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, 0] + rng.normal(size=n) > 0).astype("float32")
    group = rng.integers(0, 4, n)
    packed = np.stack([y, group], axis=-1).astype("float32")
    n_val = n // 5
    validation = (x[:n_val], y[:n_val], group[:n_val])
    jit = keras.backend.backend() in ("tensorflow", "jax")

    def model(two_outputs=False):
        inputs = keras.Input((features,))
        hidden = keras.layers.Dense(64, activation="relu")(inputs)
        hidden = keras.layers.Dense(32, activation="relu")(hidden)
        probability = keras.layers.Dense(1, activation="sigmoid")(hidden)
        if two_outputs:
            outputs = {"label": probability, "fairness": keras.layers.Identity()(probability)}
            return keras.Model(inputs, outputs)
        return keras.Model(inputs, probability)

    def steady_fit(m, targets, callbacks=()):
        """Seconds for 2 epochs, after a first epoch that compiles everything."""
        m.fit(x, targets, batch_size=256, epochs=1, verbose=0, callbacks=list(callbacks))
        seconds, _ = timed(
            lambda: m.fit(
                x, targets, batch_size=256, epochs=2, verbose=0, callbacks=list(callbacks)
            )
        )
        return seconds

    def plain():
        m = model()
        m.compile("adam", "binary_crossentropy", jit_compile=jit)
        return steady_fit(m, y)

    def keras_metrics():
        m = model()
        m.compile(
            "adam",
            "binary_crossentropy",
            metrics=[keras.metrics.BinaryAccuracy(), keras.metrics.AUC()],
            jit_compile=jit,
        )
        return steady_fit(m, y)

    def callback():
        m = model()
        m.compile("adam", "binary_crossentropy", jit_compile=jit)
        metrics = ["demographic_parity_difference", "equalized_odds_difference"]
        cb = FairnessMetricsCallback(validation, metrics=metrics, batch_size=1024)
        return steady_fit(m, y, [cb])

    def two_outputs(metrics=None):
        m = model(two_outputs=True)
        m.compile(
            "adam",
            {"label": "binary_crossentropy"},
            metrics={"fairness": metrics} if metrics else None,
            jit_compile=jit,
        )
        return steady_fit(m, {"label": y, "fairness": packed})

    def streaming():
        return two_outputs(
            [fairness.DemographicParityDifference(4), fairness.EqualizedOddsDifference(4)]
        )

    contenders = {
        "plain": plain,
        "keras BinaryAccuracy+AUC": keras_metrics,
        "FairnessMetricsCallback": callback,
        "two outputs, no metric": two_outputs,
        "two outputs, streaming DPD+EOD": streaming,
    }
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(fn())
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"\n## fit, 2 epochs after a compiling one, n={n}, MLP 64-32-1, batch 256, "
        f"validation n={n_val}, backend={keras.backend.backend()}, jit_compile={jit} "
        f"(median of {repeats})"
    )
    for name, value in medians.items():
        print(f"{name:32s} {value:8.3f} s   x{value / medians['plain']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--train-n", type=int, default=20_000)
    args = parser.parse_args()
    functional_vs_fairlearn(args.n, args.repeats)
    training_overhead(args.train_n, args.repeats)


if __name__ == "__main__":
    main()
