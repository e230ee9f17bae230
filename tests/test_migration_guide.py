"""Runs the code of docs/min_diff_migration.md's customization section and checks its claims.

The section's ```python blocks are executed as they are written, in one namespace; the tests
then train the classes they define against MinDiffModel and CounterfactualModel.
"""

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_regkit import counterfactual, min_diff, testing

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "min_diff_migration.md"
SECTION = "## Customizing `MinDiffModel` (and `CounterfactualModel`)"

RNG = np.random.default_rng(5)
N, F = 64, 4
X = RNG.normal(size=(N, F)).astype("float32")
X[:, 3] = RNG.uniform(size=N) < 0.4  # the sensitive attribute, a 0/1 column
Y = (X[:, :1] + X[:, 3:] > 0.5).astype("float32")
MIN_DIFF_X = RNG.normal(size=(N, F)).astype("float32")
MEMBERSHIP = (np.arange(N) % 2).astype("float32")[:, None]
X_CF = counterfactual.swap_sensitive_columns(X, 3)
PAIR_WEIGHTS = RNG.uniform(0.5, 1.5, size=N).astype("float32")


def _guide_code():
    text = GUIDE.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.fixture(scope="module")
def guide():
    blocks = _guide_code()
    assert len(blocks) == 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace


def network(model_class=keras.Model):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((F,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return model_class(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


def train(model, x, epochs=2):
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss="binary_crossentropy")
    return model.fit(x, Y, batch_size=32, epochs=epochs, shuffle=False, verbose=0).history


def assert_same_weights(model, reference):
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        testing.assert_allclose(a, b, atol=1e-5)


MIN_DIFF_PACKED = min_diff.keras.utils.MinDiffPackedInputs(X, (MIN_DIFF_X, MEMBERSHIP))
CF_PACKED = counterfactual.CounterfactualPackedInputs(X, (X, X_CF, PAIR_WEIGHTS))


def test_custom_train_step_mixin(guide):
    base = network(guide["CustomModel"])
    model = guide["CustomMinDiffModel"](base, min_diff.losses.MMDLoss())
    history = train(model, MIN_DIFF_PACKED, epochs=1)
    assert model.used_custom_train_step and np.isfinite(history["min_diff_loss"][0])
    reference = min_diff.keras.MinDiffModel(network(), min_diff.losses.MMDLoss())
    train(reference, MIN_DIFF_PACKED, epochs=1)
    assert not hasattr(reference, "used_custom_train_step")
    assert_same_weights(model, reference)


def test_custom_unpacking_min_diff_model(guide):
    model = guide["CustomUnpackingMinDiffModel"](network(), "mmd", loss_weight=2.0)
    history = train(model, {"original_inputs": X, "min_diff_data": (MIN_DIFF_X, MEMBERSHIP)})
    reference = min_diff.keras.MinDiffModel(network(), "mmd", loss_weight=2.0)
    expected = train(reference, MIN_DIFF_PACKED)
    testing.assert_allclose(history["min_diff_loss"], expected["min_diff_loss"], atol=1e-5)
    assert_same_weights(model, reference)


def test_custom_unpacking_counterfactual_model(guide):
    model = guide["CustomUnpackingCounterfactualModel"](network(), "pairwise_mse", 2.0)
    history = train(model, {"features": X, "pairs": (X, X_CF, PAIR_WEIGHTS)})
    reference = counterfactual.CounterfactualModel(network(), "pairwise_mse", 2.0)
    expected = train(reference, CF_PACKED)
    testing.assert_allclose(
        history["counterfactual_loss"], expected["counterfactual_loss"], atol=1e-5
    )
    assert_same_weights(model, reference)
    testing.assert_allclose(model.predict(X, verbose=0), reference.predict(X, verbose=0))


@pytest.mark.parametrize("jit", testing.jit_compile_options())
def test_min_diff_without_the_wrapper(guide, jit):
    custom = guide["CustomModelWithMinDiff"](network())
    custom.compile(optimizer=keras.optimizers.SGD(0.2), loss="binary_crossentropy", jit_compile=jit)
    got = custom.fit(MIN_DIFF_PACKED, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    reference = min_diff.keras.MinDiffModel(
        network(), guide["min_diff_loss_fn"], guide["min_diff_weight"], fuse_forward_passes=False
    )
    expected = train(reference, MIN_DIFF_PACKED)
    testing.assert_allclose(got.history["loss"], expected["loss"], atol=1e-5)
    assert_same_weights(custom, reference)


@pytest.mark.parametrize("jit", testing.jit_compile_options())
def test_counterfactual_loss_without_the_wrapper(guide, jit):
    custom = guide["CustomModelWithCounterfactualLoss"](network())
    custom.compile(optimizer=keras.optimizers.SGD(0.2), loss="binary_crossentropy", jit_compile=jit)
    got = custom.fit(CF_PACKED, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    reference = counterfactual.CounterfactualModel(
        network(), guide["pairwise_loss_fn"], guide["counterfactual_weight"]
    )
    expected = train(reference, CF_PACKED)
    testing.assert_allclose(got.history["loss"], expected["loss"], atol=1e-5)
    assert_same_weights(custom, reference)
    # The penalty is real: without it the weights end elsewhere.
    plain = network()
    train(plain, X)
    assert not np.allclose(plain.get_weights()[0], custom.get_weights()[0], atol=1e-4)
