import copy
import functools
import pickle
import re
import textwrap
import unittest
import warnings

import fairlearn.metrics
import keras
import numpy as np
import pytest
import sklearn
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import clone
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import _num_samples

import keras_regkit
from keras_regkit import testing
from keras_regkit.datasets import load_adult
from keras_regkit.fairness import make_fairness_scorer
from keras_regkit.min_diff import MinDiffModel, MinDiffPyDataset
from keras_regkit.wrappers import MinDiffClassifier

# Every dataset here is a multiple of the batch size and every model sees batches of the
# same shapes: on JAX an eager op is compiled once per shape, so fits after the first are
# cheap.
FIT = {"epochs": 1, "batch_size": 100, "verbose": 0}


def build_sigmoid(X, y, hidden=8, run_eagerly=True, jit_compile="auto"):
    """One sigmoid unit: the probability of classes_[1].

    Eager by default: these tests fit many small models, and a compiled train
    step is traced (and on JAX, XLA-compiled) again for every new model.
    """
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        "binary_crossentropy",
        run_eagerly=run_eagerly,
        jit_compile=jit_compile,
    )
    return model


def build_softmax(X, y, hidden=8, run_eagerly=True):
    """The builder of keras.wrappers.SKLearnClassifier's docs: one softmax unit per class."""
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(y.shape[1], activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", run_eagerly=run_eagerly)
    return model


@functools.cache
def adult_train_split():
    return load_adult()[0]


@functools.cache
def adult(n_train=600, n_test=600):
    """A fixed random subset of UCI Adult: (X, y, sex) for training and for testing."""
    train = adult_train_split()
    rows = np.random.default_rng(0).permutation(len(train.y))
    fit_rows, test_rows = rows[:n_train], rows[n_train : n_train + n_test]
    sex = train.sensitive["sex"]
    return (
        (train.x[fit_rows], train.y[fit_rows], sex[fit_rows]),
        (train.x[test_rows], train.y[test_rows], sex[test_rows]),
    )


def classifier(**kwargs):
    params = dict(
        model=build_sigmoid,
        loss_weight=1.5,
        sensitive_group="Female",
        label_filter=0,
        random_state=3,
        fit_kwargs=dict(FIT),
    )
    params.update(kwargs)
    return MinDiffClassifier(**params)


# ----------------------------------------------------------------- scikit-learn checks


def build_linear_softmax(X, y):
    """Logistic regression in Keras, eager: the checks fit ~100 tiny models."""
    model = keras.Sequential(
        [keras.Input((X.shape[1],)), keras.layers.Dense(y.shape[1], activation="softmax")]
    )
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy", run_eagerly=True)
    return model


class ParityGroupsClassifier(MinDiffClassifier):
    """MinDiffClassifier whose `fit(X, y)` alone takes alternate rows as the two groups.

    scikit-learn's estimator checks call `fit(X, y)`, while MinDiff needs each
    row's sensitive feature (MinDiffClassifier raises without it). This subclass
    only supplies `sensitive_features` (row parity) when none is given, so the
    checks run the whole MinDiff training path.
    """

    def fit(self, X, y, *, sensitive_features=None, **kwargs):
        if sensitive_features is None:
            try:
                sensitive_features = np.arange(_num_samples(X)) % 2 == 0
            except TypeError:
                pass  # not array-like: MinDiffClassifier's validation reports it
        return super().fit(X, y, sensitive_features=sensitive_features, **kwargs)


CHECKED_ESTIMATOR = ParityGroupsClassifier(
    build_linear_softmax, random_state=0, fit_kwargs={"epochs": 1, "batch_size": 256, "verbose": 0}
)

# The whole suite runs on TensorFlow and PyTorch. On JAX, where an eager op is compiled
# once per input shape (about 3 CPU-seconds for each new dataset size; the suite fits
# ~40 sizes), only the checks of what the backend does run: training binary and
# multiclass models with consistent predict/predict_proba/decision_function, input
# dtypes, pickling the Keras model, and reproducible refits. The others exercise the
# NumPy/scikit-learn side of the wrapper (parameters, cloning, input validation, tags,
# error messages), which does not depend on the backend; the tests below cover row
# order and subset invariance on every backend.
BACKEND_DEPENDENT_CHECKS = {
    "check_classifiers_train",
    "check_estimators_dtypes",
    "check_estimators_pickle",
    "check_fit_idempotent",
}

# Two checks compare outputs to rtol=1e-7, below float32 resolution. On TensorFlow,
# Eigen's CPU matmul groups rows differently when the batch changes (other rows, other
# order), so probabilities move by an ulp. test_methods_invariant_to_row_order_and_subsets
# asserts the same invariances to float32 precision on every backend.
FLOAT32_RESOLUTION_CHECKS = {
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
}


def test_sklearn_estimator_checks():
    """scikit-learn's estimator checks: every one that applies runs, and passes.

    With `random_state` set, fit is reproducible, so the determinism checks
    (check_fit_idempotent, check_pipeline_consistency, ...) run too. scikit-learn
    itself skips check_array_api_input (it needs SCIPY_ARRAY_API=1 and an array API
    estimator; Keras converts inputs to NumPy). `poor_score`, inherited from
    keras.wrappers.SKLearnClassifier, waives the accuracy threshold of
    check_classifiers_train: one epoch of logistic regression. The checks run in one
    test because each test item pays the suite's per-test Keras session reset.
    """
    from sklearn.utils.estimator_checks import _check_name, estimator_checks_generator

    passed, failures = [], {}
    for estimator, check in estimator_checks_generator(CHECKED_ESTIMATOR, legacy=True):
        name = _check_name(check)
        if testing.backend() == "jax" and name not in BACKEND_DEPENDENT_CHECKS:
            continue
        if testing.backend() == "tensorflow" and name in FLOAT32_RESOLUTION_CHECKS:
            continue
        try:
            check(estimator)
        except unittest.SkipTest as skip:
            assert name == "check_array_api_input", f"{name} skipped: {skip}"
        except Exception as error:  # reported below, all at once
            failures[name] = f"{type(error).__name__}: {error}"
        else:
            passed.append(name)
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
    if testing.backend() == "jax":
        assert set(passed) == BACKEND_DEPENDENT_CHECKS
    else:
        assert len(set(passed)) >= 40, sorted(set(passed))


def test_methods_invariant_to_row_order_and_subsets():
    (x, y, sex), (x_test, _, _) = adult()
    clf = classifier().fit(x, y, sensitive_features=sex)
    order = np.random.default_rng(0).permutation(len(x_test))
    proba = clf.predict_proba(x_test)
    testing.assert_allclose(clf.predict_proba(x_test[order]), proba[order], atol=1e-6, rtol=1e-5)
    testing.assert_allclose(clf.predict_proba(x_test[:37]), proba[:37], atol=1e-6, rtol=1e-5)
    testing.assert_allclose(
        clf.decision_function(x_test[order]), clf.decision_function(x_test)[order], atol=1e-4
    )


# ----------------------------------------------------------------- training


@pytest.mark.parametrize(
    "weighted, jit_compile", [(False, False), (True, testing.jit_compile_options()[-1])]
)
def test_fit_equals_hand_built_min_diff_model(weighted, jit_compile):
    """fit(X, y, sensitive_features=sex) is MinDiffModel + MinDiffPyDataset by hand."""
    (x, y, sex), (x_test, _, _) = adult()
    weights = np.random.default_rng(1).uniform(0.2, 2.0, len(y)).astype("float32")
    weights = weights if weighted else None
    compile_args = {"run_eagerly": False, "jit_compile": jit_compile}
    clf = classifier(model_kwargs=compile_args)
    clf.fit(x, y, sensitive_features=sex, sample_weight=weights)
    assert clf.min_diff_model_.jit_compile == jit_compile

    keras.utils.set_random_seed(3)
    original = build_sigmoid(x, np.eye(2, dtype="float32")[y])
    model = MinDiffModel(original, "mmd", loss_weight=1.5)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", **compile_args)
    female, negative = sex == "Female", y == 0
    groups = {"sensitive": female & negative, "nonsensitive": ~female & negative}
    data = MinDiffPyDataset(
        x,
        y.astype("float32")[:, None],
        weights,
        sensitive_x=x[groups["sensitive"]],
        nonsensitive_x=x[groups["nonsensitive"]],
        sensitive_sample_weight=None if weights is None else weights[groups["sensitive"]],
        nonsensitive_sample_weight=None if weights is None else weights[groups["nonsensitive"]],
        batch_size=100,
        min_diff_batch_size=50,
        seed=3,
    )
    history = model.fit(data, epochs=1, verbose=0)

    expected = original.predict(x_test, verbose=0)[:, 0]
    proba = clf.predict_proba(x_test)
    testing.assert_allclose(proba[:, 1], expected, atol=1e-5)
    testing.assert_allclose(proba[:, 0], 1.0 - expected, atol=1e-5)
    testing.assert_allclose(
        clf.history_["min_diff_loss"], history.history["min_diff_loss"], rtol=1e-4
    )
    assert isinstance(clf.min_diff_model_, MinDiffModel)
    assert clf.min_diff_model_.original_model is clf.model_
    assert clf.epoch_ == 1


def test_equivalent_group_arguments_train_the_same_model():
    (x, y, sex), (x_test, _, _) = adult()
    reference = classifier().fit(x, y, sensitive_features=sex).predict_proba(x_test)
    labels = np.where(y == 1, ">50K", "<=50K")
    variants = [
        (classifier(sensitive_group=["Female"], label_filter=[0]), y, sex),
        (classifier(sensitive_group=None), y, sex == "Female"),
        (classifier(sensitive_group=None), y, (sex == "Female").astype(int)),
        (classifier(label_filter="<=50K"), labels, sex),
    ]
    for clf, targets, sensitive in variants:
        proba = clf.fit(x, targets, sensitive_features=sensitive).predict_proba(x_test)
        testing.assert_allclose(proba, reference, atol=1e-5)
    # String labels: classes_ are sorted, and the sigmoid gives P(classes_[1]).
    assert list(clf.classes_) == ["<=50K", ">50K"]
    assert set(clf.predict(x_test)) <= {"<=50K", ">50K"}


def test_min_diff_closes_the_false_positive_rate_gap():
    """On Adult (1,500 rows), FPR-parity MinDiff shrinks the gap and keeps the model useful.

    Measured on the training rows, what MinDiff optimises: the gap between the
    women's and men's mean score among negatives, and the false positive rate gap
    (Fairlearn's metric, which keras_regkit.fairness reproduces).
    """
    (x, y, sex), _ = adult(n_train=1500)
    negatives, female = y == 0, sex == "Female"
    results = {}
    for weight in (0.0, 1.0):
        clf = classifier(loss_weight=weight, fit_kwargs={**FIT, "epochs": 3})
        clf.fit(x, y, sensitive_features=sex)
        scores = clf.predict_proba(x)[:, 1]
        predictions = clf.predict(x)
        fpr_gap = fairlearn.metrics.false_positive_rate_difference(
            y, predictions, sensitive_features=sex
        )
        assert fpr_gap == pytest.approx(
            keras_regkit.fairness.false_positive_rate_difference(
                y, predictions, sensitive_features=sex
            )
        )
        results[weight] = {
            "score_gap": abs(
                np.mean(scores[negatives & female]) - np.mean(scores[negatives & ~female])
            ),
            "fpr_gap": fpr_gap,
            "auc": roc_auc_score(y, scores),
            "selection_rate": predictions.mean(),
        }
    plain, fair = results[0.0], results[1.0]
    assert plain["fpr_gap"] > 0.04, results
    assert fair["score_gap"] < 0.35 * plain["score_gap"], results
    assert fair["fpr_gap"] < 0.7 * plain["fpr_gap"], results
    # Not by predicting "negative" for everyone: the model still ranks and selects.
    assert fair["auc"] > 0.8 and fair["selection_rate"] > 0.05, results


def test_prediction_methods_agree_with_the_keras_model():
    (x, y, sex), (x_test, y_test, _) = adult()
    clf = classifier().fit(x, y, sensitive_features=sex)
    p = clf.model_.predict(x_test, verbose=0)[:, 0].astype("float64")
    proba = clf.predict_proba(x_test)
    testing.assert_allclose(proba, np.stack([1 - p, p], axis=1), atol=1e-6)
    np.testing.assert_array_equal(clf.predict(x_test), (p > 0.5).astype(int))
    testing.assert_allclose(clf.decision_function(x_test), np.log(p / (1 - p)), atol=1e-3)
    testing.assert_allclose(np.exp(clf.predict_log_proba(x_test)), proba, atol=1e-6)
    assert clf.score(x_test, y_test) == pytest.approx(accuracy_score(y_test, clf.predict(x_test)))
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.n_features_in_ == x.shape[1]


def test_softmax_models_binary_multiclass_and_list_outputs():
    (x, y, sex), (x_test, _, _) = adult()
    # Binary with two softmax units (keras.wrappers' builder): one-hot targets.
    clf = classifier(model=build_softmax).fit(x, y, sensitive_features=sex)
    proba = clf.predict_proba(x_test)
    testing.assert_allclose(proba, clf.model_.predict(x_test, verbose=0), atol=1e-6)
    testing.assert_allclose(proba.sum(axis=1), np.ones(len(x_test)), atol=1e-5)
    np.testing.assert_array_equal(clf.decision_function(x_test) > 0, clf.predict(x_test) == 1)

    # Three classes: MinDiff compares the probability vectors.
    labels = np.array(["a", "b", "c"])[(x[:, 0] > 0).astype(int) + (x[:, 2] > 0.5).astype(int)]
    clf = classifier(model=build_softmax, label_filter=None).fit(x, labels, sensitive_features=sex)
    proba = clf.predict_proba(x_test)
    assert proba.shape == (len(x_test), 3)
    np.testing.assert_array_equal(clf.predict(x_test), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_array_equal(clf.decision_function(x_test).argmax(axis=1), proba.argmax(1))

    # A functional model whose outputs are a one-element list.
    def build_list(X, y):
        inputs = keras.Input((X.shape[1],))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        outputs = [keras.layers.Dense(1, activation="sigmoid")(hidden)]
        model = keras.Model(inputs, outputs)
        model.compile("adam", "binary_crossentropy", run_eagerly=True)
        return model

    clf = classifier(model=build_list).fit(x, y, sensitive_features=sex)
    assert clf.predict_proba(x_test).shape == (len(x_test), 2)


def test_model_instance_is_cloned_and_compile_settings_kept():
    (x, y, sex), (x_test, _, _) = adult()
    keras.utils.set_random_seed(0)
    instance = build_sigmoid(x, None)
    instance.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in instance.get_weights()]
    clf = classifier(model=instance).fit(x, y, sensitive_features=sex)
    for w, b in zip(instance.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)  # the given model is not trained in place
    assert clf.model_ is not instance
    assert isinstance(clf.min_diff_model_.optimizer, keras.optimizers.SGD)
    assert "accuracy" in clf.history_
    assert clf.predict_proba(x_test).shape == (len(x_test), 2)


def test_warm_start_continues_training():
    (x, y, sex), _ = adult()
    clf = classifier(warm_start=True).fit(x, y, sensitive_features=sex)
    model, wrapper = clf.model_, clf.min_diff_model_
    weights = [w.copy() for w in model.get_weights()]
    clf.fit(x, y, sensitive_features=sex)
    assert clf.model_ is model and clf.min_diff_model_ is wrapper
    assert any(not np.allclose(a, b) for a, b in zip(model.get_weights(), weights, strict=True))
    # A new loss weight gets a new wrapper around the same model and optimizer state.
    clf.set_params(loss_weight=0.5).fit(x, y, sensitive_features=sex)
    assert clf.model_ is model and clf.min_diff_model_ is not wrapper
    assert clf.min_diff_model_.loss_weight == 0.5
    assert int(clf.min_diff_model_.optimizer.iterations) == 18  # 3 fits x 6 steps
    with pytest.raises(ValueError, match=re.escape("needs the classes of the previous fit [0, 1]")):
        clf.fit(x, np.where(y == 1, "yes", "no"), sensitive_features=sex)
    cold = classifier().fit(x, y, sensitive_features=sex)
    model = cold.model_
    assert cold.fit(x, y, sensitive_features=sex).model_ is not model


def test_validation_data_labels_are_encoded():
    (x, y, sex), (x_test, y_test, _) = adult()
    labels = np.where(y == 1, ">50K", "<=50K")
    val_labels = np.where(y_test == 1, ">50K", "<=50K")
    clf = classifier(label_filter="<=50K")
    clf.fit(x, labels, sensitive_features=sex, validation_data=(x_test, val_labels))
    expected = keras.losses.binary_crossentropy(
        (y_test == 1).astype("float32")[:, None], clf.model_.predict(x_test, verbose=0)
    )
    expected = float(np.mean(keras.ops.convert_to_numpy(expected)))
    testing.assert_allclose(clf.history_["val_loss"][-1], expected, rtol=1e-4)
    with pytest.raises(ValueError, match="labels that are not classes"):
        clf.fit(x, labels, sensitive_features=sex, validation_data=(x_test, y_test))


def test_pickle_round_trip():
    (x, y, sex), (x_test, _, _) = adult()
    clf = classifier().fit(x, y, sensitive_features=sex)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. optimizer state not restored
        restored = pickle.loads(pickle.dumps(clf))
    testing.assert_allclose(restored.predict_proba(x_test), clf.predict_proba(x_test))
    assert restored.min_diff_model_.original_model is restored.model_
    assert restored.min_diff_model_.loss_weight == 1.5
    optimizer, trained = restored.min_diff_model_.optimizer, clf.min_diff_model_.optimizer
    assert optimizer is restored.model_.optimizer
    assert int(optimizer.iterations) == int(trained.iterations) == 6
    testing.assert_allclose(optimizer.variables[-1], trained.variables[-1])
    copied = copy.deepcopy(clf)
    assert copied.min_diff_model_.original_model is copied.model_ is not clf.model_
    testing.assert_allclose(copied.predict_proba(x_test), clf.predict_proba(x_test))


# ----------------------------------------------------------------- scikit-learn integration


def test_clone_and_set_params():
    clf = classifier(loss_weight=2.0, fit_kwargs={"epochs": 2})
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    assert cloned.model is clf.model
    assert cloned.fit_kwargs is not clf.fit_kwargs
    cloned.set_params(loss_weight=0.5, sensitive_group=["Female", "Other"])
    assert cloned.loss_weight == 0.5 and clf.loss_weight == 2.0
    assert clone(cloned).sensitive_group == ["Female", "Other"]

    instance = build_sigmoid(np.zeros((1, 3)), None)
    assert clone(MinDiffClassifier(instance)).model is instance

    (x, y, sex), _ = adult()
    fitted = classifier().fit(x, y, sensitive_features=sex)
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "model_") and not hasattr(unfitted, "classes_")
    assert unfitted.get_params()["loss_weight"] == 1.5


def test_metadata_requests():
    clf = classifier()
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        clf.set_fit_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        requests = clf.get_metadata_routing().fit.requests
        assert requests["sensitive_features"] is True
        assert requests["sample_weight"] is None
        clf.set_fit_request(sample_weight=True)
        assert clf.get_metadata_routing().fit.requests["sample_weight"] is True
        assert clone(clf).get_metadata_routing().fit.requests["sample_weight"] is True
        with pytest.raises(TypeError, match="Unexpected args"):
            clf.set_fit_request(groups=True)


class RecordingClassifier(MinDiffClassifier):
    """Records the sensitive features each fit receives."""

    fits = []

    def fit(self, X, y, *, sensitive_features=None, **kwargs):
        RecordingClassifier.fits.append(np.asarray(sensitive_features))
        return super().fit(X, y, sensitive_features=sensitive_features, **kwargs)


def test_grid_search_routes_each_fold_its_sensitive_features():
    (x, y, sex), _ = adult()
    scored = []

    def recording_gap(y_true, y_pred, *, sensitive_features):
        scored.append(np.asarray(sensitive_features))
        return fairlearn.metrics.false_positive_rate_difference(
            y_true, y_pred, sensitive_features=sensitive_features
        )

    RecordingClassifier.fits = []
    folds = list(KFold(2).split(x))
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            RecordingClassifier(
                build_sigmoid,
                sensitive_group="Female",
                label_filter=0,
                random_state=0,
                fit_kwargs=dict(FIT),
            ),
            {"loss_weight": [0.0, 2.0]},
            scoring=make_fairness_scorer(recording_gap, max_gap=0.1),
            cv=KFold(2),
            error_score="raise",
        )
        search.fit(x, y, sensitive_features=sex)

    expected_fits = [sex[train] for _ in range(2) for train, _ in folds] + [sex]
    assert len(RecordingClassifier.fits) == len(expected_fits)
    for got, want in zip(RecordingClassifier.fits, expected_fits, strict=True):
        np.testing.assert_array_equal(got, want)
    expected_scored = [sex[test] for _ in range(2) for _, test in folds]
    assert len(scored) == len(expected_scored)
    for got, want in zip(scored, expected_scored, strict=True):
        np.testing.assert_array_equal(got, want)
    assert search.best_params_["loss_weight"] in (0.0, 2.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.predict(x).shape == y.shape


def test_grid_search_without_routing_uses_the_scorer_series():
    pd = pytest.importorskip("pandas")
    (x, y, sex), _ = adult()
    frame = pd.DataFrame(x, index=np.arange(1000, 1000 + len(x)))
    sex_series = pd.Series(sex, index=frame.index)
    RecordingClassifier.fits = []
    search = GridSearchCV(
        RecordingClassifier(
            build_sigmoid, sensitive_group="Female", random_state=0, fit_kwargs=dict(FIT)
        ),
        {"loss_weight": [1.0]},
        scoring=make_fairness_scorer(
            "demographic_parity_difference", max_gap=1.0, sensitive_features=sex_series
        ),
        cv=KFold(2),
        refit=False,
        error_score="raise",
    )
    search.fit(frame, y, sensitive_features=sex)
    for got, (train, _) in zip(RecordingClassifier.fits, KFold(2).split(x), strict=True):
        np.testing.assert_array_equal(got, sex[train])
    # max_gap=1 always holds, so each fold's score is its ROC AUC.
    assert 0.0 <= search.cv_results_["mean_test_score"][0] <= 1.0


def test_pipeline_with_routing():
    (x, y, sex), (x_test, _, _) = adult()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), classifier())
        pipe.fit(x, y, sensitive_features=sex)
    manual = classifier().fit(StandardScaler().fit(x).transform(x), y, sensitive_features=sex)
    testing.assert_allclose(
        pipe.predict_proba(x_test),
        manual.predict_proba(StandardScaler().fit(x).transform(x_test)),
        atol=1e-5,
    )


def test_fairlearn_threshold_optimizer_on_adult():
    (x, y, sex), _ = adult()
    clf = classifier(loss_weight=1.0, fit_kwargs={"epochs": 2, "batch_size": 100, "verbose": 0})
    clf.fit(x, y, sensitive_features=sex)
    postprocessed = ThresholdOptimizer(
        estimator=clf,
        constraints="false_positive_rate_parity",
        prefit=True,
        predict_method="predict_proba",
    )
    postprocessed.fit(x, y, sensitive_features=sex)
    predictions = postprocessed.predict(x, sensitive_features=sex, random_state=0)
    assert set(np.unique(predictions)) <= {0, 1}
    gap = fairlearn.metrics.false_positive_rate_difference(y, predictions, sensitive_features=sex)
    # ThresholdOptimizer equalises the groups' FPRs in expectation; the draw adds noise.
    assert gap < 0.06, gap
    # It scored the estimator's positive-class probabilities.
    assert postprocessed.estimator_ is clf


def test_docstring_example_runs():
    source = textwrap.dedent(MinDiffClassifier.__doc__.split("```python")[1].split("```")[0])
    source = source.replace("train.x, train.y", "train.x[:500], train.y[:500]")
    source = source.replace('train.sensitive["sex"]', 'train.sensitive["sex"][:500]')
    namespace = {
        "keras": keras,
        "keras_regkit": keras_regkit,
        "MinDiffClassifier": (MinDiffClassifier),
    }
    exec(source, namespace)
    assert namespace["clf"].predict_proba(namespace["test"].x[:5]).shape == (5, 2)


# ----------------------------------------------------------------- argument validation


def _fit(clf, **kwargs):
    (x, y, sex), _ = adult()
    fit_args = {"sensitive_features": sex}
    fit_args.update(kwargs)
    targets = fit_args.pop("y", y)
    return clf.fit(x, targets, **fit_args)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"loss": "nope"}, "Unknown MinDiff loss name for argument `loss`"),
        ({"loss": {"a": "mmd"}}, "Invalid value for argument `loss`: MinDiffClassifier applies"),
        (
            {"loss_weight": -1.0},
            "Invalid value for argument `loss_weight`: expected a non-negative",
        ),
        ({"loss_weight": "big"}, "Received: loss_weight='big'"),
        ({"loss_weight": True}, "Received: loss_weight=True"),
        ({"loss_weight": float("nan")}, "Received: loss_weight=nan"),
        ({"sensitive_group": "Martian"}, "no row of `sensitive_features` is in sensitive_group="),
        ({"sensitive_group": None}, "None needs boolean (or 0/1) `sensitive_features`"),
        ({"label_filter": 2}, "Invalid value for argument `label_filter`: expected class labels"),
        ({"min_diff_batch_size": 0}, "Invalid value for argument `min_diff_batch_size`"),
        ({"min_diff_batch_size": 1.5}, "Received: min_diff_batch_size=1.5"),
        ({"random_state": -1}, "Invalid value for argument `random_state`"),
        ({"random_state": "seed"}, "Received: random_state='seed'"),
        ({"model_kwargs": [1]}, "Invalid value for argument `model_kwargs`: expected None or a"),
        ({"fit_kwargs": "fast"}, "Invalid value for argument `fit_kwargs`: expected None or a"),
        ({"model": 3}, "Invalid value for argument `model`: expected a compiled keras.Model"),
    ],
)
def test_invalid_arguments(params, message):
    clf = classifier(**params)
    # scikit-learn's convention: __init__ and set_params accept anything, fit validates.
    clone(clf).set_params(**params)
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(clf)


@pytest.mark.parametrize(
    "fit_args, message",
    [
        ({"sensitive_features": None}, "MinDiffClassifier.fit needs `sensitive_features`"),
        ({"sensitive_features": ["Female"] * 3}, "one value per row of X: expected shape (600,)"),
        ({"y": np.zeros(600, int)}, "can't train when only one class is present"),
        ({"sample_weight": -np.ones(600)}, "`sample_weight` must be finite and non-negative"),
        ({"sample_weight": np.ones(3)}, "one weight per row of X: expected shape (600,)"),
        ({"y": np.arange(600) % 2, "sample_weight": np.arange(600) % 2}, "only one class has"),
        ({"sensitive_features": np.full(600, "Female")}, "The nonsensitive MinDiff group is empty"),
        ({"validation_split": 0.2}, "does not support `validation_split`"),
    ],
)
def test_invalid_fit_arguments(fit_args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(classifier(), **fit_args)


def test_invalid_models():
    def wrong_width(X, y):
        model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(3)])
        model.compile("adam", "mse")
        return model

    def uncompiled(X, y):
        return keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])

    def not_a_model(X, y):
        return "model"

    with pytest.raises(ValueError, match=re.escape("returns 3 values per example; with 2")):
        _fit(classifier(model=wrong_width))
    with pytest.raises(RuntimeError, match="must be compiled with a loss and an optimizer"):
        _fit(classifier(model=uncompiled))
    with pytest.raises(ValueError, match="expected a keras.Model or a callable returning one"):
        _fit(classifier(model=not_a_model))
