"""keras_regkit.min_diff."""

__all__: list[str] = []
