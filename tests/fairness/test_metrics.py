"""The functional fairness metrics against Fairlearn 0.15 (the reference)."""

import warnings

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest

from keras_regkit import fairness

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend

DISPARITIES = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "true_positive_rate_difference",
    "true_positive_rate_ratio",
    "false_positive_rate_difference",
    "false_positive_rate_ratio",
]
TPR_FPR_BASED = [name for name in DISPARITIES if not name.startswith("demographic")]
VARIANTS = [
    (name, method, agg)
    for name in DISPARITIES
    for method in ("between_groups", "to_overall")
    for agg in (("worst_case", "mean") if "odds" in name else (None,))
]

# Fairlearn's documented example ("Common fairness metrics" in its user guide).
DOC_Y_TRUE = [0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]
DOC_Y_PRED = [0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0]
DOC_SF = ["b", "b", "a", "b", "b", "c", "c", "c", "a", "a", "c", "a", "b", "c", "c", "b", "c", "c"]


def ours(name, *args, agg=None, **kwargs):
    if agg is not None:
        kwargs["agg"] = agg
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NumPy either
        # ...but the documented warning for one group (tested on its own below).
        warnings.filterwarnings("ignore", message=".*only 1 group", category=UserWarning)
        return getattr(fairness, name)(*args, **kwargs)


def theirs(name, *args, agg=None, **kwargs):
    if agg is not None:
        kwargs["agg"] = agg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(getattr(flm, name)(*args, **kwargs))


def assert_same(actual, expected):
    if np.isnan(expected):
        assert np.isnan(actual), f"expected NaN, got {actual}"
    else:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)


def random_case(seed, n=60, columns=1, weighted=False):
    """Several groups of unequal sizes, small ones often without positives or negatives."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    y_pred = rng.integers(0, 2, n)
    sf = rng.choice(["w", "x", "y", "z"], size=(n, columns), p=[0.5, 0.3, 0.15, 0.05])
    weights = rng.uniform(0.1, 5.0, n) if weighted else None
    return y_true, y_pred, (sf[:, 0] if columns == 1 else sf), weights


def test_fairlearn_documented_example():
    kwargs = {"sensitive_features": DOC_SF}
    assert fairness.demographic_parity_difference(DOC_Y_TRUE, DOC_Y_PRED, **kwargs) == 0.25
    np.testing.assert_allclose(
        fairness.demographic_parity_ratio(DOC_Y_TRUE, DOC_Y_PRED, **kwargs), 2 / 3
    )
    assert fairness.equalized_odds_difference(DOC_Y_TRUE, DOC_Y_PRED, **kwargs) == 1.0
    assert fairness.equalized_odds_ratio(DOC_Y_TRUE, DOC_Y_PRED, **kwargs) == 0.0
    np.testing.assert_allclose(
        fairness.equal_opportunity_difference(DOC_Y_TRUE, DOC_Y_PRED, **kwargs), 0.2
    )
    np.testing.assert_allclose(
        fairness.equal_opportunity_ratio(DOC_Y_TRUE, DOC_Y_PRED, **kwargs), 2 / 3
    )
    for name, method, agg in VARIANTS:
        assert_same(
            ours(name, DOC_Y_TRUE, DOC_Y_PRED, method=method, agg=agg, **kwargs),
            theirs(name, DOC_Y_TRUE, DOC_Y_PRED, method=method, agg=agg, **kwargs),
        )


@pytest.mark.parametrize(
    "seed,columns,weighted",
    [(0, 1, False), (1, 1, True), (2, 2, False), (3, 2, True), (4, 3, True)],
)
def test_equals_fairlearn_on_random_data(seed, columns, weighted):
    y_true, y_pred, sf, weights = random_case(seed, columns=columns, weighted=weighted)
    # Fairlearn is slow on many intersectional groups: half the variants there.
    for name, method, agg in VARIANTS if columns < 3 else VARIANTS[::2]:
        kwargs = {"sensitive_features": sf, "method": method, "sample_weight": weights}
        assert_same(
            ours(name, y_true, y_pred, agg=agg, **kwargs),
            theirs(name, y_true, y_pred, agg=agg, **kwargs),
        )


def test_overall_rates_equal_fairlearn():
    y_true, y_pred, _, weights = random_case(4, weighted=True)
    for name in ("selection_rate", "true_positive_rate", "false_positive_rate"):
        for sample_weight in (None, weights):
            assert_same(
                ours(name, y_true, y_pred, sample_weight=sample_weight),
                theirs(name, y_true, y_pred, sample_weight=sample_weight),
            )


def test_pandas_inputs():
    y_true, y_pred, sf, weights = random_case(5, columns=2, weighted=True)
    frame = pd.DataFrame({"sex": sf[:, 0], "race": sf[:, 1]})
    series = pd.Series(sf[:, 0], name="sex")
    checks = [(frame, VARIANTS[1::2])] + [
        (features, [("equalized_odds_difference", "to_overall", "mean")])
        for features in (series, {"sex": sf[:, 0], "race": list(sf[:, 1])})
    ]
    for features, variants in checks:
        for name, method, agg in variants:
            kwargs = {"sensitive_features": features, "method": method}
            assert_same(
                ours(
                    name,
                    pd.Series(y_true),
                    pd.Series(y_pred).to_frame(),
                    sample_weight=pd.Series(weights),
                    agg=agg,
                    **kwargs,
                ),
                theirs(name, y_true, y_pred, sample_weight=weights, agg=agg, **kwargs),
            )


def test_numeric_boolean_and_column_shapes():
    y_true, y_pred, _, _ = random_case(6)
    groups = np.random.default_rng(6).integers(0, 3, (len(y_true), 1))
    expected = theirs("equalized_odds_difference", y_true, y_pred, sensitive_features=groups[:, 0])
    actual = ours(
        "equalized_odds_difference",
        y_true.astype(bool)[:, None],
        y_pred.astype("float32"),
        sensitive_features=groups,
    )
    assert_same(actual, expected)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.8])
def test_threshold_binarizes_scores(threshold):
    rng = np.random.default_rng(7)
    y_true, _, sf, weights = random_case(7, weighted=True)
    scores = rng.uniform(-1, 1, len(y_true))
    scores[:3] = threshold  # exactly at the threshold: not positive, as in keras.metrics
    labels = (scores > threshold).astype(int)
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method, "sample_weight": weights}
        assert_same(
            ours(name, y_true, scores, threshold=threshold, agg=agg, **kwargs),
            theirs(name, y_true, labels, agg=agg, **kwargs),
        )


# --- Edge cases: each compared with what Fairlearn does. ---


def test_group_without_positives_has_tpr_zero_like_fairlearn():
    y_true = np.array([1, 0, 1, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    sf = np.array(list("aabbccdd"))  # c and d have no positive label
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method}
        assert_same(
            ours(name, y_true, y_pred, agg=agg, **kwargs),
            theirs(name, y_true, y_pred, agg=agg, **kwargs),
        )
    assert fairness.equal_opportunity_difference(y_true, y_pred, sensitive_features=sf) == 1.0


def test_group_without_negatives_has_fpr_zero_like_fairlearn():
    y_true = np.array([1, 1, 1, 0, 0, 1, 0, 1])
    y_pred = np.array([1, 0, 1, 1, 0, 0, 1, 1])
    sf = np.array(list("aaabbbcc"))  # a has no negative label
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method}
        assert_same(
            ours(name, y_true, y_pred, agg=agg, **kwargs),
            theirs(name, y_true, y_pred, agg=agg, **kwargs),
        )


def test_unobserved_intersection_is_not_a_group_like_fairlearn():
    y_true, y_pred, _, _ = random_case(8, n=12)
    sf = np.stack([list("aaaabbbbcccc"), list("xxxxyyyyxxyy")], axis=1)  # no (a, y), (b, x)
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method}
        assert_same(
            ours(name, y_true, y_pred, agg=agg, **kwargs),
            theirs(name, y_true, y_pred, agg=agg, **kwargs),
        )
    assert fairness.group_report(y_true, y_pred, sensitive_features=sf).groups == [
        ("a", "x"),
        ("b", "y"),
        ("c", "x"),
        ("c", "y"),
    ]


def test_zero_weight_group_is_skipped():
    y_true, y_pred, sf, weights = random_case(9, weighted=True)
    weights[sf == "y"] = 0.0
    keep = sf != "y"
    for name, method, agg in VARIANTS:
        kwargs = {"method": method, "agg": agg}
        actual = ours(name, y_true, y_pred, sensitive_features=sf, sample_weight=weights, **kwargs)
        if name.startswith("demographic"):
            # Fairlearn: the group's selection rate is 0/0 = NaN, which it skips.
            expected = theirs(
                name, y_true, y_pred, sensitive_features=sf, sample_weight=weights, **kwargs
            )
        else:
            # Fairlearn raises (scikit-learn refuses all-zero weights); ours skips the
            # group, which is Fairlearn's value without it.
            with pytest.raises(ValueError, match="non-zero"):
                theirs(name, y_true, y_pred, sensitive_features=sf, sample_weight=weights)
            expected = theirs(
                name,
                y_true[keep],
                y_pred[keep],
                sensitive_features=sf[keep],
                sample_weight=weights[keep],
                **kwargs,
            )
        assert_same(actual, expected)
    report = fairness.group_report(y_true, y_pred, sensitive_features=sf, sample_weight=weights)
    row = report.groups.index("y")
    assert np.isnan(report["selection_rate"][row])
    assert np.isnan(report["true_positive_rate"][row])


def test_all_weights_zero_gives_nan():
    y_true, y_pred, sf, _ = random_case(10)
    zeros = np.zeros(len(y_true))
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method, "sample_weight": zeros, "agg": agg}
        assert np.isnan(ours(name, y_true, y_pred, **kwargs))
        if name.startswith("demographic"):
            assert np.isnan(theirs(name, y_true, y_pred, **kwargs))
        else:
            with pytest.raises(ValueError, match="non-zero"):
                theirs(name, y_true, y_pred, **kwargs)
    assert np.isnan(ours("selection_rate", y_true, y_pred, sample_weight=zeros))
    assert np.isnan(ours("true_positive_rate", y_true, y_pred, sample_weight=zeros))


def test_no_positive_prediction_gives_nan_ratios_like_fairlearn():
    y_true, _, sf, weights = random_case(11, weighted=True)
    y_pred = np.zeros_like(y_true)
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": sf, "method": method, "sample_weight": weights}
        expected = theirs(name, y_true, y_pred, agg=agg, **kwargs)
        assert_same(ours(name, y_true, y_pred, agg=agg, **kwargs), expected)
        assert np.isnan(expected) == name.endswith("ratio")


def test_equalized_odds_ratio_nan_rule_follows_fairlearn():
    # No false positive anywhere: the FPR ratio is 0/0 = NaN, the TPR ratio is not.
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    sf = np.array(list("aaaabbbb"))
    for method in ("between_groups", "to_overall"):
        for agg in ("worst_case", "mean"):
            kwargs = {"sensitive_features": sf, "method": method, "agg": agg}
            expected = theirs("equalized_odds_ratio", y_true, y_pred, **kwargs)
            assert_same(ours("equalized_odds_ratio", y_true, y_pred, **kwargs), expected)
            # The TPR ratio; the NaN FPR ratio is passed over.
            assert expected == (0.5 if method == "between_groups" else 0.5 / 0.75)
    # No true positive anywhere: the TPR ratio is NaN and wins under worst_case.
    y_pred = np.array([0, 0, 1, 0, 0, 0, 1, 1])
    kwargs = {"sensitive_features": sf}
    assert np.isnan(theirs("equalized_odds_ratio", y_true, y_pred, **kwargs))
    assert np.isnan(ours("equalized_odds_ratio", y_true, y_pred, **kwargs))
    assert_same(
        ours("equalized_odds_ratio", y_true, y_pred, agg="mean", **kwargs),
        theirs("equalized_odds_ratio", y_true, y_pred, agg="mean", **kwargs),
    )


def test_single_group_and_single_sample():
    y_true, y_pred = [1, 0, 1, 1], [1, 1, 0, 1]
    for name, method, agg in VARIANTS:
        kwargs = {"sensitive_features": ["a"] * 4, "method": method, "agg": agg}
        assert_same(ours(name, y_true, y_pred, **kwargs), theirs(name, y_true, y_pred, **kwargs))
    # Fairlearn cannot take one sample (it squeezes it to a 0-d array); one group, no gap.
    assert fairness.demographic_parity_difference([1], [1], sensitive_features=["a"]) == 0.0
    assert fairness.demographic_parity_ratio([1], [1], sensitive_features=["a"]) == 1.0
    assert fairness.equalized_odds_difference([1], [0], sensitive_features=["a"]) == 0.0


def test_encode_groups():
    ids, groups = fairness.encode_groups(np.array(["m", "f", "m", "x"]))
    assert ids.dtype == np.int32 and ids.tolist() == [1, 0, 1, 2]
    assert groups == ["f", "m", "x"]
    ids, groups = fairness.encode_groups({"sex": ["m", "f", "m"], "age": [30, 30, 40]})
    assert groups == [("f", 30), ("m", 30), ("m", 40)] and ids.tolist() == [1, 0, 2]
    frame = pd.DataFrame({"sex": pd.Categorical(["m", "f"]), "flag": [True, False]})
    assert fairness.encode_groups(frame)[1] == [("f", False), ("m", True)]
    assert fairness.encode_groups(np.array([b"b", b"a"]))[1] == ["a", "b"]


# --- Argument validation: one test per checked argument. ---

Y = [0, 1, 1, 0]
SF = ["a", "a", "b", "b"]


def test_mismatched_y_pred_length():
    with pytest.raises(ValueError, match=r"argument `y_pred`: expected 4 samples.*Received: 3"):
        fairness.demographic_parity_difference(Y, [0, 1, 1], sensitive_features=SF)


def test_mismatched_sensitive_features_length():
    with pytest.raises(
        ValueError, match=r"argument `sensitive_features`: expected 4 samples.*Received: 5"
    ):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=SF + ["a"])


def test_mismatched_sample_weight_length():
    with pytest.raises(ValueError, match=r"argument `sample_weight`: expected 4 samples"):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=SF, sample_weight=[1, 2])


def test_non_binary_y_true():
    with pytest.raises(
        ValueError, match=r"argument `y_true`: expected binary labels in \{0, 1\}.*\[2\]"
    ):
        fairness.equalized_odds_difference([0, 1, 2, 0], Y, sensitive_features=SF)
    with pytest.raises(ValueError, match=r"argument `y_true`: expected binary labels.*dtype"):
        fairness.equalized_odds_difference(["no", "yes", "no", "no"], Y, sensitive_features=SF)
    with pytest.raises(ValueError, match=r"argument `y_true`: expected binary labels.*shape"):
        fairness.equalized_odds_difference(np.zeros((4, 2)), Y, sensitive_features=SF)


def test_scores_without_threshold():
    with pytest.raises(
        ValueError, match=r"argument `y_pred`: expected binary labels.*`threshold=`"
    ):
        fairness.demographic_parity_difference(Y, [0.2, 0.7, 0.9, 0.1], sensitive_features=SF)


def test_non_finite_scores():
    with pytest.raises(ValueError, match=r"argument `y_pred`: expected finite scores"):
        fairness.demographic_parity_difference(
            Y, [0.2, np.nan, 0.9, 0.1], sensitive_features=SF, threshold=0.5
        )


@pytest.mark.parametrize("method", ["between", "overall", None, 1])
def test_unknown_method(method):
    with pytest.raises(
        ValueError, match=r"argument `method`: expected one of \('between_groups', 'to_overall'\)"
    ):
        fairness.demographic_parity_ratio(Y, Y, sensitive_features=SF, method=method)


@pytest.mark.parametrize("name", ["equalized_odds_difference", "equalized_odds_ratio"])
def test_unknown_agg(name):
    with pytest.raises(
        ValueError, match=r"argument `agg`: expected one of \('worst_case', 'mean'\). Received"
    ):
        getattr(fairness, name)(Y, Y, sensitive_features=SF, agg="max")


@pytest.mark.parametrize("threshold", ["0.5", float("nan"), float("inf"), True])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match=r"argument `threshold`: expected a finite float or None"):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=SF, threshold=threshold)


@pytest.mark.parametrize("weights", [[1, -1, 1, 1], [1, np.nan, 1, 1]])
def test_bad_sample_weight(weights):
    with pytest.raises(
        ValueError, match=r"argument `sample_weight`: expected non-negative finite weights"
    ):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=SF, sample_weight=weights)


def test_empty_input():
    with pytest.raises(ValueError, match=r"argument `y_true`: expected at least one sample"):
        fairness.demographic_parity_difference([], [], sensitive_features=[])


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_missing_sensitive_values(missing):
    with pytest.raises(
        ValueError, match=r"argument `sensitive_features`: column 'sex' contains missing values"
    ):
        fairness.demographic_parity_difference(
            Y, Y, sensitive_features=pd.Series(["a", missing, "b", "b"], name="sex", dtype=object)
        )


def test_bad_sensitive_features():
    with pytest.raises(ValueError, match=r"argument `sensitive_features`: expected one column"):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match=r"argument `sensitive_features`: expected an array"):
        fairness.demographic_parity_difference(Y, Y, sensitive_features=None)
    with pytest.raises(ValueError, match=r"argument `sensitive_features`: the values of column"):
        fairness.demographic_parity_difference(
            Y, Y, sensitive_features=np.array(["a", 1, "b", 2], dtype=object)
        )


def _single_group_warnings(records):
    return [r for r in records if "only 1 group of `sensitive_features`" in str(r.message)]


def test_one_group_present_warns_once_and_keeps_the_value():
    y_true, y_pred = [1, 0, 1, 1], [1, 1, 0, 1]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("default")
        for _ in range(3):  # one call site: one warning
            value = fairness.demographic_parity_difference(
                y_true, y_pred, sensitive_features=["a"] * 4
            )
    assert value == 0.0
    (record,) = _single_group_warnings(records)
    assert record.category is UserWarning and record.filename == __file__
    assert "demographic_parity_difference" in str(record.message) and "['a']" in str(record.message)


def test_a_group_with_zero_weight_is_not_present():
    with pytest.warns(UserWarning, match="only 1 group"):
        ratio = fairness.equalized_odds_ratio(
            [1, 0, 1, 0],
            [1, 0, 0, 0],
            sensitive_features=["a", "a", "b", "b"],
            sample_weight=[1, 1, 0, 0],
        )
    assert ratio == 1.0


def test_two_groups_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fairness.demographic_parity_ratio([1, 0], [1, 0], sensitive_features=["a", "b"])
        fairness.selection_rate([1, 0], [1, 1])  # an overall rate has no groups
