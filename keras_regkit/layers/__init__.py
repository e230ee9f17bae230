"""keras_regkit.layers."""

from keras_regkit.layers import augmentation
from keras_regkit.layers.augmentation import (
    AutoAugment,
    GridMask,
    RandomGridDistortion,
    RandomMedianBlur,
    RandomMotionBlur,
    RandomRotate90,
    RandomSynonymReplacement,
    RandomTokenDeletion,
    RandomTokenInsertion,
    RandomTokenSwap,
    RandomTranspose,
)
from keras_regkit.layers.drop_block_2d import DropBlock2D
from keras_regkit.layers.drop_connect_dense import DropConnectDense
from keras_regkit.layers.noisy_dense import NoisyDense
from keras_regkit.layers.stochastic_depth import DropPath, StochasticDepth, drop_path_rates
from keras_regkit.layers.tabular_mix_up import TabularMixUp
from keras_regkit.layers.weight_normalization import WeightNormalization

__all__: list[str] = [
    "augmentation",
    "AutoAugment",
    "GridMask",
    "RandomGridDistortion",
    "RandomMedianBlur",
    "RandomMotionBlur",
    "RandomRotate90",
    "RandomSynonymReplacement",
    "RandomTokenDeletion",
    "RandomTokenInsertion",
    "RandomTokenSwap",
    "RandomTranspose",
    "DropBlock2D",
    "DropConnectDense",
    "DropPath",
    "drop_path_rates",
    "NoisyDense",
    "StochasticDepth",
    "TabularMixUp",
    "WeightNormalization",
]
