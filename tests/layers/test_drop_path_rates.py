import numpy as np
import pytest

from keras_regkit.layers import drop_path_rates

pytestmark = pytest.mark.one_backend


def _timm(drop_path_rate, depth):
    # timm: dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
    return [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]


@pytest.mark.parametrize("num_blocks, max_rate", [(12, 0.1), (24, 0.4), (5, 0.2), (1, 0.3)])
def test_linear_matches_timm(num_blocks, max_rate):
    rates = drop_path_rates(num_blocks, max_rate)
    assert all(isinstance(rate, float) for rate in rates)
    np.testing.assert_allclose(rates, _timm(max_rate, num_blocks), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rates, np.linspace(0, max_rate, num_blocks), rtol=0, atol=0)
    assert rates[0] == 0.0 and (num_blocks == 1 or rates[-1] == max_rate)


def test_constant():
    assert drop_path_rates(3, 0.25, schedule="constant") == [0.25, 0.25, 0.25]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_blocks": 0, "max_rate": 0.1}, "num_blocks"),
        ({"num_blocks": 2.0, "max_rate": 0.1}, "num_blocks"),
        ({"num_blocks": 4, "max_rate": 1.0}, "max_rate"),
        ({"num_blocks": 4, "max_rate": -0.1}, "max_rate"),
        ({"num_blocks": 4, "max_rate": 0.1, "schedule": "cosine"}, "schedule"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"Invalid value for argument `{argument}`: expected"):
        drop_path_rates(**kwargs)
