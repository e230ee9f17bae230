"""Every family of fairness mitigation on UCI Adult, side by side (issue 16, item 6).

One run trains, for each seed, on the same rows and the same MLP (64-32-1, ReLU, Adam(1e-3),
batch 256): plain training; reweighing (pre-processing, Kamiran & Calders 2012:
`fairness.reweighing_weights` as `sample_weight`); adversarial debiasing (in-processing, Zhang et
al. 2018: `models.AdversarialDebiasingModel`, demographic parity, logistic adversary on the
logit, loss_weight 0.1: with 1.0 the adversary, sharing Adam(1e-3), falls behind and the gap
grows); Fairlearn's
`ThresholdOptimizer` (post-processing: the plain model's scores, fit on validation rows, equalizing
false positive rates); optionally Fairlearn's `ExponentiatedGradient` (reductions, demographic
parity) around `wrappers.MinDiffClassifier(loss_weight=0)`, i.e. the plain Keras model with
`sample_weight`; and Fairlearn's own `AdversarialFairnessClassifier` (torch, same predictor
layers, its default adversary and learning rate, the same epochs and batch size).

The sensitive attribute is sex. On the test split it reports each method's demographic parity
gap |P(yhat=1 | female) - P(yhat=1 | male)| and false positive rate gap at threshold 0.5, the ROC
AUC, and the fit time divided by the plain fit time of the same seed (seconds include tracing and
compilation; ThresholdOptimizer's time is the plain fit plus its own). Each value is the mean over
seeds with a 95% Student-t interval (`keras_regkit.compare.stats.t_interval`).

    KERAS_BACKEND=jax python benchmarks/fairness_mitigations.py [--seeds 3] [--epochs 5]
        [--quick] [--expgrad] [--expgrad-iterations 10] [--no-fairlearn-adversarial]

`--quick` trains on 6,000 training rows and tests on 5,000 (for a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

BATCH = 256
HIDDEN = (64, 32)


def load(quick: bool, seed: int):
    from keras_regkit.datasets import load_adult

    train, test = load_adult()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train.y))
    if quick:
        order = order[:6000]
    split = int(0.8 * len(order))
    fit_rows, val_rows = order[:split], order[split:]
    test_rows = np.arange(len(test.y))
    if quick:
        test_rows = np.random.default_rng(0).permutation(len(test.y))[:5000]
    female_train = (train.sensitive["sex"] == "Female").astype("int32")
    female_test = (test.sensitive["sex"] == "Female").astype("int32")
    return {
        "x": train.x[fit_rows].astype("float32"),
        "y": train.y[fit_rows].astype("float32"),
        "s": female_train[fit_rows],
        "x_val": train.x[val_rows].astype("float32"),
        "y_val": train.y[val_rows].astype("float32"),
        "s_val": female_train[val_rows],
        "x_test": test.x[test_rows].astype("float32"),
        "y_test": test.y[test_rows].astype("int32"),
        "s_test": female_test[test_rows],
    }


def mlp(n_features: int, seed: int, sigmoid: bool = False):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((n_features,))]
    layers += [keras.layers.Dense(units, "relu") for units in HIDDEN]
    layers.append(keras.layers.Dense(1, "sigmoid" if sigmoid else None))
    return keras.Sequential(layers)


def compile_kwargs():
    import keras

    return {
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": keras.losses.BinaryCrossentropy(from_logits=True),
    }


def auc(y, score):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def gaps(y, decision, s):
    """Demographic parity and false positive rate gaps of 0/1 decisions between the groups."""
    decision = np.asarray(decision).astype(bool)
    rates = [decision[s == g].mean() for g in (0, 1)]
    fprs = [decision[(s == g) & (y == 0)].mean() for g in (0, 1)]
    return abs(rates[1] - rates[0]), abs(fprs[1] - fprs[0])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def run_seed(args, seed: int) -> dict[str, dict[str, float]]:
    import keras

    from keras_regkit.fairness import reweighing_weights
    from keras_regkit.models import AdversarialDebiasingModel

    data = load(args.quick, seed)
    d = data["x"].shape[1]
    fit = {"epochs": args.epochs, "batch_size": BATCH, "verbose": 0}
    results = {}

    def record(name, seconds, score, decision=None):
        decision = score > 0.5 if decision is None else decision
        dp, fpr = gaps(data["y_test"], decision, data["s_test"])
        results[name] = {
            "seconds": seconds,
            "dp_gap": dp,
            "fpr_gap": fpr,
            "auc": auc(data["y_test"], score),
        }

    def timed(function):
        start = time.perf_counter()
        out = function()
        return out, time.perf_counter() - start

    plain = mlp(d, seed)
    plain.compile(**compile_kwargs())
    _, seconds = timed(lambda: plain.fit(data["x"], data["y"], **fit))
    plain_score = sigmoid(plain.predict(data["x_test"], verbose=0)[:, 0])
    record("plain", seconds, plain_score)

    weights = reweighing_weights(data["y"], data["s"])
    reweighed = mlp(d, seed)
    reweighed.compile(**compile_kwargs())
    _, seconds = timed(lambda: reweighed.fit(data["x"], data["y"], sample_weight=weights, **fit))
    record("reweighing", seconds, sigmoid(reweighed.predict(data["x_test"], verbose=0)[:, 0]))

    adversarial = AdversarialDebiasingModel(mlp(d, seed), loss_weight=args.loss_weight)
    adversarial.compile(**compile_kwargs())
    _, seconds = timed(
        lambda: adversarial.fit({"features": data["x"], "sensitive": data["s"]}, data["y"], **fit)
    )
    record(
        "adversarial_debiasing",
        seconds,
        sigmoid(adversarial.predict(data["x_test"], verbose=0)[:, 0]),
    )

    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Prefit(ClassifierMixin, BaseEstimator):
        """The plain Keras model's scores as a fitted scikit-learn estimator."""

        def __sklearn_is_fitted__(self):
            return True

        def fit(self, X, y, **kwargs):
            return self

        def predict(self, X):
            # float64: Fairlearn writes interpolated float64 scores into this array.
            return sigmoid(plain.predict(np.asarray(X, "float32"), verbose=0)[:, 0]).astype(
                "float64"
            )

    postprocess = ThresholdOptimizer(
        estimator=Prefit(),
        constraints="false_positive_rate_parity",
        prefit=True,
        predict_method="predict",
    )
    _, post_seconds = timed(
        lambda: postprocess.fit(data["x_val"], data["y_val"], sensitive_features=data["s_val"])
    )
    decision = postprocess.predict(
        data["x_test"], sensitive_features=data["s_test"], random_state=seed
    )
    positive = postprocess._pmf_predict(data["x_test"], sensitive_features=data["s_test"])[:, 1]
    record("threshold_optimizer", results["plain"]["seconds"] + post_seconds, positive, decision)

    if args.expgrad:
        from fairlearn.reductions import DemographicParity, ExponentiatedGradient

        from keras_regkit.wrappers import MinDiffClassifier

        def build(X, y):
            model = mlp(X.shape[1], seed, sigmoid=True)
            model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
            return model

        # Without sensitive_features and with loss_weight=0 it trains the plain model with
        # the reduction's sample_weight.
        estimator = MinDiffClassifier(build, loss_weight=0.0, random_state=seed, fit_kwargs=fit)
        reduction = ExponentiatedGradient(
            estimator, DemographicParity(), max_iter=args.expgrad_iterations
        )
        _, seconds = timed(
            lambda: reduction.fit(data["x"], data["y"], sensitive_features=data["s"])
        )
        score = reduction._pmf_predict(data["x_test"])[:, 1]
        record("exponentiated_gradient", seconds, score)

    if args.fairlearn_adversarial:
        import torch
        from fairlearn.adversarial import AdversarialFairnessClassifier

        torch.manual_seed(seed)
        layers = [item for units in HIDDEN for item in (units, "relu")]
        theirs = AdversarialFairnessClassifier(
            backend="torch",
            predictor_model=layers,
            adversary_model=[],  # logistic regression, as ours
            alpha=args.loss_weight,
            epochs=args.epochs,
            batch_size=BATCH,
            random_state=seed,
        )
        _, seconds = timed(lambda: theirs.fit(data["x"], data["y"], sensitive_features=data["s"]))
        score = np.asarray(theirs._raw_predict(data["x_test"])).reshape(-1)  # no predict_proba
        decision = np.asarray(theirs.predict(data["x_test"])).reshape(-1)
        record("fairlearn_adversarial", seconds, score, decision)

    for values in results.values():
        values["time_ratio"] = values["seconds"] / results["plain"]["seconds"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--loss-weight", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--expgrad", action="store_true")
    parser.add_argument("--expgrad-iterations", type=int, default=10)
    parser.add_argument(
        "--no-fairlearn-adversarial", dest="fairlearn_adversarial", action="store_false"
    )
    args = parser.parse_args()

    import keras

    from keras_regkit.compare.stats import t_interval

    runs = []
    for seed in range(args.seeds):
        runs.append(run_seed(args, seed))
        print(
            f"seed {seed}: "
            + ", ".join(f"{name} {v['seconds']:.1f}s" for name, v in runs[-1].items()),
            flush=True,
        )
    print(
        f"\nbackend {keras.backend.backend()}, {args.seeds} seeds, {args.epochs} epochs, "
        f"{'quick' if args.quick else 'full'} data, {os.cpu_count()} CPUs; mean [95% t interval]"
    )
    columns = ("dp_gap", "fpr_gap", "auc", "time_ratio")
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name in runs[0]:
        cells = []
        for column in columns:
            interval = t_interval(run[name][column] for run in runs)
            cells.append(f"{interval.mean:.3f} [{interval.low:.3f}, {interval.high:.3f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
