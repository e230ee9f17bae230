import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_regkit import testing
from keras_regkit.min_diff import losses
from keras_regkit.min_diff.losses import (
    AbsoluteCorrelationLoss,
    AbsoluteDifferenceLoss,
    AdjustedMMDLoss,
    GaussianKernel,
    LaplacianKernel,
    MMDLoss,
    PredictionRateLoss,
)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# --- Independent NumPy references (float64, written from the formulas) -------------------


def np_kernel(kind, length, x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    diff = x[:, None, :] - x[None, :, :]
    if kind == "gaussian":
        return np.exp(-np.sum(diff**2, axis=-1) / length**2)
    return np.exp(-np.sqrt(np.sum((diff + 1e-8) ** 2, axis=-1)) / length)


def np_mmd(kind, length, membership, predictions, weights=None, adjusted=False):
    m = np.asarray(membership, np.float64).reshape(-1)
    w = np.ones_like(m) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    w = w / w.sum() if w.sum() > 0 else w
    k = np_kernel(kind, length, predictions)
    s, n = w * (m == 1), w * (m == 0)
    if s.sum() == 0 or n.sum() == 0:
        return 0.0
    ss = s @ k @ s / s.sum() ** 2
    nn = n @ k @ n / n.sum() ** 2
    sn = s @ k @ n / (s.sum() * n.sum())
    mmd = ss - 2 * sn + nn
    if not adjusted:
        return mmd

    def var_of_mean(g, mask, mean):
        var = (g * np.diag(k)).sum() / g.sum() - mean
        count = mask.sum()
        return var * (g**2).sum() / count / (count * (g.sum() / count) ** 2)

    var = var_of_mean(s, m == 1, ss) + var_of_mean(n, m == 0, nn)
    return mmd / (var + 1e-2)


def np_abs_corr(membership, predictions, weights=None):
    m = np.asarray(membership, np.float64).reshape(-1, 1)
    p = np.asarray(predictions, np.float64).reshape(len(m), -1)
    w = np.ones_like(m) if weights is None else np.asarray(weights, np.float64).reshape(-1, 1)
    w = w / w.sum()
    mm, mp = (w * m).sum(), (w * p).sum()
    cov = (w * (m - mm) * (p - mp)).sum()
    var_m, var_p = (w * (m - mm) ** 2).sum(), (w * (p - mp) ** 2).sum()
    return abs(cov / (np.sqrt(var_m + 1e-7) * np.sqrt(var_p + 1e-7)))


def np_group_gap(membership, values, weights=None):
    m = np.asarray(membership, np.float64).reshape(-1)
    v = np.asarray(values, np.float64).reshape(len(m), -1)
    w = np.ones_like(m) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    s, n = w * (m == 1), w * (m == 0)
    if s.sum() == 0 or n.sum() == 0:
        return 0.0
    return np.mean(np.abs(s @ v / s.sum() - n @ v / n.sum()))


RNG = np.random.default_rng(7)
MEMBERSHIP = (RNG.uniform(size=(30, 1)) > 0.6).astype("float32")
PREDICTIONS = RNG.uniform(size=(30, 2)).astype("float32")
WEIGHTS = RNG.uniform(0, 3, size=(30, 1)).astype("float32")


@pytest.mark.parametrize("kind", ["gaussian", "laplacian"])
@pytest.mark.parametrize("adjusted", [False, True])
@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_mmd_matches_numpy(kind, adjusted, weights):
    cls = AdjustedMMDLoss if adjusted else MMDLoss
    value = cls(kind)(MEMBERSHIP, PREDICTIONS, weights)
    expected = np_mmd(kind, 0.1, MEMBERSHIP, PREDICTIONS, weights, adjusted)
    testing.assert_allclose(value, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_abs_corr_matches_numpy(weights):
    value = AbsoluteCorrelationLoss()(MEMBERSHIP, PREDICTIONS, weights)
    testing.assert_allclose(value, np_abs_corr(MEMBERSHIP, PREDICTIONS, weights), atol=1e-6)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_absolute_difference_matches_numpy(weights):
    value = AbsoluteDifferenceLoss()(MEMBERSHIP, PREDICTIONS, weights)
    testing.assert_allclose(value, np_group_gap(MEMBERSHIP, PREDICTIONS, weights), atol=1e-6)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_prediction_rate_matches_numpy(weights):
    value = PredictionRateLoss(threshold=0.4, temperature=0.1)(MEMBERSHIP, PREDICTIONS, weights)
    soft = sigmoid((PREDICTIONS - 0.4) / 0.1)
    testing.assert_allclose(value, np_group_gap(MEMBERSHIP, soft, weights), atol=1e-6)


def test_prediction_rate_tends_to_hard_rate_gap():
    soft = PredictionRateLoss(threshold=0.5, temperature=1e-4)(MEMBERSHIP, PREDICTIONS[:, :1])
    hard = np_group_gap(MEMBERSHIP, PREDICTIONS[:, :1] > 0.5)
    testing.assert_allclose(soft, hard, atol=1e-4)


# --- TFMR's own golden values (tensorflow_model_remediation/min_diff/losses/*_test.py) ---

GOLDEN_MEMBERSHIP = [[1.0], [0.0], [1.0], [0.0], [1.0]]
GOLDEN_PREDICTIONS = [[0.3], [0.1], [0.86], [0.06], [0.75]]


@pytest.mark.parametrize(
    "loss,expected",
    [
        (MMDLoss("gaussian", predictions_transform="sigmoid"), 1.083264),
        (MMDLoss("laplace", predictions_transform="sigmoid"), 0.970659),
        (AbsoluteCorrelationLoss(), 0.823209),
    ],
)
def test_tfmr_golden_values(loss, expected):
    testing.assert_allclose(loss(GOLDEN_MEMBERSHIP, GOLDEN_PREDICTIONS), expected, atol=1e-6)


def test_tfmr_golden_multi_dim_weighted():
    loss = MMDLoss(predictions_transform="sigmoid")
    membership = [[1.0], [0.0], [1.0], [0.0], [1.0], [1.0], [0.0]]
    predictions = [
        [0.0, 0.5],
        [1.0, 0.0],
        [0.8, 0.0],
        [0.0, 0.8],
        [0.75, 0.8],
        [0.2, 0.4],
        [0.5, 0.1],
    ]
    weights = [[1.0], [1.0], [1.0], [1.0], [0.0], [0.0], [0.0]]
    testing.assert_allclose(loss(membership, predictions, weights), 0.262881, atol=1e-6)


# --- Parity with TFMR itself, run in a subprocess --------------------------------------


def _ours(case):
    name, kernel, length = str(case["loss"]), str(case["kernel"]), float(case["kernel_length"])
    kernel_obj = {"gaussian": GaussianKernel, "laplacian": LaplacianKernel}[kernel](length)
    return {
        "mmd": lambda: MMDLoss(kernel_obj),
        "adjusted_mmd": lambda: AdjustedMMDLoss(kernel_obj),
        "abs_corr": AbsoluteCorrelationLoss,
    }[name]()


def test_losses_equal_tfmr(tfmr_cases):
    cases, reference = tfmr_cases
    checked = 0
    for name, case in cases.items():
        if str(case["kind"]) != "loss":
            continue
        weights = case["sample_weight"] if bool(case["has_weight"]) else None
        value = _ours(case)(case["membership"], case["predictions"], weights)
        testing.assert_allclose(value, reference[name]["value"], atol=1e-5, rtol=1e-5, err_msg=name)
        checked += 1
    assert checked == 28


def test_kernels_equal_tfmr(tfmr_cases):
    cases, reference = tfmr_cases
    for name, case in cases.items():
        if str(case["kind"]) == "kernel":
            cls = {"gaussian": GaussianKernel, "laplacian": LaplacianKernel}[str(case["kernel"])]
            value = cls(float(case["kernel_length"]))(case["x"])
            testing.assert_allclose(value, reference[name]["value"], atol=1e-6, err_msg=name)


def test_loss_gradients_equal_tfmr(tfmr_cases):
    """d loss / d predictions equals TFMR's (through each backend's autodiff)."""
    cases, reference = tfmr_cases
    for name, case in cases.items():
        if str(case["kind"]) != "loss":
            continue
        weights = case["sample_weight"] if bool(case["has_weight"]) else None
        loss = _ours(case)
        grad = _gradient(
            lambda p, fn=loss, m=case["membership"], w=weights: fn(m, p, w), case["predictions"]
        )
        testing.assert_allclose(grad, reference[name]["grad"], atol=2e-5, rtol=1e-4, err_msg=name)


def _gradient(fn, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(np.asarray(x)))
    if backend == "torch":
        import torch

        t = torch.tensor(np.asarray(x), requires_grad=True)
        fn(t).backward()
        return t.grad.numpy()
    import tensorflow as tf

    v = tf.Variable(np.asarray(x))
    with tf.GradientTape() as tape:
        value = fn(v)
    return tape.gradient(value, v).numpy()


# --- Empty groups, zero weights, no NaN -------------------------------------------------


ALL_LOSSES = [
    MMDLoss(),
    MMDLoss("laplacian"),
    AdjustedMMDLoss(),
    AbsoluteCorrelationLoss(),
    AbsoluteDifferenceLoss(),
    PredictionRateLoss(),
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: loss.name)
@pytest.mark.parametrize("group", [0.0, 1.0])
def test_one_empty_group_gives_zero(loss, group):
    membership = np.full((6, 1), group, "float32")
    value = loss(membership, PREDICTIONS[:6])
    testing.assert_allclose(value, 0.0, atol=0)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: loss.name)
def test_zero_weights_give_zero(loss):
    value = loss(MEMBERSHIP, PREDICTIONS, np.zeros_like(WEIGHTS))
    testing.assert_allclose(value, 0.0, atol=0)


def test_zero_weight_group_counts_as_empty():
    weights = np.where(MEMBERSHIP == 1.0, 0.0, 1.0).astype("float32")
    testing.assert_allclose(MMDLoss()(MEMBERSHIP, PREDICTIONS, weights), 0.0, atol=0)


@pytest.mark.parametrize("loss", ALL_LOSSES[:3] + ALL_LOSSES[4:], ids=lambda loss: loss.name)
def test_tiny_weights_do_not_underflow(loss):
    """One example per group: the group means do not depend on the weights. Found by
    hypothesis: with weights (2233, 2.4e-16) TFMR's formula squares ~1e-19 normalized
    weights, which flush to 0 in float32, and the MMD came out as -1."""
    membership = np.array([[0.0], [1.0]], "float32")
    predictions = np.array([[0.2], [0.7]], "float32")
    tiny = np.array([[2233.0], [2.420164e-16]], "float32")
    testing.assert_allclose(
        loss(membership, predictions, tiny), loss(membership, predictions), atol=1e-6
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 12),
    d=st.integers(1, 3),
    data=st.data(),
)
def test_no_nan_or_inf_on_any_input(n, d, data):
    """Finite predictions within +-1e4, any 0/1 membership, any non-negative weights."""
    predictions = data.draw(
        hnp.arrays("float32", (n, d), elements=st.floats(-1e4, 1e4, width=32, allow_nan=False))
    )
    membership = data.draw(hnp.arrays("float32", (n, 1), elements=st.sampled_from([0.0, 1.0])))
    weights = data.draw(
        hnp.arrays("float32", (n, 1), elements=st.floats(0.0, 1e4, width=32, allow_nan=False))
    )
    for loss in ALL_LOSSES:
        value = float(keras.ops.convert_to_numpy(loss(membership, predictions, weights)))
        assert np.isfinite(value), (loss.name, predictions, membership, weights)
        # MMD is a difference of kernel means, so float32 rounding can make it slightly
        # negative; AdjustedMMDLoss divides that rounding by its 0.01 variance floor.
        tolerance = 1e-4 if isinstance(loss, AdjustedMMDLoss) else 1e-6
        assert value >= -tolerance, (loss.name, value)


# --- Errors ---------------------------------------------------------------------------


def test_membership_outside_zero_one():
    with pytest.raises(ValueError, match=r"`membership` must be 1.0 .* Received values: \[0.5"):
        MMDLoss()([[0.5], [1.0]], [[0.1], [0.2]])


def test_negative_sample_weight():
    with pytest.raises(ValueError, match="`sample_weight` must be finite and non-negative"):
        MMDLoss()([[0.0], [1.0]], [[0.1], [0.2]], [[1.0], [-1.0]])


def test_mismatched_batch_sizes():
    with pytest.raises(ValueError, match="must have the same batch size"):
        MMDLoss()([[0.0], [1.0], [1.0]], [[0.1], [0.2]])
    with pytest.raises(ValueError, match="`sample_weight` and `predictions` must have the same"):
        MMDLoss()([[0.0], [1.0]], [[0.1], [0.2]], [1.0, 1.0, 1.0])


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"`membership` of shape \[batch\] or \[batch, 1\]"):
        MMDLoss()(np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"predictions of shape \[batch\] or \[batch, d\]"):
        MMDLoss()(np.zeros((2, 1)), np.zeros((2, 1, 1)))


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown MinDiff loss name for argument `loss`"):
        losses.get("mmdd")
    with pytest.raises(ValueError, match="Unknown kernel name for argument `kernel`"):
        MMDLoss("cosine")
    with pytest.raises(ValueError, match="expected a MinDiff loss name"):
        losses.get(3)


@pytest.mark.parametrize("length", [0, -1.0, "0.1", None])
def test_bad_kernel_length(length):
    with pytest.raises(ValueError, match="`kernel_length`: expected a positive float"):
        GaussianKernel(length)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"temperature": 0.0}, "`temperature`: expected a positive float"),
        ({"threshold": "high"}, "`threshold`: expected a finite float"),
    ],
)
def test_prediction_rate_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PredictionRateLoss(**kwargs)


def test_lambda_transform_refused():
    with pytest.raises(ValueError, match="Lambdas and plain functions are refused"):
        MMDLoss(predictions_transform=lambda p: p)


# --- Names and serialization -----------------------------------------------------------


@pytest.mark.parametrize(
    "name,cls",
    [
        ("mmd", MMDLoss),
        ("MMD", MMDLoss),
        ("maximum_mean_discrepancy", MMDLoss),
        ("adjusted_mmd", AdjustedMMDLoss),
        ("abs_corr", AbsoluteCorrelationLoss),
        ("absolute_correlation", AbsoluteCorrelationLoss),
        ("absolute_difference", AbsoluteDifferenceLoss),
        ("prediction_rate", PredictionRateLoss),
    ],
)
def test_get_by_name(name, cls):
    assert type(losses.get(name)) is cls


@pytest.mark.parametrize(
    "loss",
    [
        MMDLoss(LaplacianKernel(0.3), predictions_transform="sigmoid", name="m"),
        AdjustedMMDLoss(),
        AbsoluteCorrelationLoss(),
        AbsoluteDifferenceLoss(),
        PredictionRateLoss(0.3, 0.2),
        GaussianKernel(0.2),
        LaplacianKernel(0.4, tile_input=False),
    ],
)
def test_serialization(loss):
    revived = testing.run_serialization_test(loss)
    if not isinstance(loss, (GaussianKernel, LaplacianKernel)):
        testing.assert_allclose(revived(MEMBERSHIP, PREDICTIONS), loss(MEMBERSHIP, PREDICTIONS))
