import numpy as np
import pandas as pd
import pytest

from keras_regkit.compare import DataError, group_rule, load_adult_task, load_csv_task
from keras_regkit.compare import data as data_module

pytestmark = pytest.mark.one_backend  # the compare engine is backend-independent


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    label = np.where(rng.random(n) < 0.3, "yes", "no")
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(),
            "color": rng.choice(["red", "green", "blue"], n),
            "group": rng.choice(["a", "b"], n, p=[0.75, 0.25]),
            "label": label,
        }
    )


def _write(path, text):
    path.write_text(text)
    return path


def _csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_group_rule_binary_column_minority_is_sensitive():
    values = np.array(["Male"] * 5 + ["Female"] * 3)
    groups, sensitive, reference = group_rule(values)
    np.testing.assert_array_equal(groups, values == "Female")
    assert (sensitive, reference) == ("Female", "Male")


def test_group_rule_many_values_most_frequent_against_the_rest():
    values = np.array(["White"] * 5 + ["Black"] * 2 + ["Asian"])
    groups, sensitive, reference = group_rule(values)
    np.testing.assert_array_equal(groups, values != "White")
    assert (sensitive, reference) == ("not White", "White")


def test_group_rule_explicit_group_and_ties():
    values = np.array(["x", "y", "z", "z"])
    groups, sensitive, reference = group_rule(values, sensitive_group="y")
    np.testing.assert_array_equal(groups, [False, True, False, False])
    assert (sensitive, reference) == ("y", "not y")
    # A tie for the most frequent value goes to the first in sorted order.
    groups, sensitive, reference = group_rule(np.array(["b", "a", "b", "a"]))
    assert (sensitive, reference) == ("b", "a")


@pytest.mark.parametrize(
    "values, group, message",
    [
        (["a", "a"], None, "the sensitive column has a single value"),
        (["a", "b"], "c", "--sensitive-group 'c' does not occur"),
        (["a", "a"], "a", "every row has the sensitive value 'a'"),
    ],
)
def test_group_rule_errors(values, group, message):
    with pytest.raises(DataError, match=message):
        group_rule(np.array(values), group)


def test_encode_numeric_column_with_training_statistics():
    series = pd.Series([1.0, 3.0, np.nan, 10.0, 20.0])
    train = np.array([0, 1, 2])
    encoded, names, notes = data_module.encode_features(pd.DataFrame({"v": series}), train)
    # Mean 2 and std 1 of the finite training values; a missing value becomes the mean.
    np.testing.assert_allclose(encoded[:, 0], [-1.0, 1.0, 0.0, 8.0, 18.0])
    assert names == ["v"] and notes == []
    # inf is missing too, with a note.
    series = pd.Series([1.0, 3.0, np.inf, 10.0, -np.inf])
    encoded, _, notes = data_module.encode_features(pd.DataFrame({"v": series}), train)
    np.testing.assert_allclose(encoded[:, 0], [-1.0, 1.0, 0.0, 8.0, 0.0])
    assert notes == ["column 'v': 2 inf cell(s) treated as missing"]


def test_encode_categorical_column_with_training_categories():
    series = pd.Series(["b", "a", None, "c", "a"])
    train = np.array([0, 1, 2])
    encoded, names, _ = data_module.encode_features(pd.DataFrame({"k": series}), train)
    assert names == ["k=(missing)", "k=a", "k=b"]
    np.testing.assert_array_equal(
        encoded, [[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]]
    )  # "c" is unseen in training: all zeros


def test_high_cardinality_column_is_dropped_with_a_note():
    series = pd.Series([f"id{i}" for i in range(150)])
    frame = pd.DataFrame({"id": series, "n": np.arange(150.0)})
    encoded, names, [note] = data_module.encode_features(frame, np.arange(150))
    assert encoded.shape == (150, 1) and names == ["n"]
    assert "dropped column 'id': 150 categories" in note


def test_load_csv_split_encoding_and_determinism(tmp_path):
    frame = _frame()
    path = _csv(tmp_path, frame)
    task = load_csv_task(path, target="label", sensitive="group", seed=0)
    sizes = len(task.y_train), len(task.y_val), len(task.y_test)
    assert sum(sizes) == 200 and sizes == (120, 40, 40)
    # Stratified: each split has the class balance of the data (within one row).
    positives = (frame["label"] == "yes").sum()
    for y, size in zip((task.y_train, task.y_val, task.y_test), sizes, strict=True):
        assert abs(y.sum() - positives * size / 200) <= 1
    assert task.positive_label == "yes"
    assert task.feature_names == (
        "age",
        "color=blue",
        "color=green",
        "color=red",
        "group=a",
        "group=b",
    )
    np.testing.assert_allclose(task.x_train[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(task.x_train[:, 0].std(), 1.0, atol=1e-5)
    assert (task.sensitive_group, task.reference_group) == ("b", "a")
    # The groups follow the (one-hot) sensitive column row by row.
    np.testing.assert_array_equal(task.groups_test, task.x_test[:, 5] == 1)
    again = load_csv_task(path, target="label", sensitive="group", seed=0)
    np.testing.assert_array_equal(again.x_train, task.x_train)
    other = load_csv_task(path, target="label", sensitive="group", seed=1)
    assert not np.array_equal(other.x_train, task.x_train)


@pytest.mark.parametrize(
    "values, positive, expected",
    [
        (["no", "yes"], None, "yes"),
        ([0, 1], None, "1"),
        ([True, False], None, "True"),
        ([">50K", "<=50K"], None, ">50K"),
        (["no", "yes"], "no", "no"),
    ],
)
def test_positive_label(tmp_path, values, positive, expected):
    frame = pd.DataFrame({"x": np.arange(20.0), "t": [values[i % 2] for i in range(20)]})
    task = load_csv_task(_csv(tmp_path, frame), target="t", positive=positive)
    assert task.positive_label == expected
    assert task.sensitive is None and task.groups_train is None


def test_rows_with_missing_target_are_dropped(tmp_path):
    frame = _frame(60)
    frame.loc[:4, "label"] = None
    task = load_csv_task(_csv(tmp_path, frame), target="label")
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == 55
    assert task.notes == ("dropped 5 rows with a missing target",)


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (lambda p: p / "missing.csv", {}, "no such file"),
        (lambda p: _write(p / "e.csv", ""), {}, "the file is empty"),
        (
            lambda p: _write(p / "r.csv", "a,label\n1,yes\n1,2,3,4\n"),
            {},
            "as CSV: Error tokenizing data",
        ),
        (lambda p: _csv(p, _frame()), {"target": "nope"}, "--target column 'nope' is not in"),
        (
            lambda p: _csv(p, _frame()),
            {"sensitive": "sex"},
            "--sensitive column 'sex' is not in",
        ),
        (
            lambda p: _csv(p, _frame()),
            {"target": "color"},
            r"the target 'color' must be binary \(exactly two values\); it has 3",
        ),
        (
            lambda p: _csv(p, _frame().assign(label="no")),
            {},
            "it has 1",
        ),
        (
            lambda p: _csv(p, _frame(20).assign(label=["yes"] * 2 + ["no"] * 18)),
            {},
            "has 2 row\\(s\\) of one class",
        ),
        (lambda p: _csv(p, _frame()), {"positive": "maybe"}, "--positive 'maybe' is not a value"),
        (
            lambda p: _csv(p, _frame()),
            {"sensitive_group": "a"},
            "--sensitive-group needs --sensitive COLUMN",
        ),
        (
            lambda p: _csv(p, _frame()[["label"]]),
            {},
            "needs a header row, a target and at least one feature column",
        ),
    ],
)
def test_load_csv_errors(tmp_path, make, kwargs, message):
    arguments = {"target": "label"}
    arguments.update(kwargs)
    with pytest.raises(DataError, match=message):
        load_csv_task(make(tmp_path), **arguments)


def test_load_adult_task():
    task = load_adult_task(seed=0)
    assert len(task.y_train) + len(task.y_val) == 30_162 and len(task.y_test) == 15_060
    assert abs(len(task.y_val) - 0.2 * 30_162) <= 2
    assert (task.sensitive_group, task.reference_group) == ("Female", "Male")
    sex_female = task.feature_names.index("sex=Female")
    np.testing.assert_array_equal(task.groups_val, task.x_val[:, sex_female] == 1)
    race = load_adult_task(sensitive="race", seed=0)
    assert (race.sensitive_group, race.reference_group) == ("not White", "White")
    with pytest.raises(DataError, match="the bundled Adult data has the sensitive columns"):
        load_adult_task(sensitive="age")
    small = task.limit_train_rows(300, seed=0)
    assert len(small.y_train) == 300 and len(small.groups_train) == 300
    assert abs(small.y_train.mean() - task.y_train.mean()) < 0.01  # stratified
    assert small.notes[-1] == f"training rows limited to 300 of {len(task.y_train):,}"


def test_leaking_columns_are_named_with_the_drop_line(tmp_path):
    frame = _frame()
    rng = np.random.default_rng(1)
    frame["copy"] = frame["label"]  # a copy of the target
    frame["after"] = (frame["label"] == "yes") * 3.0 + rng.normal(0, 0.1, len(frame))
    path = _csv(tmp_path, frame)
    task = load_csv_task(path, target="label", sensitive="group", seed=0)
    [warning] = task.warnings
    assert warning.startswith("likely leakage: 'copy' (AUC 1.000), 'after' (AUC 1.000) alone")
    assert warning.endswith("rerun with --drop copy after")
    assert "'age'" not in warning and "'color'" not in warning
    clean = load_csv_task(path, target="label", sensitive="group", seed=0, drop=("copy", "after"))
    assert clean.warnings == () and not any(
        n.startswith(("copy", "after")) for n in clean.feature_names
    )
    assert load_csv_task(_csv(tmp_path, _frame(), "plain.csv"), target="label").warnings == ()
    with pytest.raises(DataError, match="--drop column 'label' is not a feature column"):
        load_csv_task(path, target="label", drop=("label",))


def test_rows_with_a_missing_sensitive_value_are_dropped_with_a_note(tmp_path):
    frame = _frame(60)
    frame.loc[:2, "group"] = None  # before, they silently joined the sensitive group
    task = load_csv_task(_csv(tmp_path, frame), target="label", sensitive="group")
    kept = frame.iloc[3:]
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == len(kept)
    assert task.notes == (
        "dropped 3 rows with a missing 'group' (the sensitive attribute): they belong to "
        "neither group",
    )
    n_sensitive = task.groups_train.sum() + task.groups_val.sum() + task.groups_test.sum()
    assert n_sensitive == (kept["group"] == task.sensitive_group).sum()


def test_features_selects_the_feature_columns(tmp_path):
    path = _csv(tmp_path, _frame())
    task = load_csv_task(path, target="label", sensitive="group", features=("age",))
    assert task.feature_names == ("age",)  # the sensitive column still forms the groups
    assert task.groups_train is not None and task.groups_train.any()
    both = load_csv_task(path, target="label", sensitive="group", features=("age", "group"))
    assert both.feature_names == ("age", "group=a", "group=b")
    full = load_csv_task(path, target="label", sensitive="group")
    np.testing.assert_array_equal(
        task.x_train[:, 0], full.x_train[:, full.feature_names.index("age")]
    )
    for features in (("nope",), ("label",)):
        with pytest.raises(DataError, match=f"--features column '{features[0]}' is not a feature"):
            load_csv_task(path, target="label", features=features)
