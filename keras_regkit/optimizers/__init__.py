"""keras_regkit.optimizers."""

__all__: list[str] = []
