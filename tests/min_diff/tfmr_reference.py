"""Computes TensorFlow Model Remediation (TFMR) MinDiff values for the parity tests.

Run as a subprocess with TF_USE_LEGACY_KERAS=1 (TFMR needs tf_keras):
    python tfmr_reference.py CASES.npz OUT.npz
Never imported by keras_regkit.
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_model_remediation import min_diff  # noqa: E402


def make_loss(name, kernel, kernel_length):
    kernels = {
        "gaussian": min_diff.losses.GaussianKernel,
        "laplacian": min_diff.losses.LaplacianKernel,
    }
    if name == "mmd":
        return min_diff.losses.MMDLoss(kernels[kernel](kernel_length))
    if name == "adjusted_mmd":
        return min_diff.losses.AdjustedMMDLoss(kernels[kernel](kernel_length))
    if name == "abs_corr":
        return min_diff.losses.AbsoluteCorrelationLoss()
    raise ValueError(name)


def loss_case(case):
    loss = make_loss(str(case["loss"]), str(case["kernel"]), float(case["kernel_length"]))
    predictions = tf.Variable(case["predictions"])
    weights = case["sample_weight"] if case["has_weight"] else None
    with tf.GradientTape() as tape:
        value = loss(tf.constant(case["membership"]), predictions, weights)
    grad = tape.gradient(value, predictions)
    return {"value": np.float64(value.numpy()), "grad": grad.numpy()}


def kernel_case(case):
    cls = {
        "gaussian": min_diff.losses.GaussianKernel,
        "laplacian": min_diff.losses.LaplacianKernel,
    }[str(case["kernel"])]
    return {"value": cls(float(case["kernel_length"]))(tf.constant(case["x"])).numpy()}


def train_case(case):
    """One SGD step of TFMR's MinDiffModel from given weights."""
    import tf_keras

    original = tf_keras.Sequential(
        [
            tf_keras.layers.Dense(
                case["w1"].shape[1], activation="relu", input_shape=(case["w1"].shape[0],)
            ),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    original.set_weights([case["w1"], case["b1"], case["w2"], case["b2"]])
    model = min_diff.keras.MinDiffModel(
        original,
        make_loss(str(case["loss"]), "gaussian", 0.1),
        loss_weight=float(case["loss_weight"]),
    )
    model.compile(tf_keras.optimizers.SGD(float(case["lr"])), "binary_crossentropy")
    original_ds = tf.data.Dataset.from_tensors((case["x"], case["y"]))
    md_ds = tf.data.Dataset.from_tensors((case["md_x"], case["membership"]))
    data = min_diff.keras.utils.pack_min_diff_data(original_ds, min_diff_dataset=md_ds)
    history = model.fit(data, epochs=1, verbose=0)
    out = {f"weight_{i}": w for i, w in enumerate(original.get_weights())}
    out["loss"] = np.float64(history.history["loss"][0])
    out["min_diff_loss"] = np.float64(history.history["min_diff_loss"][0])
    return out


def main(cases_path, out_path):
    cases = np.load(cases_path, allow_pickle=False)
    names = sorted({k.split("/")[0] for k in cases.files})
    results = {}
    for name in names:
        case = {k.split("/", 1)[1]: cases[k] for k in cases.files if k.split("/")[0] == name}
        kind = str(case["kind"])
        fn = {"loss": loss_case, "kernel": kernel_case, "train": train_case}[kind]
        for key, value in fn(case).items():
            results[f"{name}/{key}"] = value
    np.savez(out_path, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
