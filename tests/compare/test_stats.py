import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from keras_regkit.compare import stats

pytestmark = pytest.mark.one_backend


def test_t_interval_matches_scipy_and_the_closed_form():
    values = [0.31, 0.29, 0.335, 0.30, 0.312]
    interval = stats.t_interval(values)
    low, high = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values)
    )
    assert interval.n == 5 and interval.mean == pytest.approx(np.mean(values))
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)
    # Closed form for n = 2: mean ± t_{0.975, 1} * |a - b| / 2, t_{0.975, 1} = tan(0.475 pi).
    two = stats.t_interval([1.0, 3.0])
    half = math.tan(0.475 * math.pi) * math.sqrt(2) / math.sqrt(2)
    assert (two.low, two.high) == pytest.approx((2 - half, 2 + half), rel=1e-12)
    assert stats.t_interval([1.0, 3.0], confidence=0.5).half_width == pytest.approx(1.0)


def test_t_interval_edge_cases():
    one = stats.t_interval([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and math.isnan(one.high)
    assert not one.significant
    assert stats.t_interval([]).n == 0 and math.isnan(stats.t_interval([]).mean)
    # NaN values (a fairness gap without groups) are left out.
    assert stats.t_interval([1.0, float("nan"), 3.0]).n == 2
    point = stats.t_interval([2.0, 2.0, 2.0])
    assert (point.low, point.high) == (2.0, 2.0) and point.significant


def test_paired_difference_pairs_by_seed_and_matches_scipy_ttest():
    rng = np.random.default_rng(0)
    a = {seed: 0.3 + 0.01 * seed + rng.normal(0, 0.002) for seed in range(6)}
    b = {seed: value - 0.004 + rng.normal(0, 0.001) for seed, value in a.items()}
    b[99] = 5.0  # no partner: ignored
    diff = stats.paired_difference(a, b)
    assert diff.n == 6
    seeds = range(6)
    test = scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    low, high = test.confidence_interval(0.95)
    assert (diff.low, diff.high) == pytest.approx((low, high), rel=1e-10)
    # Significant exactly when the paired t test rejects at 5%.
    assert diff.significant == (test.pvalue < 0.05) and diff.significant
    # Unpaired, the seed-to-seed spread of 0.01 would hide the 0.004 difference.
    unpaired = scipy_stats.ttest_ind([a[s] for s in seeds], [b[s] for s in seeds])
    assert unpaired.pvalue > 0.05


def test_format_interval():
    interval = stats.t_interval([1.0, 3.0])
    half = interval.half_width
    assert stats.format_interval(interval, "{:.2f}") == f"2.00 ±{half:.2f}"
    assert stats.format_interval(interval, "{:+.1f}", brackets=True) == (
        f"+2.0 [{2 - half:+.1f}, {2 + half:+.1f}]"
    )
    assert stats.format_interval(stats.t_interval([0.25]), "{:.1%}") == "25.0%"
    assert stats.format_interval(stats.t_interval([]), "{:.1f}") == "n/a"
