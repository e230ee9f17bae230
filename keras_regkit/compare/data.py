"""Data for `keras-regkit compare`: the bundled Adult data, or a CSV file, split and encoded."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from pathlib import Path

import numpy as np

# One-hot encoding a column with more distinct values than this (an id, free text)
# would add a feature per row; such columns are dropped, with a note.
MAX_CATEGORIES = 100
MIN_ROWS_PER_CLASS = 3
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test (CSV input)
ADULT_VALIDATION_FRACTION = 0.2


class DataError(ValueError):
    """The input data cannot be used (unreadable, a missing column, a non-binary target).

    `keras-regkit compare` prints the message and exits with code 2.
    """


@dataclasses.dataclass(frozen=True)
class TabularTask:
    """A binary classification task, split, encoded and ready for `compare`.

    Attributes:
        name: where the data came from, for the report.
        x_train, x_val, x_test: float32 features, standardized numerics and
            one-hot categoricals (statistics and categories of the training
            split).
        y_train, y_val, y_test: float32 labels in {0, 1}.
        groups_train, groups_val, groups_test: bool arrays, True for the
            sensitive group; None without a sensitive column.
        feature_names: the columns of `x`.
        target: the target column; `positive_label` is the value encoded as 1.
        sensitive: the sensitive column, or None.
        sensitive_group, reference_group: descriptions of the two groups.
        notes: what preprocessing did (dropped rows and columns).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    groups_train: np.ndarray | None
    groups_val: np.ndarray | None
    groups_test: np.ndarray | None
    feature_names: tuple[str, ...]
    target: str
    positive_label: str
    sensitive: str | None = None
    sensitive_group: str | None = None
    reference_group: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def limit_train_rows(self, max_rows: int, seed: int) -> TabularTask:
        """The task with a random, stratified subset of at most `max_rows` training rows."""
        if max_rows >= len(self.y_train):
            return self
        rng = np.random.default_rng(seed)
        keep = np.sort(_stratified_take(self.y_train, max_rows / len(self.y_train), rng))
        groups = None if self.groups_train is None else self.groups_train[keep]
        note = f"training rows limited to {len(keep):,} of {len(self.y_train):,}"
        return dataclasses.replace(
            self,
            x_train=self.x_train[keep],
            y_train=self.y_train[keep],
            groups_train=groups,
            notes=(*self.notes, note),
        )


def group_rule(
    values: np.ndarray, sensitive_group: str | None = None
) -> tuple[np.ndarray, str, str]:
    """Splits a sensitive column into a sensitive group and a reference group.

    With `sensitive_group`, the rows equal to it form the sensitive group and
    all others the reference. Otherwise the most frequent value is the
    reference group and every other value the sensitive group: the minority
    of a binary column ("Female" against "Male" on Adult), or "not White"
    against "White" for a many-valued one. Ties go to the first value in
    sorted order.

    Returns:
        `(is_sensitive, sensitive_description, reference_description)`.
    """
    values = np.asarray(values).astype(str)
    counts = Counter(values.tolist())
    if sensitive_group is not None:
        if sensitive_group not in counts:
            raise DataError(
                f"--sensitive-group {sensitive_group!r} does not occur in the sensitive column; "
                f"its values are {_preview(sorted(counts))}."
            )
        is_sensitive = values == sensitive_group
        if is_sensitive.all():
            raise DataError(
                f"every row has the sensitive value {sensitive_group!r}: fairness gaps need "
                "two groups."
            )
        others = sorted(set(counts) - {sensitive_group})
        reference = others[0] if len(others) == 1 else f"not {sensitive_group}"
        return is_sensitive, sensitive_group, reference
    if len(counts) < 2:
        raise DataError(
            f"the sensitive column has a single value ({_preview(sorted(counts))}): fairness "
            "gaps need two groups."
        )
    reference = sorted(counts, key=lambda v: (-counts[v], v))[0]
    others = sorted(set(counts) - {reference})
    description = others[0] if len(others) == 1 else f"not {reference}"
    return values != reference, description, reference


def load_adult_task(
    sensitive: str = "sex",
    sensitive_group: str | None = None,
    seed: int = 0,
) -> TabularTask:
    """The bundled UCI Adult data as a `TabularTask`.

    Adult's training file is split (stratified, by `seed`) into 80% training
    and 20% validation rows; Adult's test file is the test split. The label is
    income > 50K. `sensitive` is `"sex"` or `"race"` (see `group_rule`).
    """
    if sensitive not in ("sex", "race"):
        raise DataError(
            f"the bundled Adult data has the sensitive columns 'sex' and 'race'; received "
            f"--sensitive {sensitive!r}. Pass --data CSV for other data."
        )
    train, test = _load_adult()
    rng = np.random.default_rng(seed)
    val = np.zeros(len(train.y), dtype=bool)
    val[_stratified_take(train.y, ADULT_VALIDATION_FRACTION, rng)] = True
    values = np.concatenate([train.sensitive[sensitive], test.sensitive[sensitive]])
    groups, group_name, reference = group_rule(values, sensitive_group)
    groups_train, groups_test = groups[: len(train.y)], groups[len(train.y) :]
    y_train, y_test = train.y.astype("float32"), test.y.astype("float32")
    return TabularTask(
        name="UCI Adult (bundled; Becker & Kohavi 1996, CC BY 4.0)",
        x_train=train.x[~val],
        y_train=y_train[~val],
        x_val=train.x[val],
        y_val=y_train[val],
        x_test=test.x,
        y_test=y_test,
        groups_train=groups_train[~val],
        groups_val=groups_train[val],
        groups_test=groups_test,
        feature_names=tuple(train.feature_names),
        target="income",
        positive_label=">50K",
        sensitive=sensitive,
        sensitive_group=group_name,
        reference_group=reference,
    )


@functools.lru_cache(maxsize=1)
def _load_adult():
    # One parse per process: every repeat re-splits the same rows (the arrays are only read).
    from keras_regkit.datasets import load_adult

    return load_adult()


def load_csv_task(
    path: str | Path,
    target: str,
    sensitive: str | None = None,
    sensitive_group: str | None = None,
    positive: str | None = None,
    seed: int = 0,
) -> TabularTask:
    """Reads a CSV file into a `TabularTask`.

    - Rows with a missing target are dropped. The target must have exactly two
      values; `positive` (or else 1, True, or the larger of the two in sorted
      order, e.g. "yes" over "no" and ">50K" over "<=50K") is encoded as 1.
    - The rows are split 60/20/20 into training, validation and test rows,
      stratified by the target and shuffled by `seed`.
    - Every other column is a feature (the sensitive column included, as in
      `keras_regkit.datasets.load_adult`). Numeric columns are standardized
      with the training split's mean and standard deviation, missing values
      becoming the mean (0). Other columns are one-hot encoded with the
      categories of the training split (missing values are a category
      "(missing)"; unseen categories encode as zeros); a column with more than
      `MAX_CATEGORIES` categories is dropped with a note.
    - The sensitive column's groups follow `group_rule`.

    Raises:
        DataError: the file cannot be read as CSV, a column is missing, the
            target is not binary, or a class has fewer than 3 rows.
    """
    frame = _read_csv(path)
    columns = [str(c) for c in frame.columns]
    for option, column in (("--target", target), ("--sensitive", sensitive)):
        if column is not None and column not in columns:
            raise DataError(
                f"{option} column {column!r} is not in {path}; its columns are {_preview(columns)}."
            )
    notes = []
    missing_target = frame[target].isna().to_numpy()
    if missing_target.any():
        notes.append(f"dropped {int(missing_target.sum()):,} rows with a missing target")
        frame = frame[~missing_target].reset_index(drop=True)
    y, positive_label = _binary_target(frame[target], target, positive)
    for label in (0, 1):
        count = int((y == label).sum())
        if count < MIN_ROWS_PER_CLASS:
            raise DataError(
                f"the target {target!r} has {count} row(s) of one class; a train/validation/test "
                f"split needs at least {MIN_ROWS_PER_CLASS} rows of each class."
            )

    rng = np.random.default_rng(seed)
    test = _stratified_take(y, SPLIT_FRACTIONS[2], rng)
    rest = np.setdiff1d(np.arange(len(y)), test)
    val = rest[_stratified_take(y[rest], SPLIT_FRACTIONS[1] / (1 - SPLIT_FRACTIONS[2]), rng)]
    train = np.setdiff1d(rest, val)
    train, val, test = (rng.permutation(part) for part in (train, val, test))

    features = frame.drop(columns=[target])
    blocks, names = [], []
    for column in features.columns:
        encoded, column_names, note = _encode_column(features[column], str(column), train)
        if note:
            notes.append(note)
        if encoded is not None:
            blocks.append(encoded)
            names.extend(column_names)
    if not blocks:
        raise DataError(f"{path} has no usable feature columns besides the target {target!r}.")
    x = np.concatenate(blocks, axis=1).astype("float32")

    groups = group_name = reference = None
    if sensitive is not None:
        values = frame[sensitive].astype(object).where(frame[sensitive].notna(), "(missing)")
        groups, group_name, reference = group_rule(values.to_numpy(), sensitive_group)
    elif sensitive_group is not None:
        raise DataError("--sensitive-group needs --sensitive COLUMN.")

    def part(rows):
        return None if groups is None else groups[rows]

    return TabularTask(
        name=str(path),
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        x_test=x[test],
        y_test=y[test],
        groups_train=part(train),
        groups_val=part(val),
        groups_test=part(test),
        feature_names=tuple(names),
        target=target,
        positive_label=positive_label,
        sensitive=sensitive,
        sensitive_group=group_name,
        reference_group=reference,
        notes=tuple(notes),
    )


def _read_csv(path):
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading a CSV file needs pandas: `pip install keras-regkit[pandas]`."
        ) from error
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {str(path)!r}: no such file.")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise DataError(f"cannot read {str(path)!r} as CSV: the file is empty.") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"cannot read {str(path)!r} as CSV: {reason}") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"{str(path)!r} has duplicated column names: {_preview(duplicated)}.")
    if len(frame.columns) < 2 or len(frame) == 0:
        raise DataError(
            f"{str(path)!r} needs a header row, a target and at least one feature column, and "
            f"data rows; found {len(frame.columns)} column(s) and {len(frame)} row(s)."
        )
    return frame


def _binary_target(series, target: str, positive: str | None) -> tuple[np.ndarray, str]:
    import pandas as pd

    values = series.to_numpy()
    distinct = pd.unique(series)
    if len(distinct) != 2:
        raise DataError(
            f"the target {target!r} must be binary (exactly two values); it has "
            f"{len(distinct)}: {_preview(sorted(map(str, distinct)))}."
        )
    if positive is not None:
        matches = [v for v in distinct if str(v) == str(positive)]
        if not matches:
            raise DataError(
                f"--positive {positive!r} is not a value of the target {target!r}; its values "
                f"are {_preview(sorted(map(str, distinct)))}."
            )
        positive_value = matches[0]
    elif set(distinct.tolist()) <= {0, 1}:  # 0/1 and False/True
        positive_value = [v for v in distinct if v == 1][0]
    else:
        try:
            positive_value = sorted(distinct.tolist())[1]
        except TypeError:  # mixed types
            positive_value = sorted(distinct.tolist(), key=str)[1]
    return (values == positive_value).astype("float32"), str(positive_value)


def _encode_column(series, name: str, train_rows: np.ndarray):
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype="float64")
        train_values = values[train_rows]
        train_values = train_values[np.isfinite(train_values)]
        if len(train_values) == 0:
            return None, [], f"dropped column {name!r}: no numeric value in the training rows"
        mean, std = train_values.mean(), train_values.std()
        std = std if std > 0 else 1.0
        values = np.where(np.isfinite(values), values, mean)
        return ((values - mean) / std)[:, None], [name], None
    values = series.astype(object).where(series.notna(), "(missing)").astype(str).to_numpy()
    categories = sorted(set(values[train_rows].tolist()))
    if len(categories) > MAX_CATEGORIES:
        return (
            None,
            [],
            f"dropped column {name!r}: {len(categories):,} categories (more than "
            f"{MAX_CATEGORIES}) would each become a one-hot feature",
        )
    one_hot = values[:, None] == np.asarray(categories, dtype=object)[None, :]
    return one_hot, [f"{name}={c}" for c in categories], None


def _stratified_take(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a random `fraction` of each class of `y` (at least one per class)."""
    taken = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        count = min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        taken.append(rng.permutation(rows)[:count])
    return np.sort(np.concatenate(taken))


def _preview(values, limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"
