"""UCI Adult (Census Income), bundled with the package.

Source: Becker, B. & Kohavi, R. (1996). Adult. UCI Machine Learning Repository.
https://doi.org/10.24432/C5XW20 — licensed CC BY 4.0. The compressed copies in
`keras_regkit/datasets/data/` are the unmodified original files.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
NUMERIC_COLUMNS = (
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
)
CATEGORICAL_COLUMNS = (
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
)
SENSITIVE_COLUMNS = ("sex", "race")


class Split(NamedTuple):
    """One split of a tabular dataset.

    Attributes:
        x: features, a float32 array `(n, n_features)` (or a DataFrame with `as_frame=True`).
        y: binary labels, an int32 array `(n,)` (or a Series).
        sensitive: dict of sensitive attribute name -> string array `(n,)` (or a DataFrame).
        feature_names: tuple of the column names of `x`.
    """

    x: Any
    y: Any
    sensitive: Any
    feature_names: tuple


def _read_rows(filename: str) -> list[list[str]]:
    data = resources.files("keras_regkit.datasets").joinpath("data", filename).read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    rows = []
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if len(row) != len(COLUMNS):
            # Blank lines and the "|1x3 Cross validator" header of adult.test.
            continue
        row = [value.strip() for value in row]
        if "?" in row:
            continue
        row[-1] = row[-1].rstrip(".")
        rows.append(row)
    return rows


def load_adult(as_frame: bool = False, standardize: bool = True) -> tuple[Split, Split]:
    """Loads the UCI Adult census-income dataset bundled with keras_regkit.

    Rows with a missing value ("?") are dropped, which leaves 30,162 training and
    15,060 test rows. The label is 1 where income is ">50K". Numeric columns are
    standardised with the mean and standard deviation of the training split;
    categorical columns are one-hot encoded with the categories seen in the
    training split (a test category unseen in training encodes as all zeros).

    Dataset: Becker & Kohavi (1996), UCI Machine Learning Repository,
    https://doi.org/10.24432/C5XW20, CC BY 4.0.

    Args:
        as_frame: if True, return pandas objects (`x` a DataFrame, `y` a Series,
            `sensitive` a DataFrame). Requires pandas.
        standardize: if False, numeric columns keep their raw values.

    Returns:
        A tuple `(train, test)` of `Split(x, y, sensitive, feature_names)`.
        `sensitive` maps "sex" and "race" to their raw string values.

    Example:

    >>> train, test = load_adult()
    >>> train.x.shape, test.x.shape
    ((30162, 104), (15060, 104))
    >>> female = train.sensitive["sex"] == "Female"
    """
    train_rows = np.asarray(_read_rows("adult.data.gz"), dtype=object)
    test_rows = np.asarray(_read_rows("adult.test.gz"), dtype=object)
    index = {name: i for i, name in enumerate(COLUMNS)}

    numeric_train = train_rows[:, [index[c] for c in NUMERIC_COLUMNS]].astype(np.float64)
    mean = numeric_train.mean(axis=0) if standardize else np.zeros(len(NUMERIC_COLUMNS))
    std = numeric_train.std(axis=0) if standardize else np.ones(len(NUMERIC_COLUMNS))

    categories = {c: sorted(set(train_rows[:, index[c]])) for c in CATEGORICAL_COLUMNS}
    feature_names = list(NUMERIC_COLUMNS)
    for column in CATEGORICAL_COLUMNS:
        feature_names.extend(f"{column}={value}" for value in categories[column])

    def encode(rows: np.ndarray) -> Split:
        numeric = rows[:, [index[c] for c in NUMERIC_COLUMNS]].astype(np.float64)
        blocks = [(numeric - mean) / std]
        for column in CATEGORICAL_COLUMNS:
            values = rows[:, index[column]]
            blocks.append(values[:, None] == np.asarray(categories[column], dtype=object)[None, :])
        x = np.concatenate([b.astype(np.float32) for b in blocks], axis=1)
        y = (rows[:, index["income"]] == ">50K").astype(np.int32)
        sensitive = {c: rows[:, index[c]].astype(str) for c in SENSITIVE_COLUMNS}
        return Split(x, y, sensitive, tuple(feature_names))

    train, test = encode(train_rows), encode(test_rows)
    if as_frame:
        train, test = _to_frame(train), _to_frame(test)
    return train, test


def _to_frame(split: Split) -> Split:
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "`load_adult(as_frame=True)` requires pandas. Install it with "
            "`pip install keras-regkit[pandas]`."
        ) from error
    x = pd.DataFrame(split.x, columns=list(split.feature_names))
    y = pd.Series(split.y, name="income>50K")
    sensitive = pd.DataFrame(split.sensitive)
    return Split(x, y, sensitive, split.feature_names)
