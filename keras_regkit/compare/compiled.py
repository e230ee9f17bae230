"""Compiled models kept between the repeats of a technique, to train each repeat without compiling.

Compiling (tracing and XLA) costs about as much as 20 epochs of the default
Adult run, and the repeats of one technique train the same graph: only the
initial weights, the random-layer seeds and the data differ. `CompiledModels`
keeps the first compiled model of each configuration and, for every later run
of it, loads the state a fresh model and optimizer built for that run hold
(every model variable, seed-generator states included, and every optimizer
variable) into the kept one. The run then trains as the fresh model would,
with the compiled functions already built.
"""

from __future__ import annotations

import collections
import copy
import json
import re
from collections.abc import Callable

import keras

from keras_regkit import backend

# Runs of other configurations evict the least recently used kept model.
DEFAULT_SIZE = 32


class CompiledModels:
    """Up to `size` compiled models, one per model and optimizer configuration.

    Args:
        size: how many configurations to keep (the least recently used is
            dropped first).
    """

    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self.hits = 0
        self._kept: collections.OrderedDict[str, tuple] = collections.OrderedDict()

    def prepare(
        self,
        model: keras.Model,
        original: keras.Model,
        compile_model: Callable,
        build_model: Callable,
    ) -> tuple:
        """`(model, original)` compiled and built, with the state of the fresh `model`.

        `model` is a freshly built, not yet compiled model (`original` is the
        model inside it to predict with, or `model` itself); `compile_model(model)`
        compiles it and `build_model(model)` builds what `fit` would build first
        (see `build_for_fit`). The first model of a configuration is compiled,
        built and kept; for the next ones, `compile_model` runs on the fresh model
        only to build its optimizer, whose initial state, with the model's, is then
        loaded into the kept model, which is returned instead.
        """
        compile_model(model)
        key = _configuration(model)
        kept = self._kept.get(key)
        if kept is not None:
            if len(model.trainable_variables) == len(kept[0].trainable_variables):
                model.optimizer.build(model.trainable_variables)
            else:  # parts built at the first step (an adversary): build as fit would
                build_model(model)
        if kept is None or not _same_shapes(kept[0], model):
            build_model(model)
            if not model.optimizer.built:  # a `build_model` that builds the model only
                model.optimizer.build(model.trainable_variables)
            self._kept[key] = (model, original)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
            return model, original
        self._kept.move_to_end(key)
        kept_model, kept_original = kept
        for mine, fresh in zip(_state(kept_model), _state(model), strict=True):
            mine.assign(fresh.value)
        self.hits += 1
        return kept_model, kept_original


def build_for_fit(model: keras.Model, x, y=None, **fit_kwargs) -> None:
    """Builds a compiled model's metrics and optimizer as its first `fit` would, drawing nothing.

    The first `fit` of a model reads one batch to build them, from the shuffled
    data: that draws a data order from NumPy's global generator, which a fit of an
    already-built (kept) model does not. Building here, from the unshuffled data
    and with the global generators' states put back, makes the first and the later runs
    of a configuration train on the same data order for the same seed. A
    `PyDataset`, which may draw its next order when read, is read from a copy.
    """
    states = backend.global_random_states()
    if isinstance(x, keras.utils.PyDataset):
        x = copy.deepcopy(x)
    model.fit(x, y, epochs=0, shuffle=False, verbose=0, **fit_kwargs)
    backend.set_global_random_states(states)


def _state(model: keras.Model) -> list:
    return [*model.variables, *model.optimizer.variables]


def _configuration(model: keras.Model) -> str:
    # Everything the compiled graph bakes in (layers, regularizer and loss strengths, the
    # optimizer's settings) is in the configurations. Not the seeds: they only set initial
    # values and seed-generator states, which are loaded; nor the numbers Keras appends to
    # the names of new layers ("dense_7").
    configs = [model.get_config(), model.optimizer.get_config(), str(model.loss)]
    text = json.dumps(configs, sort_keys=True, default=repr)
    return _NUMBERED.sub('"', _SEED.sub('"seed": null', text))


_SEED = re.compile(r'"seed": -?\d+')
_NUMBERED = re.compile(r'_\d+"')


def _same_shapes(kept: keras.Model, fresh: keras.Model) -> bool:
    def shapes(model):
        return [(tuple(v.shape), str(v.dtype)) for v in _state(model)]

    return shapes(kept) == shapes(fresh)
