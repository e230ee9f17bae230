"""keras_regkit.layers."""

__all__: list[str] = []
