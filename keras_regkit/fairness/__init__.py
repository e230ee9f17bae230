"""keras_regkit.fairness: group fairness metrics for Keras models.

Three ways to measure the same quantities, all with Fairlearn's definitions
(Bird et al., "Fairlearn: A toolkit for assessing and improving fairness in
AI", 2020):

- functions on NumPy/pandas data, e.g. `demographic_parity_difference(y_true,
  y_pred, sensitive_features=sex)`, and `group_report(...)` for the per-group
  counts and rates behind them;
- `FairnessMetricsCallback`, which computes them on held-out data at the end
  of every epoch and writes them into the epoch logs (History, CSVLogger,
  TensorBoard, EarlyStopping);
- streaming metrics for `model.compile(metrics=...)`, e.g.
  `DemographicParityDifference(num_groups)`, which read the group id packed
  next to the label in `y_true` (see `encode_groups`).
"""

from keras_regkit.fairness.counterfactual_metrics import (
    counterfactual_flip_rate,
    mean_counterfactual_score_gap,
)
from keras_regkit.fairness.fairness_metrics_callback import FairnessMetricsCallback
from keras_regkit.fairness.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    encode_groups,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    false_positive_rate_difference,
    false_positive_rate_ratio,
    selection_rate,
    true_positive_rate,
    true_positive_rate_difference,
    true_positive_rate_ratio,
)
from keras_regkit.fairness.report import GroupReport, group_report
from keras_regkit.fairness.reweighing import reweighing_weights
from keras_regkit.fairness.scorers import FairnessScorer, make_fairness_scorer
from keras_regkit.fairness.streaming import (
    CounterfactualFlipRate,
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    EqualizedOddsRatio,
    EqualOpportunityDifference,
    EqualOpportunityRatio,
    FalsePositiveRateDifference,
    MeanCounterfactualScoreGap,
)

__all__ = [
    "CounterfactualFlipRate",
    "MeanCounterfactualScoreGap",
    "counterfactual_flip_rate",
    "mean_counterfactual_score_gap",
    "DemographicParityDifference",
    "DemographicParityRatio",
    "EqualOpportunityDifference",
    "EqualOpportunityRatio",
    "EqualizedOddsDifference",
    "EqualizedOddsRatio",
    "FairnessMetricsCallback",
    "FairnessScorer",
    "FalsePositiveRateDifference",
    "GroupReport",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "encode_groups",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "false_positive_rate",
    "false_positive_rate_difference",
    "false_positive_rate_ratio",
    "group_report",
    "make_fairness_scorer",
    "reweighing_weights",
    "selection_rate",
    "true_positive_rate",
    "true_positive_rate_difference",
    "true_positive_rate_ratio",
]
