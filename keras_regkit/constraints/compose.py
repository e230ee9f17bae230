"""Composition of weight constraints."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_regkit")
class Compose(keras.constraints.Constraint):
    """Applies several constraints in order: `c_n(...c_2(c_1(w)))`.

    Each constraint is a Keras or keras_regkit constraint object or identifier
    (e.g. `"non_neg"`); all are serialized, so a model holding the composition
    reloads with `safe_mode=True`. The result of composing projections is a
    projection onto the intersection only when the sets are compatible (e.g.
    `ValueRange` then `MaxNorm` keeps both, since shrinking a norm never leaves a
    symmetric box); put the constraint that must hold exactly last.

    Args:
        constraints: a non-empty list of constraints, applied first to last.

    Example:

    >>> from keras_regkit.constraints import ValueRange
    >>> c = Compose([ValueRange(-1.0, 1.0), keras.constraints.MaxNorm(2.0)])
    >>> layer = keras.layers.Dense(4, kernel_constraint=c)
    """

    def __init__(self, constraints):
        if isinstance(constraints, (str, dict)) or not hasattr(constraints, "__iter__"):
            raise ValueError(
                "Invalid value for argument `constraints`: expected a list of constraints. "
                f"Received: constraints={constraints!r}"
            )
        resolved = []
        for c in constraints:
            if isinstance(c, dict):
                c = keras.saving.deserialize_keras_object(c)
            elif isinstance(c, str):
                c = keras.constraints.get(c)
            if not isinstance(c, keras.constraints.Constraint):
                raise ValueError(
                    "Every element of `constraints` must be a keras.constraints.Constraint "
                    f"(a callable has no config and would not reload). Received: {c!r}"
                )
            resolved.append(c)
        if not resolved:
            raise ValueError("`constraints` must not be empty. Received: constraints=[]")
        self.constraints = resolved

    def __call__(self, w):
        for constraint in self.constraints:
            w = constraint(w)
        return w

    def get_config(self):
        return {"constraints": [keras.saving.serialize_keras_object(c) for c in self.constraints]}
