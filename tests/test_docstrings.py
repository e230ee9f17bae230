"""Every `>>>` example in keras_regkit runs and shows what it prints, on this backend."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_regkit

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend

# Modules whose examples have a test of their own (they train models or print floats
# whose formatting needs the module's own set-up).
COVERED_ELSEWHERE = (
    "keras_regkit.fairness.",  # tests/fairness/test_docstrings.py
    "keras_regkit.models.adversarial_model",
    "keras_regkit.optimizers.gradient_noise",
)


def _modules_with_examples():
    names = []
    for info in pkgutil.walk_packages(keras_regkit.__path__, "keras_regkit."):
        if info.name.startswith(COVERED_ELSEWHERE):
            continue
        module = importlib.import_module(info.name)
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found():
    assert "keras_regkit.min_diff.losses.mmd_loss" in MODULES
    assert "keras_regkit.callbacks.regularization_monitor" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    keras.utils.set_random_seed(0)
    module = importlib.import_module(name)
    results = doctest.testmod(
        module,
        extraglobs={"np": np, "keras": keras, "keras_regkit": keras_regkit},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
