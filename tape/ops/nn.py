"""Neural-network primitives that need to be one op for stability or speed.

relu (its gradient at 0 is 0, as in JAX, which a maximum would split), softplus,
softmax and log_softmax (computed after subtracting the max, so they never overflow), and
layer_norm; each VJP that is one op of its own (``softmax_grad``...) is declared beside
its forward, so that backward costs one dispatch and one GPU kernel.
"""

from __future__ import annotations

from ..autodiff import GradientTape
from . import gpu
from .creation import ones_like, zeros_like
from .math import add, divide, exp, multiply, negative, sigmoid, sqrt, subtract, tanh
from .reduce import mean, sum
from .registry import defop


@defop("relu", fresh=True, elementwise=True)
def relu(xp, x):
    """``max(x, 0)``."""
    return xp.maximum(x, 0)


@relu.defvjp
def _relu_vjp(ctx, g):
    # g times the 0/1 mask: NumPy multiplies by a bool array ~10x faster than np.where picks
    return multiply(g, ctx.out > 0)


@defop("softplus", fresh=True)
def softplus(xp, x):
    """``log(1 + exp(x))`` without overflow."""
    return xp.logaddexp(x, 0)


@softplus.defvjp
def _softplus_vjp(ctx, g):
    return multiply(g, sigmoid(ctx.inputs[0]))


@defop("mish", fresh=True, elementwise=True)
def mish(xp, x):
    """``x * tanh(softplus(x))`` (Misra, 2019): one op, so that a GPU computes it in one
    pass (its kernel is generated from its CUDA template below) instead of four.

    Example:
        >>> import tape
        >>> round(tape.nn.mish(tape.tensor(1.0)).item(), 4)
        0.8651
    """
    return x * xp.tanh(xp.logaddexp(x, 0))


@mish.defvjp
def _mish_vjp(ctx, g):
    x = ctx.inputs[0]
    t = tanh(softplus(x))  # d/dx: tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x)
    return multiply(g, add(t, multiply(multiply(x, subtract(1, multiply(t, t))), sigmoid(x))))


# exp overflows to inf for large x, and then log1p and tanh give 1: mish(x) = x, as it is.
mish.deffusion('({0} * tanh(log1p(exp({0}))))', '{0} * tanh(log1p(exp({0})))')
mish.defkernel(gpu.ElementwiseKernel(mish))


@defop("softmax", fresh=True, low_precision="float32")
def softmax(xp, x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``."""
    e = xp.exp(x - x.max(axis=axis, keepdims=True))  # array methods: less overhead
    return e / e.sum(axis=axis, keepdims=True)


@softmax.defvjp
def _softmax_vjp(ctx, g):
    return softmax_grad(ctx.out, g, axis=ctx.params.get("axis", -1))


@defop("log_softmax", fresh=True, low_precision="float32")
def log_softmax(xp, x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


@log_softmax.defvjp
def _log_softmax_vjp(ctx, g):
    return log_softmax_grad(ctx.out, g, axis=ctx.params.get("axis", -1))


@defop("layer_norm", nin=3, fresh=True, low_precision="float32")
def layer_norm(xp, x, gamma, beta, epsilon=1e-3):
    """Normalize ``x`` over its last axis, then scale by ``gamma`` and shift by ``beta``
    (both of shape ``x.shape[-1:]``): ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    Example:
        >>> import tape
        >>> x = tape.tensor([[1.0, 2.0, 3.0]])
        >>> y = tape.ops.layer_norm(x, tape.ones(3), tape.zeros(3), epsilon=0.0)
        >>> [round(v, 4) for v in y.numpy()[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    rstd = 1 / xp.sqrt((centered * centered).mean(axis=-1, keepdims=True) + epsilon)
    return (centered * rstd * gamma + beta).astype(x.dtype, copy=False)


@layer_norm.defvjp
def _layer_norm_vjp(ctx, g):
    x, gamma, _ = ctx.inputs
    epsilon = ctx.params.get("epsilon", 1e-3)
    dx = layer_norm_grad(x, gamma, g, epsilon=epsilon) if ctx.needs_grad[0] else None
    xhat = layer_norm(x, ones_like(gamma), zeros_like(gamma), epsilon=epsilon)
    return dx, multiply(g, xhat), g  # the tape sums gamma/beta's broadcast axes back


@defop("softmax_grad", nin=2, low_precision="float32")
def softmax_grad(xp, y, g, axis=-1):
    """``y * (g - sum(g * y, axis))``: softmax's VJP from its output ``y``, as one op."""
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


@softmax_grad.defvjp
def _softmax_grad_vjp(ctx, u):
    y, g = ctx.inputs
    axis = ctx.params.get("axis", -1)
    dy = dg = None
    if ctx.needs_grad[0]:
        s = sum(multiply(g, y), axis=axis, keepdims=True)
        dy = subtract(multiply(u, subtract(g, s)),
                      multiply(g, sum(multiply(u, y), axis=axis, keepdims=True)))
    if ctx.needs_grad[1]:
        dg = softmax_grad(y, u, axis=axis)
    return dy, dg


@defop("log_softmax_grad", nin=2, low_precision="float32")
def log_softmax_grad(xp, y, g, axis=-1):
    """``g - exp(y) * sum(g, axis)``: log_softmax's VJP from its output ``y``, as one op."""
    return g - xp.exp(y) * g.sum(axis=axis, keepdims=True)


@log_softmax_grad.defvjp
def _log_softmax_grad_vjp(ctx, u):
    y, g = ctx.inputs
    axis = ctx.params.get("axis", -1)
    dy = dg = None
    if ctx.needs_grad[0]:
        dy = negative(multiply(multiply(u, exp(y)), sum(g, axis=axis, keepdims=True)))
    if ctx.needs_grad[1]:
        dg = subtract(u, sum(multiply(u, exp(y)), axis=axis, keepdims=True))
    return dy, dg


@defop("layer_norm_grad", nin=3, low_precision="float32")
def layer_norm_grad(xp, x, gamma, g, epsilon=1e-3):
    """layer_norm's gradient with respect to ``x`` (last axis), as one op:
    ``rstd * (gx - mean(gx) - xhat * mean(gx * xhat))`` with ``gx = g * gamma``."""
    mean_ = x.mean(axis=-1, keepdims=True)
    centered = x - mean_
    rstd = 1 / xp.sqrt((centered * centered).mean(axis=-1, keepdims=True) + epsilon)
    xhat = centered * rstd
    gx = g * gamma
    dx = rstd * (gx - gx.mean(axis=-1, keepdims=True)
                 - xhat * (gx * xhat).mean(axis=-1, keepdims=True))
    return dx.astype(x.dtype, copy=False)


def layer_norm_dx(x, gamma, g, epsilon):
    """layer_norm_grad's value composed from tape ops (its VJP differentiates this)."""
    centered = subtract(x, mean(x, axis=-1, keepdims=True))
    rstd = divide(1, sqrt(add(mean(multiply(centered, centered), axis=-1, keepdims=True),
                              epsilon)))
    xhat = multiply(centered, rstd)
    gx = multiply(g, gamma)
    return multiply(rstd, subtract(subtract(gx, mean(gx, axis=-1, keepdims=True)),
                                   multiply(xhat, mean(multiply(gx, xhat), axis=-1,
                                                       keepdims=True))))


@layer_norm_grad.defvjp
def _layer_norm_grad_vjp(ctx, u):
    # The second derivative of a normalization is long by hand; differentiate the composite
    # instead (an outer tape, if any, records this too: third order works).
    x, gamma, g = ctx.inputs
    with GradientTape() as inner:
        inner.watch([x, gamma, g])
        dx = layer_norm_dx(x, gamma, g, ctx.params.get("epsilon", 1e-3))
    return tuple(inner.gradient(dx, [x, gamma, g], output_gradients=u,
                                unconnected_gradients="zero"))


# The lowering for fused elementwise nodes (see the end of ops/math.py).
relu.deffusion('where({0} <= {zero}, {zero}, {0})', '{0} <= {zero} ? {zero} : {0}')
relu.defsaves("out")
softmax.defkernel(gpu.softmax_kernel)
log_softmax.defkernel(gpu.log_softmax_kernel)
softmax_grad.defkernel(gpu.softmax_grad_kernel)
log_softmax_grad.defkernel(gpu.log_softmax_grad_kernel)
layer_norm.defkernel(gpu.layer_norm_kernel)
layer_norm_grad.defkernel(gpu.layer_norm_grad_kernel)
