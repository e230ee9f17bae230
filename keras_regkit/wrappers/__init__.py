"""keras_regkit.wrappers: scikit-learn estimators built on `keras.wrappers`.

`MinDiffClassifier` trains a Keras model with MinDiff behind the scikit-learn
classifier API, so fairness regularization fits in Pipelines, GridSearchCV and
Fairlearn's post-processing. scikit-learn is needed to use it, not to import it.
"""

from keras_regkit.wrappers.min_diff_classifier import MinDiffClassifier

__all__ = ["MinDiffClassifier"]
