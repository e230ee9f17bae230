"""What an unspecified `training` means for layers that augment data."""

from __future__ import annotations

from typing import Any

import keras


class AugmentsOutsideModels:
    """Mixin: `training=None` augments when the layer is called on its own, not in a model.

    Keras's preprocessing layers default to `training=True` so that `layer(x)` and
    `dataset.map(layer)` augment; but a model called without `training` (as
    `model.export()`'s serving endpoint and `model(x)` do) passes no value down, so
    those layers augment at serving time too. Layers with this mixin augment by
    default only until they are placed in a model (called on symbolic
    `keras.KerasTensor`s, as in a Functional or Sequential model); from then on an
    unspecified `training` means inference, as for `keras.layers.Dropout`, and
    `fit` still trains them. Explicit `training=True/False` always wins.

    A subclassed model's `call` runs its layers on concrete tensors, so they
    cannot tell that they are inside a model: there, as with Keras's own
    preprocessing layers, pass `training` on (`self.augment(x, training=training)`)
    or call the model with `training=False` to serve it.

    Subclasses call `self._note_placement(inputs)` in `__call__` and resolve
    their `training=None` argument with `self._resolve_training(training)`.
    """

    _placed_in_model = False

    def _note_placement(self, structure: Any) -> None:
        if not self._placed_in_model and any(
            isinstance(leaf, keras.KerasTensor) for leaf in keras.tree.flatten(structure)
        ):
            self._placed_in_model = True

    def _resolve_training(self, training: Any) -> Any:
        if training is None:
            return not self._placed_in_model
        return training
