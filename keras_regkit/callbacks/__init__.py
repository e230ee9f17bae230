"""keras_regkit.callbacks."""

__all__: list[str] = []
