"""Weight normalization: kernel = g * v / ||v||."""

from __future__ import annotations

import warnings

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend

# Added to the data-dependent variance so a dead unit does not get an infinite scale.
_VARIANCE_EPSILON = 1e-10
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class WeightNormalization(keras.layers.Wrapper):
    """Reparameterizes a layer's kernel as a direction and a per-unit length.

    Weight normalization (Salimans & Kingma, NeurIPS 2016) writes the kernel of
    a Dense or convolution layer as `w = g * v / ||v||`, where `v` (the wrapped
    layer's own `kernel` variable) has the shape of the kernel, `g` has one
    entry per output unit, and `||v||` is the L2 norm of each output unit's
    slice of `v` (over every axis but the last). Gradient descent on `g` and
    `v` decouples the length of each weight vector from its direction, which
    speeds up and stabilizes training; unlike batch normalization it adds no
    dependence between the examples of a batch.

    With `data_init=True`, the first call on concrete data (an eager call, e.g.
    `model(x_batch)`, or the first training step on the PyTorch backend)
    initializes `g` and the bias from that batch so that the pre-activations
    have zero mean and unit variance per unit: with `t = x * v / ||v||`,
    `g = 1 / sigma[t]` and `bias = -mu[t] / sigma[t]` (the paper's
    data-dependent initialization). Keras's `fit` compiles its train step on
    the TensorFlow and JAX backends, where the initialization cannot run, so
    call the model once on a batch of training data before `fit` there (a
    warning says so otherwise). Whether it ran is saved with the model. With
    `data_init=False`, `g` starts at `||v||`, so the wrapped layer starts with
    the kernel it was initialized with.

    Works with layers whose `kernel` has the output units on its last axis:
    `Dense`, `Conv1D`, `Conv2D`, `Conv3D` (not the transposed convolutions,
    whose kernels put them on the second-to-last axis). Regularizers and
    constraints of the wrapped layer's kernel act on `v`.

    Reference: T. Salimans and D. P. Kingma, "Weight Normalization: A Simple
    Reparameterization to Accelerate Training of Deep Neural Networks",
    NeurIPS 2016.

    Args:
        layer: the layer to wrap, e.g. `keras.layers.Dense(64)`.
        data_init: bool, whether to initialize `g` and the bias from the first
            batch of data.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: the wrapped layer's inputs.
        training: passed on to the wrapped layer.

    Returns:
        The wrapped layer's output, computed with `w = g * v / ||v||`.

    Example:

    >>> x = np.random.rand(32, 4).astype("float32")
    >>> layer = WeightNormalization(keras.layers.Dense(3), data_init=True)
    >>> y = layer(x)  # eager: initializes g and the bias from x
    >>> bool(np.allclose(np.mean(keras.ops.convert_to_numpy(y), axis=0), 0.0, atol=1e-5))
    True
    """

    def __init__(self, layer: keras.layers.Layer, data_init: bool = True, **kwargs) -> None:
        if not isinstance(layer, keras.layers.Layer):
            raise _validation.invalid("layer", "a Keras layer with a `kernel`", layer)
        if isinstance(layer, _TRANSPOSED) or (layer.built and not _has_kernel(layer)):
            raise _kernel_error(layer)
        super().__init__(layer, **kwargs)
        self.data_init = _validation.check_bool("data_init", data_init)
        self._data_initialized = False
        self._warned = False

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        if not _has_kernel(self.layer):
            raise _kernel_error(self.layer)
        kernel = self.layer.kernel
        units = kernel.shape[-1]
        self.g = self.add_weight(
            name="g", shape=(units,), initializer="ones", dtype=self.variable_dtype
        )
        self.g.assign(ops.cast(self._norm(kernel), self.g.dtype))
        self.data_initialized = self.add_weight(
            name="data_initialized",
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
        )
        self.built = True

    def _norm(self, v):
        axes = tuple(range(len(v.shape) - 1))
        return ops.sqrt(ops.sum(ops.square(v), axis=axes))

    def _call_with_kernel(self, kernel, inputs, training, zero_bias=False):
        """Calls the wrapped layer with `kernel` in place of `v`."""
        mapping = [(self.layer.kernel, kernel)]
        for variable in self.layer.variables:
            if variable is self.layer.kernel:
                continue
            value = variable.value
            if zero_bias and variable is getattr(self.layer, "bias", None):
                value = ops.zeros_like(value)
            mapping.append((variable, value))
        kwargs = {} if training is None else {"training": training}
        with keras.StatelessScope(state_mapping=mapping):
            return self.layer(inputs, **kwargs)

    def call(self, inputs, training=None):
        if self.data_init and not self._data_initialized:
            self._maybe_initialize(inputs, training)
        v = self.layer.kernel.value
        direction = v / ops.cast(self._norm(v), v.dtype)
        kernel = direction * ops.cast(self.g.value, v.dtype)
        return self._call_with_kernel(kernel, inputs, training)

    def _maybe_initialize(self, inputs, training):
        leaves = keras.tree.flatten(inputs)
        if not all(regkit_backend.is_concrete(leaf) for leaf in leaves):
            if not any(map(regkit_backend.is_shape_placeholder, leaves)) and not self._warned:
                self._warned = True
                warnings.warn(
                    f"WeightNormalization layer {self.name!r} has data_init=True but was "
                    "first called inside a compiled function, where the data-dependent "
                    "initialization cannot run. Call the model once on a batch of training "
                    "data (e.g. `model(x_train[:256])`) before fit().",
                    stacklevel=2,
                )
            return
        if float(ops.convert_to_numpy(self.data_initialized.value)) > 0.5:
            self._data_initialized = True
            return
        v = self.layer.kernel.value
        direction = v / ops.cast(self._norm(v), v.dtype)
        activation = getattr(self.layer, "activation", None)
        if activation is not None:
            self.layer.activation = None
        try:
            t = self._call_with_kernel(direction, inputs, training, zero_bias=True)
        finally:
            if activation is not None:
                self.layer.activation = activation
        t = ops.cast(t, "float32")
        mean, variance = ops.moments(t, axes=tuple(range(len(t.shape) - 1)))
        scale = 1.0 / ops.sqrt(variance + _VARIANCE_EPSILON)
        self.g.assign(ops.cast(scale, self.g.dtype))
        bias = getattr(self.layer, "bias", None)
        if bias is not None:
            bias.assign(ops.cast(-mean * scale, bias.dtype))
        self.data_initialized.assign(1.0)
        self._data_initialized = True

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._data_initialized = float(ops.convert_to_numpy(self.data_initialized.value)) > 0.5

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"data_init": self.data_init})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # keras.layers.Wrapper.from_config pops "layer" from the dict it is given.
        return super().from_config(dict(config), custom_objects=custom_objects)


def _has_kernel(layer: keras.layers.Layer) -> bool:
    return isinstance(getattr(layer, "kernel", None), keras.Variable)


def _kernel_error(layer: keras.layers.Layer) -> ValueError:
    return _validation.invalid(
        "layer",
        "a layer with a `kernel` weight whose last axis is the output units "
        "(Dense, Conv1D, Conv2D, Conv3D)",
        received=f"layer={type(layer).__name__} (name {layer.name!r})",
    )
