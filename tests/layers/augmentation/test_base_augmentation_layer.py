"""Behaviour every augmentation layer shares: tf.data on any backend, inference, seeds."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_regkit import testing
from tests.layers.augmentation import token_references
from tests.layers.augmentation.layer_zoo import BATCH, IMAGE_LAYERS, IMAGES, TOKEN_LAYERS

TOKENS, MASK, _ = token_references.token_batch()
# Two batches of the canonical (8, 12) token shape, as in the harness tests.
TWO_BATCHES = np.concatenate([TOKENS, TOKENS[::-1]]), np.concatenate([MASK, MASK[::-1]])


def test_tf_data_pipeline_on_this_backend():
    """`dataset.map(layer)` runs on every backend (through tf.numpy_function off
    TensorFlow) and draws the same numbers as an eager call with the same seed."""
    for cls, kwargs in IMAGE_LAYERS:
        dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(4).map(cls(seed=3, **kwargs))
        batches = [b.numpy() for b in dataset]
        assert [b.shape for b in batches] == [(4, 8, 8, 3)] * 2, cls.__name__
        assert all(b.dtype == np.float32 for b in batches)
        eager = cls(seed=3, **kwargs)
        for batch, images in zip(batches, (IMAGES[:4], IMAGES[4:]), strict=True):
            expected = eager(images, training=True)
            testing.assert_allclose(batch, expected, atol=1e-3, err_msg=cls.__name__)
    # Single images and dicts of images and masks.
    dataset = tf.data.Dataset.from_tensor_slices(
        {"images": IMAGES, "segmentation_masks": IMAGES[..., :1].astype("int32")}
    ).map(IMAGE_LAYERS[-2][0](seed=0))
    element = next(iter(dataset))
    assert element["images"].shape == (8, 8, 3) and element["segmentation_masks"].dtype == tf.int32

    for cls, kwargs in TOKEN_LAYERS:
        dataset = tf.data.Dataset.from_tensor_slices(TWO_BATCHES).batch(8)
        layer = cls(seed=3, **kwargs)
        batches = [b.numpy() for b in dataset.map(lambda t, m, layer=layer: layer(t, mask=m))]
        assert [b.dtype for b in batches] == [np.int32] * 2, cls.__name__
        eager = cls(seed=3, **kwargs)
        for batch, rows in zip(batches, (slice(0, 8), slice(8, 16)), strict=True):
            expected = eager(TWO_BATCHES[0][rows], mask=TWO_BATCHES[1][rows], training=True)
            np.testing.assert_array_equal(batch, expected, err_msg=cls.__name__)


def test_identity_at_inference_inside_a_model():
    for cls, kwargs in IMAGE_LAYERS + TOKEN_LAYERS:
        data = TOKENS if cls in dict(TOKEN_LAYERS) else BATCH
        layer = cls(seed=0, **kwargs)
        model = keras.Sequential([keras.Input(data.shape[1:], dtype=str(data.dtype)), layer])
        testing.assert_allclose(model.predict(data, verbose=0), data, err_msg=cls.__name__)
        testing.assert_allclose(layer(data, training=False), data, err_msg=cls.__name__)
        # An eager model call passes training=False to the layer through Keras's call context.
        testing.assert_allclose(model(data, training=False), data, err_msg=cls.__name__)
        # Direct calls augment, like Keras's own preprocessing layers.
        augmented = ops.convert_to_numpy(layer(data, training=True))
        assert not np.array_equal(augmented, data), cls.__name__


def test_unspecified_training_augments_alone_but_not_in_a_model():
    """`training=None`: a layer on its own augments (Keras's preprocessing-layer default);
    once placed in a model, `model(x)` and export's serving call (which pass no `training`)
    get the inputs back, as `keras.layers.Dropout` does. Keras's `RandomFlip` would flip."""
    for cls, kwargs in IMAGE_LAYERS + TOKEN_LAYERS:
        data = TOKENS if cls in dict(TOKEN_LAYERS) else BATCH
        alone = ops.convert_to_numpy(cls(seed=0, **kwargs)(data))
        assert not np.array_equal(alone, data), cls.__name__
        layer = cls(seed=0, **kwargs)
        model = keras.Sequential([keras.Input(data.shape[1:], dtype=str(data.dtype)), layer])
        testing.assert_allclose(model(data), data, err_msg=cls.__name__)
        testing.assert_allclose(layer(data), data, err_msg=cls.__name__)
        testing.assert_allclose(
            model(data, training=True),
            cls(seed=0, **kwargs)(data, training=True),
            atol=1e-3,
            err_msg=cls.__name__,
        )
    flip = keras.layers.RandomFlip(seed=0)
    flip_model = keras.Sequential([keras.Input(BATCH.shape[1:]), flip])
    assert not np.array_equal(ops.convert_to_numpy(flip_model(BATCH)), BATCH)


def test_invalid_seed():
    for cls, kwargs in IMAGE_LAYERS + TOKEN_LAYERS:
        with pytest.raises(ValueError, match="Invalid value for argument `seed`"):
            cls(seed=1.5, **kwargs)
