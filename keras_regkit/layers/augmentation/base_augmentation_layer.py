"""Shared machinery of the keras_regkit augmentation layers."""

from __future__ import annotations

from typing import Any

import keras

from keras_regkit import backend as regkit_backend
from keras_regkit.layers._training_default import AugmentsOutsideModels


def check_probability(name: str, value: Any) -> float:
    """Validates an argument that must be a probability in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a float in [0, 1]. "
            f"Received: {name}={value}"
        )
    return float(value)


def check_range(
    name: str, value: Any, low: float, high: float, symmetric: bool = False, open_low=False
) -> tuple[float, float]:
    """Validates a float or `(min, max)` pair within `[low, high]`.

    A single float `v` means `(-v, v)` when `symmetric`, else `(v, v)`.
    """
    interval = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
    message = (
        f"Invalid value for argument `{name}`: expected a float or a tuple of two floats "
        f"(min, max) with min <= max, in {interval}. Received: {name}={value}"
    )

    def is_number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if is_number(value):
        pair = (-float(value), float(value)) if symmetric else (float(value), float(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_number, value)):
        pair = (float(value[0]), float(value[1]))
    else:
        raise ValueError(message)
    lo, hi = pair
    if lo > hi or lo < low or hi > high or (open_low and lo <= low):
        raise ValueError(message)
    return pair


def check_seed(seed: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Invalid value for argument `seed`: expected an int or None. Received: seed={seed}"
        )


class BaseAugmentationLayer(AugmentsOutsideModels, keras.layers.Layer):
    """Base of the augmentation layers: seeding, training switch, `tf.data`, JAX.

    Subclasses implement `call(inputs, ..., training=None)` with `keras.ops`,
    resolving `training` with `self._resolve_training(training)`,
    drawing random numbers with `seed=self.seed_generator`, and
    `compute_output_dtypes(inputs)` if outputs do not keep their dtypes.

    - Called on its own (directly, or in a `tf.data` pipeline) the layer augments
      unless `training=False`. Inside a model it augments only in training:
      `predict`, `evaluate`, `model(x)` and `model.export()`'s serving endpoint
      return its inputs (see `AugmentsOutsideModels`).
    - Inside a `tf.data` pipeline on the TensorFlow backend the `keras.ops` code
      runs as TensorFlow graph ops. On the JAX and PyTorch backends it runs
      through `tf.numpy_function` on the layer's own backend (see
      `keras_regkit.backend.run_in_tf_graph`), so the same layer object works in
      `dataset.map(layer)` on every backend, seeded as in an eager call.
    - Eager calls on JAX with an explicit `training` argument (and the calls of
      a `tf.data` pipeline) run as one compiled function rather than op by op
      (see `keras_regkit.backend.jax_compiled_call`).
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_seed(seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self._note_placement(inputs)
        leaves = keras.tree.flatten((inputs, args, kwargs))
        if keras.backend.backend() != "tensorflow" and any(
            regkit_backend.is_symbolic_tf_tensor(leaf) for leaf in leaves
        ):
            return self._call_in_tf_graph(inputs, args, kwargs)
        return self._eager_or_symbolic_call(inputs, args, kwargs)

    def _eager_or_symbolic_call(self, inputs: Any, args: tuple, kwargs: dict) -> Any:
        leaves = keras.tree.flatten((inputs, args, kwargs))
        if (
            keras.backend.backend() == "jax"
            and not args
            and isinstance(kwargs.get("training"), bool)
            and all(regkit_backend.is_concrete(leaf) for leaf in leaves)
        ):
            # Eager JAX dispatches every op on its own; compile the call instead.
            # Only with an explicit `training`: an implicit one may come from an
            # enclosing layer's call context, which a cached compilation would ignore.
            return regkit_backend.jax_compiled_call(self, inputs, kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def _call_in_tf_graph(self, inputs: Any, args: tuple, kwargs: dict) -> Any:
        structure = (inputs, args, kwargs)
        leaves = keras.tree.flatten(structure)
        tensor_positions = [
            i for i, leaf in enumerate(leaves) if regkit_backend.is_symbolic_tf_tensor(leaf)
        ]
        input_leaves = keras.tree.flatten(inputs)
        dtypes = keras.tree.flatten(self.compute_output_dtypes(inputs))

        def eager_call(*arrays):
            values = list(leaves)
            for position, array in zip(tensor_positions, arrays, strict=True):
                values[position] = array
            call_inputs, call_args, call_kwargs = keras.tree.pack_sequence_as(structure, values)
            # A tf.data worker thread has no enclosing Keras call: training is the default.
            call_kwargs.setdefault("training", True)
            outputs = self._eager_or_symbolic_call(call_inputs, call_args, call_kwargs)
            return keras.tree.flatten(outputs)

        # Every augmentation preserves the shapes of its inputs.
        shapes = [leaf.shape for leaf in input_leaves]
        tensors = [leaves[i] for i in tensor_positions]
        outputs = regkit_backend.run_in_tf_graph(eager_call, tensors, dtypes, shapes)
        return keras.tree.pack_sequence_as(inputs, outputs)

    def compute_output_dtypes(self, inputs: Any) -> Any:
        """The output dtype of each leaf of `inputs` (by default, its own)."""
        return keras.tree.map_structure(lambda x: keras.backend.standardize_dtype(x.dtype), inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        dtypes = self.compute_output_dtypes(inputs)
        return keras.tree.map_structure(
            lambda x, dtype: keras.KerasTensor(x.shape, dtype=dtype), inputs, dtypes
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
