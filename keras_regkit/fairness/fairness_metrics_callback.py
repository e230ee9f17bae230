"""`FairnessMetricsCallback`: group fairness metrics on held-out data, every epoch."""

from __future__ import annotations

import numbers
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

from keras_regkit import _validation
from keras_regkit.backend import is_tf_dataset
from keras_regkit.fairness import _grouping

_DEFAULT_METRICS = ("demographic_parity_difference", "equalized_odds_difference")
# Computed from the scores on `counterfactual_x` as well as on `x`.
_COUNTERFACTUAL_METRICS = ("counterfactual_flip_rate", "mean_counterfactual_score_gap")
_ALL_METRICS = (*_grouping.METRIC_NAMES, *_COUNTERFACTUAL_METRICS)
_DATA_HELP = (
    "expected a tuple `(x, y, sensitive_features)` or `(x, y, sensitive_features, "
    "sample_weight)` of arrays (x may be a dict or list of arrays), or a tf.data.Dataset, "
    "keras.utils.PyDataset or torch DataLoader yielding such tuples"
)


def _to_numpy(value: Any) -> Any:
    def convert(leaf):
        if hasattr(leaf, "to_numpy"):  # pandas
            return leaf.to_numpy()
        if isinstance(leaf, np.ndarray):
            return leaf
        return np.asarray(keras.ops.convert_to_numpy(leaf))

    if isinstance(value, dict):
        return {key: convert(leaf) for key, leaf in value.items()}
    return convert(value)


def _num_samples(x: Any) -> int:
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise ValueError(f"Invalid value for argument `validation_data`: {_DATA_HELP}. x is empty.")
    return int(np.shape(leaves[0])[0])


def _concatenate(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return np.concatenate(parts)


def _is_dataset(data: Any) -> bool:
    if is_tf_dataset(data) or isinstance(data, keras.utils.PyDataset):
        return True
    # torch DataLoader and other re-iterable batch sources; a generator could only
    # be read once, so it is refused below.
    # Arrays, tensors and DataFrames iterate too, but over rows: not a dataset.
    return (
        hasattr(data, "__iter__")
        and not isinstance(data, (tuple, list, dict, str))
        and not hasattr(data, "shape")
    )


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    # 0 for no weight, as `keras.metrics.Mean` and the streaming counterfactual metrics.
    total = float(np.sum(weights))
    return float(np.sum(weights * values) / total) if total > 0 else 0.0


def _group_key(group: Any) -> str:
    parts = group if isinstance(group, tuple) else (group,)

    def fmt(part):
        if isinstance(part, float) and part.is_integer():
            part = int(part)
        return re.sub(r"[^A-Za-z0-9_.\-]", "_", str(part))

    return ".".join(fmt(part) for part in parts)


def _structure(value: Any) -> str:
    return repr(keras.tree.map_structure(lambda leaf: type(leaf).__name__, value))


@keras.saving.register_keras_serializable(package="keras_regkit")
class FairnessMetricsCallback(keras.callbacks.Callback):
    """Computes group fairness metrics on held-out data at the end of each epoch.

    At every epoch end the callback predicts on `validation_data`, turns the
    scores into labels with `threshold`, computes each metric of `metrics`
    with the functions of `keras_regkit.fairness` (Fairlearn's definitions:
    Bird et al., "Fairlearn: A toolkit for assessing and improving fairness in
    AI", 2020) and writes it into the epoch `logs` as `prefix + name`, e.g.
    `val_demographic_parity_difference`. Every callback that reads the logs
    after it sees the values: `History`, `ProgbarLogger`, `CSVLogger`,
    `TensorBoard`, `EarlyStopping(monitor="val_equalized_odds_difference")`,
    `MultiMetricEarlyStopping`... Put this callback before them in the
    `callbacks` list.

    Metric names: `demographic_parity_difference`, `demographic_parity_ratio`,
    `equal_opportunity_difference`, `equal_opportunity_ratio`,
    `equalized_odds_difference`, `equalized_odds_ratio`,
    `true_positive_rate_difference`, `true_positive_rate_ratio`,
    `false_positive_rate_difference`, `false_positive_rate_ratio`, and the
    overall rates `selection_rate`, `true_positive_rate`,
    `false_positive_rate`. If the model predicts NaN or infinite scores, every
    value of that epoch is logged as NaN (with a warning) rather than
    interrupting training.

    Counterfactual metrics (Kusner et al., "Counterfactual Fairness", NeurIPS
    2017; Garg et al., AIES 2019): given `counterfactual_x`, the same
    validation rows with only the sensitive attribute changed (e.g. by
    `keras_regkit.counterfactual.swap_sensitive_columns`), the callback also
    predicts on it and logs `counterfactual_flip_rate` (the weighted share of
    rows whose thresholded decision changes) and
    `mean_counterfactual_score_gap` (the weighted mean of `|score(x) -
    score(counterfactual_x)|`), as `keras_regkit.fairness`'s functions of the
    same names compute them; with `per_group`, also per group, e.g.
    `val_counterfactual_flip_rate/female`. A group whose weights are all 0
    gets 0 for these two, as the streaming metrics do.

    `callback.compute()` returns the same values for the model's current
    weights, outside `fit`.

    `get_config()` holds every argument except `validation_data`: data arrays
    are not configuration. Rebuild a callback with
    `FairnessMetricsCallback(validation_data=data, **config)`; one built by
    `from_config(config)` has no data and raises at the start of training
    until you set `callback.validation_data`.

    Args:
        validation_data: `(x, y, sensitive_features)` or `(x, y,
            sensitive_features, sample_weight)`: `x` the model inputs (array,
            or dict/list of arrays for multi-input models), `y` binary labels,
            `sensitive_features` one or several columns (array, 2D array, dict
            of columns or pandas objects; several columns form intersectional
            groups). Or a `tf.data.Dataset`, `keras.utils.PyDataset` or torch
            `DataLoader` yielding such tuples batch by batch; it is read once
            per epoch, in one pass, so shuffling is harmless.
        counterfactual_x: optional model inputs with the structure and number
            of rows of `validation_data`'s `x` (arrays only): row `i` is row
            `i` of `x` with only the sensitive attribute changed. Like
            `validation_data`, it is data, not configuration.
        metrics: list of metric names (see above). Defaults to
            `["demographic_parity_difference", "equalized_odds_difference"]`,
            followed by `["counterfactual_flip_rate",
            "mean_counterfactual_score_gap"]` when `counterfactual_x` is given.
        threshold: float; scores above it are positive predictions (0.5 for
            probabilities, 0.0 for logits).
        prefix: string prepended to every logged name.
        batch_size: batch size for `model.predict` on array data (None: the
            Keras default of 32). Must be None for datasets, which are batched
            already.
        per_group: if True, also log each group's rates as
            `prefix + rate + "/" + group`, e.g. `val_selection_rate/female`
            (intersectional groups are joined with ".", e.g. `female.black`;
            characters other than letters, digits, `_`, `.` and `-` become
            `_`).
        output_key: which output holds the scores when the model has several:
            a dict key or a list index. Not needed for single-output models.
        method: `"between_groups"` (default) or `"to_overall"`, for every
            difference and ratio metric.
        agg: `"worst_case"` (default) or `"mean"`, for the equalized odds
            metrics.

    Example:

    ```python
    callback = keras_regkit.callbacks.FairnessMetricsCallback(
        validation_data=(x_val, y_val, sex_val),
        metrics=["demographic_parity_difference", "equalized_odds_difference"],
    )
    history = model.fit(
        x, y, epochs=10,
        callbacks=[callback, keras.callbacks.CSVLogger("log.csv")],
    )
    history.history["val_demographic_parity_difference"]

    # Counterfactual rows: the one-hot sex columns swapped.
    x_val_cf = keras_regkit.counterfactual.swap_sensitive_columns(x_val, [i_female, i_male])
    callback = keras_regkit.callbacks.FairnessMetricsCallback(
        validation_data=(x_val, y_val, sex_val), counterfactual_x=x_val_cf
    )
    model.fit(x, y, epochs=10, callbacks=[callback])  # also logs val_counterfactual_flip_rate
    ```
    """

    def __init__(
        self,
        validation_data: Any = None,
        metrics: Sequence[str] | None = None,
        threshold: float = 0.5,
        prefix: str = "val_",
        batch_size: int | None = None,
        per_group: bool = False,
        output_key: str | int | None = None,
        method: str = "between_groups",
        agg: str = "worst_case",
        counterfactual_x: Any = None,
    ):
        super().__init__()
        if metrics is None:
            metrics = _DEFAULT_METRICS + (
                _COUNTERFACTUAL_METRICS if counterfactual_x is not None else ()
            )
        if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
            raise ValueError(
                "Invalid value for argument `metrics`: expected a non-empty list of metric "
                f"names from {list(_ALL_METRICS)}. Received: metrics={metrics!r}"
            )
        unknown = [name for name in metrics if name not in _ALL_METRICS]
        if unknown:
            raise ValueError(
                "Invalid value for argument `metrics`: expected names from "
                f"{list(_ALL_METRICS)}. Received unknown name(s) {unknown} in "
                f"metrics={list(metrics)!r}"
            )
        if not isinstance(prefix, str):
            raise ValueError(
                "Invalid value for argument `prefix`: expected a string. "
                f"Received: prefix={prefix!r}"
            )
        batch_size = _validation.check_int("batch_size", batch_size, 1, allow_none=True)
        per_group = _validation.check_bool("per_group", per_group)
        if output_key is not None and (
            isinstance(output_key, bool) or not isinstance(output_key, (str, numbers.Integral))
        ):
            raise ValueError(
                "Invalid value for argument `output_key`: expected a string (dict output "
                "name), an integer (list output index) or None. "
                f"Received: output_key={output_key!r}"
            )
        self.metrics = list(metrics)
        self.threshold = _grouping.check_threshold(threshold, allow_none=False)
        self.prefix = prefix
        self.batch_size = batch_size
        self.per_group = per_group
        self.output_key = output_key
        self.method = _grouping.check_method(method)
        self.agg = _grouping.check_agg(agg)
        self._counterfactual_x = counterfactual_x
        self._warned_single_group = False
        self.validation_data = validation_data  # checks counterfactual_x too
        self._check_counterfactual(required=True)

    @property
    def counterfactual_x(self) -> Any:
        return self._counterfactual_x

    @counterfactual_x.setter
    def counterfactual_x(self, value: Any) -> None:
        self._counterfactual_x = value
        self._check_counterfactual()

    @property
    def validation_data(self) -> Any:
        return self._validation_data

    @validation_data.setter
    def validation_data(self, data: Any) -> None:
        self._validation_data = data
        self._arrays = None
        if data is None:
            return
        if isinstance(data, (tuple, list)):
            self._arrays = self._check_arrays(data)
            self._check_counterfactual()
            return
        if not _is_dataset(data):
            raise ValueError(
                f"Invalid value for argument `validation_data`: {_DATA_HELP}. "
                f"Received: validation_data of type {type(data).__name__}"
            )
        if isinstance(data, Iterator):  # a generator or iterator: read once only
            raise ValueError(
                f"Invalid value for argument `validation_data`: {_DATA_HELP}. Received a "
                f"one-shot iterator ({type(data).__name__}), which would be exhausted after "
                "the first epoch."
            )
        if self.batch_size is not None:
            raise ValueError(
                "Invalid value for argument `batch_size`: expected None when `validation_data` "
                f"is a dataset, which is already batched. Received: batch_size={self.batch_size}"
            )
        self._check_counterfactual()

    def _check_counterfactual(self, required: bool = False) -> None:
        """`counterfactual_x` against `validation_data` and `metrics`, once both are known.

        A missing `counterfactual_x` is only an error when `required` (at construction
        and before predicting): the setters must allow replacing the data and its
        counterfactual one after the other.
        """
        counterfactual_x = self._counterfactual_x
        data = self._validation_data
        if data is None:
            return  # a callback rebuilt from its config: checked when the data is set
        wanted = [name for name in self.metrics if name in _COUNTERFACTUAL_METRICS]
        if counterfactual_x is None:
            if wanted and required:
                raise _validation.invalid(
                    "counterfactual_x",
                    f"the counterfactual of validation_data's x for the metric(s) {wanted}",
                    received="counterfactual_x=None",
                )
            return
        if self._arrays is None:
            raise _validation.invalid(
                "counterfactual_x",
                "None when `validation_data` is a dataset (counterfactual inputs are read "
                "with array validation data `(x, y, sensitive_features)`)",
                received=f"counterfactual_x of type {type(counterfactual_x).__name__} with "
                f"validation_data of type {type(data).__name__}",
            )
        x = self._arrays[0]
        try:
            keras.tree.assert_same_structure(x, counterfactual_x)
        except (ValueError, TypeError):
            raise _validation.invalid(
                "counterfactual_x",
                "the structure of validation_data's x",
                received=f"x={_structure(x)}, counterfactual_x={_structure(counterfactual_x)}",
            ) from None
        for leaf, cf_leaf in zip(
            keras.tree.flatten(x), keras.tree.flatten(counterfactual_x), strict=True
        ):
            if np.shape(leaf) != np.shape(cf_leaf):
                raise _validation.invalid(
                    "counterfactual_x",
                    f"arrays of the shapes of validation_data's x, such as {np.shape(leaf)}",
                    received=f"an array of shape {np.shape(cf_leaf)}",
                )
        if not wanted:
            raise _validation.invalid(
                "metrics",
                f"at least one of {list(_COUNTERFACTUAL_METRICS)} when `counterfactual_x` is "
                "given (it would not be read otherwise)",
                received=f"metrics={self.metrics!r}",
            )

    def _check_arrays(self, data: Sequence[Any]):
        if len(data) not in (3, 4):
            raise ValueError(
                f"Invalid value for argument `validation_data`: {_DATA_HELP}. "
                f"Received: a {type(data).__name__} of length {len(data)}"
            )
        x, y, sensitive = data[:3]
        labels = _grouping.check_labels("y", y)
        num_samples = len(labels)
        if num_samples == 0:
            raise ValueError(
                "Invalid value for argument `validation_data`: expected at least one sample. "
                "Received: an empty y"
            )
        if _num_samples(x) != num_samples:
            raise ValueError(
                f"Invalid value for argument `validation_data`: expected x and y with the same "
                f"number of samples. Received: {_num_samples(x)} in x and {num_samples} in y"
            )
        weights = _grouping.check_sample_weight(data[3] if len(data) == 4 else None, num_samples)
        names, groups, ids = _grouping.encode(sensitive, num_samples)
        return x, labels, weights, names, groups, ids

    def _read_dataset(self):
        batches = (
            (self._validation_data[i] for i in range(len(self._validation_data)))
            if isinstance(self._validation_data, keras.utils.PyDataset)
            else iter(self._validation_data)
        )
        scores, labels, sensitive, weights = [], [], [], []
        for batch in batches:
            if not isinstance(batch, (tuple, list)) or len(batch) not in (3, 4):
                raise ValueError(
                    f"Invalid value for argument `validation_data`: {_DATA_HELP}. Received a "
                    f"batch of type {type(batch).__name__}"
                    + (f" with {len(batch)} elements" if isinstance(batch, (tuple, list)) else "")
                )
            # NumPy inputs work with every backend (e.g. torch batches under JAX).
            x = keras.tree.map_structure(_to_numpy, batch[0])
            scores.append(self._scores(self.model.predict_on_batch(x)))
            labels.append(np.reshape(_to_numpy(batch[1]), (len(scores[-1]), -1)))
            sensitive.append(_to_numpy(batch[2]))
            weights.append(
                np.reshape(_to_numpy(batch[3]), (-1,))
                if len(batch) == 4
                else np.ones(len(scores[-1]))
            )
        if not scores:
            raise ValueError(
                "Invalid value for argument `validation_data`: the dataset yielded no batch."
            )
        labels = _grouping.check_labels("y", np.concatenate(labels))
        weights = _grouping.check_sample_weight(np.concatenate(weights), len(labels))
        names, groups, ids = _grouping.encode(_concatenate(sensitive), len(labels))
        return np.concatenate(scores), labels, weights, names, groups, ids

    def _scores(self, outputs: Any) -> np.ndarray:
        if isinstance(outputs, dict):
            if self.output_key is None and len(outputs) == 1:
                outputs = next(iter(outputs.values()))
            elif self.output_key not in outputs:
                raise ValueError(
                    "Invalid value for argument `output_key`: expected one of the model's "
                    f"outputs {sorted(outputs)}. Received: output_key={self.output_key!r}"
                )
            else:
                outputs = outputs[self.output_key]
        elif isinstance(outputs, (list, tuple)):
            if self.output_key is None and len(outputs) == 1:
                outputs = outputs[0]
            elif not isinstance(self.output_key, int) or not -len(outputs) <= self.output_key < len(
                outputs
            ):
                raise ValueError(
                    "Invalid value for argument `output_key`: expected the index of one of the "
                    f"model's {len(outputs)} outputs. Received: output_key={self.output_key!r}"
                )
            else:
                outputs = outputs[self.output_key]
        scores = np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim != 1:
            raise ValueError(
                "FairnessMetricsCallback expected one score per sample from the model, shape "
                f"(num_samples,) or (num_samples, 1). Received: predictions with shape "
                f"{scores.shape}. For a model with several outputs, set `output_key`."
            )
        return scores

    def compute(self) -> dict[str, float]:
        """Predicts on `validation_data` and returns the values this callback logs."""
        if self._validation_data is None:
            raise ValueError(
                "FairnessMetricsCallback has no `validation_data` (a callback rebuilt from its "
                "config holds none). Set `callback.validation_data = (x, y, sensitive_features)`."
            )
        self._check_counterfactual(required=True)
        counterfactual_scores = None
        if self._arrays is not None:
            x, labels, weights, names, groups, ids = self._arrays
            scores = self._scores(self.model.predict(x, batch_size=self.batch_size, verbose=0))
            if self._counterfactual_x is not None:
                counterfactual_scores = self._scores(
                    self.model.predict(
                        self._counterfactual_x, batch_size=self.batch_size, verbose=0
                    )
                )
        else:
            scores, labels, weights, names, groups, ids = self._read_dataset()
        if len(scores) != len(labels):
            raise ValueError(
                f"The model returned {len(scores)} predictions for {len(labels)} samples of "
                "`validation_data`."
            )
        finite = bool(np.all(np.isfinite(scores))) and (
            counterfactual_scores is None or bool(np.all(np.isfinite(counterfactual_scores)))
        )
        if not finite:
            warnings.warn(
                "FairnessMetricsCallback: the model predicted NaN or infinite scores; "
                "logging NaN for every fairness metric of this epoch.",
                stacklevel=2,
            )
        counts = _grouping.counts_from_ids(
            labels, scores > self.threshold, weights, ids, names, groups
        )
        per_pair = {}
        if counterfactual_scores is not None:
            per_pair = {
                "counterfactual_flip_rate": (scores > self.threshold)
                != (counterfactual_scores > self.threshold),
                "mean_counterfactual_score_gap": np.abs(scores - counterfactual_scores),
            }
        if not self._warned_single_group and any(
            name in _grouping.DISPARITIES for name in self.metrics
        ):
            # Once per callback: the data is the same every epoch.
            self._warned_single_group = _grouping.warn_if_single_group(
                counts, "FairnessMetricsCallback"
            )
        values = {}
        for name in self.metrics:
            if name in _COUNTERFACTUAL_METRICS:
                values[self.prefix + name] = _weighted_mean(per_pair[name], weights)
            else:
                values[self.prefix + name] = _grouping.metric_from_counts(
                    name, counts, self.method, self.agg
                )
        if self.per_group:
            keys = [_group_key(group) for group in groups]
            if len(set(keys)) != len(keys):  # labels that only differ in dropped characters
                keys = [f"group_{i}" for i in range(len(groups))]
            by_group = _grouping.rates(counts)
            rates = dict.fromkeys(
                r
                for name in self.metrics
                if name not in _COUNTERFACTUAL_METRICS
                for r in _grouping.rates_used_by(name)
            )
            for rate in rates:
                for key, value in zip(keys, by_group[rate], strict=True):
                    values[f"{self.prefix}{rate}/{key}"] = float(value)
            for name in self.metrics:
                if name in _COUNTERFACTUAL_METRICS:
                    for index, key in enumerate(keys):
                        in_group = ids == index
                        values[f"{self.prefix}{name}/{key}"] = _weighted_mean(
                            per_pair[name][in_group], weights[in_group]
                        )
        if not finite:
            values = dict.fromkeys(values, float("nan"))
        return values

    def on_train_begin(self, logs=None):
        if self._validation_data is None:
            self.compute()  # raises the explanation

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.update(self.compute())

    def get_config(self):
        return {
            "metrics": list(self.metrics),
            "threshold": self.threshold,
            "prefix": self.prefix,
            "batch_size": self.batch_size,
            "per_group": self.per_group,
            "output_key": self.output_key,
            "method": self.method,
            "agg": self.agg,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FairnessMetricsCallback:
        return cls(**config)
