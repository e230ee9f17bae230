"""MinDiffClassifier: a scikit-learn classifier that trains a Keras model with MinDiff."""

from __future__ import annotations

import copy
from typing import Any

import keras
import numpy as np
from keras.wrappers import SKLearnClassifier

from keras_regkit import _validation
from keras_regkit.min_diff import losses as min_diff_losses
from keras_regkit.min_diff.min_diff_model import MinDiffModel
from keras_regkit.min_diff.min_diff_py_dataset import MinDiffPyDataset


class MinDiffClassifier(SKLearnClassifier):
    """A scikit-learn classifier that trains a Keras model with a MinDiff penalty.

    MinDiff (Prost et al., "Toward a better trade-off between performance and
    fairness with kernel-based distribution matching", arXiv:1910.11779, 2019)
    adds `loss_weight` x a distribution-matching loss between the model's
    predictions on a sensitive and a nonsensitive group of examples. This
    estimator builds on `keras.wrappers.SKLearnClassifier`: `fit(X, y,
    sensitive_features=s)` splits the training rows into the two groups (rows
    whose `s` is in `sensitive_group` vs the others, optionally only rows whose
    label is in `label_filter`), packs them with `MinDiffPyDataset` and trains a
    `keras_regkit.min_diff.MinDiffModel`. The result is an ordinary classifier
    (`predict`, `predict_proba`, `decision_function`, `score`, `classes_`) that
    fits in Pipelines, `GridSearchCV` (every argument is a parameter, e.g.
    `{"loss_weight": [0.0, 1.0, 3.0]}`) and Fairlearn's post-processing
    (`ThresholdOptimizer(estimator=clf, prefit=True)`).

    `model` is a compiled Keras model, or a function returning one (called with
    `X=`, `y=` and `model_kwargs`, as for `keras.wrappers.SKLearnClassifier`;
    `y` is the one-hot encoded target). The model maps one row of `X` to class
    probabilities: either one sigmoid unit (binary targets; the probability of
    `classes_[1]`), trained on 0/1 targets, or one softmax unit per class, trained
    on one-hot targets. MinDiff compares these probabilities between the groups.
    A model instance is copied with `keras.models.clone_model` before training,
    unless `warm_start=True` and the estimator is already fitted.

    Arguments follow scikit-learn's convention: `__init__` stores them and
    `fit` validates them, so `set_params` and `clone` accept any value and
    errors surface when fitting.

    For GridSearchCV to pass the sensitive features of each fold to a fairness
    scorer, turn on scikit-learn's metadata routing
    (`sklearn.set_config(enable_metadata_routing=True)`): the estimator already
    requests `sensitive_features` for `fit`, and the scorers of
    `keras_regkit.fairness.make_fairness_scorer` request them for scoring.
    Without routing, `GridSearchCV.fit(X, y, sensitive_features=s)` still slices
    `s` for each training fold.

    Args:
        model: a compiled `keras.Model`, or a callable returning one.
        loss: the MinDiff loss: a name ("mmd", "adjusted_mmd", "abs_corr",
            "absolute_difference", "prediction_rate") or a `MinDiffLoss`.
        loss_weight: non-negative float multiplying the MinDiff loss.
        sensitive_group: the value(s) of `sensitive_features` that form the
            sensitive group (a scalar, or a list of values). None: the sensitive
            features are booleans (or 0/1) and True (1) marks the sensitive group.
        label_filter: None (MinDiff compares the groups over all examples) or a
            class label (or list of labels): only examples with these labels
            form the MinDiff groups. `label_filter=0` (the negatives) matches the
            groups' false positive rates; the label of the positives matches the
            true positive rates (equal opportunity).
        min_diff_batch_size: examples of each group per training step; defaults
            to half the batch size (see `MinDiffPyDataset`).
        random_state: None, or an int: `fit` then calls
            `keras.utils.set_random_seed(random_state)` (which also seeds Python's
            and NumPy's global generators) before building the model, and seeds
            the batch shuffles, so that a refit gives the same model.
        warm_start: if True, `fit` continues training the fitted model.
        model_kwargs: keyword arguments of `model` when it is a callable.
        fit_kwargs: keyword arguments of `MinDiffModel.fit` (`epochs`,
            `batch_size`, `callbacks`, `validation_data`, `verbose`, ...;
            `batch_size` and `shuffle` configure the batches). Keyword arguments
            given to `fit` take precedence. `validation_split` is refused: the
            MinDiff batches come from a `PyDataset`, which Keras cannot split;
            pass `validation_data=(X_val, y_val)` instead.

    Attributes:
        classes_: the class labels, sorted.
        model_: the trained Keras model (the original model, without the MinDiff
            wrapper: what `predict` uses, and what to save or serve).
        min_diff_model_: the trained `MinDiffModel` wrapping `model_`.
        history_: dict of the per-epoch logs of the last `fit` (`loss`,
            `min_diff_loss`, ...).
        n_features_in_: the number of features seen in `fit`.
        feature_names_in_: column names, when `X` was a DataFrame.

    scikit-learn compatibility: `fit` needs `sensitive_features`, so
    `sklearn.utils.estimator_checks.check_estimator`, which fits without them,
    runs on a subclass that supplies row-parity groups
    (`tests/wrappers/test_min_diff_classifier.py`). Every check passes there
    except two that are skipped on TensorFlow:
    `check_methods_sample_order_invariance` and `check_methods_subset_invariance`
    compare outputs to rtol=1e-7, below float32 resolution (TensorFlow's CPU
    matmul groups rows differently when the batch changes); the same
    invariances hold to float32 precision on every backend. On JAX the suite
    runs only its backend-dependent checks, for time (each new data size is a
    new compilation).

    Example:

    ```python
    def build(X, y):
        model = keras.Sequential([
            keras.Input((X.shape[1],)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile("adam", "binary_crossentropy")
        return model

    train, test = keras_regkit.datasets.load_adult()
    clf = MinDiffClassifier(
        build, loss="mmd", loss_weight=1.5, sensitive_group="Female",
        label_filter=0, fit_kwargs={"epochs": 3, "batch_size": 128, "verbose": 0},
    )
    clf.fit(train.x, train.y, sensitive_features=train.sensitive["sex"])
    clf.predict_proba(test.x)[:, 1]
    ```
    """

    # Under scikit-learn's metadata routing, meta-estimators (GridSearchCV,
    # Pipeline, cross_validate) route `sensitive_features` to `fit` by default.
    __metadata_request__fit = {"sensitive_features": True}

    def __init__(
        self,
        model,
        loss="mmd",
        loss_weight=1.0,
        sensitive_group=None,
        label_filter=None,
        min_diff_batch_size=None,
        random_state=None,
        warm_start=False,
        model_kwargs=None,
        fit_kwargs=None,
    ):
        super().__init__(
            model=model, warm_start=warm_start, model_kwargs=model_kwargs, fit_kwargs=fit_kwargs
        )
        self.loss = loss
        self.loss_weight = loss_weight
        self.sensitive_group = sensitive_group
        self.label_filter = label_filter
        self.min_diff_batch_size = min_diff_batch_size
        self.random_state = random_state

    # ------------------------------------------------------------------ sklearn API

    def __sklearn_clone__(self):
        from sklearn.base import clone

        # The Keras model (or builder) is shared, as keras.wrappers does: `fit` never
        # trains it in place (it trains `keras.models.clone_model(model)`), and deep
        # copying a model would copy its weights for nothing.
        params = {
            name: value if name == "model" else clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
        }
        new = type(self)(**params)
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        return new

    def set_fit_request(self, **kwargs):
        """Sets which metadata `fit` receives under scikit-learn's metadata routing.

        `sensitive_features` is requested by default; `sample_weight` is not.
        Only available with `sklearn.set_config(enable_metadata_routing=True)`.

        Args:
            **kwargs: `sensitive_features=` and/or `sample_weight=`, each True
                (request it), False (do not), None (error if passed) or a str
                (an alias).

        Returns:
            self
        """
        import sklearn

        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        unknown = set(kwargs) - {"sensitive_features", "sample_weight"}
        if unknown:
            raise TypeError(
                f"Unexpected args: {sorted(unknown)} in set_fit_request. Accepted arguments "
                "are: ['sample_weight', 'sensitive_features']"
            )
        # keras.wrappers' own `set_fit_request` files the requests under `score`.
        requests = self.get_metadata_routing()
        for param, alias in kwargs.items():
            requests.fit.add_request(param=param, alias=alias)
        self._metadata_request = requests
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # With `random_state`, `fit` seeds the weights and the batches: a refit is identical.
        tags.non_deterministic = self.random_state is None
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"poor_score": True, "non_deterministic": self.random_state is None}

    @property
    def epoch_(self) -> int:
        """The number of epochs run by the last `fit`."""
        return len(getattr(self, "history_", {}).get("loss", []))

    # ------------------------------------------------------------------ training

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None, **kwargs):
        """Trains a `MinDiffModel` on `(X, y)` with the groups of `sensitive_features`.

        Args:
            X: array-like `(n_samples, n_features)`.
            y: class labels, `(n_samples,)`.
            sensitive_features: `(n_samples,)` array-like (or a one-column 2D
                array or DataFrame): each row's value of the sensitive feature.
                Rows whose value is in `sensitive_group` form the sensitive
                group, the others the nonsensitive group. May be None with
                `loss_weight=0`: the model then trains plainly, with
                `sample_weight`, as Fairlearn's reductions
                (`ExponentiatedGradient`, `GridSearch`) call it.
            sample_weight: optional `(n_samples,)` non-negative weights, applied
                to the task loss and to the MinDiff loss of the rows.
            **kwargs: keyword arguments of `MinDiffModel.fit`, overriding
                `fit_kwargs`.

        Returns:
            self
        """
        from sklearn.utils.multiclass import check_classification_targets

        X, y = _validate_data(self, X, y, dtype="float32")
        check_classification_targets(y)
        loss = self._check_params()
        n = X.shape[0]
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                "MinDiffClassifier can't train when only one class is present in `y`. "
                f"Received: classes={classes.tolist()}"
            )
        warm = self.warm_start and hasattr(self, "min_diff_model_")
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                "`warm_start=True` needs the classes of the previous fit "
                f"{self.classes_.tolist()}. Received: classes={classes.tolist()}"
            )
        sample_weight = _check_sample_weight(sample_weight, n)
        if sample_weight is not None and np.unique(y_index[sample_weight > 0]).size < 2:
            raise ValueError(
                "MinDiffClassifier can't train when only one class has a positive "
                "`sample_weight`: every row of the other classes weighs 0."
            )
        # Without groups and without a MinDiff penalty the model trains plainly: Fairlearn's
        # reductions (ExponentiatedGradient, GridSearch) call fit(X, y, sample_weight=w).
        plain = sensitive_features is None and self.loss_weight == 0
        membership = np.zeros(n, bool) if plain else self._membership(sensitive_features, n)
        keep = np.ones(n, bool)
        if self.label_filter is not None:
            labels = _as_list(self.label_filter)
            missing = [label for label in labels if label not in set(classes.tolist())]
            if missing:
                raise ValueError(
                    "Invalid value for argument `label_filter`: expected class labels of `y` "
                    f"{classes.tolist()}. Received: label_filter={self.label_filter!r}"
                )
            keep = np.isin(y, labels)
        sensitive_rows = np.flatnonzero(membership & keep)
        nonsensitive_rows = np.flatnonzero(~membership & keep)
        for name, rows in (("sensitive", sensitive_rows), ("nonsensitive", nonsensitive_rows)):
            if rows.size == 0 and not plain:
                raise ValueError(
                    f"The {name} MinDiff group is empty: no training row "
                    f"{'has' if name == 'sensitive' else 'lacks'} a sensitive feature in "
                    f"sensitive_group={self.sensitive_group!r}"
                    + (
                        f" with a label in label_filter={self.label_filter!r}"
                        if self.label_filter is not None
                        else ""
                    )
                    + ". MinDiff needs examples of both groups."
                )

        if self.random_state is not None:
            keras.utils.set_random_seed(self.random_state)
        if warm:
            original, mode, index = self.model_, self._output_mode, self._output_index
        else:
            one_hot = np.eye(len(classes), dtype="float32")[y_index]
            original = self._get_model(X, one_hot)
            mode, index = _check_output(original, X[:1], len(classes))
        min_diff_args = {"loss": loss, "loss_weight": float(self.loss_weight)}
        min_diff_args["predictions_transform"] = index
        if warm and _same_args(min_diff_args, self._min_diff_args):
            min_diff_model = self.min_diff_model_  # keeps its traced train function
        else:
            min_diff_model = _wrap(original, min_diff_args)

        fit_kwargs = dict(self.fit_kwargs or {})
        fit_kwargs.update(kwargs)
        if fit_kwargs.get("validation_split"):
            raise ValueError(
                "MinDiffClassifier does not support `validation_split`: its MinDiff "
                "batches come from a PyDataset, which Keras cannot split. Pass "
                "`validation_data=(X_val, y_val)` instead. Received: "
                f"validation_split={fit_kwargs['validation_split']!r}"
            )
        batch_size = fit_kwargs.pop("batch_size", None) or 32
        shuffle = fit_kwargs.pop("shuffle", True)
        if isinstance(fit_kwargs.get("validation_data"), (tuple, list)):
            fit_kwargs["validation_data"] = self._encode_validation(
                fit_kwargs["validation_data"], classes, mode
            )
            fit_kwargs.setdefault("validation_batch_size", batch_size)
        if plain:  # the original model, as compiled by `model`
            history = original.fit(
                X,
                _encode_targets(y_index, mode, len(classes)),
                sample_weight=sample_weight,
                batch_size=batch_size,
                shuffle=shuffle,
                **fit_kwargs,
            )
        else:
            dataset = MinDiffPyDataset(
                X,
                _encode_targets(y_index, mode, len(classes)),
                sample_weight,
                sensitive_x=X[sensitive_rows],
                nonsensitive_x=X[nonsensitive_rows],
                sensitive_sample_weight=_take(sample_weight, sensitive_rows),
                nonsensitive_sample_weight=_take(sample_weight, nonsensitive_rows),
                batch_size=batch_size,
                min_diff_batch_size=self.min_diff_batch_size,
                shuffle=shuffle,
                seed=self.random_state,
            )
            history = min_diff_model.fit(dataset, **fit_kwargs)

        self.classes_ = classes
        self._output_mode, self._output_index = mode, index
        self._min_diff_args = min_diff_args
        self._batch_size = batch_size
        self.history_ = dict(history.history)
        self.model_ = original
        self.min_diff_model_ = min_diff_model
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())
        # Pickled once, through `model_`; the wrapper is rebuilt around it on loading.
        state.pop("min_diff_model_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "model_" in self.__dict__:
            self.min_diff_model_ = _wrap(self.model_, self._min_diff_args)

    def _check_params(self):
        loss = self.loss
        if isinstance(loss, dict):
            raise ValueError(
                "Invalid value for argument `loss`: MinDiffClassifier applies one MinDiff loss "
                f"to one sensitive feature; a dict of losses is not supported. Received: "
                f"loss={loss!r}"
            )
        loss = min_diff_losses.get(loss, "loss")
        _validation.check_float("loss_weight", self.loss_weight, 0)
        _validation.check_int("min_diff_batch_size", self.min_diff_batch_size, 1, allow_none=True)
        _validation.check_seed(self.random_state, "random_state")
        for name in ("model_kwargs", "fit_kwargs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise ValueError(
                    f"Invalid value for argument `{name}`: expected None or a dict. "
                    f"Received: {name}={value!r}"
                )
        if not (isinstance(self.model, keras.Model) or callable(self.model)):
            raise ValueError(
                "Invalid value for argument `model`: expected a compiled keras.Model or a "
                f"callable returning one. Received: model={self.model!r}"
            )
        return loss

    def _membership(self, sensitive_features, n: int) -> np.ndarray:
        if sensitive_features is None:
            raise ValueError(
                "MinDiffClassifier.fit needs `sensitive_features`: "
                "fit(X, y, sensitive_features=s), with one value per row of X. Under "
                "GridSearchCV, pass it to GridSearchCV.fit."
            )
        values = np.asarray(sensitive_features)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != n:
            raise ValueError(
                "`sensitive_features` must hold one value per row of X: expected shape "
                f"({n},). Received: shape {values.shape}"
            )
        if self.sensitive_group is None:
            if values.dtype == bool:
                return values
            if values.dtype.kind in "iuf" and np.isin(values, (0, 1)).all():
                return values.astype(bool)
            raise ValueError(
                "Invalid value for argument `sensitive_group`: None needs boolean (or 0/1) "
                "`sensitive_features`, True marking the sensitive group. Pass the sensitive "
                "value(s), e.g. sensitive_group='Female'. Received sensitive values such as: "
                f"{np.unique(values)[:5].tolist()}"
            )
        group = _as_list(self.sensitive_group)
        membership = np.array([value in group for value in values.tolist()], dtype=bool)
        if not membership.any():
            raise ValueError(
                f"Invalid value for argument `sensitive_group`: no row of `sensitive_features` "
                f"is in sensitive_group={self.sensitive_group!r}. Received sensitive values "
                f"such as: {np.unique(values.astype(str))[:5].tolist()}"
            )
        return membership

    def _encode_validation(self, data, classes, mode):
        if len(data) not in (2, 3):
            raise ValueError(
                "`validation_data` must be (X_val, y_val) or (X_val, y_val, sample_weight_val). "
                f"Received a {type(data).__name__} of length {len(data)}"
            )
        x_val = _validate_data(self, data[0], reset=False, dtype="float32")
        y_val = np.asarray(data[1]).reshape(-1)
        index = np.clip(np.searchsorted(classes, y_val), 0, len(classes) - 1)
        if not np.array_equal(classes[index], y_val):
            raise ValueError(
                f"`validation_data` has labels that are not classes of `y` {classes.tolist()}."
            )
        return (x_val, _encode_targets(index, mode, len(classes)), *data[2:])

    # ------------------------------------------------------------------ inference

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, `(n_samples, n_classes)`, columns ordered as `classes_`."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype="float32")
        outputs = self.model_.predict(X, batch_size=self._batch_size, verbose=0)
        if self._output_index is not None:
            outputs = outputs[self._output_index]
        outputs = np.asarray(outputs, dtype="float64")
        if self._output_mode == "sigmoid":
            positive = np.clip(outputs[:, 0], 0.0, 1.0)
            return np.stack([1.0 - positive, positive], axis=1)
        return outputs

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (for one sigmoid unit: p > 0.5)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of `predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X) -> np.ndarray:
        """Scores whose sign (binary) or argmax (multiclass) gives `predict`.

        Binary: the log-odds of `classes_[1]`, `(n_samples,)`. Multiclass: the
        log-probabilities, `(n_samples, n_classes)`.
        """
        eps = np.finfo("float32").tiny
        log_proba = np.log(np.maximum(self.predict_proba(X), eps))
        if len(self.classes_) == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba


def _validate_data(estimator, *args, **kwargs):
    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data
    except ImportError:  # pragma: no cover - depends on the scikit-learn version
        return estimator._validate_data(*args, **kwargs)
    return validate_data(estimator, *args, **kwargs)


def _wrap(original, min_diff_args: dict):
    """The MinDiffModel that trains `original`, compiled with its compile arguments.

    The arguments are those keras.models.clone_model reads, and the optimizer is the
    original's own object: `model_` then holds the optimizer state that matches its
    weights (for saving, pickling or training on), and a new wrapper (e.g. after
    `set_params(loss_weight=...)` with `warm_start`) resumes it.
    """
    min_diff_model = MinDiffModel(original, **min_diff_args)
    compile_args = keras.saving.deserialize_keras_object(original.get_compile_config())
    compile_args["optimizer"] = original.optimizer
    min_diff_model.compile(**compile_args)
    return min_diff_model


def _check_output(model, x_row, n_classes: int):
    """How the model's outputs encode the classes: ("sigmoid" or "softmax", output index)."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Invalid value for argument `model`: expected a keras.Model or a callable "
            f"returning one. Received: {model!r}"
        )
    if not model.compiled or not model.loss or not model.optimizer:
        raise RuntimeError(
            "The model of MinDiffClassifier must be compiled with a loss and an optimizer."
        )
    outputs = model(x_row, training=False)
    index = None
    if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs, index = outputs[0], 0
    if isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2:
        raise ValueError(
            "The model of MinDiffClassifier must return one tensor of shape "
            "(batch, 1) (sigmoid, binary targets) or (batch, n_classes) (softmax). "
            f"Received: {_describe(outputs)}"
        )
    width = int(outputs.shape[1])
    if width == 1 and n_classes == 2:
        return "sigmoid", index
    if width == n_classes:
        return "softmax", index
    raise ValueError(
        f"The model of MinDiffClassifier returns {width} values per example; with "
        f"{n_classes} classes it must return "
        + ("1 (the probability of classes_[1]) or 2." if n_classes == 2 else f"{n_classes}.")
    )


def _encode_targets(y_index: np.ndarray, mode: str, n_classes: int) -> np.ndarray:
    if mode == "sigmoid":
        return y_index.astype("float32")[:, None]
    return np.eye(n_classes, dtype="float32")[y_index]


def _same_args(a: dict, b: dict) -> bool:
    return (
        keras.saving.serialize_keras_object(a["loss"])
        == keras.saving.serialize_keras_object(b["loss"])
        and a["loss_weight"] == b["loss_weight"]
        and a["predictions_transform"] == b["predictions_transform"]
    )


def _check_sample_weight(sample_weight, n: int):
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype="float32")
    if weights.ndim == 0:
        weights = np.full(n, weights, dtype="float32")
    if weights.ndim != 1 or weights.shape[0] != n:
        raise ValueError(
            f"`sample_weight` must have one weight per row of X: expected shape ({n},). "
            f"Received: shape {weights.shape}"
        )
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("`sample_weight` must be finite and non-negative.")
    return weights


def _take(weights, rows):
    return None if weights is None else weights[rows]


def _as_list(value: Any) -> list:
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return list(value)
    return [value]


def _describe(outputs) -> str:
    if isinstance(outputs, dict):
        return f"a dict of outputs with keys {sorted(outputs)}"
    if isinstance(outputs, (list, tuple)):
        return f"a {type(outputs).__name__} of {len(outputs)} outputs"
    return f"a tensor of shape {tuple(outputs.shape)}"
