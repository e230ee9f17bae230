"""Counterfactual flip rate and mean score gap: functions against NumPy, streaming against both."""

import doctest
import importlib

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.fairness import (
    CounterfactualFlipRate,
    MeanCounterfactualScoreGap,
    counterfactual_flip_rate,
    mean_counterfactual_score_gap,
)

RNG = np.random.default_rng(7)
N = 96
P = RNG.uniform(size=N)
PC = np.clip(P + RNG.normal(scale=0.2, size=N), 0, 1)
W = RNG.uniform(0, 2, size=N)
W[:5] = 0.0


def _flip_reference(p, pc, t, w):
    flips = np.array([int((a > t) != (b > t)) for a, b in zip(p, pc, strict=True)])
    return float(np.dot(w, flips) / np.sum(w))


# --- Functions (NumPy only) -------------------------------------------------------------


@pytest.mark.one_backend
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_flip_rate_closed_form(threshold):
    ones = np.ones(N)
    assert counterfactual_flip_rate(P, PC, threshold) == pytest.approx(
        _flip_reference(P, PC, threshold, ones), abs=1e-12
    )
    assert counterfactual_flip_rate(P[:, None], PC[:, None], threshold, W) == pytest.approx(
        _flip_reference(P, PC, threshold, W), abs=1e-12
    )
    assert counterfactual_flip_rate(P, P, threshold) == 0.0
    assert counterfactual_flip_rate([0.9, 0.1], [0.1, 0.9], threshold) == 1.0


@pytest.mark.one_backend
def test_score_gap_closed_form():
    assert mean_counterfactual_score_gap(P, PC) == pytest.approx(np.mean(np.abs(P - PC)))
    assert mean_counterfactual_score_gap(P, PC, W) == pytest.approx(
        np.sum(W * np.abs(P - PC)) / np.sum(W)
    )
    # Zero-weight examples do not count: the same as dropping them.
    assert mean_counterfactual_score_gap(P, PC, W) == pytest.approx(
        mean_counterfactual_score_gap(P[5:], PC[5:], W[5:])
    )


@pytest.mark.one_backend
def test_empty_input_raises():
    with pytest.raises(ValueError, match="Invalid value for argument `y_pred`: expected at least"):
        counterfactual_flip_rate([], [])


@pytest.mark.one_backend
def test_all_zero_weights_raise():
    with pytest.raises(
        ValueError, match="argument `sample_weight`: expected at least one positive"
    ):
        mean_counterfactual_score_gap(P, PC, np.zeros(N))


@pytest.mark.one_backend
def test_negative_weights_raise():
    with pytest.raises(ValueError, match="argument `sample_weight`: expected non-negative"):
        counterfactual_flip_rate(P, PC, sample_weight=-W)


@pytest.mark.one_backend
def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="argument `y_pred_counterfactual`: expected 96 rows"):
        counterfactual_flip_rate(P, PC[:10])


@pytest.mark.one_backend
def test_non_finite_scores_raise():
    with pytest.raises(ValueError, match="argument `y_pred`: expected finite values"):
        mean_counterfactual_score_gap(np.r_[np.nan, P[1:]], PC)


@pytest.mark.one_backend
def test_multi_column_scores_raise():
    with pytest.raises(ValueError, match="argument `y_pred`: expected one score per example"):
        counterfactual_flip_rate(np.stack([P, P], 1), np.stack([PC, PC], 1))


@pytest.mark.one_backend
def test_bad_threshold_raises():
    with pytest.raises(ValueError, match="argument `threshold`: expected a finite float"):
        counterfactual_flip_rate(P, PC, threshold=float("nan"))
    with pytest.raises(ValueError, match="argument `threshold`: expected a finite float"):
        CounterfactualFlipRate(threshold="half")


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "name",
    [
        "keras_regkit.fairness.counterfactual_metrics",
        "keras_regkit.fairness.streaming.counterfactual_flip_rate",
    ],
)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- Streaming metrics (every backend) --------------------------------------------------


def test_streaming_equals_functions_over_batches():
    pairs = np.stack([P, PC], axis=1).astype("float32")
    flip, gap = CounterfactualFlipRate(threshold=0.4), MeanCounterfactualScoreGap()
    assert float(flip.result()) == 0.0  # no data yet: 0, not NaN
    for start in range(0, N, 40):
        batch = slice(start, start + 40)
        flip.update_state(None, pairs[batch], W[batch])
        gap.update_state(None, pairs[batch], W[batch])
    testing.assert_allclose(flip.result(), counterfactual_flip_rate(P, PC, 0.4, W), atol=1e-6)
    testing.assert_allclose(gap.result(), mean_counterfactual_score_gap(P, PC, W), atol=1e-6)
    flip.reset_state()
    assert float(flip.result()) == 0.0


def test_streaming_bad_shape_raises():
    with pytest.raises(ValueError, match="Invalid value for argument `y_pred`: expected shape"):
        CounterfactualFlipRate().update_state(None, P[:, None])


def test_config_round_trip():
    metric = testing.run_serialization_test(CounterfactualFlipRate(threshold=0.3))
    assert metric.threshold == 0.3
    testing.run_serialization_test(MeanCounterfactualScoreGap())


def _pair_model():
    """A classifier applied to an example and its counterfactual; returns both scores."""
    x = keras.Input((4,))
    x_cf = keras.Input((4,))
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, "sigmoid")])
    outputs = keras.layers.Concatenate()([classifier(x), classifier(x_cf)])
    return keras.Model([x, x_cf], outputs), classifier


def test_compile_fit_evaluate_reload():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    x_cf = x.copy()
    x_cf[:, 3] = -x_cf[:, 3]
    y = (x[:, :1] > 0).astype("float32")
    model, classifier = _pair_model()
    model.compile(
        "adam",
        "mse",
        metrics=[CounterfactualFlipRate(), MeanCounterfactualScoreGap()],
        jit_compile=testing.jit_compile_options()[-1],
    )
    history = model.fit([x, x_cf], np.concatenate([y, y], 1), batch_size=16, epochs=1, verbose=0)
    assert {"counterfactual_flip_rate", "mean_counterfactual_score_gap"} <= set(history.history)
    logs = model.evaluate(
        [x, x_cf], np.concatenate([y, y], 1), batch_size=24, return_dict=True, verbose=0
    )
    p = classifier.predict(x, verbose=0)
    pc = classifier.predict(x_cf, verbose=0)
    testing.assert_allclose(
        logs["counterfactual_flip_rate"], counterfactual_flip_rate(p, pc), atol=1e-6
    )
    testing.assert_allclose(
        logs["mean_counterfactual_score_gap"], mean_counterfactual_score_gap(p, pc), atol=1e-6
    )
    reloaded = testing.run_model_saving_test(model, [x, x_cf])
    again = reloaded.evaluate(
        [x, x_cf], np.concatenate([y, y], 1), batch_size=24, return_dict=True, verbose=0
    )
    testing.assert_allclose(
        again["counterfactual_flip_rate"], logs["counterfactual_flip_rate"], atol=1e-6
    )


def test_streaming_zero_weights_give_zero_not_nan():
    pairs = np.stack([P, PC], axis=1).astype("float32")
    for metric in (CounterfactualFlipRate(), MeanCounterfactualScoreGap()):
        metric.update_state(None, pairs, np.zeros(N, "float32"))
        assert float(metric.result()) == 0.0
        # Zero-weight batches leave the result of the weighted ones unchanged.
        metric.update_state(None, pairs[5:], W[5:])
        metric.update_state(None, pairs[:5], W[:5])
        reference = (
            counterfactual_flip_rate(P, PC, sample_weight=W)
            if isinstance(metric, CounterfactualFlipRate)
            else mean_counterfactual_score_gap(P, PC, sample_weight=W)
        )
        testing.assert_allclose(metric.result(), reference, atol=1e-6)
