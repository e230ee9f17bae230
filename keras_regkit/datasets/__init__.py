"""Datasets bundled with keras_regkit."""

from keras_regkit.datasets.adult import Split, load_adult

__all__ = ["Split", "load_adult"]
