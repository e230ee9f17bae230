import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.min_diff import (
    AbsoluteCorrelationLoss,
    AbsoluteDifferenceLoss,
    MinDiffModel,
    MinDiffPackedInputs,
    MMDLoss,
)

RNG = np.random.default_rng(0)
N, F = 64, 5
X = RNG.normal(size=(N, F)).astype("float32")
Y = (X[:, 0] + 0.3 * RNG.normal(size=N) > 0).astype("float32")[:, None]
MD_X = (RNG.normal(size=(N, F)) + 0.5).astype("float32")
MEMBERSHIP = (np.arange(N) % 2 == 0).astype("float32")[:, None]
PACKED = MinDiffPackedInputs(X, (MD_X, MEMBERSHIP))


def build_original(dropout=0.0, regularize=False, seed=1):
    reg = keras.regularizers.L2(0.01) if regularize else None
    act = keras.regularizers.L1(0.001) if regularize else None
    inputs = keras.Input((F,))
    h = keras.layers.Dense(
        8,
        activation="relu",
        kernel_regularizer=reg,
        activity_regularizer=act,
        kernel_initializer=keras.initializers.GlorotUniform(seed),
    )(inputs)
    if dropout:
        h = keras.layers.Dropout(dropout, seed=seed)(h)
    outputs = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
    )(h)
    return keras.Model(inputs, outputs)


def test_harness():
    """Config/JSON round-trip, fit eager and XLA, .keras reload with safe_mode=True."""
    testing.run_serialization_test(MinDiffModel(build_original(), MMDLoss("laplacian"), 2.0))
    model = testing.run_model_test(
        lambda: MinDiffModel(build_original(dropout=0.2), "mmd", loss_weight=1.5),
        PACKED,
        Y,
        compile_kwargs={"loss": "binary_crossentropy"},
        predict_data=X,
        batch_size=32,
    )
    assert isinstance(model, MinDiffModel)


def test_predict_is_the_original_model():
    original = build_original()
    model = MinDiffModel(original, "mmd")
    testing.assert_allclose(model.predict(X, verbose=0), original.predict(X, verbose=0), atol=0)
    testing.assert_allclose(model.predict(PACKED, verbose=0), original.predict(X, verbose=0))


@pytest.mark.parametrize("jit", testing.jit_compile_options())
def test_loss_is_task_loss_plus_weighted_min_diff_loss(jit):
    """evaluate on packed data = plain loss + weight * MMD(membership, original(md_x))."""
    original = build_original(regularize=True)
    model = MinDiffModel(original, MMDLoss(), loss_weight=2.5)
    model.compile("sgd", "binary_crossentropy", jit_compile=jit)
    original.compile("sgd", "binary_crossentropy", jit_compile=jit)
    with_md = model.evaluate(PACKED, Y, batch_size=N, verbose=0, return_dict=True)
    plain = original.evaluate(X, Y, batch_size=N, verbose=0, return_dict=True)
    expected_md = 2.5 * MMDLoss()(MEMBERSHIP, original.predict(MD_X, verbose=0))
    testing.assert_allclose(with_md["min_diff_loss"], expected_md, atol=1e-5)
    # The weight and activity penalties of the extra MinDiff pass are not added again.
    testing.assert_allclose(with_md["loss"], plain["loss"] + expected_md, atol=1e-5)


def test_evaluate_without_min_diff_data_logs_no_min_diff_loss():
    model = MinDiffModel(build_original(), "mmd")
    model.compile("adam", "binary_crossentropy")
    plain = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert "min_diff_loss" not in plain
    with_md = model.evaluate(PACKED, Y, verbose=0, return_dict=True)
    assert "min_diff_loss" in with_md and with_md["loss"] > plain["loss"]
    assert "min_diff_loss" not in model.evaluate(X, Y, verbose=0, return_dict=True)


def test_validation_data_with_and_without_min_diff():
    model = MinDiffModel(build_original(), "mmd")
    model.compile("adam", "binary_crossentropy")
    history = model.fit(PACKED, Y, validation_data=(X, Y), epochs=2, verbose=0)
    assert "val_min_diff_loss" not in history.history and "min_diff_loss" in history.history
    history = model.fit(PACKED, Y, validation_data=(PACKED, Y), epochs=1, verbose=0)
    assert "val_min_diff_loss" in history.history


def test_fit_without_min_diff_data_raises():
    model = MinDiffModel(build_original(), "mmd")
    model.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError, match="training without MinDiff data"):
        model.fit(X, Y, epochs=1, verbose=0)


def test_one_training_step_equals_tfmr(tfmr_cases):
    """Same start weights, one SGD step: our weights equal TFMR MinDiffModel's."""
    cases, reference = tfmr_cases
    for name in ("train-mmd", "train-abs_corr"):
        case, expected = cases[name], reference[name]
        original = keras.Sequential(
            [
                keras.Input((case["w1"].shape[0],)),
                keras.layers.Dense(case["w1"].shape[1], activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        original.set_weights([case["w1"], case["b1"], case["w2"], case["b2"]])
        loss = MMDLoss() if name == "train-mmd" else AbsoluteCorrelationLoss()
        model = MinDiffModel(original, loss, loss_weight=float(case["loss_weight"]))
        model.compile(keras.optimizers.SGD(float(case["lr"])), "binary_crossentropy")
        history = model.fit(
            MinDiffPackedInputs(case["x"], (case["md_x"], case["membership"])),
            case["y"],
            batch_size=len(case["x"]),
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        testing.assert_allclose(
            history.history["min_diff_loss"][0], expected["min_diff_loss"], atol=1e-5
        )
        testing.assert_allclose(history.history["loss"][0], expected["loss"], atol=1e-5)
        for i, weight in enumerate(original.get_weights()):
            testing.assert_allclose(weight, expected[f"weight_{i}"], atol=1e-5, err_msg=name)


def test_training_flag_reaches_batch_norm():
    """Both forward passes run in training mode: BatchNorm's moving mean sees both batches."""
    inputs = keras.Input((F,))
    outputs = keras.layers.BatchNormalization(momentum=0.5, center=False, scale=False)(inputs)
    original = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(outputs))
    model = MinDiffModel(original, "mmd")
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    model.fit(PACKED, Y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    moving_mean = original.layers[1].moving_mean
    # Main pass first, then the MinDiff pass: m = 0.5 * (0.5 * 0 + 0.5 * mean(x)) + 0.5 * mean(md_x)
    expected = 0.5 * (0.5 * X.mean(axis=0)) + 0.5 * MD_X.mean(axis=0)
    testing.assert_allclose(moving_mean, expected, atol=1e-5)
    # At inference the MinDiff pass does not touch the statistics.
    model.evaluate(PACKED, Y, verbose=0)
    testing.assert_allclose(original.layers[1].moving_mean, expected, atol=1e-5)


def test_training_continues_after_reload():
    def make():
        model = MinDiffModel(build_original(), MMDLoss(), loss_weight=1.0)
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
        return model

    a = make()
    a.fit(PACKED, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    b = testing.save_and_reload(a)
    assert isinstance(b, MinDiffModel) and isinstance(b.loss_config, MMDLoss)
    a.fit(PACKED, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    history = b.fit(PACKED, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert "min_diff_loss" in history.history
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        testing.assert_allclose(wa, wb, atol=1e-6)


def test_dict_of_losses():
    md_data = {"sex": (MD_X, MEMBERSHIP), "age": (X, 1.0 - MEMBERSHIP, np.ones((N, 1)))}
    model = MinDiffModel(
        build_original(),
        loss={"sex": "mmd", "age": AbsoluteDifferenceLoss()},
        loss_weight={"sex": 2.0},
    )
    assert model.loss_weight == {"sex": 2.0, "age": 1.0}
    model.compile("adam", "binary_crossentropy")
    logs = model.evaluate(
        MinDiffPackedInputs(X, md_data), Y, batch_size=N, verbose=0, return_dict=True
    )
    predictions = model.original_model.predict
    testing.assert_allclose(
        logs["sex_min_diff_loss"],
        2.0 * MMDLoss()(MEMBERSHIP, predictions(MD_X, verbose=0)),
        atol=1e-5,
    )
    testing.assert_allclose(
        logs["age_min_diff_loss"],
        AbsoluteDifferenceLoss()(1.0 - MEMBERSHIP, predictions(X, verbose=0)),
        atol=1e-5,
    )
    history = model.fit(MinDiffPackedInputs(X, md_data), Y, epochs=1, verbose=0)
    assert {"sex_min_diff_loss", "age_min_diff_loss"} <= set(history.history)
    revived = testing.run_model_saving_test(model, X)
    assert set(revived.loss_config) == {"sex", "age"}


def test_predictions_transform_selects_dict_output():
    inputs = keras.Input((F,))
    logits = keras.layers.Dense(1)(inputs)
    original = keras.Model(inputs, {"logits": logits, "other": keras.layers.Dense(2)(inputs)})
    model = MinDiffModel(original, "mmd", predictions_transform=["logits", "sigmoid"])
    model.compile("adam", loss={"logits": "binary_crossentropy", "other": None})
    logs = model.evaluate(
        PACKED, {"logits": Y, "other": np.zeros((N, 2))}, batch_size=N, verbose=0, return_dict=True
    )
    probs = 1 / (1 + np.exp(-original.predict(MD_X, verbose=0)["logits"]))
    testing.assert_allclose(logs["min_diff_loss"], MMDLoss()(MEMBERSHIP, probs), atol=1e-5)
    revived = testing.save_and_reload(model)
    assert revived.predictions_transform == ["logits", "sigmoid"]


def test_several_outputs_without_transform_raises():
    inputs = keras.Input((F,))
    original = keras.Model(inputs, [keras.layers.Dense(1)(inputs), keras.layers.Dense(1)(inputs)])
    model = MinDiffModel(original, "mmd")
    with pytest.raises(ValueError, match="several outputs"):
        model.compute_min_diff_loss((MD_X, MEMBERSHIP))


def test_save_original_model():
    model = MinDiffModel(build_original(), "mmd")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "original.keras")
        model.save_original_model(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert not isinstance(loaded, MinDiffModel)
    testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"original_model": "model"}, "`original_model`: expected a keras.Model"),
        ({"loss": "mmdd"}, "Unknown MinDiff loss name"),
        ({"loss": {}}, "the dict is empty"),
        ({"loss_weight": -1.0}, "`loss_weight`: expected a non-negative float"),
        ({"loss_weight": float("nan")}, "`loss_weight`: expected a non-negative float"),
        ({"loss_weight": np.inf}, "`loss_weight`: expected a non-negative float"),
        ({"loss_weight": True}, "`loss_weight`: expected a non-negative float"),
        ({"loss": {"a": "mmd"}, "loss_weight": {"a": np.nan}}, r"`loss_weight\['a'\]`: expected"),
        ({"loss_weight": {"a": 1.0}}, "`loss_weight` is a dict but `loss` is a single loss"),
        ({"loss": {"a": "mmd"}, "loss_weight": {"b": 1.0}}, "not keys of `loss`"),
        ({"predictions_transform": lambda p: p}, "Lambdas and plain functions are refused"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"original_model": build_original(), "loss": "mmd"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MinDiffModel(**arguments)


def test_numpy_scalar_loss_weight():
    model = MinDiffModel(build_original(), "mmd", loss_weight=np.float32(1.5))
    assert model.loss_weight == 1.5 and type(model.loss_weight) is float
    model = MinDiffModel(build_original(), {"a": "mmd"}, loss_weight={"a": np.array(2.0)})
    assert model.loss_weight == {"a": 2.0}


def test_mismatched_min_diff_structure():
    model = MinDiffModel(build_original(), {"a": "mmd"})
    with pytest.raises(ValueError, match="same keys as `loss`"):
        model.compute_min_diff_loss((MD_X, MEMBERSHIP))
    with pytest.raises(ValueError, match=r"\(x, membership\)"):
        MinDiffModel(build_original(), "mmd").compute_min_diff_loss((MD_X,))


def test_export_serves_original_signature():
    if testing.backend() == "torch":
        # Keras exports TF SavedModels from the tensorflow and jax backends only.
        with pytest.raises(Exception):  # noqa: B017
            MinDiffModel(build_original(), "mmd").export(tempfile.mkdtemp(), verbose=False)
        return
    import tensorflow as tf

    model = MinDiffModel(build_original(), "mmd")
    model.compile("adam", "binary_crossentropy")
    model.fit(PACKED, Y, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, verbose=False)
        loaded = tf.saved_model.load(tmp)
        served = loaded.serve(tf.constant(X))
    testing.assert_allclose(np.asarray(served), model.predict(X, verbose=0), atol=1e-6)


DISTRIBUTED_SCRIPT = """
import os, sys, json
import numpy as np
import keras
from keras_regkit.min_diff import MinDiffModel, MinDiffPackedInputs, MMDLoss

mode = sys.argv[1]
if mode == "tf":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 5)).astype("float32")
y = (x[:, :1] > 0).astype("float32")
md_x = (rng.normal(size=(64, 5)) + 0.5).astype("float32")
membership = (np.arange(64) % 2 == 0).astype("float32")[:, None]
packed = MinDiffPackedInputs(x, (md_x, membership))

def run():
    keras.utils.set_random_seed(1)
    original = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(1, activation="sigmoid")])
    model = MinDiffModel(original, MMDLoss(), loss_weight=2.0)
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
    h = model.fit(packed, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    return h.history, [w.tolist() for w in original.get_weights()]

single = run()
if mode == "tf":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        multi = run()
else:
    import jax
    assert len(jax.devices()) == 2
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    multi = run()
print("RESULT" + json.dumps({"single": single, "multi": multi}))
"""


# The subprocess picks its own backend, so this runs once, in the ONE_BACKEND run.
@pytest.mark.one_backend
@pytest.mark.parametrize("mode", ["tf", "jax"])
def test_distributed_training_equals_single_device(mode):
    """MirroredStrategy (2 logical CPUs) / DataParallel (2 JAX host devices): same losses and
    weights as one device, to 1e-5 (the MinDiff loss is computed on the global batch)."""
    import json

    backend = {"tf": "tensorflow", "jax": "jax"}[mode]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if mode == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DISTRIBUTED_SCRIPT), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    (single_logs, single_w), (multi_logs, multi_w) = result["single"], result["multi"]
    for key in ("loss", "min_diff_loss"):
        np.testing.assert_allclose(multi_logs[key], single_logs[key], atol=1e-5, err_msg=key)
    for a, b in zip(single_w, multi_w, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)


def test_fused_forward_pass_equals_two_passes():
    results = {}
    for fuse in (True, False):
        original = build_original()
        model = MinDiffModel(original, MMDLoss(), loss_weight=3.0, fuse_forward_passes=fuse)
        assert model._fuse is fuse
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
        history = model.fit(PACKED, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        results[fuse] = history.history, original.get_weights()
    # Equal up to float32 summation order (the MMD kernel with length 0.1 amplifies it).
    for key in ("loss", "min_diff_loss"):
        testing.assert_allclose(results[True][0][key], results[False][0][key], atol=1e-5)
    for a, b in zip(results[True][1], results[False][1], strict=True):
        testing.assert_allclose(a, b, atol=1e-5)


def test_auto_fuses_only_per_example_models():
    assert MinDiffModel(build_original(dropout=0.1), "mmd")._fuse
    assert not MinDiffModel(build_original(regularize=True), "mmd")._fuse  # activity loss
    bn = keras.Sequential(
        [keras.Input((F,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)]
    )
    assert not MinDiffModel(bn, "mmd")._fuse
    nested = keras.Sequential([keras.Input((F,)), build_original()])
    assert MinDiffModel(nested, "mmd")._fuse
    assert not MinDiffModel(build_original(), {"a": "mmd"})._fuse


def test_bad_fuse_forward_passes():
    with pytest.raises(ValueError, match="`fuse_forward_passes`: expected 'auto', True or False"):
        MinDiffModel(build_original(), "mmd", fuse_forward_passes="yes")
