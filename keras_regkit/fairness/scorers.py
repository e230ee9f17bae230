"""scikit-learn scorers that combine a performance score with a group fairness gap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_regkit import _validation
from keras_regkit.fairness import metrics as fairness_metrics

_DIFFERENCES = (
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "false_positive_rate_difference",
    "true_positive_rate_difference",
)
_RATIOS = (
    "demographic_parity_ratio",
    "equal_opportunity_ratio",
    "equalized_odds_ratio",
    "false_positive_rate_ratio",
    "true_positive_rate_ratio",
)
_ROUTED = ("sensitive_features", "sample_weight")


def make_fairness_scorer(
    metric: str | Callable,
    max_gap: float | None = None,
    *,
    performance: str | Callable = "roc_auc",
    penalty: float | None = None,
    method: str = "between_groups",
    pos_label: Any = None,
    sensitive_features: Any = None,
) -> FairnessScorer:
    """Makes a scikit-learn scorer from a fairness gap, alone or with a performance score.

    The gap is a group disparity of the estimator's hard predictions with
    Fairlearn's definitions (Bird et al., "Fairlearn: A toolkit for assessing
    and improving fairness in AI", 2020), lower is fairer:

    - `max_gap=None`: the score is `-gap` (greater is better, as scikit-learn's
      `neg_*` scorers), e.g. to report the gap in a multi-metric search.
    - `max_gap=m`, `penalty=None`: a constraint. The score is the performance
      score when `gap <= m`, and `performance - 1 - (gap - m)` otherwise, so that
      any fold within the constraint outranks any fold beyond it (performance
      scores in [0, 1]) and beyond it smaller excesses rank higher. Averaged over
      CV folds, GridSearchCV then picks the best performance among the
      candidates within `m` on every fold.
    - `max_gap=m`, `penalty=p`: a trade-off, `performance - p * max(0, gap - m)`
      (with `m=0`: performance minus `p` times the gap).

    The scorer needs the sensitive features of the scored rows. In a search or
    `cross_validate`, turn on scikit-learn's metadata routing: the scorer
    requests `sensitive_features`, so `GridSearchCV(...).fit(X, y,
    sensitive_features=s)` passes each scored fold its slice of `s`.
    Without routing, give `sensitive_features` here as a pandas Series (or
    DataFrame) indexed like `X`, a DataFrame: the scorer looks up the scored
    rows by `X.index`.

    Args:
        metric: the gap: the name of a difference or ratio in
            `keras_regkit.fairness` ("false_positive_rate_difference",
            "demographic_parity_difference", "equal_opportunity_difference",
            "equalized_odds_difference", "true_positive_rate_difference", or a
            `*_ratio`, whose gap is `1 - ratio`), or a callable
            `metric(y_true, y_pred, *, sensitive_features[, sample_weight])`
            returning the gap (e.g. a `fairlearn.metrics` function).
        max_gap: None, or the largest acceptable gap (a float >= 0).
        performance: the performance score, with `max_gap`: a scikit-learn
            scorer name ("roc_auc", "accuracy", "balanced_accuracy", ...) or a
            scorer callable `(estimator, X, y[, sample_weight])`.
        penalty: None (constraint), or a float >= 0 (trade-off).
        method: "between_groups" or "to_overall" (named metrics only).
        pos_label: the positive class; defaults to `estimator.classes_[1]`.
        sensitive_features: optional pandas Series/DataFrame indexed like `X`,
            read when the scorer is called without `sensitive_features`.

    Returns:
        A `FairnessScorer`: `scorer(estimator, X, y, sensitive_features=s)`.

    Example:

    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> group = np.repeat(["a", "b"], 100)
    >>> X = rng.normal(size=(200, 2)) + (group == "a")[:, None]
    >>> y = (X[:, 1] + rng.normal(size=200) > 0.5).astype(int)
    >>> clf = LogisticRegression().fit(X, y)
    >>> fpr_gap = make_fairness_scorer("false_positive_rate_difference")
    >>> round(fpr_gap(clf, X, y, sensitive_features=group), 3)
    -0.329
    >>> auc_within_gap = make_fairness_scorer("false_positive_rate_difference", max_gap=0.35)
    >>> round(auc_within_gap(clf, X, y, sensitive_features=group), 3)  # the ROC AUC
    0.876
    >>> auc_beyond_gap = make_fairness_scorer("false_positive_rate_difference", max_gap=0.3)
    >>> round(auc_beyond_gap(clf, X, y, sensitive_features=group), 3)  # 0.876 - 1 - 0.029
    -0.153

    In a search over MinDiff's weight (the README's "MinDiff in scikit-learn" section and
    `notebooks/min_diff_fair_lending.ipynb` run it on Adult):

    ```python
    sklearn.set_config(enable_metadata_routing=True)
    search = GridSearchCV(
        MinDiffClassifier(build, sensitive_group="Female", label_filter=0),
        {"loss_weight": [0.0, 1.0, 3.0]},
        scoring=make_fairness_scorer("false_positive_rate_difference", max_gap=0.03),
    )
    search.fit(X, y, sensitive_features=sex)
    ```
    """
    if isinstance(metric, str):
        if metric not in _DIFFERENCES + _RATIOS:
            raise ValueError(
                "Invalid value for argument `metric`: expected one of "
                f"{sorted(_DIFFERENCES + _RATIOS)} or a callable. Received: metric={metric!r}"
            )
        if method not in ("between_groups", "to_overall"):
            raise ValueError(
                "Invalid value for argument `method`: expected 'between_groups' or "
                f"'to_overall'. Received: method={method!r}"
            )
    elif not callable(metric):
        raise ValueError(
            "Invalid value for argument `metric`: expected a fairness metric name or a "
            f"callable. Received: metric={metric!r}"
        )
    for name, value in (("max_gap", max_gap), ("penalty", penalty)):
        _validation.check_float(name, value, 0, allow_none=True)
    if penalty is not None and max_gap is None:
        raise ValueError(
            "Invalid value for argument `penalty`: it weighs the excess over `max_gap`; "
            f"pass max_gap too (max_gap=0 penalises the whole gap). Received: penalty={penalty!r}"
        )
    if isinstance(performance, str):
        from sklearn.metrics import get_scorer

        performance_scorer = get_scorer(performance)
    elif callable(performance):
        performance_scorer = performance
    else:
        raise ValueError(
            "Invalid value for argument `performance`: expected a scikit-learn scorer name or "
            f"a scorer callable. Received: performance={performance!r}"
        )
    if sensitive_features is not None and not hasattr(sensitive_features, "loc"):
        raise ValueError(
            "Invalid value for argument `sensitive_features`: expected a pandas Series or "
            "DataFrame indexed like X (the scorer looks up the scored rows by X.index). "
            f"Received: {type(sensitive_features).__name__}"
        )
    return FairnessScorer(
        metric=metric,
        max_gap=None if max_gap is None else float(max_gap),
        performance=performance,
        performance_scorer=performance_scorer,
        penalty=None if penalty is None else float(penalty),
        method=method,
        pos_label=pos_label,
        sensitive_features=sensitive_features,
    )


class FairnessScorer:
    """A scikit-learn scorer of a fairness gap (see `make_fairness_scorer`).

    Call it as `scorer(estimator, X, y_true, sensitive_features=s,
    sample_weight=None)`; under scikit-learn's metadata routing it requests
    `sensitive_features` (and, after `set_score_request(sample_weight=True)`,
    the sample weights).
    """

    def __init__(
        self,
        *,
        metric,
        max_gap,
        performance,
        performance_scorer,
        penalty,
        method,
        pos_label,
        sensitive_features,
    ):
        self.metric = metric
        self.max_gap = max_gap
        self.performance = performance
        self.penalty = penalty
        self.method = method
        self.pos_label = pos_label
        self.sensitive_features = sensitive_features
        self._performance_scorer = performance_scorer
        self._requests = {"sensitive_features": True, "sample_weight": None}

    def __repr__(self) -> str:
        name = self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", "")
        if self.max_gap is None:
            return f"make_fairness_scorer({name!r})"
        extra = "" if self.penalty is None else f", penalty={self.penalty}"
        return (
            f"make_fairness_scorer({name!r}, max_gap={self.max_gap}, "
            f"performance={self.performance!r}{extra})"
        )

    def __call__(self, estimator, X, y_true, sample_weight=None, sensitive_features=None):
        """The score of a fitted estimator on `(X, y_true)`; greater is better."""
        if sensitive_features is None:
            sensitive_features = self._lookup(X)
        gap = self.gap(estimator, X, y_true, sensitive_features, sample_weight)
        if self.max_gap is None:
            return -gap
        if sample_weight is None:
            score = self._performance_scorer(estimator, X, y_true)
        else:
            score = self._performance_scorer(estimator, X, y_true, sample_weight=sample_weight)
        score = float(score)
        excess = max(0.0, gap - self.max_gap)
        if self.penalty is not None:
            return score - self.penalty * excess
        if not 0.0 <= score <= 1.0:
            raise ValueError(
                f"make_fairness_scorer(max_gap=...) without `penalty` ranks the folds beyond "
                f"max_gap below the others by subtracting 1, which needs a performance score "
                f"in [0, 1]; performance={self.performance!r} gave {score}. Pass `penalty` "
                "(a trade-off) or a performance score in [0, 1]."
            )
        return score if gap <= self.max_gap else score - 1.0 - excess

    def gap(self, estimator, X, y_true, sensitive_features, sample_weight=None) -> float:
        """The fairness gap of the estimator's predictions on `X` (lower is fairer)."""
        y_true = np.asarray(y_true).reshape(-1)
        pos_label = self.pos_label
        if pos_label is None:
            classes = getattr(estimator, "classes_", None)
            if classes is None or len(classes) != 2:
                raise ValueError(
                    "The fairness scorer needs a binary classifier (with two `classes_`) or "
                    f"`pos_label`. Received classes: {classes}"
                )
            pos_label = classes[1]
        y_pred = np.asarray(estimator.predict(X)).reshape(-1)
        kwargs = {"sensitive_features": sensitive_features}
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        if isinstance(self.metric, str):
            value = getattr(fairness_metrics, self.metric)(
                y_true == pos_label, y_pred == pos_label, method=self.method, **kwargs
            )
            return float(1.0 - value if self.metric in _RATIOS else value)
        return float(self.metric(y_true == pos_label, y_pred == pos_label, **kwargs))

    def _lookup(self, X):
        if self.sensitive_features is None or not hasattr(X, "index"):
            raise ValueError(
                "The fairness scorer needs the sensitive features of the scored rows. Call "
                "scorer(estimator, X, y, sensitive_features=s); in GridSearchCV or "
                "cross_validate, enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass "
                "sensitive_features to their fit; or give make_fairness_scorer a pandas "
                "Series `sensitive_features` indexed like X, a DataFrame."
            )
        missing = X.index.difference(self.sensitive_features.index)
        if len(missing):
            raise ValueError(
                "The rows of X must be in the index of the scorer's `sensitive_features`. "
                f"Missing index values such as: {list(missing[:5])}"
            )
        return self.sensitive_features.loc[X.index]

    # ------------------------------------------------------------- metadata routing

    def set_score_request(self, **kwargs) -> FairnessScorer:
        """Sets the metadata this scorer receives under scikit-learn's metadata routing.

        Args:
            **kwargs: `sensitive_features=` (requested by default) and/or
                `sample_weight=` (not requested by default): True, False, None
                or an alias (str).

        Returns:
            self
        """
        import sklearn

        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        unknown = set(kwargs) - set(_ROUTED)
        if unknown:
            raise TypeError(
                f"Unexpected args: {sorted(unknown)} in set_score_request. Accepted arguments "
                f"are: {sorted(_ROUTED)}"
            )
        self._requests.update(kwargs)
        return self

    def get_metadata_routing(self):
        """The scorer's metadata requests (scikit-learn's metadata routing protocol)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=self)
        for param, alias in self._requests.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def _accept_sample_weight(self) -> bool:
        # Read by scikit-learn's searches (without routing) before forwarding weights.
        return True
