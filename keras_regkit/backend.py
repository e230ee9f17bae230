"""The one module with backend-specific code.

Everything else in keras_regkit uses `keras.ops`. Framework modules are imported
lazily inside functions, so `import keras_regkit` never imports TensorFlow when
KERAS_BACKEND is jax or torch.
"""

from __future__ import annotations

import sys
from typing import Any


def is_tf_dataset(data: Any) -> bool:
    """True for a `tf.data.Dataset`, without importing TensorFlow."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)
