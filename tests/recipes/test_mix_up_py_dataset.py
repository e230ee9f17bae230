import keras
import numpy as np
import pytest
from scipy import stats

from keras_regkit import testing
from keras_regkit.recipes import MixUpPyDataset

N, D = 50, 6


def _epoch(data):
    batches = [data[i] for i in range(len(data))]
    data.on_epoch_end()
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


def test_unmixed_batches_are_a_shuffled_pass():
    x = np.arange(N * D, dtype="float32").reshape(N, D)
    y = np.arange(N, dtype="float32")
    data = MixUpPyDataset(x, y, alpha=None, batch_size=16, seed=0)
    assert len(data) == 4
    assert [len(data[i][0]) for i in range(4)] == [16, 16, 16, 2]
    first_x, first_y = _epoch(data)
    second_x, second_y = _epoch(data)
    # Every example exactly once per epoch, rows kept with their labels.
    assert sorted(first_y.tolist()) == list(range(N))
    np.testing.assert_array_equal(first_x, x[first_y.astype(int)])
    assert not np.array_equal(first_y, second_y)  # reshuffled
    unshuffled = MixUpPyDataset(x, y, alpha=None, batch_size=16, shuffle=False)
    np.testing.assert_array_equal(_epoch(unshuffled)[1], y)


def test_mixed_batches_are_convex_combinations_with_shared_weights():
    # One-hot rows make every mixed row reveal its two sources and its weight;
    # linear labels y = x @ v stay linear under MixUp only if x and y share weights.
    x = np.eye(N, dtype="float32")
    v = np.random.default_rng(0).normal(size=(N, 2)).astype("float32")
    y = x @ v
    data = MixUpPyDataset(x, y, alpha=0.4, batch_size=20, seed=1)
    mixed_x, mixed_y = _epoch(data)
    np.testing.assert_allclose(mixed_y, mixed_x @ v, atol=1e-5)
    np.testing.assert_allclose(mixed_x.sum(axis=1), 1.0, atol=1e-5)
    assert ((mixed_x > 1e-6).sum(axis=1) <= 2).all()
    assert (mixed_x >= -1e-7).all()
    assert (mixed_x.max(axis=1) < 1 - 1e-3).mean() > 0.5  # mixing happened


def test_partners_come_from_the_same_batch_and_weights_follow_beta():
    n, batch_size, alpha = 4000, 100, 0.3
    x = np.arange(n, dtype="float64")[:, None]  # the example's id
    data = MixUpPyDataset(x, np.zeros(n), alpha=alpha, batch_size=batch_size, seed=0)
    order, partners, weights = data._order, data._order[data._partners], data._weights
    for index in range(len(data)):
        rows = slice(index * batch_size, (index + 1) * batch_size)
        assert set(partners[rows]) == set(order[rows])  # a permutation of the batch
        expected = weights[rows] * order[rows] + (1 - weights[rows]) * partners[rows]
        np.testing.assert_allclose(data[index][0][:, 0], expected)
    # The mixing weights are Beta(alpha, alpha) samples (Kolmogorov-Smirnov test).
    assert stats.kstest(weights, stats.beta(alpha, alpha).cdf).pvalue > 0.01


def test_same_seed_same_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = (rng.random(N) > 0.5).astype("int32")  # binary integer labels may be mixed
    a = MixUpPyDataset(x, y, alpha=0.2, batch_size=8, seed=3)
    b = MixUpPyDataset(x, y, alpha=0.2, batch_size=8, seed=3)
    for _ in range(2):
        for left, right in zip(_epoch(a), _epoch(b), strict=True):
            np.testing.assert_array_equal(left, right)
    c = MixUpPyDataset(x, y, alpha=0.2, batch_size=8, seed=4)
    assert not np.array_equal(_epoch(a)[0], _epoch(c)[0])


def test_fits_a_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, D)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")

    def build():
        return keras.Sequential([keras.Input((D,)), keras.layers.Dense(1, "sigmoid")])

    data = MixUpPyDataset(x, y, alpha=0.2, batch_size=16, seed=0)
    testing.run_fit_steps(build, data, None, compile_kwargs={"loss": "binary_crossentropy"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "`batch_size`: expected an int >= 1. Received: batch_size=0"),
        ({"shuffle": "yes"}, "`shuffle`: expected a bool. Received: shuffle='yes'"),
        ({"seed": 1.0}, "`seed`: expected an int or None >= 0. Received: seed=1.0"),
        ({"alpha": -1.0}, "`alpha`: expected a positive float or None. Received: alpha=-1.0"),
        ({"x": np.zeros(4)}, r"`x`: expected an array of shape \(n, n_features\)"),
        ({"y": np.zeros(3)}, r"`y`: expected an array of shape \(n,\) or \(n, k\)"),
        ({"y": np.array([0, 1, 2, 1])}, "`y`: MixUp averages labels, so integer class ids"),
        ({"x": np.array([[0, 1], [np.nan, 0], [0, 0], [1, 1]])}, "`x`: expected finite values"),
        ({"y": np.array(["a", "b", "a", "b"])}, r"`y`: expected a numeric array"),
        ({"alpha": np.float32(np.inf)}, "`alpha`: expected a positive float or None"),
    ],
)
def test_validates_arguments(kwargs, message):
    arguments = {"x": np.zeros((4, 2)), "y": np.zeros(4)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"Invalid value for argument {message}"):
        MixUpPyDataset(**arguments)
