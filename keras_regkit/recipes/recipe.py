"""Regularization recipes: a rule-based starting point for a dense network."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_regkit import _validation, fairness, layers, min_diff, models, optimizers, regularizers
from keras_regkit.recipes.mix_up_py_dataset import MixUpPyDataset
from keras_regkit.regularizers.elastic_net import ElasticNet

PROBLEM_TYPES = ("binary", "multiclass", "regression")
# Also accepted by `Recipe`: generative networks (the regularization guide's third problem type).
RECIPE_PROBLEM_TYPES = (*PROBLEM_TYPES, "generation")
# The regularization guide's words, accepted by `recommend` besides PROBLEM_TYPES.
GUIDE_PROBLEM_TYPES = ("classification", "regression", "generation")

RECIPE_FORMAT = "keras_regkit.Recipe/1"  # the `format` field of a recipe file

# The thresholds of `recommend`'s rules: the guide's boundaries between its size categories.
SMALL_DATA_SAMPLES = 10_000
LARGE_DATA_SAMPLES = 1_000_000
MANY_FEATURES = 100
HIGH_FEATURES = 10_000
MANY_FEATURES_PER_SAMPLE = 0.1
DEEP_NETWORK_LAYERS = 3

# The guide's categories: data_size "small" (< 10k samples), "medium" (10k-1M), "large" (> 1M);
# features "low" (< 100), "medium" (100-10k), "high" (> 10k).
DATA_SIZES = ("small", "medium", "large")
FEATURE_COUNTS = ("low", "medium", "high")

_OUTPUT_ACTIVATIONS = {
    "binary": "sigmoid",
    "multiclass": "softmax",
    "regression": None,
    "generation": None,
}


@keras.saving.register_keras_serializable(package="keras_regkit")
@dataclasses.dataclass(frozen=True)
class Recipe:
    """A regularization recipe for a dense (MLP) network, and the Keras objects it needs.

    A recipe is plain data: the strength of the weight penalty, the dropout
    rate, whether to use batch normalization, the augmentation and the early
    stopping patience. It builds fresh Keras objects on request, so one recipe
    configures any number of models. `recommend()` returns one from a few
    rules of thumb; a `Recipe` can also be written (or `dataclasses.replace`d)
    by hand, and round-trips through `get_config`/`from_config`.

    The techniques:

    - weight penalty: `keras.regularizers.L2` (weight decay; Krogh & Hertz,
      NeurIPS 1991), or `keras_regkit.regularizers.ElasticNet` when
      `l1_ratio > 0` (Zou & Hastie, 2005), on every kernel;
    - dropout after every hidden block (Srivastava et al., JMLR 2014);
    - batch normalization before every hidden activation (Ioffe & Szegedy,
      ICML 2015);
    - MixUp of training examples (Zhang et al., ICLR 2018) through
      `MixUpPyDataset`, and Gaussian noise on the inputs (Bishop, Neural
      Computation 1995);
    - early stopping on the validation loss with the best weights restored
      (Prechelt, 1998).

    Args:
        problem_type: `"binary"`, `"multiclass"`, `"regression"` or
            `"generation"`; sets the output activation (sigmoid, softmax,
            linear, linear).
        weight_decay: non-negative float, the factor of the kernel penalty
            (0 for none).
        l1_ratio: float in [0, 1]: 0 gives `L2(weight_decay)`, more gives
            `ElasticNet(weight_decay, l1_ratio)`.
        dropout_rate: float in [0, 1), 0 for no dropout.
        batch_norm: bool, whether hidden blocks use `BatchNormalization`.
        mixup_alpha: positive float, the MixUp Beta parameter, or None for no
            MixUp.
        input_noise_stddev: non-negative float, standard deviation of the
            `GaussianNoise` added to the inputs in training (0 for none).
        early_stopping_patience: positive int, epochs without improvement of
            the validation loss before training stops, or None for no early
            stopping.
        seed: int or None, base seed of the random layers and of the data.
        reasons: one line per rule behind the recipe (filled by `recommend`).
        group_lasso: non-negative float, the factor of a
            `regularizers.GroupLasso` on the first kernel, one group per input
            feature (Yuan & Lin, 2006), in place of the weight penalty there (0
            for none).
        max_norm: positive float, a `keras.constraints.MaxNorm` on every hidden
            kernel (Srivastava et al., JMLR 2014), or None.
        drop_connect_rate: float in [0, 1): hidden layers are
            `layers.DropConnectDense(rate)` (Wan et al., ICML 2013); 0 for none.
        weight_noise_stddev: non-negative float: hidden layers are
            `layers.NoisyDense(stddev)` (Graves, NeurIPS 2011); 0 for none. Not
            with `drop_connect_rate`.
        min_diff_weight: positive float: `wrap_model` trains under
            `min_diff.MinDiffModel(MMDLoss("gaussian"), loss_weight)` and
            `training_data` makes MinDiff batches for false-positive-rate parity
            (Prost et al., 2019); None for none. Not with MixUp.
        sam_rho: positive float: `wrap_model` trains under
            `models.SharpnessAwareModel(rho)` (Foret et al., ICLR 2021); None for
            none. Not with `min_diff_weight`.
        lookahead_sync_period: positive int: `optimizer` wraps the optimizer in
            `optimizers.Lookahead(sync_period)` (Zhang et al., NeurIPS 2019);
            None for none.
        reweighing: bool: `training_data` weighs every example by
            `fairness.reweighing_weights` (Kamiran & Calders, 2012). Not with
            MixUp or MinDiff.

    The last eight fields are what `keras-regkit compare` can measure beyond
    the rules of `recommend`: its `recipe.json` holds the measured best
    technique as a `Recipe` (`Recipe.load`). A model built by a recipe is plain
    Keras; the training-time techniques come from `wrap_model` (the model to
    compile and fit; predict with the built one), `optimizer`, `training_data`
    and `callbacks`.

    Example:

    ```python
    recipe = recommend("binary", n_samples=2_000, n_features=20, depth=3, seed=0)
    print(recipe)  # the rules that fired
    model = recipe.build_model(input_shape=(20,), hidden_units=(64, 64, 32))
    model.compile("adam", "binary_crossentropy")
    model.fit(
        recipe.training_data(x, y, batch_size=64),
        validation_data=(x_val, y_val),
        epochs=100,
        callbacks=recipe.callbacks(),
    )
    ```
    """

    problem_type: str
    weight_decay: float = 1e-4
    l1_ratio: float = 0.0
    dropout_rate: float = 0.0
    batch_norm: bool = False
    mixup_alpha: float | None = None
    input_noise_stddev: float = 0.0
    early_stopping_patience: int = 5
    seed: int | None = None
    reasons: tuple[str, ...] = ()
    group_lasso: float = 0.0
    max_norm: float | None = None
    drop_connect_rate: float = 0.0
    weight_noise_stddev: float = 0.0
    min_diff_weight: float | None = None
    sam_rho: float | None = None
    lookahead_sync_period: int | None = None
    reweighing: bool = False

    def __post_init__(self):
        _check_problem_type(self.problem_type)
        _set(self, "weight_decay", _validation.check_float("weight_decay", self.weight_decay, 0))
        _set(self, "l1_ratio", _validation.check_probability("l1_ratio", self.l1_ratio))
        _set(
            self,
            "dropout_rate",
            _validation.check_probability("dropout_rate", self.dropout_rate, include_one=False),
        )
        _set(self, "batch_norm", _validation.check_bool("batch_norm", self.batch_norm))
        alpha = _validation.check_float(
            "mixup_alpha", self.mixup_alpha, 0, min_inclusive=False, allow_none=True
        )
        _set(self, "mixup_alpha", alpha)
        _set(
            self,
            "input_noise_stddev",
            _validation.check_float("input_noise_stddev", self.input_noise_stddev, 0),
        )
        patience = _validation.check_int(
            "early_stopping_patience", self.early_stopping_patience, 1, allow_none=True
        )
        _set(self, "early_stopping_patience", patience)
        self._check_measured_fields()
        _set(self, "seed", _validation.check_seed(self.seed))
        if isinstance(self.reasons, str) or not all(isinstance(r, str) for r in self.reasons):
            raise ValueError(
                "Invalid value for argument `reasons`: expected a sequence of strings. "
                f"Received: reasons={self.reasons!r}"
            )
        _set(self, "reasons", tuple(self.reasons))

    def _check_measured_fields(self):
        _set(self, "group_lasso", _validation.check_float("group_lasso", self.group_lasso, 0))
        _set(
            self,
            "max_norm",
            _validation.check_float(
                "max_norm", self.max_norm, 0, min_inclusive=False, allow_none=True
            ),
        )
        _set(
            self,
            "drop_connect_rate",
            _validation.check_float(
                "drop_connect_rate", self.drop_connect_rate, 0, 1, max_inclusive=False
            ),
        )
        _set(
            self,
            "weight_noise_stddev",
            _validation.check_float("weight_noise_stddev", self.weight_noise_stddev, 0),
        )
        for name in ("min_diff_weight", "sam_rho"):
            value = getattr(self, name)
            _set(
                self,
                name,
                _validation.check_float(name, value, 0, min_inclusive=False, allow_none=True),
            )
        _set(
            self,
            "lookahead_sync_period",
            _validation.check_int(
                "lookahead_sync_period", self.lookahead_sync_period, 1, allow_none=True
            ),
        )
        _set(self, "reweighing", _validation.check_bool("reweighing", self.reweighing))
        exclusive = [
            ("drop_connect_rate", "weight_noise_stddev", "both replace the hidden Dense layers"),
            ("min_diff_weight", "mixup_alpha", "both make the training batches"),
            ("min_diff_weight", "sam_rho", "both wrap the model's training step"),
            ("reweighing", "mixup_alpha", "MixUp batches carry no example weights"),
            ("reweighing", "min_diff_weight", "both make the training batches"),
        ]
        for first, second, why in exclusive:
            a, b = getattr(self, first), getattr(self, second)
            if a not in (None, 0, False) and b not in (None, 0, False):
                raise ValueError(
                    f"Invalid value for argument `{second}`: a recipe with `{first}` cannot also "
                    f"have `{second}` ({why}). Received: {first}={a!r}, {second}={b!r}"
                )

    # -- Keras objects -----------------------------------------------------------------------

    def kernel_regularizer(self) -> keras.regularizers.Regularizer | None:
        """A new kernel regularizer: `L2`, `ElasticNet`, or None without a penalty."""
        if self.weight_decay == 0:
            return None
        if self.l1_ratio == 0:
            return keras.regularizers.L2(self.weight_decay)
        return ElasticNet(self.weight_decay, l1_ratio=self.l1_ratio)

    def input_layers(self) -> list[keras.layers.Layer]:
        """Layers to put right after the `Input`: `GaussianNoise`, or nothing."""
        if self.input_noise_stddev == 0:
            return []
        return [
            keras.layers.GaussianNoise(
                self.input_noise_stddev, seed=self._seed(0), name="input_noise"
            )
        ]

    def hidden_block(
        self, units: int, activation: str = "relu", block_index: int = 0
    ) -> list[keras.layers.Layer]:
        """The layers of one hidden block.

        `Dense(units)` with the kernel penalty (without a bias under batch
        normalization, which has its own offset), then `BatchNormalization`,
        the activation and `Dropout`, as the recipe says.

        Args:
            units: positive int, width of the block.
            activation: activation name.
            block_index: position of the block in the network; gives each
                block's dropout its own seed and the layers distinct names.

        Returns:
            A list of layers, to add to a `keras.Sequential` in order.
        """
        units = _validation.check_int("units", units, 1)
        block_index = _validation.check_int("block_index", block_index, 0)
        n = block_index + 1
        dense_cls, extra = keras.layers.Dense, {}
        if self.drop_connect_rate > 0:
            dense_cls = layers.DropConnectDense
            extra = {"rate": self.drop_connect_rate, "seed": self._seed(300 + n)}
        elif self.weight_noise_stddev > 0:
            dense_cls = layers.NoisyDense
            extra = {"stddev": self.weight_noise_stddev, "seed": self._seed(300 + n)}
        block = [
            dense_cls(
                units,
                use_bias=not self.batch_norm,
                kernel_regularizer=self._hidden_regularizer(block_index),
                kernel_constraint=(
                    None if self.max_norm is None else keras.constraints.MaxNorm(self.max_norm)
                ),
                kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed(100 + n)),
                name=f"dense_{n}",
                **extra,
            )
        ]
        if self.batch_norm:
            block.append(keras.layers.BatchNormalization(name=f"batch_norm_{n}"))
        block.append(keras.layers.Activation(activation, name=f"{activation}_{n}"))
        if self.dropout_rate > 0:
            block.append(
                keras.layers.Dropout(self.dropout_rate, seed=self._seed(n), name=f"dropout_{n}")
            )
        return block

    def _hidden_regularizer(self, block_index: int):
        if block_index == 0 and self.group_lasso > 0:
            return regularizers.GroupLasso(self.group_lasso)
        return self.kernel_regularizer()

    def output_layer(self, units: int | None = None) -> keras.layers.Dense:
        """The output `Dense` layer, with the problem type's activation and the penalty.

        Args:
            units: output width. Defaults to 1 for binary and regression
                problems; required (>= 2, the number of classes) for multiclass.
        """
        if units is None:
            if self.problem_type == "multiclass":
                raise ValueError(
                    "Invalid value for argument `units`: a multiclass recipe needs the number "
                    "of classes. Received: units=None"
                )
            units = 1
        units = _validation.check_int("units", units, 2 if self.problem_type == "multiclass" else 1)
        return keras.layers.Dense(
            units,
            activation=_OUTPUT_ACTIVATIONS[self.problem_type],
            kernel_regularizer=self.kernel_regularizer(),
            kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed(100)),
            name="output",
        )

    def build_model(
        self,
        input_shape: Sequence[int],
        hidden_units: Sequence[int] = (64, 32),
        output_units: int | None = None,
        activation: str = "relu",
        name: str | None = None,
    ) -> keras.Sequential:
        """A `keras.Sequential` MLP regularized by the recipe (not compiled).

        Args:
            input_shape: shape of one example, e.g. `(n_features,)`.
            hidden_units: widths of the hidden blocks.
            output_units: see `output_layer`.
            activation: hidden activation.
            name: model name.

        Returns:
            `Sequential([Input, *input_layers(), *hidden_block(u, i) for each
            width, output_layer()])`.
        """
        if isinstance(hidden_units, int):
            hidden_units = (hidden_units,)
        stack = [keras.Input(tuple(input_shape)), *self.input_layers()]
        for index, units in enumerate(hidden_units):
            stack.extend(self.hidden_block(units, activation=activation, block_index=index))
        stack.append(self.output_layer(output_units))
        return keras.Sequential(stack, name=name)

    def training_data(
        self,
        x,
        y,
        batch_size: int = 32,
        shuffle: bool = True,
        *,
        groups=None,
        sample_weight=None,
        **kwargs,
    ) -> keras.utils.PyDataset:
        """Training batches: shuffled, and mixed, reweighed or paired as the recipe says.

        Args:
            x: features, shape `(n, n_features)`.
            y: labels (one-hot for multiclass with MixUp).
            batch_size: examples per batch.
            shuffle: reshuffle every epoch.
            groups: `(n,)` booleans, True for the examples of the sensitive
                group; needed by recipes with `min_diff_weight` (the MinDiff
                batches are the negative examples of each group, for
                false-positive-rate parity) or `reweighing`.
            sample_weight: optional `(n,)` example weights (multiplied by the
                reweighing weights).
            **kwargs: passed to the dataset (`workers`, ...).

        Returns:
            A `MixUpPyDataset` (or a `min_diff.MinDiffPyDataset` with
            `min_diff_weight`) to pass to `model.fit`. Its draws follow the
            recipe's seed; `fit` also shuffles the order of a PyDataset's batches
            with Python's global `random`, so for a reproducible run seed it too
            (`keras.utils.set_random_seed`) or pass `shuffle=False` to `fit`.
        """
        needs_groups = self.min_diff_weight is not None or self.reweighing
        if needs_groups:
            if groups is None:
                raise ValueError(
                    "Invalid value for argument `groups`: this recipe uses "
                    f"{'MinDiff' if self.min_diff_weight is not None else 'reweighing'}, which "
                    "needs each example's sensitive-group membership ((n,) booleans). "
                    "Received: groups=None"
                )
            groups = _validation.check_array("groups", groups, ndim=1, numeric=False, finite=False)
            if groups.dtype != bool:
                raise _validation.invalid("groups", "(n,) booleans", groups)
            _validation.check_same_length(x=x, groups=groups)
            labels = np.asarray(y).reshape(len(groups), -1)[:, 0]
        if self.min_diff_weight is not None:
            negatives = labels == 0
            return min_diff.MinDiffPyDataset(
                x,
                y,
                sample_weight,
                sensitive_x=np.asarray(x)[groups & negatives],
                nonsensitive_x=np.asarray(x)[~groups & negatives],
                batch_size=batch_size,
                shuffle=shuffle,
                seed=self._seed(200),
                **kwargs,
            )
        if self.reweighing:
            sample_weight = fairness.reweighing_weights(labels, groups, sample_weight)
        return MixUpPyDataset(
            x,
            y,
            alpha=self.mixup_alpha,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=self._seed(200),
            sample_weight=sample_weight,
            **kwargs,
        )

    def wrap_model(self, model: keras.Model) -> keras.Model:
        """The model to compile and fit: `model` under MinDiff or SAM, or `model` itself.

        Predict, save and export with `model`, the original (the wrappers also
        serve it, and reload from `.keras` files with `safe_mode=True`).
        """
        if self.min_diff_weight is not None:
            return min_diff.MinDiffModel(
                model, min_diff.MMDLoss("gaussian"), loss_weight=self.min_diff_weight
            )
        if self.sam_rho is not None:
            return models.SharpnessAwareModel(model, rho=self.sam_rho)
        return model

    def optimizer(self, optimizer: Any = "adam") -> keras.optimizers.Optimizer:
        """`optimizer` (a name, config or instance), wrapped in `Lookahead` if the recipe says."""
        optimizer = keras.optimizers.get(optimizer)
        if self.lookahead_sync_period is None:
            return optimizer
        return optimizers.Lookahead(optimizer, sync_period=self.lookahead_sync_period)

    def callbacks(self, monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
        """`[EarlyStopping(monitor, patience, restore_best_weights=True)]`, or `[]` without.

        Args:
            monitor: the logged quantity to watch. `val_loss` includes the
                weight penalty, which keeps shrinking as the weights decay;
                an unpenalized metric (compile with
                `metrics=["binary_crossentropy"]` and monitor
                `"val_binary_crossentropy"`) stops on the fit alone.
        """
        if self.early_stopping_patience is None:
            return []
        return [
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=self.early_stopping_patience,
                restore_best_weights=True,
            )
        ]

    def _seed(self, offset: int) -> int | None:
        return None if self.seed is None else self.seed + offset

    # -- description and serialization ------------------------------------------------------

    @property
    def techniques(self) -> tuple[str, ...]:
        """Short names of the techniques in the recipe, e.g. `("ElasticNet", "early stopping")`."""
        names = []
        if self.weight_decay > 0:
            names.append("L2" if self.l1_ratio == 0 else "ElasticNet")
        if self.group_lasso > 0:
            names.append("GroupLasso")
        if self.max_norm is not None:
            names.append("MaxNorm")
        if self.drop_connect_rate > 0:
            names.append("DropConnect")
        if self.weight_noise_stddev > 0:
            names.append("weight noise")
        if self.dropout_rate > 0:
            names.append("dropout")
        if self.batch_norm:
            names.append("batch norm")
        if self.mixup_alpha is not None:
            names.append("MixUp")
        if self.input_noise_stddev > 0:
            names.append("input noise")
        if self.min_diff_weight is not None:
            names.append("MinDiff")
        if self.reweighing:
            names.append("reweighing")
        if self.sam_rho is not None:
            names.append("SAM")
        if self.lookahead_sync_period is not None:
            names.append("Lookahead")
        if self.early_stopping_patience is not None:
            names.append("early stopping")
        return tuple(names)

    def __str__(self) -> str:
        names = " + ".join(self.techniques) or "no regularization"
        lines = [f"Recipe for {self.problem_type}: {names}"]
        lines.extend(f"  - {reason}" for reason in self.reasons)
        return "\n".join(lines)

    def get_config(self) -> dict[str, Any]:
        config = dataclasses.asdict(self)
        config["reasons"] = list(self.reasons)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Recipe:
        return cls(**config)

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, evidence: dict[str, Any] | None = None) -> None:
        """Writes the recipe to a JSON file (`recipe.json`), with optional `evidence`.

        `evidence` is any JSON-serializable record of why this recipe was chosen (for
        `keras-regkit compare`: the measured figures); `Recipe.load` ignores it.
        """
        document = {"format": RECIPE_FORMAT, "recipe": self.get_config()}
        if evidence is not None:
            document["evidence"] = evidence
        path = os.fspath(path)
        partial = f"{path}.partial"
        with open(partial, "w") as file:
            json.dump(document, file, indent=2, allow_nan=False)
            file.write("\n")
        os.replace(partial, path)  # a reader never sees half a file

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        """Reads a recipe written by `save` (e.g. the `recipe.json` of `keras-regkit compare`).

        Raises:
            ValueError: naming the file and the field, when the file is not valid JSON,
                is not a recipe, or holds an unknown or invalid field.
        """
        path = os.fspath(path)
        with open(path) as file:
            try:
                document = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"Invalid recipe file {path!r}: not valid JSON ({error})."
                ) from None
        if not isinstance(document, dict) or document.get("format") != RECIPE_FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document)
            raise ValueError(
                f"Invalid recipe file {path!r}: field `format`: expected {RECIPE_FORMAT!r}. "
                f"Received: {found!r}"
            )
        config = document.get("recipe")
        if not isinstance(config, dict):
            raise ValueError(
                f"Invalid recipe file {path!r}: field `recipe`: expected an object of recipe "
                f"fields. Received: {config!r}"
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Invalid recipe file {path!r}: field `recipe.{unknown[0]}` is not a recipe field "
                f"(expected some of {sorted(known)})."
            )
        try:
            return cls.from_config(config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Invalid recipe file {path!r}: field `recipe`: {error}") from None


def recommend(
    problem_type: str,
    n_samples: int | None = None,
    n_features: int | None = None,
    depth: int = 2,
    seed: int | None = None,
    *,
    n_classes: int | None = None,
    data_size: str | None = None,
    features: str | None = None,
) -> Recipe:
    """Recommends a regularization recipe for a dense network from the shape of the problem.

    It speaks the regularization guide's vocabulary as well as numbers:
    `problem_type="classification"` (binary, or multiclass when `n_classes > 2`),
    `"regression"` or `"generation"`, and, in place of `n_samples` /
    `n_features`, the guide's categories `data_size="small"` (< 10,000
    samples), `"medium"` (10,000 to 1,000,000) or `"large"` (> 1,000,000) and
    `features="low"` (< 100), `"medium"` (100 to 10,000) or `"high"`
    (> 10,000). Numbers are the precise form; the rules' thresholds are the
    guide's boundaries.

    Rules of thumb, each recorded in `Recipe.reasons`:

    - Early stopping, always: patience 5 (10 for small data), best weights
      restored.
    - A weight penalty for classification and regression: `L2(1e-4)`
      (`L2(1e-3)` for small data). Generation gets none by default.
    - Many features (`n_features >= 100` or `n_features > 0.1 * n_samples`;
      `features="medium"` or `"high"`): `ElasticNet(l1_ratio=0.5)` of the
      same strength instead of `L2`.
    - Small data (`n_samples < 10,000`, `data_size="small"`), for
      classification and regression: strong augmentation, MixUp
      (`alpha=0.4`) and Gaussian input noise (`stddev=0.1`).
    - Deep networks (`depth >= 3` hidden layers), and every generative network:
      `Dropout(0.2)` and `BatchNormalization` in every hidden block.

    Small data gets the stronger penalty and patience because its validation
    loss is noisier and it overfits sooner; many features call for the L1
    part of Elastic Net to switch off uninformative ones; dropout and batch
    normalization pay off in networks deep enough to co-adapt and to suffer
    from shifting activations. Generative networks take the guide's advice:
    dropout and batch normalization, no weight penalty (which pulls samples
    toward the mean) and no MixUp (which blends the targets they must
    reproduce). These are starting points to tune from, not optima:
    `keras-regkit compare` measures them against each technique alone.

    Args:
        problem_type: `"binary"`, `"multiclass"`, `"regression"`, or the
            guide's `"classification"` and `"generation"`.
        n_samples: positive int, number of training examples (or give
            `data_size`).
        n_features: positive int, number of input features (or give
            `features`).
        depth: positive int, number of hidden layers of the network.
        seed: int or None, base seed of the recipe's random layers and data.
        n_classes: int >= 2 or None: with `"classification"`, more than 2
            classes makes the recipe multiclass.
        data_size: `"small"`, `"medium"` or `"large"`, in place of `n_samples`.
        features: `"low"`, `"medium"` or `"high"`, in place of `n_features`.

    Returns:
        A `Recipe`.

    Example:

    >>> recipe = recommend("binary", n_samples=30_000, n_features=104, depth=3, seed=0)
    >>> recipe.techniques
    ('ElasticNet', 'dropout', 'batch norm', 'early stopping')
    >>> recommend("classification", data_size="small", features="high").techniques
    ('ElasticNet', 'MixUp', 'input noise', 'early stopping')
    """
    if problem_type not in (*PROBLEM_TYPES, *GUIDE_PROBLEM_TYPES):
        raise ValueError(
            "Invalid value for argument `problem_type`: expected one of "
            f"{tuple(dict.fromkeys((*PROBLEM_TYPES, *GUIDE_PROBLEM_TYPES)))}. "
            f"Received: problem_type={problem_type!r}"
        )
    if n_classes is not None:
        _validation.check_int("n_classes", n_classes, 2)
        if problem_type not in ("classification", "multiclass", "binary"):
            raise ValueError(
                "Invalid value for argument `n_classes`: only classification problems have "
                f"classes. Received: n_classes={n_classes!r} with problem_type={problem_type!r}"
            )
        if problem_type == "binary" and n_classes != 2:
            raise ValueError(
                "Invalid value for argument `n_classes`: a binary problem has 2 classes. "
                f"Received: n_classes={n_classes!r}"
            )
    small, large, size = _data_size(n_samples, data_size)
    many_features, n_features_text = _feature_count(n_features, features, n_samples)
    _validation.check_int("depth", depth, 1)
    if seed is not None:
        _validation.check_seed(seed)
    if problem_type == "classification":
        problem_type = "multiclass" if n_classes is not None and n_classes > 2 else "binary"
    generation = problem_type == "generation"
    deep = depth >= DEEP_NETWORK_LAYERS
    reasons = []

    patience = 10 if small else 5
    reason = f"early stopping (patience {patience}): always"
    if small:
        reason += f"; small data ({size}) has a noisy validation loss"
    reasons.append(reason)
    weight_decay = 1e-3 if small else 1e-4
    l1_ratio = 0.0
    if generation:
        weight_decay = 0.0
        reasons.append("no weight penalty: generation (a penalty pulls samples toward the mean)")
    elif many_features:
        l1_ratio = 0.5
        reasons.append(
            f"ElasticNet({weight_decay:g}, l1_ratio=0.5): many features ({n_features_text} for "
            f"{size}); its L1 part switches uninformative ones off"
        )
    else:
        reasons.append(
            f"L2({weight_decay:g}): a weight penalty for {problem_type} problems"
            + (", stronger for small data" if small else "")
        )
    mixup_alpha, noise = None, 0.0
    if small and not generation:
        mixup_alpha, noise = 0.4, 0.1
        reasons.append(
            f"MixUp(alpha=0.4) and input noise (stddev 0.1): small data ({size}) needs strong "
            "augmentation"
        )
    dropout, batch_norm = 0.0, False
    if deep or generation:
        dropout, batch_norm = 0.2, True
        why = (
            f"a deep network ({depth} hidden layers >= {DEEP_NETWORK_LAYERS})"
            if deep
            else "generation (the guide's regularizers for generative networks)"
        )
        reasons.append(f"Dropout(0.2) and BatchNormalization: {why}")
    if large:
        reasons.append(f"large data ({size}): the data regularizes too; the penalty stays weak")
    return Recipe(
        problem_type=problem_type,
        weight_decay=weight_decay,
        l1_ratio=l1_ratio,
        dropout_rate=dropout,
        batch_norm=batch_norm,
        mixup_alpha=mixup_alpha,
        input_noise_stddev=noise,
        early_stopping_patience=patience,
        seed=seed,
        reasons=tuple(reasons),
    )


def _data_size(n_samples: Any, data_size: Any) -> tuple[bool, bool, str]:
    """(small, large, description) from a sample count or the guide's category."""
    if (n_samples is None) == (data_size is None):
        raise ValueError(
            "Invalid value for argument `n_samples`: give exactly one of `n_samples` (a "
            f"positive int) and `data_size` (one of {DATA_SIZES}). Received: "
            f"n_samples={n_samples!r}, data_size={data_size!r}"
        )
    if data_size is not None:
        if data_size not in DATA_SIZES:
            raise ValueError(
                f"Invalid value for argument `data_size`: expected one of {DATA_SIZES}. "
                f"Received: data_size={data_size!r}"
            )
        bounds = {
            "small": f"< {SMALL_DATA_SAMPLES:,} samples",
            "medium": f"{SMALL_DATA_SAMPLES:,} to {LARGE_DATA_SAMPLES:,} samples",
            "large": f"> {LARGE_DATA_SAMPLES:,} samples",
        }
        return (
            data_size == "small",
            data_size == "large",
            f"data_size={data_size!r}, {bounds[data_size]}",
        )
    _validation.check_int("n_samples", n_samples, 1)
    small, large = n_samples < SMALL_DATA_SAMPLES, n_samples > LARGE_DATA_SAMPLES
    text = f"{n_samples:,} samples"
    if small:
        text += f" < {SMALL_DATA_SAMPLES:,}"
    elif large:
        text += f" > {LARGE_DATA_SAMPLES:,}"
    return small, large, text


def _feature_count(n_features: Any, features: Any, n_samples: Any) -> tuple[bool, str]:
    """(many features, description) from a feature count or the guide's category."""
    if (n_features is None) == (features is None):
        raise ValueError(
            "Invalid value for argument `n_features`: give exactly one of `n_features` (a "
            f"positive int) and `features` (one of {FEATURE_COUNTS}). Received: "
            f"n_features={n_features!r}, features={features!r}"
        )
    if features is not None:
        if features not in FEATURE_COUNTS:
            raise ValueError(
                f"Invalid value for argument `features`: expected one of {FEATURE_COUNTS}. "
                f"Received: features={features!r}"
            )
        return features != "low", f"features={features!r}"
    _validation.check_int("n_features", n_features, 1)
    many = n_features >= MANY_FEATURES
    if n_samples is not None:  # the per-sample rule needs both numbers
        many = many or n_features > MANY_FEATURES_PER_SAMPLE * n_samples
    return many, f"{n_features:,}"


def _set(recipe: Recipe, name: str, value: Any) -> None:
    object.__setattr__(recipe, name, value)  # normalising a frozen dataclass's fields


def _check_problem_type(problem_type: Any) -> None:
    if problem_type not in RECIPE_PROBLEM_TYPES:
        raise ValueError(
            f"Invalid value for argument `problem_type`: expected one of {RECIPE_PROBLEM_TYPES}. "
            f"Received: problem_type={problem_type!r}"
        )
