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
]
