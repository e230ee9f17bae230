"""Per-epoch statistics of a model's weights and regularization penalties."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation

PENALTY = "regularization_penalty"
L2_NORM = "kernel_l2_norm"
MAX_COLUMN_NORM = "kernel_max_column_norm"
SPARSITY = "kernel_sparsity"


@keras.saving.register_keras_serializable(package="keras_regkit")
class RegularizationMonitor(keras.callbacks.Callback):
    """Logs what regularization is doing to the weights, once per epoch.

    At the end of every epoch it adds to `logs`, so `History`, `CSVLogger`,
    `TensorBoard` and other callbacks see them like any metric:

    - `regularization_penalty`: the total weight-regularization penalty on the
      current weights, i.e. the sum of `variable.regularizer(variable)` over
      the model's trainable variables that carry a regularizer (what
      `model.losses` adds to the loss, less activity regularization, which
      depends on the inputs);
    - `kernel_l2_norm`: the global L2 norm of all kernels;
    - `kernel_max_column_norm`: the largest L2 norm of a kernel column, the
      quantity a max-norm constraint bounds (Srivastava et al., JMLR 2014).
      A column is the slice feeding one output unit: the norm is taken over
      every axis but the last, as `keras.constraints.MaxNorm` does for Dense
      (`axis=0`) and Conv2D (`axis=[0, 1, 2]`) kernels;
    - `kernel_sparsity`: the fraction of kernel entries with
      `|w| <= sparsity_tol`, which L1 (Tibshirani, JRSS-B 1996), ElasticNet
      (Zou & Hastie, JRSS-B 2005) and group lasso (Yuan & Lin, JRSS-B 2006)
      drive towards 1.

    "Kernels" are the trainable variables of rank 2 or more: Dense,
    EinsumDense and convolution kernels, recurrent kernels, embeddings.
    Biases, normalization scales/offsets and other vectors are left out: they
    are rarely regularized and would dilute the sparsity and norms.
    Non-trainable variables are left out too, as Keras leaves them out of its
    regularization losses.

    With `per_layer=True` the same four statistics are also logged per layer
    as `"<layer name>/<statistic>"` (layers without kernels log only their
    penalty). Layers are the entries of `model.layers`, expanding nested
    models into their own layers; a custom layer counts with all its
    sublayers' weights.

    Everything is computed with `keras.ops` on the device holding the weights
    and moved to the host in one transfer per epoch; see
    `benchmarks/regularization_monitor.py` for its cost.

    Place it before `CSVLogger`, `TensorBoard` or `EarlyStopping` in the
    `callbacks` list so they see its entries (`History` always does). The
    progress bar prints before callbacks run and does not show them.

    Args:
        sparsity_tol: a kernel entry with `|w| <= sparsity_tol` counts as
            zero. A non-negative float.
        layers: names of the layers to monitor (searched in nested models
            too). `None` (default) monitors every trainable variable of the
            model.
        per_layer: also log the statistics of each monitored layer.

    Example:

    >>> x, y = np.random.rand(64, 20).astype("float32"), np.random.rand(64, 1)
    >>> model = keras.Sequential([
    ...     keras.Input((20,)),
    ...     keras.layers.Dense(16, kernel_regularizer=keras.regularizers.L1(1e-2), name="hidden"),
    ...     keras.layers.Dense(1, name="head"),
    ... ])
    >>> model.compile("adam", "mse")
    >>> history = model.fit(x, y, epochs=3, verbose=0,
    ...                     callbacks=[RegularizationMonitor(per_layer=True)])
    >>> logs = history.history
    >>> len(logs["kernel_sparsity"]), len(logs["hidden/regularization_penalty"])
    (3, 3)
    """

    def __init__(
        self,
        sparsity_tol: float = 1e-3,
        layers: Sequence[str] | None = None,
        per_layer: bool = False,
    ):
        super().__init__()
        sparsity_tol = _validation.check_float("sparsity_tol", sparsity_tol, 0)
        if layers is not None:
            if (
                isinstance(layers, str)
                or not isinstance(layers, (list, tuple))
                or not layers
                or not all(isinstance(name, str) and name for name in layers)
                or len(set(layers)) != len(layers)
            ):
                raise ValueError(
                    "Invalid value for argument `layers`: expected None or a non-empty list "
                    f"of distinct layer names. Received: layers={layers!r}"
                )
            layers = list(layers)
        per_layer = _validation.check_bool("per_layer", per_layer)
        self.sparsity_tol = sparsity_tol
        self.layers = layers
        self.per_layer = per_layer
        self._plan = None

    def on_train_begin(self, logs=None):
        # The model may have changed between fit calls.
        self._plan = None

    def on_epoch_end(self, epoch, logs=None):
        values = self.compute()
        if logs is not None:
            logs.update(values)

    def compute(self) -> dict[str, float]:
        """The statistics of the model's current weights, as logged per epoch."""
        # `self.model` (not `self._model`) syncs the JAX training state back
        # into the variables before we read them.
        model = self.model
        if self._plan is None or self._plan.model is not model:
            self._plan = _Plan(model, self.layers, self.per_layer)
        return self._plan.compute(self.sparsity_tol)

    def get_config(self) -> dict[str, Any]:
        return {
            "sparsity_tol": self.sparsity_tol,
            "layers": self.layers,
            "per_layer": self.per_layer,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RegularizationMonitor:
        return cls(**config)


def _is_kernel(variable) -> bool:
    return len(variable.shape) >= 2


class _Plan:
    """Which variables to read, and how their statistics group into log entries."""

    def __init__(self, model, layer_names, per_layer):
        self.model = model
        if layer_names is None:
            selected = _leaf_layers(model)
            roots = [model]
        else:
            by_name = {}
            for layer in _all_layers(model):
                by_name.setdefault(layer.name, layer)
            missing = [name for name in layer_names if name not in by_name]
            if missing:
                raise ValueError(
                    f"RegularizationMonitor received layers={layer_names}, but the model has "
                    f"no layer named {missing}. Available layers: {sorted(by_name)}"
                )
            selected = [by_name[name] for name in layer_names]
            roots = selected

        # One entry per distinct variable; groups refer to them by index.
        self.variables = []
        self._index = {}

        def indices(variables):
            kernels, regularized = [], []
            for variable in variables:
                is_kernel = _is_kernel(variable)
                has_reg = getattr(variable, "regularizer", None) is not None
                if not (is_kernel or has_reg):
                    continue
                key = id(variable)
                if key not in self._index:
                    self._index[key] = len(self.variables)
                    self.variables.append(variable)
                index = self._index[key]
                if is_kernel and index not in kernels:
                    kernels.append(index)
                if has_reg and index not in regularized:
                    regularized.append(index)
            return kernels, regularized

        overall = _unique([v for root in roots for v in root.trainable_weights])
        self.groups = [("", *indices(overall))]
        if not self.groups[0][1]:
            raise ValueError(
                "RegularizationMonitor found no kernel (trainable variable of rank >= 2) in "
                f"{'the model' if layer_names is None else f'layers {layer_names}'}. "
                "Monitor layers that own weight matrices or convolution kernels."
            )
        if per_layer:
            for layer in selected:
                kernels, regularized = indices(layer.trainable_weights)
                if kernels or regularized:
                    self.groups.append((f"{layer.name}/", kernels, regularized))

        # Kernels contribute (sum of squares, max squared column norm, #near-zero);
        # regularized variables their penalty. Offsets into the stacked vector:
        self.kernel_ids = sorted({i for _, kernels, _ in self.groups for i in kernels})
        self.reg_ids = sorted({i for _, _, regs in self.groups for i in regs})
        self.kernel_slot = {i: 3 * n for n, i in enumerate(self.kernel_ids)}
        self.reg_slot = {i: 3 * len(self.kernel_ids) + n for n, i in enumerate(self.reg_ids)}
        self.sizes = {i: math.prod(self.variables[i].shape) for i in self.kernel_ids}

    def compute(self, tol: float) -> dict[str, float]:
        stats = []
        for i in self.kernel_ids:
            w = ops.cast(self.variables[i], "float32")
            # Squared column norms first: the kernel's sum of squares is then a
            # reduction over one row instead of a second pass over the kernel.
            column_sq = ops.sum(ops.square(w), axis=tuple(range(len(w.shape) - 1)))
            near_zero = ops.cast(ops.less_equal(ops.absolute(w), tol), "float32")
            stats += [ops.sum(column_sq), ops.max(column_sq), ops.sum(near_zero)]
        for i in self.reg_ids:
            variable = self.variables[i]
            stats.append(ops.cast(variable.regularizer(variable), "float32"))
        # The only device -> host transfer of the epoch.
        host = np.asarray(ops.convert_to_numpy(ops.stack(stats)), dtype=np.float64)

        values = {}
        for prefix, kernels, regularized in self.groups:
            values[prefix + PENALTY] = float(sum(host[self.reg_slot[i]] for i in regularized))
            if not kernels:
                continue
            slots = [self.kernel_slot[i] for i in kernels]
            size = sum(self.sizes[i] for i in kernels)
            values[prefix + L2_NORM] = math.sqrt(sum(host[s] for s in slots))
            values[prefix + MAX_COLUMN_NORM] = math.sqrt(max(host[s + 1] for s in slots))
            values[prefix + SPARSITY] = float(sum(host[s + 2] for s in slots) / size)
        return values


def _unique(variables):
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def _all_layers(model):
    """Every layer of `model`, nested models and their layers included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def _leaf_layers(model):
    """`model.layers` with nested models replaced by their own layers."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_leaf_layers(layer))
        else:
            found.append(layer)
    return _unique(found)
