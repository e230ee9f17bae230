"""The techniques `keras-regkit compare` trains, each on the same base MLP."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from keras_regkit import (
    callbacks,
    counterfactual,
    fairness,
    min_diff,
    models,
    optimizers,
    recipes,
    regularizers,
)
from keras_regkit import layers as regkit_layers
from keras_regkit.compare import counterfactuals


@dataclasses.dataclass(frozen=True)
class Technique:
    """One row family of the comparison, with its strength: the one place it is written.

    Attributes:
        name: the name `--techniques` takes.
        label: the name in the table.
        template: what exactly is applied; `{strength}` stands for the strength.
        reference: the paper (or Keras object) behind it.
        strength: the default strength (the factor, rate, alpha, patience, ...) that `build`
            applies, or None for a technique without one. MinDiff's strength is its loss
            weight, given per run (`DEFAULT_MIN_DIFF_WEIGHTS`).
    """

    name: str
    label: str
    template: str
    reference: str
    strength: float | None = None
    # Fairness mitigations by family (the frontier's legend): "pre-processing" (the data),
    # "in-processing" (the training), "post-processing" (the decisions); None for the
    # regularizers.
    family: str | None = None

    @property
    def setting(self) -> str:
        """The setting at the default strength."""
        return self.describe()

    def describe(self, strengths=None) -> str:
        """The setting with the strength(s) that ran (default: the default strength)."""
        if strengths is None or isinstance(strengths, (int, float)):
            strengths = [self.strength if strengths is None else strengths]
        values = sorted({float(v) for v in strengths if v is not None})
        if not values and self.strength is not None:
            values = [float(self.strength)]
        if not values:
            return self.template.replace("{strength}", "?")
        text = (
            f"{values[0]:g}"
            if len(values) == 1
            else "{" + ", ".join(f"{v:g}" for v in values) + "}"
        )
        return self.template.replace("{strength}", text)


TECHNIQUES = {
    t.name: t
    for t in (
        Technique("none", "None", "the base MLP, no regularization", ""),
        Technique(
            "l2",
            "L2",
            "keras.regularizers.L2({strength}) on every kernel",
            "weight decay, Krogh & Hertz (NeurIPS 1991)",
            1e-3,
        ),
        Technique(
            "elastic_net",
            "ElasticNet",
            "ElasticNet({strength}, l1_ratio=0.5) on every kernel",
            "Zou & Hastie (JRSS-B 2005)",
            1e-4,
        ),
        Technique(
            "group_lasso",
            "GroupLasso",
            "GroupLasso({strength}) on the first kernel, one group per input feature",
            "Yuan & Lin (JRSS-B 2006); Scardapane et al. (Neurocomputing 2017)",
            2e-3,
        ),
        Technique(
            "dropout",
            "Dropout",
            "Dropout({strength}) after every hidden layer",
            "Srivastava et al. (JMLR 2014)",
            0.3,
        ),
        Technique(
            "drop_connect",
            "DropConnect",
            "DropConnectDense(rate={strength}) for every hidden layer",
            "Wan et al. (ICML 2013)",
            0.3,
        ),
        Technique(
            "batch_norm",
            "BatchNorm",
            "BatchNormalization before every hidden activation",
            "Ioffe & Szegedy (ICML 2015)",
        ),
        Technique(
            "gaussian_noise",
            "Gaussian noise",
            "keras.layers.GaussianNoise({strength}) on the inputs",
            "Bishop (Neural Computation 1995)",
            0.2,
        ),
        Technique(
            "mixup",
            "MixUp",
            "recipes.MixUpPyDataset(alpha={strength}): every training batch mixed as "
            "layers.TabularMixUp mixes one",
            "Zhang et al. (ICLR 2018)",
            0.2,
        ),
        Technique(
            "max_norm",
            "MaxNorm",
            "keras.constraints.MaxNorm({strength}) on every hidden kernel",
            "Srivastava et al. (JMLR 2014)",
            0.5,
        ),
        Technique(
            "early_stopping",
            "Early stopping",
            "keras.callbacks.EarlyStopping on the validation cross-entropy, patience "
            "{strength}, best weights restored",
            "Prechelt (1998)",
            3,
        ),
        Technique(
            "weight_noise",
            "Weight noise",
            "NoisyDense(stddev={strength}) for every hidden layer",
            "Graves (NeurIPS 2011); An (Neural Computation 1996)",
            0.02,
        ),
        Technique(
            "min_diff",
            "MinDiff",
            "MinDiffModel(MMDLoss('gaussian'), loss_weight={strength}) for false-positive-rate "
            "parity: the predictions on negative examples of the two groups are pushed to the "
            "same distribution",
            "Prost et al. (arXiv:1910.11779, 2019)",
            family="in-processing",
        ),
        Technique(
            "clp",
            "CLP",
            "counterfactual.CounterfactualModel(PairwiseMSELoss(), loss_weight={strength}): "
            "every training row paired with its copy with the sensitive attribute swapped",
            "Garg et al. (AIES 2019)",
            5.0,
            family="in-processing",
        ),
        Technique(
            "adversarial_debiasing",
            "Adversarial debiasing",
            "models.AdversarialDebiasingModel(loss_weight={strength}, "
            "criterion='demographic_parity'): an adversary predicts the group from the score; "
            "the predictor's gradient loses its projection on the adversary's",
            "Zhang, Lemoine & Mitchell (AIES 2018)",
            0.1,
            family="in-processing",
        ),
        Technique(
            "threshold_optimizer",
            "Threshold optimizer",
            "fairlearn ThresholdOptimizer on the base MLP's scores, fit on the validation rows, "
            "false positive rate parity: group-specific (randomized) thresholds; no "
            "probabilities, so no losses",
            "Hardt, Price & Srebro (NeurIPS 2016)",
            family="post-processing",
        ),
        Technique(
            "exponentiated_gradient",
            "Exponentiated gradient",
            "fairlearn ExponentiatedGradient(FalsePositiveRateParity(), max_iter={strength}) "
            "around the base MLP (wrappers.MinDiffClassifier(loss_weight=0)): a randomized "
            "mixture of MLPs, each retrained on reweighted rows; no probabilities, so no losses",
            "Agarwal et al. (ICML 2018)",
            5,
            family="in-processing",
        ),
        Technique(
            "reweighing",
            "Reweighing",
            "fairness.reweighing_weights(y, sex) as fit's sample_weight: every (group, label) "
            "cell weighs as if label and group were independent",
            "Kamiran & Calders (KAIS 2012)",
            family="pre-processing",
        ),
        Technique(
            "sam",
            "SAM",
            "models.SharpnessAwareModel(rho={strength}): each step at the worst point of a "
            "rho-ball around the weights",
            "Foret et al. (ICLR 2021)",
            0.05,
        ),
        Technique(
            "lookahead",
            "Lookahead",
            "optimizers.Lookahead(Adam, sync_period={strength}, slow_step_size=0.5)",
            "Zhang et al. (NeurIPS 2019)",
            5,
        ),
        Technique(
            "swa",
            "SWA",
            "callbacks.StochasticWeightAveraging(start_epoch=floor({strength} x epochs)): the "
            "equal-weight average of the epoch-end weights from there on",
            "Izmailov et al. (UAI 2018)",
            0.75,
        ),
        Technique(
            "recipe",
            "Recipe",
            "keras_regkit.recipes.recommend(...) for this data and network, shown below",
            "",
        ),
    )
}
# Not in the default run: weight noise, and the second wave's techniques (the default run's
# published numbers stay comparable); `--techniques` runs them.
DEFAULT_TECHNIQUES = tuple(
    name
    for name in TECHNIQUES
    if name
    not in ("weight_noise", "reweighing", "sam", "lookahead", "swa", "exponentiated_gradient")
)
DEFAULT_MIN_DIFF_WEIGHTS = (0.5, 1.5, 3.0, 5.0)
# Techniques that need the sensitive groups (MinDiff and CLP say why they cannot run).
# Demographic parity: on Adult (20 epochs, 3 seeds, weights 0.1 and 0.3) equalized odds
# collapsed some runs (FPR gap 0.12-0.19 +-0.2), demographic parity did not.
ADVERSARIAL_CRITERION = "demographic_parity"
NEEDS_GROUPS = (
    "reweighing",
    "adversarial_debiasing",
    "threshold_optimizer",
    "exponentiated_gradient",
)


@dataclasses.dataclass
class Setup:
    """A model ready to compile and the arguments of its `fit`."""

    model: keras.Model  # the model to compile and fit
    original: keras.Model  # the model to predict with (differs for MinDiff)
    x: Any
    y: Any = None
    callbacks: list = dataclasses.field(default_factory=list)
    batch_size: int | None = None
    recipe: recipes.Recipe | None = None
    strength: float | None = None
    sample_weight: Any = None  # fit's sample_weight (with array x)
    optimizer: Any = None  # wraps the Adam optimizer (a callable), or None
    # Decides after training (post-processing): a `ThresholdDecisions`, or None.
    postprocess: Any = None


def mlp(
    n_features: int,
    hidden_units: tuple[int, ...],
    seed: int,
    *,
    kernel_regularizer=None,
    first_kernel_regularizer=None,
    kernel_constraint=None,
    dense_cls=keras.layers.Dense,
    dense_kwargs: dict | None = None,
    input_noise: float = 0.0,
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> keras.Sequential:
    """The base MLP (ReLU hidden layers, sigmoid output) with one technique switched on.

    Every variant draws the same initial kernels (seeded initializers), so the
    techniques start from the same weights.
    """
    layers: list = [keras.Input((n_features,))]
    if input_noise:
        layers.append(keras.layers.GaussianNoise(input_noise, seed=seed))
    for index, units in enumerate(hidden_units):
        reg = first_kernel_regularizer if index == 0 and first_kernel_regularizer else None
        reg = reg or (kernel_regularizer() if kernel_regularizer else None)
        layers.append(
            dense_cls(
                units,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1 + index),
                kernel_regularizer=reg,
                kernel_constraint=kernel_constraint() if kernel_constraint else None,
                name=f"dense_{index + 1}",
                **(dense_kwargs or {}),
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{index + 1}"))
        layers.append(keras.layers.Activation("relu", name=f"relu_{index + 1}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, seed=seed + 100 + index))
    layers.append(
        keras.layers.Dense(
            1,
            activation="sigmoid",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            kernel_regularizer=kernel_regularizer() if kernel_regularizer else None,
            name="output",
        )
    )
    return keras.Sequential(layers, name="mlp")


def build(
    name: str,
    task,
    hidden_units: tuple[int, ...],
    batch_size: int,
    seed: int,
    min_diff_weight: float | None = None,
    strength: float | None = None,
    epochs: int = 20,
) -> Setup:
    """The `Setup` of technique `name` on `task` (a `TabularTask`).

    `strength` overrides the technique's default `Technique.strength` (MinDiff takes
    `min_diff_weight`); `Setup.strength` is the value applied. `epochs`, the epochs
    the run will train, places SWA's start.
    """
    if is_combination(name):
        check_combination(name)
        setup = _build_combination(
            name.split("+"), task, hidden_units, batch_size, seed, min_diff_weight, epochs
        )
        setup.strength = None if min_diff_weight is None else float(min_diff_weight)
        return setup
    if name not in TECHNIQUES:
        raise ValueError(
            f"Invalid value for argument `name`: expected one of {tuple(TECHNIQUES)}. "
            f"Received: name={name!r}"
        )
    if name == "min_diff":
        strength = min_diff_weight
    elif strength is None:
        strength = TECHNIQUES[name].strength
    setup = _build(name, task, hidden_units, batch_size, seed, strength, epochs)
    setup.strength = None if strength is None else float(strength)
    return setup


def _build(name, task, hidden_units, batch_size, seed, s, epochs=20) -> Setup:
    n = task.n_features
    # (n, 1) labels match the model's output for the cross-entropy metric.
    x, y = task.x_train, task.y_train.reshape(-1, 1)

    def plain(**kwargs):
        model = mlp(n, hidden_units, seed, **kwargs)
        return Setup(model, model, x, y, batch_size=batch_size)

    if name == "none":
        return plain()
    if name == "l2":
        return plain(kernel_regularizer=lambda: keras.regularizers.L2(s))
    if name == "elastic_net":
        return plain(kernel_regularizer=lambda: regularizers.ElasticNet(s, l1_ratio=0.5))
    if name == "group_lasso":
        return plain(first_kernel_regularizer=regularizers.GroupLasso(s))
    if name == "dropout":
        return plain(dropout=s)
    if name == "drop_connect":
        return plain(
            dense_cls=regkit_layers.DropConnectDense, dense_kwargs={"rate": s, "seed": seed}
        )
    if name == "batch_norm":
        return plain(batch_norm=True)
    if name == "gaussian_noise":
        return plain(input_noise=s)
    if name == "max_norm":
        return plain(kernel_constraint=lambda: keras.constraints.MaxNorm(s))
    if name == "weight_noise":
        return plain(dense_cls=regkit_layers.NoisyDense, dense_kwargs={"stddev": s, "seed": seed})
    if name == "early_stopping":
        setup = plain()
        setup.callbacks = [_early_stopping(s)]
        return setup
    if name == "mixup":
        model = mlp(n, hidden_units, seed)
        data = recipes.MixUpPyDataset(x, y, alpha=s, batch_size=batch_size, seed=seed)
        return Setup(model, model, data)
    if name == "min_diff":
        return _with_min_diff(
            Setup(mlp(n, hidden_units, seed), None, x, y), task, batch_size, seed, s
        )
    if name == "clp":
        return _with_clp(Setup(mlp(n, hidden_units, seed), None, x, y), task, batch_size, seed, s)
    if name == "adversarial_debiasing":
        original = mlp(n, hidden_units, seed)
        model = models.AdversarialDebiasingModel(
            original, loss_weight=s, criterion=ADVERSARIAL_CRITERION
        )
        inputs = {"features": x, "sensitive": task.groups_train.astype("int32")}
        return Setup(model, original, inputs, y, batch_size=batch_size)
    if name == "exponentiated_gradient":
        setup = plain()
        setup.postprocess = ReductionDecisions(n, hidden_units, seed, int(s))
        return setup
    if name == "threshold_optimizer":
        setup = plain()
        setup.postprocess = ThresholdDecisions(seed)
        return setup
    if name == "reweighing":
        setup = plain()
        setup.sample_weight = fairness.reweighing_weights(task.y_train, task.groups_train)
        return setup
    if name == "sam":
        original = mlp(n, hidden_units, seed)
        model = models.SharpnessAwareModel(original, rho=s)
        return Setup(model, original, x, y, batch_size=batch_size)
    if name == "lookahead":
        setup = plain()
        setup.optimizer = lambda inner: optimizers.Lookahead(inner, sync_period=int(s))
        return setup
    if name == "swa":
        setup = plain()
        setup.callbacks = [_swa(s, epochs, x)]
        return setup
    if name == "recipe":
        recipe = recipe_for(task, hidden_units, seed)
        model = recipe.build_model((n,), hidden_units=hidden_units, name="recipe_mlp")
        data = recipe.training_data(x, y, batch_size=batch_size)
        callbacks = recipe.callbacks(monitor="val_binary_crossentropy")
        return Setup(model, model, data, callbacks=callbacks, recipe=recipe)
    raise ValueError(
        f"Invalid value for argument `name`: expected one of {tuple(TECHNIQUES)}. "
        f"Received: name={name!r}"
    )


def _rewrapped(setup: Setup, model, original, data) -> Setup:
    """`setup` training `model` (around `original`) on `data`, its callbacks and optimizer kept."""
    return Setup(
        model,
        original,
        data,
        callbacks=setup.callbacks,
        recipe=setup.recipe,
        optimizer=setup.optimizer,
    )


def _with_min_diff(setup: Setup, task, batch_size: int, seed: int, weight: float) -> Setup:
    """`setup` with its model wrapped in MinDiff, trained on MinDiff batches of its rows."""
    original = setup.model
    model = min_diff.MinDiffModel(original, min_diff.MMDLoss("gaussian"), loss_weight=float(weight))
    x, y = task.x_train, task.y_train.reshape(-1, 1)
    negatives = task.y_train == 0
    data = min_diff.MinDiffPyDataset(
        x,
        y,
        sensitive_x=x[task.groups_train & negatives],
        nonsensitive_x=x[~task.groups_train & negatives],
        batch_size=batch_size,
        seed=seed,
    )
    return _rewrapped(setup, model, original, data)


def _with_clp(setup: Setup, task, batch_size: int, seed: int, weight: float) -> Setup:
    """`setup` with its model trained by Counterfactual Logit Pairing on sex-swapped pairs."""
    original = setup.model
    model = counterfactual.CounterfactualModel(
        original, counterfactual.PairwiseMSELoss(), loss_weight=float(weight)
    )
    x, y = task.x_train, task.y_train.reshape(-1, 1)
    data = counterfactual.CounterfactualPyDataset(
        x,
        y,
        counterfactual_x=counterfactuals.counterfactual_x(task, x),
        batch_size=batch_size,
        seed=seed,
    )
    return _rewrapped(setup, model, original, data)


# Combinations: what each technique changes, so two that change the same thing do not compose.
# The MLP's arguments each technique sets (the strength `s` applied).
_MLP_ARGUMENTS = {
    "l2": lambda s, seed: {"kernel_regularizer": lambda: keras.regularizers.L2(s)},
    "elastic_net": lambda s, seed: {
        "kernel_regularizer": lambda: regularizers.ElasticNet(s, l1_ratio=0.5)
    },
    "group_lasso": lambda s, seed: {"first_kernel_regularizer": regularizers.GroupLasso(s)},
    "dropout": lambda s, seed: {"dropout": s},
    "drop_connect": lambda s, seed: {
        "dense_cls": regkit_layers.DropConnectDense,
        "dense_kwargs": {"rate": s, "seed": seed},
    },
    "weight_noise": lambda s, seed: {
        "dense_cls": regkit_layers.NoisyDense,
        "dense_kwargs": {"stddev": s, "seed": seed},
    },
    "batch_norm": lambda s, seed: {"batch_norm": True},
    "gaussian_noise": lambda s, seed: {"input_noise": s},
    "max_norm": lambda s, seed: {"kernel_constraint": lambda: keras.constraints.MaxNorm(s)},
}
# What the others change: the training batches, the model and its training.
_CHANGES = {
    "mixup": ("the training batches",),
    "min_diff": ("the training batches", "the model wrapper"),
    "clp": ("the training batches", "the model wrapper"),
    "adversarial_debiasing": ("the training batches", "the model wrapper"),
    "threshold_optimizer": ("the decisions",),
    "exponentiated_gradient": ("the training", "the decisions"),
    "early_stopping": ("the callbacks", "the final weights"),
    "swa": ("the final weights",),
    "reweighing": ("the training batches",),  # their weights
    "sam": ("the model wrapper",),
    "lookahead": ("the optimizer",),
    "recipe": ("the network", "the callbacks"),
}
DEFAULT_COMBINATIONS = ("recipe+min_diff",)


def is_combination(name: str) -> bool:
    """Whether `name` names techniques trained together, as `"l2+min_diff"`."""
    return "+" in name


def uses_min_diff(name: str) -> bool:
    """Whether technique (or combination) `name` trains with MinDiff, once per MinDiff weight."""
    return "min_diff" in name.split("+")


def _changes(name: str) -> set[str]:
    if name in _MLP_ARGUMENTS:
        return {f"the MLP's {key}" for key in _MLP_ARGUMENTS[name](1.0, 0)}
    return set(_CHANGES.get(name, ()))


def check_combination(name: str) -> list[str]:
    """The techniques of combination `name` (`"a+b"`), or a `ValueError` naming what cannot compose.

    Two techniques compose unless they change the same thing: the same argument of
    the MLP (L2 and ElasticNet both set the kernel regularizer), the training
    batches (MixUp and MinDiff), or the network (the recipe builds its own, so it
    composes only with MinDiff, whose batches replace the recipe's MixUp).
    """
    parts = name.split("+")
    unknown = [part for part in parts if part not in TECHNIQUES]
    if unknown or len(parts) < 2:
        raise ValueError(
            f"Invalid combination {name!r}: expected technique names joined by '+', from "
            f"{tuple(TECHNIQUES)}; unknown: {unknown or parts}"
        )
    for index, first in enumerate(parts):
        for second in parts[index + 1 :]:
            if first == second or "none" in (first, second):
                raise ValueError(f"Invalid combination {name!r}: {first}+{second} is not a pair")
            if {first, second} == {"recipe", "min_diff"}:
                continue
            shared = sorted(_changes(first) & _changes(second))
            if "recipe" in (first, second) and not shared:
                shared = ["the network"]
            if shared:
                raise ValueError(
                    f"Invalid combination {name!r}: {first} and {second} cannot be trained "
                    f"together: both change {', '.join(shared)}"
                )
    return parts


def technique(name: str) -> Technique:
    """The `Technique` of `name`, a technique or a combination (its parts at their strengths)."""
    if not is_combination(name):
        return TECHNIQUES[name]
    parts = [TECHNIQUES[part] for part in check_combination(name)]
    templates = [part.template if part.name == "min_diff" else part.describe() for part in parts]
    if "recipe" in name.split("+"):
        templates.append("MinDiff's batches replace the recipe's MixUp")
    return Technique(
        name,
        " + ".join(part.label for part in parts),
        "; ".join(templates),
        "; ".join(part.reference for part in parts if part.reference),
    )


def _build_combination(parts, task, hidden_units, batch_size, seed, weight, epochs=20) -> Setup:
    n = task.n_features
    x, y = task.x_train, task.y_train.reshape(-1, 1)
    if "recipe" in parts:
        recipe = recipe_for(task, hidden_units, seed)
        model = recipe.build_model((n,), hidden_units=hidden_units, name="recipe_mlp")
        callbacks = recipe.callbacks(monitor="val_binary_crossentropy")
        setup = Setup(model, model, x, y, callbacks=callbacks, recipe=recipe)
    else:
        arguments = {}
        for part in parts:
            if part in _MLP_ARGUMENTS:
                arguments.update(_MLP_ARGUMENTS[part](TECHNIQUES[part].strength, seed))
        model = mlp(n, hidden_units, seed, **arguments)
        setup = Setup(model, model, x, y, batch_size=batch_size)
    if "sam" in parts:
        inner = setup.model
        setup.model = models.SharpnessAwareModel(inner, rho=TECHNIQUES["sam"].strength)
        setup.original = inner
    if "lookahead" in parts:
        period = int(TECHNIQUES["lookahead"].strength)
        setup.optimizer = lambda inner: optimizers.Lookahead(inner, sync_period=period)
    if "reweighing" in parts:
        setup.sample_weight = fairness.reweighing_weights(task.y_train, task.groups_train)
    if "mixup" in parts:
        alpha = TECHNIQUES["mixup"].strength
        setup.x = recipes.MixUpPyDataset(x, y, alpha=alpha, batch_size=batch_size, seed=seed)
        setup.y = setup.batch_size = None
    if "early_stopping" in parts:
        setup.callbacks = [*setup.callbacks, _early_stopping(TECHNIQUES["early_stopping"].strength)]
    if "threshold_optimizer" in parts:
        setup.postprocess = ThresholdDecisions(seed)
    if "adversarial_debiasing" in parts:
        inner = setup.model
        setup.model = models.AdversarialDebiasingModel(
            inner,
            loss_weight=TECHNIQUES["adversarial_debiasing"].strength,
            criterion=ADVERSARIAL_CRITERION,
        )
        setup.original = inner
        setup.x = {"features": x, "sensitive": task.groups_train.astype("int32")}
    if "swa" in parts:
        setup.callbacks = [*setup.callbacks, _swa(TECHNIQUES["swa"].strength, epochs, x)]
    if "clp" in parts:
        setup = _with_clp(setup, task, batch_size, seed, TECHNIQUES["clp"].strength)
    if "min_diff" in parts:
        setup = _with_min_diff(setup, task, batch_size, seed, weight)
    return setup


class ThresholdDecisions:
    """Fairlearn's `ThresholdOptimizer` on a trained model's scores (post-processing).

    Fit on the validation rows for false-positive-rate parity (Hardt, Price & Srebro,
    NeurIPS 2016), it decides with group-specific thresholds, randomized between two
    where needed; `scores` are its probabilities of a positive decision.
    """

    def __init__(self, seed: int):
        self.seed = seed
        self._optimizer = None

    def fit(self, model: keras.Model, task) -> ThresholdDecisions:
        from fairlearn.postprocessing import ThresholdOptimizer  # the `compare` extra

        self._optimizer = ThresholdOptimizer(
            estimator=_prefit(model),
            constraints="false_positive_rate_parity",
            prefit=True,
            predict_method="predict",
        )
        self._optimizer.fit(
            task.x_val, task.y_val.astype("int32"), sensitive_features=task.groups_val
        )
        return self

    def scores(self, x, groups) -> np.ndarray:
        return self._optimizer._pmf_predict(x, sensitive_features=groups)[:, 1]

    def decide(self, x, groups) -> np.ndarray:
        decisions = self._optimizer.predict(x, sensitive_features=groups, random_state=self.seed)
        return np.asarray(decisions) == 1


class ReductionDecisions:
    """Fairlearn's `ExponentiatedGradient` around the base MLP (in-processing reductions).

    The reduction (Agarwal et al., "A Reductions Approach to Fair Classification",
    ICML 2018) retrains the MLP on reweighted rows `max_iter` times and decides with a
    randomized mixture of the models, for false-positive-rate parity on the training
    rows. It replaces the run's `fit` (`trains`); `scores` are the mixture's
    probabilities of a positive decision.
    """

    trains = True

    def __init__(self, n_features: int, hidden_units, seed: int, max_iter: int):
        self.n_features, self.hidden_units = n_features, tuple(hidden_units)
        self.seed, self.max_iter = seed, max_iter
        self._reduction = None
        self.model = None  # the mixture's heaviest model (its kernels give the sparsity)

    def train(self, task, epochs: int, batch_size: int, learning_rate: float) -> dict:
        from fairlearn.reductions import (  # the `compare` extra
            ExponentiatedGradient,
            FalsePositiveRateParity,
        )

        from keras_regkit.wrappers import MinDiffClassifier

        def build(X, y):
            model = mlp(self.n_features, self.hidden_units, self.seed)  # the same start
            model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
            return model

        fit = {"epochs": epochs, "batch_size": batch_size, "verbose": 0}
        estimator = MinDiffClassifier(
            build, loss_weight=0.0, random_state=self.seed, fit_kwargs=fit
        )
        self._reduction = ExponentiatedGradient(
            estimator, FalsePositiveRateParity(), max_iter=self.max_iter
        )
        self._reduction.fit(
            task.x_train, task.y_train.astype("int32"), sensitive_features=task.groups_train
        )
        heaviest = int(np.argmax(np.asarray(self._reduction.weights_)))
        predictor = self._reduction.predictors_.iloc[heaviest]
        self.model = predictor.model_
        return dict(predictor.history_)  # the training logs of the heaviest model

    def fit(self, model: keras.Model, task) -> ReductionDecisions:
        return self  # trained by `train`

    def scores(self, x, groups) -> np.ndarray:
        return self._reduction._pmf_predict(x)[:, 1]

    def decide(self, x, groups) -> np.ndarray:
        return np.asarray(self._reduction.predict(x, random_state=self.seed)) == 1


def _prefit(model: keras.Model):
    """A trained Keras model's scores as a fitted scikit-learn estimator."""
    from sklearn.base import BaseEstimator, ClassifierMixin  # the `compare` extra

    class Prefit(ClassifierMixin, BaseEstimator):
        def __sklearn_is_fitted__(self):
            return True

        def fit(self, x, y, **kwargs):
            return self

        def predict(self, x):
            # float64: Fairlearn writes interpolated float64 scores into this array.
            scores = model.predict(np.asarray(x, "float32"), batch_size=8192, verbose=0)
            return np.asarray(keras.ops.convert_to_numpy(scores), "float64").reshape(-1)

    return Prefit()


def _swa(fraction: float, epochs: int, x) -> callbacks.StochasticWeightAveraging:
    # Averaging starts at epoch floor(fraction x epochs), at least one epoch before the end;
    # the training rows recompute BatchNormalization statistics for the average.
    start = min(int(fraction * epochs), epochs - 1)
    return callbacks.StochasticWeightAveraging(start_epoch=start, bn_data=x, batch_size=1024)


def _early_stopping(patience) -> keras.callbacks.EarlyStopping:
    return keras.callbacks.EarlyStopping(
        monitor="val_binary_crossentropy", patience=int(patience), restore_best_weights=True
    )


def recipe_for(task, hidden_units: tuple[int, ...], seed: int) -> recipes.Recipe:
    """What `recipes.recommend` picks for `task` and the network (the "recipe" technique)."""
    return recipes.recommend(
        "binary",
        n_samples=len(task.y_train),
        n_features=task.n_features,
        depth=len(hidden_units),
        seed=seed,
    )


def kernels(model: keras.Model) -> list[np.ndarray]:
    """The kernels of every Dense-like layer of `model`, as NumPy arrays."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            found.append(keras.ops.convert_to_numpy(layer.kernel))
    return found
