"""Sharpness-aware minimization (SAM) and its adaptive variant (ASAM) as a model wrapper."""

from __future__ import annotations

import inspect

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend

# Keeps the step finite when the gradient vanishes (as in the reference implementations).
_NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="keras_regkit")
class SharpnessAwareModel(keras.Model):
    """Trains a model with sharpness-aware minimization (SAM) or adaptive SAM (ASAM).

    SAM (Foret et al., ICLR 2021) minimizes the worst loss in a neighbourhood of
    the weights `w`. Each training step takes two forward-backward passes:

    1. the gradient `g = grad L(w)` at the current weights gives the
       perturbation `e = rho * g / ||g||` (the global L2 norm over all
       trainable weights); ASAM (Kwon et al., ICML 2021) makes it
       scale-invariant, `e = rho * w**2 * g / || |w| * g ||`;
    2. the gradient at the perturbed weights, `grad L(w + e)`, is handed to the
       optimizer, which updates the unperturbed weights `w`.

    The perturbation never touches the variables: the second pass evaluates the
    model at `w + stop_gradient(e)`, whose gradient with respect to `w` is
    `grad L(w + e)`. So the update is applied to `w` exactly (weight decay,
    clipping and loss scaling see `w`, not `w + e`), and the step is the
    standard Keras `train_step`: metrics, mixed-precision loss scaling, XLA and
    every backend work unchanged. Losses from `add_loss` and weight
    regularizers are part of the objective in both passes.

    Metrics, the BatchNorm moving statistics and other non-trainable state are
    updated once per step, from the forward pass at `w` (the perturbed passes
    see the same state and leave it unchanged); the logged `loss` is the
    sharpness-aware loss `L(w + e)`. `evaluate`, `predict` and calling the
    model run the wrapped model. `export()` exports the wrapped model. With
    dropout, the passes draw independent masks. Under `tf.distribute` the
    replicas' gradients are summed before the perturbation, and JAX's
    `keras.distribution` computes on the global batch, so distributed training
    gives the weights of one device (the paper's per-accelerator "m-sharpness"
    is not what this wrapper computes).

    Cost: the step runs three forward and two backward passes (the forward pass
    at `w` that updates metrics and state cannot be reused inside the loss's
    differentiation), about 2-2.5x a plain step.

    References: P. Foret, A. Kleiner, H. Mobahi and B. Neyshabur,
    "Sharpness-Aware Minimization for Efficiently Improving Generalization",
    ICLR 2021; J. Kwon, J. Kim, H. Park and I. K. Choi, "ASAM: Adaptive
    Sharpness-Aware Minimization for Scale-Invariant Learning of Deep Neural
    Networks", ICML 2021.

    Args:
        model: the `keras.Model` to train.
        rho: non-negative float, the radius of the neighbourhood. Foret et al.
            use 0.05 for SAM; ASAM's radius is larger (Kwon et al. use 0.5 to 2).
            0 gives plain training.
        adaptive: bool, whether to use ASAM's scale-invariant perturbation.
        **kwargs: base model arguments (`name`, ...).

    Example:

    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = SharpnessAwareModel(base, rho=0.05)
    >>> model.compile(
    ...     optimizer="sgd",
    ...     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ... )
    >>> x, y = np.random.rand(16, 4).astype("float32"), np.arange(16) % 3
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> model.predict(x, verbose=0).shape
    (16, 3)
    """

    def __init__(
        self, model: keras.Model, rho: float = 0.05, adaptive: bool = False, **kwargs
    ) -> None:
        if not isinstance(model, keras.Model):
            raise _validation.invalid("model", "a keras.Model", model)
        rho = _validation.check_float("rho", rho, minimum=0.0)
        adaptive = _validation.check_bool("adaptive", adaptive)
        super().__init__(**kwargs)
        self.model = model
        self.rho = rho
        self.adaptive = adaptive
        self._loss_override = None
        if model.built:
            self.built = True

    def build(self, input_shape=None):
        if not self.model.built:
            self.model.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def export(self, filepath, *args, **kwargs):
        """Exports the wrapped model (SAM changes only training)."""
        return self.model.export(filepath, *args, **kwargs)

    @property
    def losses(self):
        # Lets `compute_loss` count the additional losses of a perturbed pass.
        if self._loss_override is not None:
            return self._loss_override
        return super().losses

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not training:
            return super().compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )
        trainable = self.model.trainable_variables
        # Reading `.value` here gives the tensors the train step differentiates.
        weights = [v.value for v in trainable]
        state = [ops.stop_gradient(v.value) for v in self.model.non_trainable_variables]

        call_kwargs = {"training": True} if self._call_takes_training() else {}

        def loss_at(values):
            y_perturbed, _, losses = self.model.stateless_call(
                values, state, x, return_losses=True, **call_kwargs
            )
            self._loss_override = list(losses)
            try:
                return super(SharpnessAwareModel, self).compute_loss(
                    x=x, y=y, y_pred=y_perturbed, sample_weight=sample_weight, training=True
                )
            finally:
                self._loss_override = None

        constants = [ops.stop_gradient(w) for w in weights]
        grads = regkit_backend.input_gradient(loss_at, constants)
        # Each tf.distribute replica sees its slice of the batch; the perturbation follows
        # the global batch's gradient (the sum of the replicas' scaled gradients), as on
        # one device.
        grads = regkit_backend.all_reduce_sum(list(grads))
        perturbations = self._perturbations(constants, grads)
        return loss_at(
            [
                w + ops.stop_gradient(ops.cast(e, w.dtype))
                for w, e in zip(weights, perturbations, strict=True)
            ]
        )

    def _call_takes_training(self) -> bool:
        # `stateless_call` calls `model.call` directly, which a subclassed model may
        # define without `training`.
        parameters = inspect.signature(self.model.call).parameters
        return "training" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    def _perturbations(self, weights, grads):
        """`rho * T**2 g / ||T g||` with T = 1 (SAM) or T = |w| (ASAM), in float32."""
        grads = [ops.cast(g, "float32") for g in grads]
        if self.adaptive:
            scales = [ops.abs(ops.cast(w, "float32")) for w in weights]
        else:
            scales = [None] * len(grads)
        scaled = [g if s is None else s * g for g, s in zip(grads, scales, strict=True)]
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in scaled))
        factor = self.rho / (norm + _NORM_EPSILON)
        return [
            t * factor if s is None else s * t * factor for s, t in zip(scales, scaled, strict=True)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": keras.saving.serialize_keras_object(self.model),
                "rho": self.rho,
                "adaptive": self.adaptive,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        return cls(**config)
