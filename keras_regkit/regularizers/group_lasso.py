"""Group Lasso weight penalty."""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.regularizers.elastic_net import _validate_factor


@keras.saving.register_keras_serializable(package="keras_regkit")
class GroupLasso(keras.regularizers.Regularizer):
    """Group Lasso penalty: the sum of the L2 norms of groups of weights.

    `penalty = factor * sum_g sqrt(|g|) * ||w_g||_2`

    where `w_g` is one group of weights and `|g|` its number of elements
    (Yuan & Lin's weighting, so that large groups are not favoured). Because the
    L2 norm of a group is not differentiable at zero, the penalty drives *whole
    groups* to zero at once. With the default grouping, a group is one input row
    of a kernel: all the weights leaving one input feature (Dense) or one input
    channel (Conv). A zero row means the layer ignores that feature, so the
    penalty performs feature selection (or channel pruning, Wen et al., 2016).

    References:

    - M. Yuan and Y. Lin, "Model selection and estimation in regression with
      grouped variables", JRSS-B 68(1), 2006.
    - S. Scardapane, D. Comminiello, A. Hussain and A. Uncini, "Group sparse
      regularization for deep neural networks", Neurocomputing 241, 2017.
    - W. Wen, C. Wu, Y. Wang, Y. Chen and H. Li, "Learning structured sparsity in
      deep neural networks", NeurIPS 2016.

    What `axis` means: `axis` names the axis (or axes) that *index the groups*;
    every index along it is one group, and the L2 norm of a group is taken over
    all the other axes. (This is the complement of `axis` in
    `keras.constraints.MaxNorm`, which names the axes the norm is taken over.)
    With Keras's kernel layouts:

    | Layer (kernel shape)                        | `axis=-2` (default) groups | `axis=-1` groups |
    | ------------------------------------------- | -------------------------- | ---------------- |
    | `Dense` `(in, units)`                       | input features (rows)      | output units     |
    | `Conv1D/2D/3D` `(*kernel_size, in, out)`    | input channels             | filters          |
    | `Embedding` `(vocab, dim)`                  | tokens                     | dimensions       |

    A tuple selects finer groups, e.g. `axis=(-2, -1)` on a `Conv2D` kernel makes
    each `(in, out)` spatial filter slice a group. Note that `Conv2DTranspose`
    kernels are `(*kernel_size, out, in)`, so their input channels are `axis=-1`.

    Gradient at zero: the norm is computed as `sqrt(s)` where `s > 0` and as 0
    where `s == 0` (with the argument of `sqrt` replaced by 1 there), so a group
    that is exactly zero gets the subgradient 0, never NaN, and no epsilon
    perturbs the value of the penalty.

    Plain (sub)gradient optimizers such as Adam or SGD bring dropped groups close
    to zero (within about the learning rate) rather than exactly to zero;
    threshold the group norms to prune them.

    Args:
        factor: overall strength, a non-negative float.
        axis: an int or a tuple of ints, the axis (axes) whose indices form the
            groups. Defaults to -2: input features of a Dense kernel, input
            channels of a convolution kernel.

    Example:

    >>> reg = GroupLasso(factor=0.01)  # one group per input feature
    >>> layer = keras.layers.Dense(8, kernel_regularizer=reg)
    >>> float(GroupLasso(1.0)(np.array([[3.0, 4.0], [0.0, 0.0]])))  # sqrt(2) * 5
    7.071067...
    """

    def __init__(self, factor: float = 0.01, axis: int | tuple[int, ...] = -2):
        self.factor = _validate_factor(factor)
        self.axis = _validate_axis(axis)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        rank = len(x.shape)
        group_axes = _resolve_axes(self.axis, rank, x.shape)
        norm_axes = tuple(a for a in range(rank) if a not in group_axes)
        group_size = math.prod(x.shape[a] for a in norm_axes)
        squares = ops.square(x)
        if norm_axes:
            squares = ops.sum(squares, axis=norm_axes)
        # Double `where`: the value is exactly sqrt(s), and the gradient at s == 0
        # is 0 (a valid subgradient) instead of the NaN of d sqrt(s)/ds at 0.
        positive = squares > 0
        norms = ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), 0.0)
        return (self.factor * math.sqrt(group_size)) * ops.sum(norms)

    def get_config(self):
        return {"factor": self.factor, "axis": self.axis}


def _validate_axis(axis):
    expected = "an int or a non-empty tuple of distinct ints"
    try:
        if not isinstance(axis, (tuple, list)):
            return _validation.check_int("axis", axis)
        axes = tuple(_validation.check_int("axis", a) for a in axis)
    except ValueError:
        raise _validation.invalid("axis", expected, axis) from None
    if not axes or len(set(axes)) != len(axes):
        raise _validation.invalid("axis", expected, axis)
    return axes


def _resolve_axes(axis, rank, shape):
    axes = (axis,) if isinstance(axis, int) else axis
    resolved = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(
                f"GroupLasso(axis={axis!r}) cannot group a weight of rank {rank} "
                f"(shape {tuple(shape)}): every axis must be in [-{rank}, {rank}). Use "
                "axis=-2 for Dense/Conv kernels; a rank-1 weight such as a bias needs axis=0."
            )
        resolved.append(a % rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(
            f"GroupLasso(axis={axis!r}) names the same axis twice for a weight of rank {rank}."
        )
    return tuple(resolved)
