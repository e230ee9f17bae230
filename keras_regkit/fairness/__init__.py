"""keras_regkit.fairness."""

__all__: list[str] = []
