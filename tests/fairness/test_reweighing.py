"""reweighing_weights against the closed form of Kamiran & Calders (2012) and AIF360's formula."""

import doctest

import numpy as np
import pytest

import keras_regkit.fairness.reweighing
from keras_regkit.fairness import reweighing_weights

pytestmark = pytest.mark.one_backend


def aif360_reweighing(y, s, instance_weights, privileged, favorable):
    """AIF360's `Reweighing.fit/transform` (aif360/algorithms/preprocessing/reweighing.py),
    written out for a binary group and a binary label: the counts are sums of instance weights,
    W_cell = n_group * n_label / (n * n_cell), and the new weights are instance_weights * W."""
    w = np.asarray(instance_weights, float)
    priv, fav = np.asarray(s) == privileged, np.asarray(y) == favorable
    n = w.sum()
    n_p, n_up = w[priv].sum(), w[~priv].sum()
    n_fav, n_unfav = w[fav].sum(), w[~fav].sum()
    out = w.copy()
    for group, n_g in ((priv, n_p), (~priv, n_up)):
        for label, n_l in ((fav, n_fav), (~fav, n_unfav)):
            cell = group & label
            out[cell] *= n_g * n_l / (n * w[cell].sum())
    return out


# Hand-made: 10 applicants, 4 women (1 approved), 6 men (4 approved).
Y = np.array([1, 0, 0, 0, 1, 1, 1, 1, 0, 0])
S = np.array(["F", "F", "F", "F", "M", "M", "M", "M", "M", "M"])


def test_hand_made_case_closed_form():
    # P(F)=.4, P(M)=.6, P(1)=.5, P(0)=.5; P(F,1)=.1, P(F,0)=.3, P(M,1)=.4, P(M,0)=.2.
    expected = {("F", 1): 0.4 * 0.5 / 0.1, ("F", 0): 0.4 * 0.5 / 0.3}
    expected |= {("M", 1): 0.6 * 0.5 / 0.4, ("M", 0): 0.6 * 0.5 / 0.2}
    weights = reweighing_weights(Y, S)
    np.testing.assert_allclose(
        weights, [expected[s, y] for s, y in zip(S, Y, strict=True)], rtol=1e-12
    )
    assert weights[0] == pytest.approx(2.0) and weights[8] == pytest.approx(1.5)


def test_matches_aif360_formula_with_instance_weights():
    instance = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25, 1.0, 2.0, 1.0])
    ours = reweighing_weights(Y, S, sample_weight=instance)
    np.testing.assert_allclose(ours, aif360_reweighing(Y, S, instance, "M", 1), rtol=1e-12)
    np.testing.assert_allclose(ours.sum(), instance.sum(), rtol=1e-12)  # the total is kept


def weighted_rate(y, s, w, group, label):
    rows = s == group
    return w[rows & (y == label)].sum() / w[rows].sum()


def test_multi_group_multi_label_makes_label_independent_of_group():
    rng = np.random.default_rng(0)
    s = rng.choice(["a", "b", "c", "d"], size=400, p=[0.4, 0.3, 0.2, 0.1])
    y = np.where(s == "a", rng.integers(0, 3, 400), rng.integers(0, 2, 400))  # label 2 only in a
    w0 = rng.uniform(0.1, 3.0, 400)
    w = reweighing_weights(y, s, sample_weight=w0)
    for label in (0, 1, 2):
        overall = w0[y == label].sum() / w0.sum()
        # Cells with examples reach the overall rate; label 2 is absent outside "a".
        np.testing.assert_allclose(weighted_rate(y, s, w, "a", label), overall, rtol=1e-10)
    for group in ("b", "c", "d"):
        np.testing.assert_allclose(
            weighted_rate(y, s, w, group, 0), weighted_rate(y, s, w, "b", 0), rtol=1e-10
        )
    # Closed form, cell by cell, on a random case.
    for group in "abcd":
        for label in (0, 1, 2):
            cell = (s == group) & (y == label)
            if cell.any():
                p = w0[s == group].sum() * w0[y == label].sum() / (w0.sum() * w0[cell].sum())
                np.testing.assert_allclose(w[cell], w0[cell] * p, rtol=1e-12)


def test_zero_weight_cell_stays_zero_without_nan():
    w0 = np.ones(10)
    w0[0] = 0.0  # the only approved woman weighs 0: the (F, 1) cell is empty by weight
    w = reweighing_weights(Y, S, sample_weight=w0)
    assert np.all(np.isfinite(w)) and w[0] == 0.0


def test_column_vectors_and_bool_groups():
    np.testing.assert_allclose(
        reweighing_weights(Y[:, None], (S == "F")[:, None]), reweighing_weights(Y, S)
    )


def test_single_group_is_refused():
    with pytest.raises(ValueError, match="argument `sensitive_features`: expected at least 2"):
        reweighing_weights(Y, np.zeros(10))


def test_negative_weights_are_refused():
    with pytest.raises(ValueError, match="argument `sample_weight`: expected non-negative"):
        reweighing_weights(Y, S, sample_weight=-np.ones(10))


def test_non_finite_weights_are_refused():
    weights = np.ones(10)
    weights[3] = np.nan
    with pytest.raises(ValueError, match="argument `sample_weight`: expected finite"):
        reweighing_weights(Y, S, sample_weight=weights)


def test_lengths_must_match():
    with pytest.raises(ValueError, match=r"argument `sensitive_features`: expected 10 rows"):
        reweighing_weights(Y, S[:5])


def test_docstring_example():
    results = doctest.testmod(keras_regkit.fairness.reweighing)
    assert results.attempted > 0 and results.failed == 0
