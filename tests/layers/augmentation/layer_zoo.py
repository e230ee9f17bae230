"""One small configuration of every augmentation layer and canonical test data.

The harness tests and the shared tests use these configurations and shapes, so
that on JAX they reuse each other's compiled calls.
"""

import numpy as np

from keras_regkit import testing
from keras_regkit.layers import (
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

IMAGES = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
BATCH = IMAGES[:4]

CONFIGS = {
    AutoAugment: {"policy": "svhn"},
    GridMask: {"ratio_factor": (0.3, 0.6), "rotation_factor": 0.1},
    RandomMotionBlur: {"kernel_size": (3, 5)},
    RandomMedianBlur: {"factor": 0.5},
    RandomGridDistortion: {"factor": 0.5},
    RandomRotate90: {},
    RandomTranspose: {"factor": 0.5},
    RandomTokenDeletion: {"rate": 0.3},
    RandomTokenSwap: {"rate": 0.3},
    RandomTokenInsertion: {"rate": 0.3, "synonyms": {3: [30, 31]}},
    RandomSynonymReplacement: {"synonyms": {t: [t + 50] for t in range(1, 40)}, "rate": 0.5},
}
IMAGE_LAYERS = [(cls, CONFIGS[cls]) for cls in list(CONFIGS)[:7]]
TOKEN_LAYERS = [(cls, CONFIGS[cls]) for cls in list(CONFIGS)[7:]]


def run_harness(cls, data, **kwargs):
    """The shared harness on the canonical configuration of `cls`."""
    return testing.run_layer_test(
        cls,
        dict(CONFIGS[cls], seed=1),
        data,
        expected_output_shape=data.shape,
        random=True,
        **kwargs,
    )
