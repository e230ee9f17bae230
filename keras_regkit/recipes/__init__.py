"""keras_regkit.recipes."""

__all__: list[str] = []
