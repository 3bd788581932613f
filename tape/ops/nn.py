"""Neural-network primitives that need to be one op for stability or speed.

relu (its gradient at 0 is 0, as in JAX, which a maximum would split), softplus,
softmax and log_softmax (computed after subtracting the max, so they never overflow).
"""

from __future__ import annotations

from .math import multiply
from .registry import defop


@defop("relu")
def relu(xp, x):
    """``max(x, 0)``."""
    return xp.maximum(x, 0)


@relu.defvjp
def _relu_vjp(ctx, g):
    # g times the 0/1 mask: NumPy multiplies by a bool array ~10x faster than np.where picks
    return multiply(g, ctx.out > 0)


@defop("softplus")
def softplus(xp, x):
    """``log(1 + exp(x))`` without overflow."""
    return xp.logaddexp(x, 0)


@softplus.defvjp
def _softplus_vjp(ctx, g):
    from .math import sigmoid

    return multiply(g, sigmoid(ctx.inputs[0]))


@defop("softmax")
def softmax(xp, x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``."""
    e = xp.exp(x - x.max(axis=axis, keepdims=True))  # array methods: less overhead
    return e / e.sum(axis=axis, keepdims=True)


@softmax.defvjp
def _softmax_vjp(ctx, g):
    from .fused import softmax_grad  # one op: one GPU kernel in backward

    return softmax_grad(ctx.out, g, axis=ctx.params.get("axis", -1))


@defop("log_softmax")
def log_softmax(xp, x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


@log_softmax.defvjp
def _log_softmax_vjp(ctx, g):
    from .fused import log_softmax_grad  # one op: one GPU kernel in backward

    return log_softmax_grad(ctx.out, g, axis=ctx.params.get("axis", -1))


@defop("layer_norm", nin=3)
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
    from .creation import ones_like, zeros_like
    from .fused import layer_norm_grad  # one op: one GPU kernel in backward

    x, gamma, _ = ctx.inputs
    epsilon = ctx.params.get("epsilon", 1e-3)
    dx = layer_norm_grad(x, gamma, g, epsilon=epsilon) if ctx.needs_grad[0] else None
    xhat = layer_norm(x, ones_like(gamma), zeros_like(gamma), epsilon=epsilon)
    return dx, multiply(g, xhat), g  # the tape sums gamma/beta's broadcast axes back


# The lowering for fused elementwise nodes (see the end of ops/math.py).
relu.deffusion('where({0} <= {zero}, {zero}, {0})', '{0} <= {zero} ? {zero} : {0}')
relu.defsaves("out")
