"""Per-epoch cost of RegularizationMonitor on a ~1M-parameter model.

Times one `RegularizationMonitor.on_epoch_end` call against one training epoch
(`model.fit(..., epochs=1)`) of the same model on synthetic data, interleaving
the two measurements and reporting medians and their ratio. The first call,
which resolves the variables and (on JAX/TensorFlow) traces the ops, is
reported separately.

Usage:

    KERAS_BACKEND=jax python benchmarks/regularization_monitor.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_regkit.callbacks import RegularizationMonitor  # noqa: E402
from keras_regkit.regularizers import ElasticNet  # noqa: E402


def build_model(n_features: int) -> keras.Model:
    """512 -> 1024 -> 512 -> 10 MLP: 1,055,242 parameters, three regularizers."""
    return keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(1024, "relu", kernel_regularizer=ElasticNet(1e-4, 0.5)),
            keras.layers.Dense(512, "relu", kernel_regularizer=keras.regularizers.L1(1e-5)),
            keras.layers.Dense(10, kernel_regularizer=keras.regularizers.L2(1e-4)),
        ]
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--calls-per-repeat", type=int, default=5)
    args = parser.parse_args()

    n_features = 512
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, n_features)).astype("float32")
    y = rng.integers(0, 10, size=(args.samples,))
    model = build_model(n_features)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    monitors = {
        "overall": RegularizationMonitor(),
        "per_layer": RegularizationMonitor(per_layer=True),
    }
    first_call = {}
    for name, monitor in monitors.items():
        monitor.set_model(model)
        first_call[name] = timed(lambda m=monitor: m.on_epoch_end(0, {}))

    def epoch():
        model.fit(x, y, epochs=1, batch_size=args.batch_size, verbose=0)

    epoch()  # compile the train step
    epoch_times = []
    monitor_times = {name: [] for name in monitors}
    for _ in range(args.repeats):
        epoch_times.append(timed(epoch))
        for name, monitor in monitors.items():
            for _ in range(args.calls_per_repeat):
                monitor_times[name].append(timed(lambda m=monitor: m.on_epoch_end(0, {})))

    epoch_s = statistics.median(epoch_times)
    steps = -(-args.samples // args.batch_size)
    print(
        f"backend={keras.backend.backend()} params={model.count_params():,} "
        f"epoch={steps} steps x batch {args.batch_size}, repeats={args.repeats}"
    )
    print(f"training epoch (median): {epoch_s * 1e3:9.2f} ms")
    for name in monitors:
        call_s = statistics.median(monitor_times[name])
        print(
            f"monitor {name:9s} on_epoch_end (median): {call_s * 1e3:7.3f} ms  "
            f"ratio to epoch: {call_s / epoch_s:.2e} ({100 * call_s / epoch_s:.3f}%)  "
            f"first call: {first_call[name] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
