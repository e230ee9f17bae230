"""keras_regkit.models."""

__all__: list[str] = []
