import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.datasets import load_adult

# Backend-independent (NumPy / subprocess / docs): runs in the jax run only, see tests/conftest.py.
pytestmark = pytest.mark.one_backend


@pytest.fixture(scope="module")
def adult():
    return load_adult()


def test_row_counts(adult):
    train, test = adult
    assert train.x.shape == (30162, 104)
    assert test.x.shape == (15060, 104)
    assert train.y.shape == (30162,) and test.y.shape == (15060,)
    assert train.x.dtype == np.float32 and train.y.dtype == np.int32


def test_base_rates_by_sex(adult):
    # The documented rates (0.313, 0.114) hold to 1e-3 on the training rows
    # (0.3138, 0.1137) and on all 45,222 rows (0.3125, 0.1136).
    train, test = adult
    all_y = np.concatenate([train.y, test.y])
    all_sex = np.concatenate([train.sensitive["sex"], test.sensitive["sex"]])
    for y, sex in ((train.y, train.sensitive["sex"]), (all_y, all_sex)):
        assert abs(y[sex == "Male"].mean() - 0.313) < 1e-3
        assert abs(y[sex == "Female"].mean() - 0.114) < 1e-3


def test_numeric_columns_standardised_on_train(adult):
    train, test = adult
    numeric = train.x[:, :6].astype(np.float64)
    np.testing.assert_allclose(numeric.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(numeric.std(axis=0), 1.0, atol=1e-4)
    # The test split uses the train statistics, so it is not exactly standardised.
    assert np.abs(test.x[:, :6].mean(axis=0)).max() > 1e-4


def test_one_hot_blocks(adult):
    train, _ = adult
    names = train.feature_names
    assert names[:6] == (
        "age",
        "fnlwgt",
        "education-num",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
    )
    for column in ("workclass", "education", "sex", "race"):
        idx = [i for i, n in enumerate(names) if n.startswith(column + "=")]
        np.testing.assert_array_equal(train.x[:, idx].sum(axis=1), 1.0)
    female = names.index("sex=Female")
    np.testing.assert_array_equal(train.x[:, female], train.sensitive["sex"] == "Female")


def test_raw_values_without_standardisation():
    train, _ = load_adult(standardize=False)
    assert train.x[0, 0] == 39.0  # age of the first row of adult.data


def test_as_frame(adult):
    pd = pytest.importorskip("pandas")  # pandas is in the dev extra; the test always runs in CI
    train, test = load_adult(as_frame=True)
    assert isinstance(train.x, pd.DataFrame) and list(train.x.columns) == list(train.feature_names)
    np.testing.assert_array_equal(train.x.to_numpy(), adult[0].x)
    assert set(train.sensitive.columns) == {"sex", "race"}
    assert train.y.name == "income>50K" and int(test.y.sum()) == int(adult[1].y.sum())


def test_trains_through_harness(adult):
    """The loader's outputs feed a Keras model that fits and reloads identically."""
    train, test = adult

    def build_model():
        inputs = keras.Input(shape=(train.x.shape[1],))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))

    model = testing.run_model_test(
        build_model,
        train.x[:2048],
        train.y[:2048].astype("float32"),
        compile_kwargs={"loss": "binary_crossentropy"},
        batch_size=256,
        predict_data=test.x[:256],
    )
    assert np.all(np.isfinite(model.predict(test.x[:256], verbose=0)))
