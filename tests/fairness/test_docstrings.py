"""The `Example:` sections of keras_regkit.fairness run and print what they show."""

import doctest
import importlib

import keras
import numpy as np
import pytest

import keras_regkit

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend

MODULES = [
    "keras_regkit.fairness.metrics",
    "keras_regkit.fairness.report",
    "keras_regkit.fairness.streaming.demographic_parity_difference",
    "keras_regkit.fairness.streaming.demographic_parity_ratio",
    "keras_regkit.fairness.streaming.equal_opportunity_difference",
    "keras_regkit.fairness.streaming.equal_opportunity_ratio",
    "keras_regkit.fairness.streaming.equalized_odds_difference",
    "keras_regkit.fairness.streaming.equalized_odds_ratio",
    "keras_regkit.fairness.streaming.false_positive_rate_difference",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    results = doctest.testmod(
        module, extraglobs={"np": np, "keras": keras, "keras_regkit": keras_regkit}
    )
    assert results.attempted > 0 and results.failed == 0
