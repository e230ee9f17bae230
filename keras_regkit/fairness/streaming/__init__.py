"""Streaming (stateful) fairness metrics for `model.compile(metrics=...)`."""

from keras_regkit.fairness.streaming.counterfactual_flip_rate import (
    CounterfactualFlipRate,
    MeanCounterfactualScoreGap,
)
from keras_regkit.fairness.streaming.demographic_parity_difference import (
    DemographicParityDifference,
)
from keras_regkit.fairness.streaming.demographic_parity_ratio import DemographicParityRatio
from keras_regkit.fairness.streaming.equal_opportunity_difference import (
    EqualOpportunityDifference,
)
from keras_regkit.fairness.streaming.equal_opportunity_ratio import EqualOpportunityRatio
from keras_regkit.fairness.streaming.equalized_odds_difference import EqualizedOddsDifference
from keras_regkit.fairness.streaming.equalized_odds_ratio import EqualizedOddsRatio
from keras_regkit.fairness.streaming.false_positive_rate_difference import (
    FalsePositiveRateDifference,
)

__all__ = [
    "CounterfactualFlipRate",
    "MeanCounterfactualScoreGap",
    "DemographicParityDifference",
    "DemographicParityRatio",
    "EqualOpportunityDifference",
    "EqualOpportunityRatio",
    "EqualizedOddsDifference",
    "EqualizedOddsRatio",
    "FalsePositiveRateDifference",
]
