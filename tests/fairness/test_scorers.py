"""make_fairness_scorer against Fairlearn and scikit-learn, alone and inside GridSearchCV."""

import doctest
import re

import fairlearn.metrics
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, get_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold

from keras_regkit.fairness import FairnessScorer, make_fairness_scorer
from keras_regkit.fairness import scorers as scorers_module

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend

DIFFERENCES = [
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "false_positive_rate_difference",
    "true_positive_rate_difference",
]
RATIOS = [name.replace("_difference", "_ratio") for name in DIFFERENCES]


def make_data(seed=0, n=300):
    """Three groups whose features, hence false positive rates, differ."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    x = rng.normal(size=(n, 3)) + (group == "a")[:, None] * 0.8
    y = (x[:, 1] + rng.normal(size=n) > 0.6).astype(int)
    return x, y, group


@pytest.fixture(scope="module")
def fitted():
    x, y, group = make_data()
    return LogisticRegression().fit(x, y), x, y, group


def fairlearn_gap(name, y, y_pred, group, **kwargs):
    value = getattr(fairlearn.metrics, name)(y, y_pred, sensitive_features=group, **kwargs)
    return 1.0 - value if name.endswith("_ratio") else value


@pytest.mark.parametrize("name", DIFFERENCES + RATIOS)
@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
def test_gap_is_fairlearns_metric_negated(fitted, name, method):
    clf, x, y, group = fitted
    scorer = make_fairness_scorer(name, method=method)
    expected = fairlearn_gap(name, y, clf.predict(x), group, method=method)
    assert expected > 0.0
    assert scorer(clf, x, y, sensitive_features=group) == pytest.approx(-expected, abs=1e-12)
    assert scorer.gap(clf, x, y, group) == pytest.approx(expected, abs=1e-12)


def test_constraint_keeps_auc_within_max_gap_and_ranks_violations_below(fitted):
    clf, x, y, group = fitted
    auc = roc_auc_score(y, clf.predict_proba(x)[:, 1])
    gap = fairlearn.metrics.false_positive_rate_difference(
        y, clf.predict(x), sensitive_features=group
    )
    name = "false_positive_rate_difference"
    within = make_fairness_scorer(name, max_gap=gap + 0.01)
    assert within(clf, x, y, sensitive_features=group) == pytest.approx(auc)
    at = make_fairness_scorer(name, max_gap=gap)
    assert at(clf, x, y, sensitive_features=group) == pytest.approx(auc)
    beyond = make_fairness_scorer(name, max_gap=gap - 0.05)
    assert beyond(clf, x, y, sensitive_features=group) == pytest.approx(auc - 1.0 - 0.05)
    assert beyond(clf, x, y, sensitive_features=group) < 0.0  # below any fold within


@pytest.mark.parametrize("max_gap, penalty", [(0.0, 0.5), (0.05, 2.0), (1.0, 3.0)])
def test_penalty_trades_performance_for_the_excess_gap(fitted, max_gap, penalty):
    clf, x, y, group = fitted
    auc = roc_auc_score(y, clf.predict_proba(x)[:, 1])
    gap = fairlearn.metrics.demographic_parity_difference(
        y, clf.predict(x), sensitive_features=group
    )
    scorer = make_fairness_scorer("demographic_parity_difference", max_gap=max_gap, penalty=penalty)
    expected = auc - penalty * max(0.0, gap - max_gap)
    assert scorer(clf, x, y, sensitive_features=group) == pytest.approx(expected)


def test_performance_scores_and_callable_metrics(fitted):
    clf, x, y, group = fitted
    predictions = clf.predict(x)
    by_name = make_fairness_scorer("equalized_odds_difference", max_gap=1.0, performance="accuracy")
    assert by_name(clf, x, y, sensitive_features=group) == pytest.approx(
        accuracy_score(y, predictions)
    )
    balanced = get_scorer("balanced_accuracy")
    by_callable = make_fairness_scorer(
        fairlearn.metrics.equalized_odds_difference, max_gap=0.0, performance=balanced, penalty=1
    )
    gap = fairlearn.metrics.equalized_odds_difference(y, predictions, sensitive_features=group)
    assert by_callable(clf, x, y, sensitive_features=group) == pytest.approx(
        balanced(clf, x, y) - gap
    )


def test_sample_weight_reaches_both_scores(fitted):
    clf, x, y, group = fitted
    weights = np.random.default_rng(3).uniform(0.1, 3.0, len(y))
    predictions = clf.predict(x)
    gap = fairlearn.metrics.false_positive_rate_difference(
        y, predictions, sensitive_features=group, sample_weight=weights
    )
    auc = roc_auc_score(y, clf.predict_proba(x)[:, 1], sample_weight=weights)
    scorer = make_fairness_scorer("false_positive_rate_difference", max_gap=0.0, penalty=1.0)
    actual = scorer(clf, x, y, sensitive_features=group, sample_weight=weights)
    assert actual == pytest.approx(auc - gap)
    unweighted = scorer(clf, x, y, sensitive_features=group)
    assert abs(actual - unweighted) > 1e-4


def test_string_labels_and_pos_label():
    x, y, group = make_data(seed=1)
    labels = np.where(y == 1, "yes", "no")
    clf = LogisticRegression().fit(x, labels)
    predictions = clf.predict(x)
    name = "true_positive_rate_difference"
    default = make_fairness_scorer(name)  # classes_[1] = "yes" is the positive class
    expected = fairlearn.metrics.true_positive_rate_difference(
        labels == "yes", predictions == "yes", sensitive_features=group
    )
    assert default(clf, x, labels, sensitive_features=group) == pytest.approx(-expected)
    flipped = make_fairness_scorer(name, pos_label="no")
    expected = fairlearn.metrics.true_positive_rate_difference(
        labels == "no", predictions == "no", sensitive_features=group
    )
    assert flipped(clf, x, labels, sensitive_features=group) == pytest.approx(-expected)


def test_intersectional_sensitive_features(fitted):
    pd = pytest.importorskip("pandas")
    clf, x, y, group = fitted
    frame = pd.DataFrame({"group": group, "flag": np.arange(len(y)) % 2})
    scorer = make_fairness_scorer("demographic_parity_difference")
    expected = fairlearn.metrics.demographic_parity_difference(
        y, clf.predict(x), sensitive_features=frame
    )
    assert scorer(clf, x, y, sensitive_features=frame) == pytest.approx(-expected)


# ------------------------------------------------------------------ in GridSearchCV


def manual_cv_scores(estimator, grid, x, y, group, scorer, folds, weights=None):
    """Per candidate and fold: fit a clone on the training rows, score the test rows."""
    scores = []
    for params in grid:
        row = []
        for train, test in folds:
            fit_args = {} if weights is None else {"sample_weight": weights[train]}
            model = clone(estimator).set_params(**params).fit(x[train], y[train], **fit_args)
            score_args = {} if weights is None else {"sample_weight": weights[test]}
            row.append(
                scorer(model, x[test], y[test], sensitive_features=group[test], **score_args)
            )
        scores.append(row)
    return np.asarray(scores)


@pytest.mark.parametrize("weighted", [False, True])
def test_grid_search_with_metadata_routing_scores_each_fold_on_its_rows(weighted):
    x, y, group = make_data(seed=2, n=360)
    weights = np.random.default_rng(4).uniform(0.2, 2.0, len(y)) if weighted else None
    grid = [{"C": 0.01}, {"C": 1.0}, {"C": 100.0}]
    folds = list(KFold(3, shuffle=True, random_state=0).split(x))
    scorer = make_fairness_scorer("false_positive_rate_difference", max_gap=0.1)
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = LogisticRegression().set_fit_request(sample_weight=weighted)
        scorer.set_score_request(sample_weight=weighted)
        search = GridSearchCV(
            estimator,
            {"C": [p["C"] for p in grid]},
            scoring=scorer,
            cv=KFold(3, shuffle=True, random_state=0),
            error_score="raise",
        )
        fit_args = {"sensitive_features": group}
        if weighted:
            fit_args["sample_weight"] = weights
        search.fit(x, y, **fit_args)
    expected = manual_cv_scores(LogisticRegression(), grid, x, y, group, scorer, folds, weights)
    for fold in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{fold}_test_score"], expected[:, fold])
    assert search.best_params_ == grid[int(np.argmax(expected.mean(axis=1)))]


def test_grid_search_without_routing_looks_rows_up_by_index():
    pd = pytest.importorskip("pandas")
    x, y, group = make_data(seed=2, n=360)
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2"], index=np.arange(360) * 7 + 5)
    series = pd.Series(group, index=frame.index)
    name = "false_positive_rate_difference"
    by_index = make_fairness_scorer(name, max_gap=0.1, sensitive_features=series)
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [0.01, 1.0]},
        scoring=by_index,
        cv=KFold(3, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(frame, y)
    folds = list(KFold(3, shuffle=True, random_state=0).split(x))
    plain = make_fairness_scorer(name, max_gap=0.1)
    expected = manual_cv_scores(
        LogisticRegression(), [{"C": 0.01}, {"C": 1.0}], x, y, group, plain, folds
    )
    for fold in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{fold}_test_score"], expected[:, fold])

    # Neither routing nor a Series: the error says what to do.
    search.set_params(scoring=plain)
    with pytest.raises(ValueError, match=re.escape("enable_metadata_routing=True")):
        search.fit(frame, y)


def test_multi_metric_search_reports_the_gap_and_refits_on_the_constraint():
    x, y, group = make_data(seed=2, n=360)
    name = "false_positive_rate_difference"
    scoring = {
        "fair_auc": make_fairness_scorer(name, max_gap=0.1),
        "fpr_gap": make_fairness_scorer(name),
        "auc": "roc_auc",
    }
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            LogisticRegression(),
            {"C": [0.001, 1.0]},
            scoring=scoring,
            refit="fair_auc",
            cv=KFold(3),
            error_score="raise",
        ).fit(x, y, sensitive_features=group)
    folds = list(KFold(3).split(x))
    grid = [{"C": 0.001}, {"C": 1.0}]
    gaps = -manual_cv_scores(LogisticRegression(), grid, x, y, group, scoring["fpr_gap"], folds)
    np.testing.assert_allclose(search.cv_results_["mean_test_fpr_gap"], -gaps.mean(axis=1))
    assert (gaps[1] > 0).all()  # C=0.001 predicts no positive at all: no gap
    assert search.best_index_ == int(np.argmax(search.cv_results_["mean_test_fair_auc"]))


# ------------------------------------------------------------------ protocol and validation


def test_metadata_requests():
    scorer = make_fairness_scorer("demographic_parity_difference")
    with pytest.raises(RuntimeError, match=re.escape("enable_metadata_routing=True")):
        scorer.set_score_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        requests = scorer.get_metadata_routing().score.requests
        assert requests == {"sensitive_features": True, "sample_weight": None}
        assert scorer.set_score_request(sample_weight=True) is scorer
        assert scorer.get_metadata_routing().score.requests["sample_weight"] is True
        with pytest.raises(TypeError, match=re.escape("Unexpected args: ['groups']")):
            scorer.set_score_request(groups=True)


def test_repr():
    assert repr(make_fairness_scorer("equal_opportunity_difference")) == (
        "make_fairness_scorer('equal_opportunity_difference')"
    )
    assert repr(make_fairness_scorer("equal_opportunity_ratio", 0.1, penalty=2.0)) == (
        "make_fairness_scorer('equal_opportunity_ratio', max_gap=0.1, performance='roc_auc', "
        "penalty=2.0)"
    )
    assert isinstance(make_fairness_scorer("equal_opportunity_ratio"), FairnessScorer)


def test_docstring_example():
    results = doctest.testmod(scorers_module, extraglobs={"np": np})
    assert results.attempted > 0 and results.failed == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "parity"}, "Invalid value for argument `metric`: expected one of"),
        ({"metric": 3}, "Invalid value for argument `metric`: expected a fairness metric name"),
        ({"method": "pairwise"}, "Invalid value for argument `method`: expected 'between_groups'"),
        ({"max_gap": -0.1}, "argument `max_gap`: expected a non-negative float or None"),
        ({"max_gap": float("nan")}, "Received: max_gap=nan"),
        ({"max_gap": True}, "Received: max_gap=True"),
        ({"max_gap": 0.1, "penalty": -1.0}, "`penalty`: expected a non-negative float"),
        ({"penalty": 1.0}, "Invalid value for argument `penalty`: it weighs the excess over"),
        ({"max_gap": 0.1, "performance": 7}, "Invalid value for argument `performance`"),
        ({"sensitive_features": ["a", "b"]}, "Invalid value for argument `sensitive_features`"),
    ],
)
def test_invalid_arguments(kwargs, message):
    kwargs = {"metric": "demographic_parity_difference", **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        make_fairness_scorer(**kwargs)


def test_invalid_calls(fitted):
    pd = pytest.importorskip("pandas")
    clf, x, y, group = fitted
    unbounded = make_fairness_scorer(
        "demographic_parity_difference", 0.1, performance="neg_log_loss"
    )
    with pytest.raises(ValueError, match=re.escape("needs a performance score in [0, 1]")):
        unbounded(clf, x, y, sensitive_features=group)
    no_groups = make_fairness_scorer("demographic_parity_difference")
    with pytest.raises(ValueError, match="needs the sensitive features of the scored rows"):
        no_groups(clf, x, y)
    short = make_fairness_scorer(
        "demographic_parity_difference", sensitive_features=pd.Series(group[:10])
    )
    with pytest.raises(ValueError, match="must be in the index of the scorer's"):
        short(clf, pd.DataFrame(x), y)
    multiclass = LogisticRegression().fit(x, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="needs a binary classifier"):
        no_groups(multiclass, x, y, sensitive_features=group)
