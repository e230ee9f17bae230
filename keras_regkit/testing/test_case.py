"""The one test harness every keras_regkit object goes through.

Modelled on keras-hub's `keras_hub/src/tests/test_case.py`, with public Keras
API only. Each `run_*_test` function checks, for one object:

- `get_config` -> `from_config` gives the same config, and the config holds
  every `__init__` argument with the value the object actually uses;
- `serialize_keras_object` -> JSON -> `deserialize_keras_object` round-trips;
- a model holding the object, saved to `.keras` and reloaded with
  `safe_mode=True`, gives identical outputs (after a training step, so state
  that is not saved shows up as a difference);
- one `fit` step eagerly and, on TensorFlow and JAX, with `jit_compile=True`;
- the same seed gives the same output (random objects);
- a `mixed_float16` policy gives the expected output dtype;
- the model exports with `model.export()` (TF SavedModel, tensorflow and jax
  backends) and the SavedModel serves `predict`'s outputs.

Use the functions directly from pytest tests, or subclass `TestCase`.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_regkit import backend as regkit_backend

JIT_BACKENDS = ("tensorflow", "jax")


def backend() -> str:
    return keras.backend.backend()


def jit_compile_options() -> list[bool]:
    """The `jit_compile` values a fit step is tested with on this backend.

    Torch's `jit_compile=True` means `torch.compile`, which is not what
    Keras users rely on for CPU training; TensorFlow and JAX get XLA.
    """
    return [False, True] if backend() in JIT_BACKENDS else [False]


def to_numpy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_numpy(v) for v in x)
    if x is None:
        return None
    return np.asarray(ops.convert_to_numpy(x))


def assert_allclose(
    actual: Any, desired: Any, atol: float = 1e-6, rtol: float = 1e-6, err_msg: str = ""
) -> None:
    actual, desired = to_numpy(actual), to_numpy(desired)
    if isinstance(desired, dict):
        assert isinstance(actual, dict) and set(actual) == set(desired), err_msg
        for key in desired:
            assert_allclose(actual[key], desired[key], atol, rtol, f"{err_msg} [{key}]")
        return
    if isinstance(desired, (list, tuple)):
        assert len(actual) == len(desired), err_msg
        for a, d in zip(actual, desired, strict=True):
            assert_allclose(a, d, atol, rtol, err_msg)
        return
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(desired, dtype=np.float64),
        atol=atol,
        rtol=rtol,
        err_msg=err_msg,
    )


def _normalize_config(value: Any) -> Any:
    """JSON-normalises a config so tuples/lists and numpy scalars compare equal."""
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(
        f"Config value {value!r} of type {type(value).__name__} is not JSON-serializable; "
        "configs must hold plain Python values or serialized Keras objects."
    )


def assert_configs_equal(config: dict, other: dict, what: str = "config") -> None:
    a, b = _normalize_config(config), _normalize_config(other)
    if a != b:
        diff = {
            k: (a.get(k, "<missing>"), b.get(k, "<missing>"))
            for k in sorted(set(a) | set(b))
            if a.get(k, "<missing>") != b.get(k, "<missing>")
        }
        raise AssertionError(f"{what} differs after the round-trip: {diff}")


def _init_arguments(cls: type) -> list[str]:
    """The `__init__` arguments a class adds on top of its Keras base classes."""

    def names(klass: type) -> list[str]:
        params = inspect.signature(klass.__init__).parameters.values()
        return [
            p.name
            for p in params
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    keras_owned = {
        name
        for base in cls.__mro__
        if base.__module__.startswith("keras.") and "__init__" in vars(base)
        for name in names(base)
    }
    return [name for name in names(cls) if name not in keras_owned]


def _same_value(attr: Any, config_value: Any) -> bool:
    if isinstance(config_value, dict):
        return True  # a serialized nested object: covered by the config round-trip
    if isinstance(attr, (bool, int, float, str)) or attr is None:
        if isinstance(config_value, (list, tuple)):
            return False
        return attr == config_value
    if isinstance(attr, (list, tuple)) and all(
        isinstance(v, (bool, int, float, str)) or v is None for v in attr
    ):
        return (
            list(attr) == list(config_value) if isinstance(config_value, (list, tuple)) else False
        )
    return True  # nested objects are covered by the config round-trip


def check_config_covers_init(instance: Any, exclude: tuple[str, ...] = ()) -> None:
    """Every `__init__` argument is in the config, with the value in use.

    `exclude` names arguments that are deliberately not configuration (e.g. a
    callback's data arrays); the object must document that.
    """
    config = instance.get_config()
    arguments = [name for name in _init_arguments(type(instance)) if name not in exclude]
    missing = [name for name in arguments if name not in config]
    if missing:
        raise AssertionError(
            f"{type(instance).__name__}.get_config() does not return the __init__ "
            f"argument(s) {missing}; from_config would silently use their defaults. "
            f"Config keys: {sorted(config)}"
        )
    for name in arguments:
        if hasattr(instance, name):
            attr = getattr(instance, name)
            if not _same_value(attr, config[name]):
                raise AssertionError(
                    f"{type(instance).__name__}.get_config()[{name!r}] is "
                    f"{config[name]!r}, but the object uses {name}={attr!r}."
                )


def run_serialization_test(instance: Any, config_exclude: tuple[str, ...] = ()) -> Any:
    """Config and JSON round-trips. Returns the deserialized copy.

    `config_exclude`: `__init__` arguments that are not configuration (see
    `check_config_covers_init`).
    """
    check_config_covers_init(instance, exclude=config_exclude)
    config = instance.get_config()
    revived = type(instance).from_config(config)
    assert_configs_equal(config, revived.get_config())

    serialized = keras.saving.serialize_keras_object(instance)
    as_json = json.dumps(serialized, default=_json_default)
    restored = keras.saving.deserialize_keras_object(json.loads(as_json))
    if type(restored) is not type(instance):
        raise AssertionError(
            f"Deserialized object has type {type(restored).__name__}, expected "
            f"{type(instance).__name__}. Is the class registered with "
            "keras.saving.register_keras_serializable(package='keras_regkit')?"
        )
    assert_configs_equal(config, restored.get_config(), "JSON-deserialized config")
    return restored


def save_and_reload(model: keras.Model) -> keras.Model:
    """Saves to `.keras` and reloads with `safe_mode=True`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        return keras.saving.load_model(path, safe_mode=True)


def run_model_saving_test(model: keras.Model, input_data: Any, atol: float = 1e-6) -> keras.Model:
    """A `.keras` reload (safe_mode=True) gives identical predictions and weights."""
    expected = model.predict(input_data, verbose=0)
    revived = save_and_reload(model)
    actual = revived.predict(input_data, verbose=0)
    assert_allclose(actual, expected, atol=atol, rtol=0, err_msg="outputs after .keras reload")
    original = [to_numpy(w) for w in model.weights]
    reloaded = [to_numpy(w) for w in revived.weights]
    assert len(original) == len(reloaded), "number of weights changed after reload"
    for a, b in zip(original, reloaded, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="weights changed after .keras reload")
    return revived


def run_export_test(model: keras.Model, input_data: Any, atol: float = 1e-6) -> bool:
    """`model.export()` writes a TF SavedModel whose `serve` gives `predict`'s outputs.

    Runs on the tensorflow and jax backends (Keras exports TF SavedModels from
    those); returns whether it ran.
    """
    if not regkit_backend.can_export_saved_model():
        return False
    expected = model.predict(input_data, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, verbose=False)
        served = regkit_backend.serve_saved_model(tmp, input_data)
    assert_allclose(served, expected, atol=atol, rtol=atol, err_msg="outputs served by export()")
    return True


def run_fit_steps(
    build_model: Callable[[], keras.Model],
    x: Any,
    y: Any,
    compile_kwargs: dict | None = None,
    fit_kwargs: dict | None = None,
    batch_size: int | None = None,
) -> dict[bool, keras.Model]:
    """One `fit` step per `jit_compile` option; the loss must be finite."""
    models = {}
    for jit in jit_compile_options():
        model = build_model()
        kwargs = {"optimizer": "adam", "loss": "mse"}
        kwargs.update(compile_kwargs or {})
        model.compile(jit_compile=jit, **kwargs)
        history = model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0, **(fit_kwargs or {}))
        for name, values in history.history.items():
            if not np.all(np.isfinite(values)):
                raise AssertionError(
                    f"fit with jit_compile={jit} on {backend()} logged {name}={values}"
                )
        models[jit] = model
    return models


def _call_layer(layer: keras.layers.Layer, inputs: Any, call_kwargs: dict) -> Any:
    return layer(inputs, **call_kwargs)


def _leading_shape(data: Any) -> tuple:
    if isinstance(data, dict):
        return _leading_shape(next(iter(data.values())))
    if isinstance(data, (list, tuple)):
        return _leading_shape(data[0])
    return tuple(data.shape)


def _input_spec(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _input_spec(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_input_spec(v) for v in data]
    data = np.asarray(data)
    return keras.Input(shape=data.shape[1:], batch_size=None, dtype=str(data.dtype))


def _output_dtype(output: Any) -> str:
    if isinstance(output, dict):
        return _output_dtype(next(iter(output.values())))
    if isinstance(output, (list, tuple)):
        return _output_dtype(output[0])
    return keras.backend.standardize_dtype(output.dtype)


def run_layer_test(
    layer_cls: type,
    init_kwargs: dict,
    input_data: Any,
    expected_output_shape: Any = None,
    expected_output: Any = None,
    random: bool = False,
    call_kwargs: dict | None = None,
    run_training_check: bool = True,
    run_saving_check: bool = True,
    run_export_check: bool = True,
    run_mixed_precision_check: bool = True,
    expected_mixed_precision_dtype: str = "float16",
    atol: float = 1e-6,
) -> keras.layers.Layer:
    """Runs every harness check on a layer class.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments. Random layers must include `seed`.
        input_data: a batch of inputs (numpy).
        expected_output_shape: shape of the inference output.
        expected_output: reference inference output (e.g. from NumPy or the
            equivalent Keras layer).
        random: the layer draws random numbers in training; checks that the same
            seed gives the same training output and two calls differ.
        call_kwargs: extra call arguments.
        run_training_check: fit one step inside a model (eager and XLA).
        run_saving_check: `.keras` round-trip of a model holding the layer.
        run_export_check: `model.export()` of a model holding the layer serves
            the same outputs (TF SavedModel; tensorflow and jax backends).
        run_mixed_precision_check: build with `dtype="mixed_float16"`.
        expected_mixed_precision_dtype: the output dtype under mixed precision.
        atol: tolerance for `expected_output`.
    """
    call_kwargs = dict(call_kwargs or {})
    if random and "seed" not in init_kwargs:
        raise ValueError(
            "A random layer must be tested with a fixed `seed` in `init_kwargs`. "
            f"Received: init_kwargs={init_kwargs}"
        )
    layer = layer_cls(**init_kwargs)
    run_serialization_test(layer)

    output = _call_layer(layer, input_data, call_kwargs)
    if expected_output_shape is not None:
        actual_shape = keras.tree.map_structure(lambda t: tuple(t.shape), output)
        assert _normalize_config(actual_shape) == _normalize_config(expected_output_shape), (
            f"output shape {actual_shape} != expected {expected_output_shape}"
        )
    if expected_output is not None:
        assert_allclose(
            output, expected_output, atol=atol, rtol=atol, err_msg="inference output vs reference"
        )
    # The built layer still round-trips.
    run_serialization_test(layer)

    if random:
        check_seeded_randomness(layer_cls, init_kwargs, input_data, call_kwargs)

    if run_training_check or run_saving_check or run_export_check:

        def build_model():
            inputs = _input_spec(input_data)
            outputs = layer_cls(**init_kwargs)(inputs, **call_kwargs)
            return keras.Model(inputs, outputs)

        target = keras.tree.map_structure(
            lambda t: np.zeros(tuple(t.shape), "float32"), to_numpy(output)
        )
        if run_training_check:
            models = run_fit_steps(
                build_model,
                input_data,
                target,
                batch_size=len(
                    to_numpy(
                        target if not isinstance(target, dict) else next(iter(target.values()))
                    )
                ),
            )
            model = models[max(models)]
        else:
            model = build_model()
        if run_saving_check:
            run_model_saving_test(model, input_data)
        if run_export_check:
            run_export_test(model, input_data)

    if run_mixed_precision_check:
        kwargs = dict(init_kwargs, dtype="mixed_float16")
        mp_layer = layer_cls(**kwargs)
        mp_output = _call_layer(mp_layer, input_data, call_kwargs)
        dtype = _output_dtype(mp_output)
        assert dtype == expected_mixed_precision_dtype, (
            f"{layer_cls.__name__} under mixed_float16 returned {dtype}, expected "
            f"{expected_mixed_precision_dtype}"
        )
        for weight in mp_layer.weights:
            assert keras.backend.standardize_dtype(weight.dtype) == "float32", (
                f"variable {weight.path} is {weight.dtype} under mixed_float16; "
                "variables must stay float32"
            )
    return layer


def check_seeded_randomness(
    layer_cls: type, init_kwargs: dict, input_data: Any, call_kwargs: dict | None = None
) -> None:
    """Same seed -> same training output; consecutive calls draw new numbers."""
    call_kwargs = dict(call_kwargs or {}, training=True)
    first = layer_cls(**init_kwargs)
    second = layer_cls(**init_kwargs)
    out_first = to_numpy(first(input_data, **call_kwargs))
    out_second = to_numpy(second(input_data, **call_kwargs))
    try:
        assert_allclose(out_first, out_second, atol=0, rtol=0)
    except AssertionError as error:
        raise AssertionError(
            f"Two {layer_cls.__name__} layers built with the same seed gave different "
            "training outputs: the layer draws unseeded randomness. Create a "
            "keras.random.SeedGenerator(seed) in __init__ and pass it as `seed=`."
        ) from error
    again = to_numpy(first(input_data, **call_kwargs))
    try:
        assert_allclose(again, out_first, atol=0, rtol=0)
    except AssertionError:
        return
    raise AssertionError(
        f"Two training calls of one {layer_cls.__name__} gave identical outputs: its "
        "randomness does not advance (a seed traced into a constant?)."
    )


def _dense_model(units: int, n_features: int, **dense_kwargs: Any) -> keras.Model:
    inputs = keras.Input(shape=(n_features,))
    outputs = keras.layers.Dense(units, **dense_kwargs)(inputs)
    return keras.Model(inputs, outputs)


def _regression_data(n: int = 32, n_features: int = 6, units: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    y = rng.normal(size=(n, units)).astype("float32")
    return x, y


def _run_kernel_argument_test(
    obj: Any,
    argument: str,
    reference: Callable[[np.ndarray], Any],
    weight_shape: tuple,
    atol: float,
    *,
    weights_seed: int,
    weights_scale: float,
    initializer: Callable[[], Any],
    output_name: str,
    check_trained: Callable[[keras.Model], None],
) -> np.ndarray:
    """What regularizers and constraints share: NumPy reference on random weights, a
    Dense model holding `obj` as `argument` fit eagerly and under XLA (each model
    checked by `check_trained`), `.keras` reload and export. Returns the inputs."""
    kind = argument.removeprefix("kernel_")
    run_serialization_test(obj)
    rng = np.random.default_rng(weights_seed)
    w = (weights_scale * rng.normal(size=weight_shape)).astype("float32")
    assert_allclose(
        obj(ops.convert_to_tensor(w)),
        reference(w),
        atol=atol,
        rtol=atol,
        err_msg=f"{output_name} vs NumPy reference",
    )

    n_features, units = weight_shape[0], weight_shape[-1]
    x, y = _regression_data(n_features=n_features, units=units)

    def build_model():
        return _dense_model(units, n_features, kernel_initializer=initializer(), **{argument: obj})

    models = run_fit_steps(build_model, x, y, batch_size=len(x))
    for model in models.values():
        check_trained(model)
    model = models[max(models)]
    revived = run_model_saving_test(model, x)
    run_export_test(model, x)
    assert_configs_equal(
        obj.get_config(),
        getattr(revived.layers[-1], argument).get_config(),
        f"{kind} config after .keras reload",
    )
    return x


def run_regularizer_test(
    regularizer: Any,
    reference: Callable[[np.ndarray], float],
    weight_shape: tuple = (6, 3),
    atol: float = 1e-6,
) -> None:
    """Checks a kernel regularizer against a NumPy `reference(w) -> penalty`."""

    def check_trained(model):
        kernel = to_numpy(model.layers[-1].kernel)
        assert len(model.losses) == 1, "the regularizer did not add a loss to the model"
        assert_allclose(
            model.losses[0],
            reference(kernel),
            atol=atol,
            rtol=1e-5,
            err_msg="model.losses vs NumPy reference",
        )

    x = _run_kernel_argument_test(
        regularizer,
        "kernel_regularizer",
        reference,
        weight_shape,
        atol,
        weights_seed=1,
        weights_scale=1.0,
        initializer=lambda: keras.initializers.GlorotUniform(seed=3),
        output_name="penalty",
        check_trained=check_trained,
    )
    n_features, units = weight_shape[0], weight_shape[-1]
    mp_model = _dense_model(
        units, n_features, kernel_regularizer=regularizer, dtype="mixed_float16"
    )
    mp_model(x)
    penalty = mp_model.losses[0]
    assert np.isfinite(to_numpy(penalty)).all(), "penalty is not finite under mixed_float16"


def run_constraint_test(
    constraint: Any,
    reference: Callable[[np.ndarray], np.ndarray],
    weight_shape: tuple = (6, 3),
    atol: float = 1e-6,
) -> None:
    """Checks a kernel constraint against a NumPy `reference(w) -> projected w`."""

    def check_trained(model):
        kernel = to_numpy(model.layers[-1].kernel)
        assert_allclose(
            kernel,
            reference(kernel),
            atol=1e-5,
            rtol=1e-5,
            err_msg="trained kernel does not satisfy the constraint",
        )

    _run_kernel_argument_test(
        constraint,
        "kernel_constraint",
        reference,
        weight_shape,
        atol,
        weights_seed=2,
        weights_scale=3.0,
        initializer=lambda: keras.initializers.RandomNormal(stddev=3.0, seed=4),
        output_name="projection",
        check_trained=check_trained,
    )


def run_callback_test(
    callback_factory: Callable[[], keras.callbacks.Callback],
    x: Any = None,
    y: Any = None,
    epochs: int = 2,
    build_model: Callable[[], keras.Model] | None = None,
    fit_kwargs: dict | None = None,
    config_exclude: tuple[str, ...] = (),
) -> dict[bool, keras.callbacks.History]:
    """Serialization plus a real `fit` with the callback, eager and XLA.

    `config_exclude`: `__init__` arguments that are not configuration, such
    as validation arrays (see `check_config_covers_init`).

    Returns the `History` of each fit keyed by `jit_compile`.
    """
    run_serialization_test(callback_factory(), config_exclude=config_exclude)
    if x is None:
        x, y = _regression_data(n=64, units=1)
    if build_model is None:

        def build_model():
            return _dense_model(1, x.shape[-1])

    histories = {}
    for jit in jit_compile_options():
        model = build_model()
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        histories[jit] = model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=16,
            verbose=0,
            callbacks=[callback_factory()],
            **(fit_kwargs or {}),
        )
    return histories


def run_model_test(
    build_model: Callable[[], keras.Model],
    x: Any,
    y: Any,
    compile_kwargs: dict | None = None,
    fit_kwargs: dict | None = None,
    predict_data: Any = None,
    batch_size: int | None = None,
    atol: float = 1e-6,
    run_export_check: bool = True,
) -> keras.Model:
    """A model (or model wrapper): fit steps, config round-trip, `.keras` reload, export."""
    models = run_fit_steps(build_model, x, y, compile_kwargs, fit_kwargs, batch_size)
    model = models[max(models)]
    predict_data = x if predict_data is None else predict_data
    run_model_saving_test(model, predict_data, atol=atol)
    if run_export_check:
        run_export_test(model, predict_data, atol=atol)
    return model


class TestCase:
    """Mixin giving pytest test classes the harness as methods.

    Example:

    ```python
    class TestMyLayer(TestCase):
        def test_layer(self):
            self.run_layer_test(MyLayer, {"rate": 0.1, "seed": 1}, np.ones((4, 3)),
                                expected_output_shape=(4, 3), random=True)
    ```
    """

    backend = staticmethod(backend)
    assert_allclose = staticmethod(assert_allclose)
    run_serialization_test = staticmethod(run_serialization_test)
    run_model_saving_test = staticmethod(run_model_saving_test)
    run_export_test = staticmethod(run_export_test)
    run_layer_test = staticmethod(run_layer_test)
    run_regularizer_test = staticmethod(run_regularizer_test)
    run_constraint_test = staticmethod(run_constraint_test)
    run_callback_test = staticmethod(run_callback_test)
    run_model_test = staticmethod(run_model_test)
    run_fit_steps = staticmethod(run_fit_steps)
    check_seeded_randomness = staticmethod(check_seeded_randomness)
