"""Augmentation layers Keras lacks: images (AutoAugment, GridMask, ...) and token ids (EDA)."""

from keras_regkit.layers.augmentation.auto_augment import AutoAugment
from keras_regkit.layers.augmentation.grid_mask import GridMask
from keras_regkit.layers.augmentation.random_grid_distortion import RandomGridDistortion
from keras_regkit.layers.augmentation.random_median_blur import RandomMedianBlur
from keras_regkit.layers.augmentation.random_motion_blur import RandomMotionBlur
from keras_regkit.layers.augmentation.random_rotate90 import RandomRotate90
from keras_regkit.layers.augmentation.random_synonym_replacement import RandomSynonymReplacement
from keras_regkit.layers.augmentation.random_token_deletion import RandomTokenDeletion
from keras_regkit.layers.augmentation.random_token_insertion import RandomTokenInsertion
from keras_regkit.layers.augmentation.random_token_swap import RandomTokenSwap
from keras_regkit.layers.augmentation.random_transpose import RandomTranspose

__all__ = [
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
