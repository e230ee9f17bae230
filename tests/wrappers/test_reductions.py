"""Fairlearn's reductions with a Keras model inside: MinDiffClassifier(loss_weight=0)."""

import keras
import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference
from fairlearn.reductions import DemographicParity, ExponentiatedGradient, GridSearch

from keras_regkit import testing
from keras_regkit.datasets import load_adult
from keras_regkit.wrappers import MinDiffClassifier

FIT = {"epochs": 2, "batch_size": 256, "verbose": 0}


def _build(X, y):
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(8, "relu"),
            keras.layers.Dense(1, "sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    return model


def test_without_groups_and_penalty_it_trains_the_plain_model_with_sample_weight():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    w = rng.uniform(0, 2, size=200)
    clf = MinDiffClassifier(_build, loss_weight=0.0, random_state=3, fit_kwargs=FIT)
    clf.fit(x, y, sample_weight=w)
    # Reference: the same Keras model fit directly, same seed, same weights.
    keras.utils.set_random_seed(3)
    reference = _build(x, y)
    reference.fit(x, y.astype("float32"), sample_weight=w, **FIT)
    np.testing.assert_allclose(
        clf.predict_proba(x)[:, 1],
        testing.to_numpy(reference.predict(x, verbose=0))[:, 0],
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="needs `sensitive_features`"):
        MinDiffClassifier(_build, loss_weight=1.0, fit_kwargs=FIT).fit(x, y)


@pytest.mark.one_backend  # scikit-learn/Fairlearn plumbing; the Keras fit is tested above
def test_exponentiated_gradient_and_grid_search_run_a_keras_model_on_adult():
    train, _ = load_adult()
    rows = np.random.default_rng(0).permutation(len(train.y))[:2000]
    x, y, sex = train.x[rows], train.y[rows], train.sensitive["sex"][rows]
    fit = {**FIT, "epochs": 3, "batch_size": 128}  # enough to select men more often
    clf = MinDiffClassifier(_build, loss_weight=0.0, random_state=0, fit_kwargs=fit)
    plain_gap = demographic_parity_difference(y, clf.fit(x, y).predict(x), sensitive_features=sex)
    reduction = ExponentiatedGradient(clf, DemographicParity(), max_iter=4)
    reduction.fit(x, y, sensitive_features=sex)
    assert all(isinstance(p, MinDiffClassifier) for p in reduction.predictors_)
    reduced_gap = demographic_parity_difference(
        y, reduction.predict(x, random_state=0), sensitive_features=sex
    )
    # Adult's men are selected far more often; the reduction reweighs the rows each round.
    assert plain_gap > 0.1 and reduced_gap < plain_gap / 2, (plain_gap, reduced_gap)
    grid = GridSearch(clf, DemographicParity(), grid_size=3).fit(x, y, sensitive_features=sex)
    gaps = [
        demographic_parity_difference(y, p.predict(x), sensitive_features=sex)
        for p in grid.predictors_
    ]
    assert len(gaps) == 3 and max(gaps) - min(gaps) > 0.05, gaps  # the weights took effect
