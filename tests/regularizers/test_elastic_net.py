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


@pytest.mark.parametrize("factor", [-0.1, "0.1", True, float("nan"), float("inf")])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match=r"`factor`: expected a non-negative float. Received"):
        ElasticNet(factor=factor)


@pytest.mark.parametrize("l1_ratio", [-0.1, 1.5, None, True, float("nan")])
def test_bad_l1_ratio(l1_ratio):
    with pytest.raises(ValueError, match=r"`l1_ratio`: expected a float in \[0, 1\]. Received"):
        ElasticNet(l1_ratio=l1_ratio)


def test_sklearn_mapping_in_the_docstring():
    """sklearn's optimum minimises MSE + ElasticNet(alpha (1 + rho), 2 rho / (1 + rho))."""
    from sklearn.linear_model import ElasticNet as SKElasticNet

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    y = x @ np.array([1.5, 0.0, -2.0, 0.0, 0.3, 0.0]) + 0.5 + 0.1 * rng.normal(size=200)
    alpha, rho = 0.1, 0.7
    sk = SKElasticNet(alpha=alpha, l1_ratio=rho, tol=1e-12, max_iter=100_000).fit(x, y)
    penalty = ElasticNet(factor=alpha * (1 + rho), l1_ratio=2 * rho / (1 + rho))

    def objective(w, b):
        mse = np.mean((y - x @ w - b) ** 2)
        return mse + float(keras.ops.convert_to_numpy(penalty(w.astype("float32"))))

    best = objective(sk.coef_, sk.intercept_)
    assert np.count_nonzero(sk.coef_) < 6  # the L1 part is active
    for i in range(6):
        for delta in (1e-2, -1e-2):
            w = sk.coef_.copy()
            w[i] += delta
            assert objective(w, sk.intercept_) > best - 1e-6
    # A wrong mapping (the old `factor = 2 * alpha`) is not stationary at sklearn's optimum.
    wrong = ElasticNet(factor=2 * alpha, l1_ratio=rho)
    w = sk.coef_.copy()
    values = []
    for delta in np.linspace(-0.05, 0.05, 11):
        w2 = w.copy()
        w2[0] += delta
        mse = np.mean((y - x @ w2 - sk.intercept_) ** 2)
        values.append(mse + float(wrong(w2.astype("float32"))))
    assert int(np.argmin(values)) != 5
