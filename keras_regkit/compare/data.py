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
    warnings: tuple[str, ...] = ()  # likely leakage: shown first on the console and in the report

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def limit_train_rows(self, max_rows: int, seed: int) -> TabularTask:
        """The task with a random, stratified subset of at most `max_rows` training rows."""
        if max_rows >= len(self.y_train):
            return self
        rows = np.arange(len(self.y_train))
        try:
            keep = np.sort(_stratified_split(rows, self.y_train, max_rows, seed))
        except DataError:
            raise DataError(
                f"--max-train-rows {max_rows}: too few rows for a stratified subset (it needs "
                "at least one row of each class)."
            ) from None
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
    rows = np.arange(len(train.y))
    val = np.zeros(len(train.y), dtype=bool)
    n_val = int(round(ADULT_VALIDATION_FRACTION * len(rows)))
    val[_stratified_split(rows, train.y, len(rows) - n_val, seed, take="test")] = True
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
    drop: tuple[str, ...] = (),
    features: tuple[str, ...] | None = None,
) -> TabularTask:
    """Reads a CSV file into a `TabularTask`.

    - `features`, when given, are the only feature columns (the sensitive
      column, if not among them, still forms the groups); `drop` leaves columns out.
    - Rows with a missing target, or a missing sensitive value, are dropped
      with a note. The target must have exactly two
      values; `positive` (or else 1, True, or the larger of the two in sorted
      order, e.g. "yes" over "no" and ">50K" over "<=50K") is encoded as 1.
    - The rows are split 60/20/20 into training, validation and test rows,
      stratified by the target and shuffled by `seed` (scikit-learn's
      `train_test_split`).
    - Every other column is a feature (the sensitive column included, as in
      `keras_regkit.datasets.load_adult`), encoded by `encode_features` with
      the training split's statistics: numeric columns standardized (missing
      and inf values becoming the mean, 0), others one-hot encoded.
    - The sensitive column's groups follow `group_rule`.

    Raises:
        DataError: the file cannot be read as CSV, a column is missing, the
            target is not binary, or a class has fewer than 3 rows.
    """
    frame = _read_csv(path)
    columns = [str(c) for c in frame.columns]
    for column in drop:
        if column not in columns or column in (target, sensitive):
            raise DataError(
                f"--drop column {column!r} is not a feature column of {path}; its columns are "
                f"{_preview(columns)}."
            )
    if drop:
        frame = frame.drop(columns=list(drop))
        columns = [c for c in columns if c not in drop]
    if features is not None:
        for column in features:
            if column not in columns or column == target:
                raise DataError(
                    f"--features column {column!r} is not a feature column of {path}; its "
                    f"columns are {_preview(columns)}."
                )
        kept = [c for c in columns if c in features or c in (target, sensitive)]
        frame, columns = frame[kept], kept
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
    if sensitive is not None:
        missing_group = frame[sensitive].isna().to_numpy()
        if missing_group.any():
            notes.append(
                f"dropped {int(missing_group.sum()):,} rows with a missing {sensitive!r} (the "
                "sensitive attribute): they belong to neither group"
            )
            frame = frame[~missing_group].reset_index(drop=True)
    y, positive_label = _binary_target(frame[target], target, positive)
    for label in (0, 1):
        count = int((y == label).sum())
        if count < MIN_ROWS_PER_CLASS:
            raise DataError(
                f"the target {target!r} has {count} row(s) of one class; a train/validation/test "
                f"split needs at least {MIN_ROWS_PER_CLASS} rows of each class."
            )

    rows = np.arange(len(y))
    n_test = int(round(SPLIT_FRACTIONS[2] * len(y)))
    n_val = int(round(SPLIT_FRACTIONS[1] * len(y)))
    rest, test = _stratified_split(rows, y, len(y) - n_test, seed, take="both")
    train, val = _stratified_split(rest, y[rest], len(rest) - n_val, seed, take="both")

    inputs = frame.drop(columns=[target])
    if features is not None and sensitive not in features and sensitive is not None:
        inputs = inputs.drop(columns=[sensitive])
    warnings = _leakage_warnings(inputs, y, train)
    x, names, encode_notes = encode_features(inputs, train)
    notes.extend(encode_notes)
    if not names:
        raise DataError(f"{path} has no usable feature columns besides the target {target!r}.")

    groups = group_name = reference = None
    if sensitive is not None:
        values = frame[sensitive].astype(object)
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
        warnings=warnings,
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


def encode_features(frame, train_rows: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Encodes every column of `frame` with statistics of the rows `train_rows`.

    A scikit-learn `ColumnTransformer`, one transformer per column so the features keep the
    columns' order: numeric columns through `StandardScaler` (fit on the finite training
    values) and then 0 for a missing value (the training mean); inf counts as missing, with a
    note. Other columns through `OneHotEncoder` with the training categories (missing values
    are a category "(missing)"; unseen categories encode as zeros). A column with more than
    `MAX_CATEGORIES` categories, or without a numeric training value, is dropped with a note.

    Returns:
        `(x, feature_names, notes)`, `x` float32 of shape `(len(frame), len(feature_names))`.
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    notes, transformers, kinds = [], [], {}
    columns = {}
    for column in frame.columns:
        series, name = frame[column], str(column)
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype="float64")
            infinite = np.isinf(values)
            if infinite.any():
                count = int(infinite.sum())
                notes.append(f"column {name!r}: {count:,} inf cell(s) treated as missing")
                values = np.where(infinite, np.nan, values)
            if not np.isfinite(values[train_rows]).any():
                notes.append(f"dropped column {name!r}: no numeric value in the training rows")
                continue
            columns[name] = values
            kinds[name] = "numeric"
            transformers.append(
                (
                    name,
                    make_pipeline(
                        StandardScaler(),
                        SimpleImputer(strategy="constant", fill_value=0.0),
                    ),
                    [name],
                )
            )
            continue
        values = series.astype(object).where(series.notna(), "(missing)").astype(str).to_numpy()
        n_categories = len(set(values[train_rows].tolist()))
        if n_categories > MAX_CATEGORIES:
            notes.append(
                f"dropped column {name!r}: {n_categories:,} categories (more than "
                f"{MAX_CATEGORIES}) would each become a one-hot feature"
            )
            continue
        columns[name] = values
        kinds[name] = "categorical"
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float32")
        transformers.append((name, encoder, [name]))
    if not transformers:
        return np.zeros((len(frame), 0), "float32"), [], notes
    table = pd.DataFrame(columns)
    encoder = ColumnTransformer(transformers, sparse_threshold=0.0)
    encoder.fit(table.iloc[train_rows])
    x = np.asarray(encoder.transform(table), dtype="float32")
    names = []
    for name, fitted, _ in encoder.transformers_:
        if kinds.get(name) == "numeric":
            names.append(name)
        elif kinds.get(name) == "categorical":
            names.extend(f"{name}={category}" for category in fitted.categories_[0])
    return x, names, notes


LEAKAGE_AUC = 0.95


def _leakage_warnings(features, y: np.ndarray, train_rows: np.ndarray) -> tuple[str, ...]:
    """Names the columns that alone predict the target almost perfectly on the training rows.

    A column's AUC on the training rows: of its values for a numeric column, of its
    categories' training target rates for another; `max(auc, 1 - auc) >= LEAKAGE_AUC` (a copy
    of the target scores 1) makes it a likely leak: an ID that encodes the outcome, or a
    column recorded after it.
    """
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    y_train = y[train_rows]
    if len(np.unique(y_train)) < 2:
        return ()
    found = []
    for column in features.columns:
        series = features[column].iloc[train_rows]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype="float64")
            finite = np.isfinite(values)
            if not finite.any():
                continue
            values = np.where(finite, values, np.median(values[finite]))
        else:
            keys = series.astype(object).where(series.notna(), "(missing)").astype(str).to_numpy()
            rates = {k: y_train[keys == k].mean() for k in set(keys.tolist())}
            if len(rates) > MAX_CATEGORIES or len(rates) > len(keys) / 2:
                continue  # an identifier-like column: its per-value rates mean nothing
            values = np.array([rates[k] for k in keys])
        auc = roc_auc_score(y_train, values)
        auc = max(auc, 1 - auc)
        if auc >= LEAKAGE_AUC:
            found.append((str(column), auc))
    if not found:
        return ()
    names = ", ".join(f"{name!r} (AUC {auc:.3f})" for name, auc in found)
    drop = " ".join(name for name, _ in found)
    return (
        f"likely leakage: {names} alone predict the target on the training rows almost "
        f"perfectly (AUC >= {LEAKAGE_AUC}); if it is recorded after the outcome or copies it, "
        f"rerun with --drop {drop}",
    )


def _stratified_split(rows, y, n_first: int, seed: int, take: str = "train"):
    """A stratified, shuffled split of `rows` (scikit-learn's `train_test_split`).

    Returns the first part (`n_first` rows), the second (`take="test"`) or both.
    """
    from sklearn.model_selection import train_test_split

    try:
        first, second = train_test_split(
            rows, train_size=int(n_first), stratify=y, random_state=seed, shuffle=True
        )
    except ValueError as error:
        raise DataError(f"cannot split the rows by class: {error}") from None
    return {"train": first, "test": second, "both": (first, second)}[take]


def _preview(values, limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"
