"""GradientNoise and AdversarialModel: training-step overhead, and robustness on digits.

    python benchmarks/training_wrappers.py [--backends tensorflow jax torch] [--repeats 7]
        [--epochs 30] [--epsilon 0.1]

Part 1 (speed). Each backend runs in a fresh process. An MLP 64-256-256-10 on
scikit-learn's digits (the 1300 training images repeated 4 times, batch 100, 52
steps per epoch) is compiled once per variant (XLA on TensorFlow and JAX, eager
on torch) and warmed up; then one epoch of every variant is timed in turn,
`--repeats` times, so that load on the machine hits all variants alike. The table
gives median times per step and their ratio to the plain Adam step. Variants:
Adam, GradientNoise(Adam), FGSM, PGD with 3 and with 7 steps.

On a machine shared with other jobs, run torch with OMP_NUM_THREADS=1: its
default intra-op threads contend for the cores and dominate the step time.

Part 2 (robustness). The same MLP trained for `--epochs` epochs with plain Adam,
FGSM adversarial training and PGD adversarial training (epsilon `--epsilon` on
pixels scaled to [0, 1]), each evaluated on the 497 held-out images: clean
accuracy, accuracy under FGSM, and accuracy under PGD (10 steps, random start).
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


def _data():
    import numpy as np
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order].astype("int32")
    return images[:1300], labels[:1300], images[1300:], labels[1300:]


def _mlp(keras, seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init),
            keras.layers.Dense(10, kernel_initializer=init),
        ]
    )


def _variant(keras, name, epsilon, lr=1e-3):
    from keras_regkit.models import AdversarialModel
    from keras_regkit.optimizers import GradientNoise

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(lr)
    model = _mlp(keras)
    if name == "gradient_noise":
        optimizer = GradientNoise(optimizer, stddev=0.01, seed=0)
    elif name == "fgsm":
        model = AdversarialModel(model, epsilon=epsilon, clip_min=0.0, clip_max=1.0)
    elif name.startswith("pgd"):
        steps = int(name[3:])
        model = AdversarialModel(
            model, epsilon=epsilon, method="pgd", steps=steps, clip_min=0.0, clip_max=1.0, seed=0
        )
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _accuracies(keras, model, x, y, epsilon):
    import numpy as np

    from keras_regkit.models import AdversarialModel

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    result = {"clean": float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))}
    for method in ("fgsm", "pgd"):
        attack = AdversarialModel(
            model, epsilon=epsilon, method=method, steps=10, clip_min=0.0, clip_max=1.0, seed=1
        )
        attack.compile(loss=loss)
        x_adv = attack.adversarial_examples(x, y)
        predicted = np.argmax(model.predict(x_adv, verbose=0), -1)
        result[method] = float(np.mean(predicted == y))
    return result


def worker(args):
    import keras
    import numpy as np

    x, y, x_test, y_test = _data()
    x_speed, y_speed = np.tile(x, (4, 1)), np.tile(y, 4)
    steps = len(x_speed) // BATCH
    names = ["plain", "gradient_noise", "fgsm", "pgd3", "pgd7"]
    models = {name: _variant(keras, name, args.epsilon) for name in names}
    for model in models.values():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    times = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            start = time.perf_counter()
            models[name].fit(x_speed, y_speed, batch_size=BATCH, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    speed = {name: statistics.median(values) for name, values in times.items()}

    robustness = {}
    if args.epochs > 0:
        for name in ("plain", "fgsm", "pgd7"):
            model = _variant(keras, name, args.epsilon, lr=3e-3)
            model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0)
            inner = getattr(model, "model", model)
            robustness[name] = _accuracies(keras, inner, x_test, y_test, args.epsilon)
    print(json.dumps({"speed": speed, "robustness": robustness}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker", "--repeats", str(args.repeats)]
        command += ["--epochs", str(args.epochs), "--epsilon", str(args.epsilon)]
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{backend}: failed\n{out.stderr[-3000:]}")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        speed = result["speed"]
        print(f"\n== {backend}: median time per training step (batch {BATCH}), ratio to plain")
        for name, seconds in speed.items():
            print(f"  {name:<15} {seconds * 1000:8.2f} ms   x{seconds / speed['plain']:.2f}")
        if result["robustness"]:
            print(
                f"== {backend}: digits test accuracy after {args.epochs} epochs, "
                f"epsilon={args.epsilon} (clean / under FGSM / under PGD-10)"
            )
            for name, acc in result["robustness"].items():
                print(f"  {name:<15} {acc['clean']:.3f} / {acc['fgsm']:.3f} / {acc['pgd']:.3f}")


if __name__ == "__main__":
    main()
