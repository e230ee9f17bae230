import keras
import numpy as np
import pytest

from keras_regkit import regularizers, testing
from keras_regkit.regularizers import ElasticNet


def reference(factor, l1_ratio):
    return lambda w: factor * (l1_ratio * np.abs(w).sum() + (1 - l1_ratio) * np.square(w).sum())


@pytest.mark.parametrize("factor,l1_ratio", [(0.01, 0.5), (0.1, 0.0), (0.03, 1.0)])
def test_harness(factor, l1_ratio):
    testing.run_regularizer_test(ElasticNet(factor, l1_ratio), reference(factor, l1_ratio))


def test_equals_keras_l1l2():
    w = np.random.default_rng(0).normal(size=(5, 7)).astype("float32")
    ours = ElasticNet(0.2, l1_ratio=0.3)(w)
    theirs = keras.regularizers.L1L2(l1=0.2 * 0.3, l2=0.2 * 0.7)(w)
    testing.assert_allclose(ours, theirs, atol=1e-6)


def test_get():
    assert isinstance(regularizers.get("elastic_net"), ElasticNet)
    assert isinstance(regularizers.get("l2"), keras.regularizers.L2)
    config = regularizers.serialize(ElasticNet(0.2, 0.1))
    assert regularizers.get(config).get_config() == {"factor": 0.2, "l1_ratio": 0.1}
    with pytest.raises(ValueError, match="Could not interpret"):
        regularizers.get(3)


@pytest.mark.parametrize("factor", [-0.1, "0.1", True])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match=r"`factor`: expected a non-negative float. Received"):
        ElasticNet(factor=factor)


@pytest.mark.parametrize("l1_ratio", [-0.1, 1.5, None])
def test_bad_l1_ratio(l1_ratio):
    with pytest.raises(ValueError, match=r"`l1_ratio`: expected a float in \[0, 1\]. Received"):
        ElasticNet(l1_ratio=l1_ratio)
