"""Training-step time of the keras_regkit regularizers and layers against Keras equivalents.

Each pair of models is built with the same shapes, compiled the same way and warmed
up (traced / compiled) first; then the two are timed back to back, `--steps`
`train_on_batch` calls each, `--repeats` times, alternating which goes first.
Reported: the median step time of each, the median of the per-repeat ratios
keras_regkit / Keras (robust to load that drifts during the run) and, as a
noise indicator, the ratio of the fastest repeats. Run it once per backend:

    KERAS_BACKEND=jax python benchmarks/layers.py
    KERAS_BACKEND=tensorflow python benchmarks/layers.py --jit-compile false

Pairs (targets from issue 6):

- `ElasticNet(factor, l1_ratio)` vs `keras.regularizers.L1L2` with the same
  coefficients, on the kernels of a 3-layer MLP (target <= 1.05x);
- `DropConnectDense` (one mask per batch) vs `Dense` + `Dropout` at the same
  rate (target <= 1.3x). The mask costs input_dim x units random numbers per
  step whatever the batch size, Dropout batch x units, so the ratio falls as
  the batch grows. With `--per-sample`, also `DropConnectDense(per_sample=True)`
  (batch x input_dim x units random numbers and memory per step: slow, by design);
- `DropBlock2D` vs `SpatialDropout2D` after each of two 3x3 convolutions on
  16x16x16 inputs (block 7, as on the paper's 14x14 maps);
- `StochasticDepth` vs a plain residual addition, `NoisyDense` vs `Dense`,
  `GroupLasso` vs `L2`, for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_regkit import layers, regularizers  # noqa: E402

FEATURES, UNITS, CLASSES = 256, 512, 10


def mlp(dense_factory, dropout=None):
    inputs = keras.Input((FEATURES,))
    x = inputs
    for _ in range(2):
        x = dense_factory(UNITS)(x)
        if dropout is not None:
            x = dropout()(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x))


def convnet(regularizer_factory, residual=False):
    inputs = keras.Input((16, 16, 16))
    x = inputs
    for _ in range(2):
        branch = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        if residual:
            x = regularizer_factory()([x, branch])
        else:
            x = regularizer_factory()(branch)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x))


class Add(keras.layers.Layer):
    """`shortcut + branch`, the call form of StochasticDepth without the drop."""

    def call(self, inputs):
        return inputs[0] + inputs[1]


def pairs(rate=0.5, per_sample=False):
    l1, l2 = 1e-4 * 0.5, 1e-4 * 0.5
    per_sample_pair = (
        f"DropConnectDense({rate}, per_sample)",
        lambda: mlp(
            lambda u: layers.DropConnectDense(
                u, rate=rate, per_sample=True, activation="relu", seed=1
            )
        ),
        f"Dense + Dropout({rate})",
        lambda: mlp(
            lambda u: keras.layers.Dense(u, activation="relu"),
            dropout=lambda: keras.layers.Dropout(rate, seed=1),
        ),
        "mlp",
        None,
    )
    result = [
        (
            "ElasticNet(1e-4, 0.5)",
            lambda: mlp(
                lambda u: keras.layers.Dense(
                    u, activation="relu", kernel_regularizer=regularizers.ElasticNet(1e-4, 0.5)
                )
            ),
            "L1L2(5e-5, 5e-5)",
            lambda: mlp(
                lambda u: keras.layers.Dense(
                    u, activation="relu", kernel_regularizer=keras.regularizers.L1L2(l1, l2)
                )
            ),
            "mlp",
            1.05,
        ),
        (
            f"DropConnectDense({rate})",
            lambda: mlp(lambda u: layers.DropConnectDense(u, rate=rate, activation="relu", seed=1)),
            f"Dense + Dropout({rate})",
            lambda: mlp(
                lambda u: keras.layers.Dense(u, activation="relu"),
                dropout=lambda: keras.layers.Dropout(rate, seed=1),
            ),
            "mlp",
            1.3,
        ),
        (
            "NoisyDense(0.01)",
            lambda: mlp(lambda u: layers.NoisyDense(u, stddev=0.01, activation="relu", seed=1)),
            "Dense",
            lambda: mlp(lambda u: keras.layers.Dense(u, activation="relu")),
            "mlp",
            None,
        ),
        (
            "GroupLasso(1e-4)",
            lambda: mlp(
                lambda u: keras.layers.Dense(
                    u, activation="relu", kernel_regularizer=regularizers.GroupLasso(1e-4)
                )
            ),
            "L2(1e-4)",
            lambda: mlp(
                lambda u: keras.layers.Dense(
                    u, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4)
                )
            ),
            "mlp",
            None,
        ),
        (
            "DropBlock2D(0.1, 7)",
            lambda: convnet(lambda: layers.DropBlock2D(0.1, 7, seed=1)),
            "SpatialDropout2D(0.1)",
            lambda: convnet(lambda: keras.layers.SpatialDropout2D(0.1, seed=1)),
            "conv",
            None,
        ),
        (
            "StochasticDepth(0.1)",
            lambda: convnet(lambda: layers.StochasticDepth(0.1, seed=1), residual=True),
            "shortcut + branch",
            lambda: convnet(Add, residual=True),
            "conv",
            None,
        ),
    ]
    if per_sample:
        result.insert(2, per_sample_pair)
    return result


def data(kind, batch_size):
    rng = np.random.default_rng(0)
    shape = (batch_size, FEATURES) if kind == "mlp" else (batch_size, 16, 16, 16)
    x = rng.normal(size=shape).astype("float32")
    y = rng.integers(0, CLASSES, size=(batch_size,))
    return x, y


def step_time(model, x, y, steps):
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))  # wait for asynchronous backends
    return (time.perf_counter() - start) / steps


def compile_model(build, jit_compile):
    model = build()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--jit-compile", choices=["auto", "true", "false"], default="auto", help="Model.compile"
    )
    parser.add_argument("--only", default=None, help="run only pairs whose name contains this")
    parser.add_argument(
        "--per-sample", action="store_true", help="also time DropConnectDense(per_sample=True)"
    )
    args = parser.parse_args()
    jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]

    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} "
        f"jit_compile={args.jit_compile} batch_size={args.batch_size} "
        f"steps={args.steps} repeats={args.repeats}"
    )
    header = (
        f"{'keras_regkit':36s} {'ms/step':>8s}  {'Keras':24s} {'ms/step':>8s}  ratio  (min)  target"
    )
    print(header)
    print("-" * len(header))
    for name, build, ref_name, ref_build, kind, target in pairs(per_sample=args.per_sample):
        if args.only and args.only not in name:
            continue
        keras.utils.set_random_seed(0)
        x, y = data(kind, args.batch_size)
        ours, theirs = compile_model(build, jit_compile), compile_model(ref_build, jit_compile)
        for model in (ours, theirs):  # trace / compile, then settle
            step_time(model, x, y, 3)
        times = {"ours": [], "theirs": []}
        for repeat in range(args.repeats):
            order = ("ours", "theirs") if repeat % 2 == 0 else ("theirs", "ours")
            for key in order:
                model = ours if key == "ours" else theirs
                times[key].append(step_time(model, x, y, args.steps))
        a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
        ratio = statistics.median(
            o / t for o, t in zip(times["ours"], times["theirs"], strict=True)
        )
        fastest = min(times["ours"]) / min(times["theirs"])
        verdict = (
            "" if target is None else f"<= {target:.2f} " + ("ok" if ratio <= target else "MISS")
        )
        print(
            f"{name:36s} {1e3 * a:8.2f}  {ref_name:24s} {1e3 * b:8.2f}  "
            f"{ratio:5.2f} ({fastest:4.2f})  {verdict}"
        )


if __name__ == "__main__":
    main()
