"""The one module with backend-specific code.

Everything else in keras_regkit uses `keras.ops`. Framework modules are imported
lazily inside functions, so `import keras_regkit` never imports TensorFlow when
KERAS_BACKEND is jax or torch.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

_NUMPY_FUNCTION_LOCK = threading.Lock()


def is_tf_dataset(data: Any) -> bool:
    """True for a `tf.data.Dataset`, without importing TensorFlow."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def prefers_tf_data() -> bool:
    """True on the tensorflow backend, where `fit` runs a `tf.data` pipeline in the graph
    runtime (a `PyDataset` goes through a Python generator, once per batch)."""
    import keras

    return keras.backend.backend() == "tensorflow"


def is_concrete(x: Any) -> bool:
    """True when the values of `x` can be read now (not a symbolic or traced tensor).

    Used to validate data values (e.g. MinDiff membership in {0, 1}) eagerly; inside
    compiled functions only shapes can be checked.
    """
    import keras

    if isinstance(x, keras.KerasTensor):
        return False
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(x, tf.Tensor):
            return tf.executing_eagerly() and hasattr(x, "numpy")
        return True
    if backend == "torch":
        import torch

        if isinstance(x, torch.Tensor) and x.is_meta:  # shape inference: no values
            return False
        return not (torch.compiler.is_compiling() or torch.jit.is_tracing())
    return True


def is_shape_placeholder(x: Any) -> bool:
    """True for a tensor Keras only infers shapes with: a `KerasTensor` (functional
    model construction) or, on torch, a meta-device tensor (`compute_output_spec`).

    Unlike a traced tensor of a compiled step, it never carries data.
    """
    import keras

    if isinstance(x, keras.KerasTensor):
        return True
    if keras.backend.backend() == "torch":
        import torch

        return isinstance(x, torch.Tensor) and x.is_meta
    return False


def num_replicas_in_sync() -> int:
    """Replicas a `tf.distribute` strategy runs the current step on (1 elsewhere)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return 1
    import keras

    if keras.backend.backend() != "tensorflow":
        return 1
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context
        return 1
    return int(context.num_replicas_in_sync)


def all_gather_batch(x: Any) -> Any:
    """Concatenates `x` over the replicas of a `tf.distribute` step along axis 0.

    Lets a loss that is not a mean over examples (MMD, correlation) see the global
    batch, as it does on one device. The gradient flows back to each replica's
    slice. Identity outside a multi-replica `tf.distribute` step; JAX's
    `keras.distribution` already computes on the global (sharded) batch.
    """
    if num_replicas_in_sync() == 1:
        return x
    import tensorflow as tf

    gathered = tf.distribute.get_replica_context().all_gather(x, axis=0)
    if None not in tuple(x.shape[1:]):
        gathered = tf.reshape(gathered, [-1, *x.shape[1:]])  # all_gather drops static dims
    return gathered


def all_reduce_sum(values: list) -> list:
    """Sums each tensor of `values` over the replicas of a `tf.distribute` step.

    For a quantity that must come from the global batch, such as the gradient SAM
    perturbs the weights along: on one device, or under JAX's `keras.distribution`
    (which computes on the global, sharded batch), the values are returned as is.
    """
    if num_replicas_in_sync() == 1:
        return values
    import tensorflow as tf

    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)


def input_gradient(fn: Callable[[Any], Any], x: Any) -> Any:
    """Gradient of the scalar `fn(x)` with respect to `x`.

    The one place keras_regkit differentiates other than through Keras's own train
    step: with respect to inputs (adversarial examples) or to a copy of the weights'
    values (SAM's ascent step, `models.SharpnessAwareModel`). It works eagerly and
    inside compiled train steps, including under an outer weight-gradient computation (a
    `tf.GradientTape`, `jax.value_and_grad`, or torch autograd), and does not
    touch the weights' gradients.

    Args:
        fn: a function of `x` returning a scalar tensor.
        x: a floating-point tensor, or a nested structure (list, tuple, dict) of
            them.

    Returns:
        The gradient, with the structure, shapes and dtypes of `x`. Entries `fn`
        does not depend on get zeros.
    """
    import keras

    flat = keras.tree.flatten(x)

    def flat_fn(*leaves):
        return fn(keras.tree.pack_sequence_as(x, list(leaves)))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # `identity`: a tensor that appears twice in `x` is two inputs, as on JAX and torch.
        leaves = [tf.identity(leaf) for leaf in flat]
        with tf.GradientTape() as tape:
            tape.watch(leaves)
            value = flat_fn(*leaves)
        grads = tape.gradient(value, leaves, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    elif backend == "jax":
        import jax

        grads = jax.grad(flat_fn, argnums=tuple(range(len(flat))))(*flat)
    elif backend == "torch":
        import torch

        leaves = [keras.ops.convert_to_tensor(leaf).detach().requires_grad_(True) for leaf in flat]
        with torch.enable_grad():
            value = flat_fn(*leaves)
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        grads = [
            torch.zeros_like(leaf) if grad is None else grad.detach()
            for grad, leaf in zip(grads, leaves, strict=True)
        ]
    else:
        raise NotImplementedError(
            f"input_gradient supports the tensorflow, jax and torch backends. "
            f"Received: backend={backend}"
        )
    return keras.tree.pack_sequence_as(x, list(grads))


def in_tf_graph() -> bool:
    """True while TensorFlow builds a graph, e.g. inside a `tf.data` `map` function.

    Lets a preprocessing layer detect a `tf.data` pipeline on the JAX or PyTorch
    backend, where `keras.ops` cannot run on TensorFlow's symbolic tensors.
    Never imports TensorFlow.
    """
    tf = sys.modules.get("tensorflow")
    return tf is not None and not tf.executing_eagerly()


def is_symbolic_tf_tensor(x: Any) -> bool:
    """True for a tensor of a TensorFlow graph being built (e.g. in a `tf.data` map).

    False for JAX tracers, also when JAX code runs inside a TensorFlow graph (as
    in `model.export()` on the JAX backend, through jax2tf).
    """
    return in_tf_graph() and type(x).__module__.startswith("tensorflow")


def tf_random_generator(seed: int | None) -> Any:
    """A `tf.random.Generator` created eagerly even when called while tracing.

    Its state variable lives outside the traced function, so a `tf.data` `map`
    draws new numbers at every batch and every epoch.
    """
    import tensorflow as tf

    with tf.init_scope():
        if seed is None:
            return tf.random.Generator.from_non_deterministic_state()
        return tf.random.Generator.from_seed(seed)


def tf_mix_up(tensors: list, alpha: float, generator: Any, dtypes: list) -> list:
    """MixUp of a batch with TensorFlow ops (for `tf.data` on non-TensorFlow backends).

    Draws one `lambda ~ Beta(alpha, alpha)` per example and one permutation of the
    batch, and returns `lambda * t + (1 - lambda) * t[permutation]` for every
    tensor `t` (cast to the matching entry of `dtypes`), all sharing the draws.
    """
    import tensorflow as tf

    batch_size = tf.shape(tensors[0])[0]
    seeds = generator.make_seeds(2)
    gamma_1 = tf.random.stateless_gamma([batch_size], seeds[:, 0], alpha=alpha)
    gamma_2 = tf.random.stateless_gamma([batch_size], seeds[:, 1], alpha=alpha)
    total = gamma_1 + gamma_2
    # Both gammas can underflow to 0 for a small alpha; 0/0 would put NaN in the data.
    weights = tf.where(total > 0, gamma_1 / tf.where(total > 0, total, 1.0), 0.5)
    permutation = tf.argsort(generator.uniform([batch_size]))
    mixed = []
    for tensor, dtype in zip(tensors, dtypes, strict=True):
        tensor = tf.cast(tensor, dtype)
        weight = tf.reshape(tf.cast(weights, dtype), [-1] + [1] * (tensor.shape.rank - 1))
        mixed.append(weight * tensor + (1 - weight) * tf.gather(tensor, permutation))
    return mixed


def tf_assert_binary(x: Any, message: str) -> Any:
    """`x`, with a check that it holds only 0 and 1 when the TensorFlow graph runs.

    For values that cannot be read while a `tf.data` function is traced; a failure
    raises `InvalidArgumentError` with `message` when the batch is computed.
    """
    import tensorflow as tf

    holds_binary = tf.reduce_all(tf.logical_or(tf.equal(x, 0), tf.equal(x, 1)))
    with tf.control_dependencies([tf.debugging.Assert(holds_binary, [message])]):
        return tf.identity(x)


def run_in_tf_graph(fn: Callable[..., list], tensors: list, dtypes: list, shapes: list) -> list:
    """Runs `fn` eagerly on the Keras backend from inside a TensorFlow graph.

    `tf.data` traces `map` functions into TensorFlow graphs, where `keras.ops` on
    the JAX or PyTorch backend cannot run. This wraps `fn(*arrays) -> list of
    tensors` in `tf.numpy_function`, so a layer written with `keras.ops` runs on
    its own backend, on the CPU, once per element or batch of the pipeline.
    Calls are serialized, so a layer's `SeedGenerator` advances once per call
    under a parallel `map`.

    Args:
        fn: a function of NumPy arrays returning a list of tensors.
        tensors: the symbolic TensorFlow tensors to feed to `fn`.
        dtypes: the dtype of each output.
        shapes: the static shape of each output (`TensorShape`s or tuples).

    Returns:
        Symbolic TensorFlow tensors with the given dtypes and static shapes.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    def numpy_fn(*arrays):
        with _NUMPY_FUNCTION_LOCK:
            outputs = fn(*arrays)
        return [
            np.asarray(keras.ops.convert_to_numpy(output)).astype(dtype)
            for output, dtype in zip(outputs, dtypes, strict=True)
        ]

    outputs = tf.numpy_function(
        numpy_fn, list(tensors), [tf.as_dtype(dtype) for dtype in dtypes], stateful=True
    )
    for output, shape in zip(outputs, shapes, strict=True):
        output.set_shape(shape)
    return list(outputs)


_JAX_CALLS: dict = {}
_JAX_CALLS_LIMIT = 64
_JAX_CONFIG_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def jax_compiled_call(layer: Any, inputs: Any, kwargs: dict, method: str = "__call__") -> Any:
    """Calls a stateful layer eagerly on JAX as one compiled function.

    Eager JAX dispatches (and compiles) every op separately, which makes a layer
    of a few hundred ops take seconds per call. This traces
    `Layer.__call__(layer, inputs, **kwargs)` with `jax.jit` under a
    `keras.StatelessScope` that feeds the layer's variables (its random seed
    state) in and writes their new values back, so consecutive calls still draw
    new random numbers. A layer's computation is fixed by its config, so layers
    of one class and config (up to `name` and `seed`, which only sets the initial
    state) share the compiled function.

    Only call it with `training` given explicitly (or outside any other layer's
    call): the compiled function is reused across calls, so a `training` value
    inherited from an enclosing layer's call context would be frozen in.

    Args:
        layer: a built Keras layer whose variables may change during the call.
        inputs: concrete arrays (not tracers or symbolic tensors).
        kwargs: call arguments; `None`, bools, ints, floats and strings are
            static, anything else (arrays, dicts of arrays) is traced.
        method: the name of the method to compile instead of `Layer.__call__`,
            called as `method(inputs, **kwargs)`; it may use the layer's
            variables but must not depend on a call context.

    Returns:
        The method's outputs.
    """
    import json

    import jax
    import keras

    def is_static(value):
        return value is None or isinstance(value, (bool, int, float, str))

    static = {key: value for key, value in kwargs.items() if is_static(value)}
    arrays = {key: value for key, value in kwargs.items() if not is_static(value)}
    if layer not in _JAX_CONFIG_KEYS:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "seed")}
        _JAX_CONFIG_KEYS[layer] = json.dumps(config, sort_keys=True, default=repr)
    key = (type(layer), _JAX_CONFIG_KEYS[layer], method, tuple(sorted(static.items())))
    if key not in _JAX_CALLS:
        template = layer
        template_variables = list(template.variables)
        if method == "__call__":
            function = keras.layers.Layer.__call__
        else:
            function = getattr(type(template), method)

        def pure(values, inputs, arrays):
            mapping = list(zip(template_variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                outputs = function(template, inputs, **static, **arrays)
            return outputs, [scope.get_current_value(v) for v in template_variables]

        if len(_JAX_CALLS) >= _JAX_CALLS_LIMIT:
            _JAX_CALLS.pop(next(iter(_JAX_CALLS)))
        _JAX_CALLS[key] = jax.jit(pure)
    variables = list(layer.variables)
    outputs, values = _JAX_CALLS[key]([v.value for v in variables], inputs, arrays)
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return outputs


def can_export_saved_model() -> bool:
    """True when `model.export()` can write a TF SavedModel: the tensorflow or jax backend
    with TensorFlow installed (Keras exports from torch only to other formats)."""
    import importlib.util

    import keras

    return (
        keras.backend.backend() in ("tensorflow", "jax")
        and importlib.util.find_spec("tensorflow") is not None
    )


def serve_saved_model(path: str, inputs: Any) -> Any:
    """Loads the TF SavedModel at `path` and calls its `serve` endpoint on `inputs`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    tensors = tf.nest.map_structure(tf.convert_to_tensor, inputs)
    outputs = loaded.serve(tensors)
    return tf.nest.map_structure(lambda t: t.numpy(), outputs)


def random_bits(shape: tuple, seed: Any) -> Any:
    """Uniformly random 32-bit words, as an int32 tensor of the given shape.

    One word costs the generator what one float32 uniform does, but it holds 32
    random bits, which a caller can split into several narrower uniform integers
    (e.g. two 16-bit fields for two Bernoulli masks). `keras.random.randint` cannot
    draw the full int32 range on every backend, and on JAX it draws twice the bits
    to remove the bias of a range that is not a power of 2.

    Args:
        shape: the shape of the output.
        seed: a `keras.random.SeedGenerator` (advanced once, like any `keras.random`
            draw).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        words = jax.random.bits(jnp.asarray(seed.next(), jnp.uint32), tuple(shape), jnp.uint32)
        return jax.lax.bitcast_convert_type(words, jnp.int32)
    if backend == "tensorflow":
        import tensorflow as tf

        state = tf.cast(seed.next(), tf.int64)
        return tf.random.stateless_uniform(
            shape, seed=state, minval=None, maxval=None, dtype=tf.int32
        )
    return keras.random.randint(shape, -(2**31), 2**31, dtype="int32", seed=seed)


def global_random_states() -> tuple:
    """The states of the global generators Keras's data pipelines draw from.

    NumPy's and Python's (array shuffles, data-adapter choices) and, on the torch
    backend, torch's (each `DataLoader` iteration draws its base seed from it).
    `set_global_random_states` puts them back.
    """
    import random

    import keras
    import numpy as np

    torch_state = None
    if keras.backend.backend() == "torch":
        import torch

        torch_state = torch.get_rng_state()
    return np.random.get_state(), random.getstate(), torch_state  # noqa: NPY002 (Keras draws from it)


def set_global_random_states(states: tuple) -> None:
    """Restores what `global_random_states` returned."""
    import random

    import numpy as np

    numpy_state, python_state, torch_state = states
    np.random.set_state(numpy_state)  # noqa: NPY002
    random.setstate(python_state)
    if torch_state is not None:
        import torch

        torch.set_rng_state(torch_state)
