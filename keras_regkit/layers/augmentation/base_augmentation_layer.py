"""Shared machinery of the keras_regkit augmentation layers."""

from __future__ import annotations

from typing import Any

import keras

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend
from keras_regkit.layers._training_default import AugmentsOutsideModels


def check_range(
    name: str, value: Any, low: float, high: float, symmetric: bool = False, open_low=False
) -> tuple[float, float]:
    """Validates a float or `(min, max)` pair within `[low, high]`.

    A single float `v` means `(-v, v)` when `symmetric`, else `(v, v)`.
    """
    interval = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
    error = _validation.invalid(
        name,
        f"a float or a tuple of two floats (min, max) with min <= max, in {interval}",
        value,
    )
    if _validation.is_number(value):
        pair = (-float(value), float(value)) if symmetric else (float(value), float(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(map(_validation.is_number, value))
    ):
        pair = (float(value[0]), float(value[1]))
    else:
        raise error
    lo, hi = pair
    # `not (lo <= hi)` and the like also refuse NaN.
    if not (low <= lo <= hi <= high) or (open_low and lo <= low):
        raise error
    return pair


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
        self.seed = _validation.check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
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
