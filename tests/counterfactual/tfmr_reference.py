"""Computes TensorFlow Model Remediation (TFMR) Counterfactual values for the parity tests.

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
from tensorflow_model_remediation import counterfactual  # noqa: E402

LOSSES = {
    "mse": counterfactual.losses.PairwiseMSELoss,
    "mae": counterfactual.losses.PairwiseAbsoluteDifferenceLoss,
    "cosine": counterfactual.losses.PairwiseCosineLoss,
}


def loss_case(case):
    loss = LOSSES[str(case["loss"])]()
    original = tf.Variable(case["original"])
    weights = tf.constant(case["sample_weight"]) if case["has_weight"] else None
    with tf.GradientTape() as tape:
        value = loss(original, tf.constant(case["counterfactual"]), weights)
    grad = tape.gradient(value, original)
    return {"value": np.float64(value.numpy()), "grad": grad.numpy()}


def train_case(case):
    """One SGD step of TFMR's CounterfactualModel from given weights."""
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
    model = counterfactual.keras.CounterfactualModel(
        original, LOSSES[str(case["loss"])](), loss_weight=float(case["loss_weight"])
    )
    model.compile(tf_keras.optimizers.SGD(float(case["lr"])), "binary_crossentropy")
    original_ds = tf.data.Dataset.from_tensors((case["x"], case["y"]))
    cf_ds = tf.data.Dataset.from_tensors((case["x"], case["cf_x"], case["cf_weight"]))
    data = counterfactual.keras.utils.pack_counterfactual_data(original_ds, cf_ds)
    history = model.fit(data, epochs=1, verbose=0)
    out = {f"weight_{i}": w for i, w in enumerate(original.get_weights())}
    for key in ("total_loss", "original_loss", "counterfactual_loss"):
        out[key] = np.float64(history.history[key][0])
    return out


def main(cases_path, out_path):
    cases = np.load(cases_path, allow_pickle=False)
    names = sorted({k.split("/")[0] for k in cases.files})
    results = {}
    for name in names:
        case = {k.split("/", 1)[1]: cases[k] for k in cases.files if k.split("/")[0] == name}
        fn = {"loss": loss_case, "train": train_case}[str(case["kind"])]
        for key, value in fn(case).items():
            results[f"{name}/{key}"] = value
    np.savez(out_path, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
