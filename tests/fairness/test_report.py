"""group_report against Fairlearn's MetricFrame and scikit-learn's confusion matrix."""

import warnings

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from keras_regkit import fairness

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend


def case(seed=0, n=50):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    scores = rng.uniform(0, 1, n)
    sex = rng.choice(["female", "male"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    weights = rng.uniform(0.5, 2.0, n)
    return y_true, scores, sex, race, weights


@pytest.mark.parametrize("intersectional", [False, True])
def test_equals_metric_frame(intersectional):
    y_true, scores, sex, race, weights = case()
    y_pred = (scores > 0.5).astype(int)
    features = pd.DataFrame({"sex": sex, "race": race}) if intersectional else sex
    report = fairness.group_report(
        y_true, scores, sensitive_features=features, sample_weight=weights, threshold=0.5
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = flm.MetricFrame(
            metrics={
                "selection_rate": flm.selection_rate,
                "true_positive_rate": flm.true_positive_rate,
                "false_positive_rate": flm.false_positive_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=features,
            sample_params={
                name: {"sample_weight": weights}
                for name in ("selection_rate", "true_positive_rate", "false_positive_rate")
            },
        )
        counts = flm.MetricFrame(
            metrics=flm.count, y_true=y_true, y_pred=y_pred, sensitive_features=features
        )
    by_group = frame.by_group.dropna(how="all")  # Fairlearn lists unobserved combinations
    expected_groups = list(by_group.index)
    assert report.groups == expected_groups
    assert report.feature_names == (("sex", "race") if intersectional else ("sensitive_feature_0",))
    for column in by_group.columns:
        np.testing.assert_allclose(report[column], by_group[column].to_numpy(), atol=1e-12)
        np.testing.assert_allclose(report.overall[column], frame.overall[column], atol=1e-12)
    np.testing.assert_array_equal(report["count"], counts.by_group.dropna().to_numpy())
    assert report.overall["count"] == len(y_true)


def test_confusion_counts_equal_sklearn():
    y_true, scores, sex, _, weights = case(1)
    y_pred = (scores > 0.3).astype(int)
    report = fairness.group_report(
        y_true, scores, sensitive_features=sex, sample_weight=weights, threshold=0.3
    )
    for row, group in enumerate(report.groups):
        mask = sex == group
        tn, fp, fn, tp = confusion_matrix(
            y_true[mask], y_pred[mask], labels=[0, 1], sample_weight=weights[mask]
        ).ravel()
        for column, value in [
            ("true_negatives", tn),
            ("false_positives", fp),
            ("false_negatives", fn),
            ("true_positives", tp),
            ("weight", weights[mask].sum()),
        ]:
            np.testing.assert_allclose(report[column][row], value, rtol=1e-12)


def test_to_dict_and_printing():
    report = fairness.group_report(
        [1, 0, 1, 1, 0], [1, 1, 0, 1, 0], sensitive_features={"sex": ["f", "f", "m", "m", "m"]}
    )
    table = pd.DataFrame(report.to_dict())
    assert list(table.columns) == ["sex", *fairness.GroupReport.COLUMNS]
    assert table["sex"].tolist() == ["f", "m"]
    assert table["count"].tolist() == [2, 3]
    assert table["selection_rate"].tolist() == [1.0, 1 / 3]
    assert len(report) == 2
    text = str(report)
    assert text.splitlines()[0].split()[:3] == ["sex", "count", "weight"]
    assert text.splitlines()[-1].split()[:3] == ["overall", "5", "5"]
    assert "GroupReport(feature_names=('sex',)" in repr(report)
    with pytest.raises(KeyError, match="Unknown column 'accuracy'"):
        report["accuracy"]


def test_intersectional_to_dict_and_nan_printing():
    report = fairness.group_report(
        [1, 0, 1],
        [1, 1, 0],
        sensitive_features=np.array([["f", 1], ["m", 2], ["m", 2]], dtype=object),
        sample_weight=[0.0, 1.0, 1.0],
    )
    columns = report.to_dict()
    assert columns["sensitive_feature_0"] == ["f", "m"]
    assert columns["sensitive_feature_1"] == [1, 2]
    assert np.isnan(columns["selection_rate"][0])
    assert "nan" in str(report).splitlines()[1]
