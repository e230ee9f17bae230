"""Throughput of the keras_regkit augmentation layers against their nearest equivalents.

Images per second (sequences per second for the token layers), measured side by
side in one run: each pair is warmed up (traced / compiled) first, then the two
are timed in alternation and the median of the repeats is reported.

- `call`: `layer(batch, training=True)` as in an eager training loop (on JAX,
  keras_regkit layers compile the call; Keras's own layers run op by op).
- `tf.data`: `dataset.map(layer)` over a batched in-memory dataset, the place
  augmentation usually lives. Keras's layers switch to TensorFlow ops there;
  keras_regkit layers run as TensorFlow ops on the TensorFlow backend and through
  `tf.numpy_function` on the others.

The Keras counterpart of each image layer is the closest built-in layer, not the
same transform (Keras has no quarter-turn rotation, grid mask, motion or median
blur, or grid distortion). The token layers are compared with a per-sequence
Python implementation of EDA (Wei and Zou, 2019) on lists, as in the paper's code.

Usage:

    KERAS_BACKEND=tensorflow python benchmarks/augmentation.py
    KERAS_BACKEND=jax python benchmarks/augmentation.py --modes call --size 32
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from keras_regkit import layers  # noqa: E402


def image_pairs():
    return [
        (
            "AutoAugment(imagenet)",
            layers.AutoAugment(seed=0),
            "RandAugment",
            keras.layers.RandAugment(seed=0),
        ),
        (
            "RandomRotate90",
            layers.RandomRotate90(seed=0),
            "RandomRotation(0.25)",
            keras.layers.RandomRotation(0.25, seed=0),
        ),
        (
            "RandomTranspose",
            layers.RandomTranspose(seed=0),
            "RandomFlip",
            keras.layers.RandomFlip(seed=0),
        ),
        ("GridMask", layers.GridMask(seed=0), "RandomErasing", keras.layers.RandomErasing(seed=0)),
        (
            "RandomMotionBlur(3-7)",
            layers.RandomMotionBlur(seed=0),
            "RandomGaussianBlur(k=7)",
            keras.layers.RandomGaussianBlur(kernel_size=7, seed=0),
        ),
        (
            "RandomMedianBlur(3)",
            layers.RandomMedianBlur(seed=0),
            "RandomGaussianBlur(k=3)",
            keras.layers.RandomGaussianBlur(kernel_size=3, seed=0),
        ),
        (
            "RandomGridDistortion",
            layers.RandomGridDistortion(seed=0),
            "RandomElasticTransform",
            keras.layers.RandomElasticTransform(seed=0),
        ),
    ]


# -- EDA on Python lists, one sequence at a time (the paper's code style) -----------


def eda_deletion(words, p, rng):
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]


def eda_swap(words, n, rng):
    words = list(words)
    for _ in range(n):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    return words


def eda_insertion(words, n, rng, synonyms):
    words = list(words)
    for _ in range(n):
        candidates = [w for w in words if w in synonyms]
        if candidates:
            words.insert(rng.randrange(len(words)), rng.choice(synonyms[rng.choice(candidates)]))
    return words


def eda_replacement(words, n, rng, synonyms):
    words = list(words)
    positions = [i for i, w in enumerate(words) if w in synonyms]
    rng.shuffle(positions)
    for i in positions[:n]:
        words[i] = rng.choice(synonyms[words[i]])
    return words


def python_eda(operation, rate, synonyms):
    rng = random.Random(0)

    def run(batch):
        out = np.zeros_like(batch)
        for row, sequence in enumerate(batch):
            words = [int(t) for t in sequence if t != 0]
            n = max(1, int(rate * len(words)))
            if operation == "deletion":
                words = eda_deletion(words, rate, rng)
            elif operation == "swap":
                words = eda_swap(words, n, rng)
            elif operation == "insertion":
                words = eda_insertion(words, n, rng, synonyms)
            else:
                words = eda_replacement(words, n, rng, synonyms)
            words = words[: batch.shape[1]]
            out[row, : len(words)] = words
        return out

    return run


def token_pairs(synonyms):
    return [
        (
            "RandomTokenDeletion",
            layers.RandomTokenDeletion(0.1, seed=0),
            "python EDA",
            python_eda("deletion", 0.1, synonyms),
        ),
        (
            "RandomTokenSwap",
            layers.RandomTokenSwap(0.1, seed=0),
            "python EDA",
            python_eda("swap", 0.1, synonyms),
        ),
        (
            "RandomTokenInsertion",
            layers.RandomTokenInsertion(0.1, synonyms, seed=0),
            "python EDA",
            python_eda("insertion", 0.1, synonyms),
        ),
        (
            "RandomSynonymReplacement",
            layers.RandomSynonymReplacement(synonyms, 0.1, seed=0),
            "python EDA",
            python_eda("replacement", 0.1, synonyms),
        ),
    ]


# -- timing ------------------------------------------------------------------------


def consume(outputs):
    for leaf in keras.tree.flatten(outputs):
        np.asarray(ops.convert_to_numpy(leaf))


def call_runner(fn, batches):
    # As in a training loop: an explicit `training=True` (on JAX it also lets
    # keras_regkit layers compile the call instead of dispatching op by op).
    kwargs = {"training": True} if isinstance(fn, keras.layers.Layer) else {}

    def run():
        for batch in batches:
            consume(fn(batch, **kwargs))

    return run


def tf_data_runner(fn, batches):
    data = np.concatenate(batches)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(len(batches[0]))
    if isinstance(fn, keras.layers.Layer):
        dataset = dataset.map(fn)
    else:  # a Python reference
        dataset = dataset.map(lambda x: tf.numpy_function(fn, [x], x.dtype, stateful=True))
    dataset = dataset.prefetch(2)

    def run():
        for _ in dataset:
            pass

    return run


def measure(ours, theirs, batches, mode, repeats):
    runner = call_runner if mode == "call" else tf_data_runner
    runs = [runner(ours, batches), runner(theirs, batches)]
    for run in runs:  # warm-up: trace and compile
        run()
    times = [[], []]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
    count = sum(len(b) for b in batches)
    return [count / statistics.median(t) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="call,tf.data")
    parser.add_argument("--only", default="", help="comma-separated substrings of layer names")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = [
        rng.uniform(0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
        for _ in range(args.batches)
    ]
    vocabulary = 5000
    synonyms = {
        t: [int(s) for s in rng.integers(1, vocabulary, 3)] for t in range(1, vocabulary, 2)
    }
    tokens = []
    for _ in range(args.batches):
        batch = rng.integers(1, vocabulary, (args.batch, args.sequence_length)).astype("int32")
        lengths = rng.integers(args.sequence_length // 4, args.sequence_length, args.batch)
        batch[np.arange(args.sequence_length)[None, :] >= lengths[:, None]] = 0
        tokens.append(batch)

    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} batch={args.batch} "
        f"image={args.size}x{args.size}x3 sequence_length={args.sequence_length} "
        f"repeats={args.repeats} (median)"
    )
    header = f"{'mode':8s} {'keras_regkit':26s} {'/s':>9s}   {'reference':24s} {'/s':>9s}  ratio"
    print(header)
    print("-" * len(header))
    only = [s for s in args.only.split(",") if s]
    cases = [(p, images) for p in image_pairs()] + [(p, tokens) for p in token_pairs(synonyms)]
    for mode in args.modes.split(","):
        for (name, ours, other_name, theirs), batches in cases:
            if only and not any(s in name for s in only):
                continue
            ours_rate, theirs_rate = measure(ours, theirs, batches, mode, args.repeats)
            print(
                f"{mode:8s} {name:26s} {ours_rate:9.0f}   {other_name:24s} {theirs_rate:9.0f}  "
                f"{ours_rate / theirs_rate:5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
