"""Fused primitives: one op where a composite would cost several passes over memory, each
the xp reference of a GPU kernel (kernels/*.cu, bound with ``defkernel``).

- ``bias_act(x, bias, activation)``: ``act(x + bias)`` (Dense's last step), and
  ``bias_act_grad``, its input gradient ``g * act'(x + bias)``.
- ``softmax_xent(labels, logits)``: softmax cross-entropy over the last axis, stable for any
  logits, and ``softmax_xent_grad``, its logits gradient; ``sparse_softmax_xent`` and
  ``sparse_softmax_xent_grad`` the same for integer class labels.

Each ``*_grad`` op has its own VJP in tape ops, so gradients stay differentiable to any
order.
"""

from __future__ import annotations

import math as _math

from . import gpu
from .creation import ones_like
from .math import add, erf, exp, multiply, negative, sigmoid, square, subtract, tanh
from .nn import log_softmax, relu, softmax, softmax_grad
from .reduce import sum
from .registry import defop
from .shape import expand_dims

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid")
_SQRT_HALF = 1 / _math.sqrt(2)
_INV_SQRT_2PI = 1 / _math.sqrt(2 * _math.pi)


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown activation {activation!r}; use one of "
                         f"{', '.join(ACTIVATIONS)}")


def _activate(xp, z, activation: str):
    """``act(z)`` through the forwards of the table's own ops (gelu: exact, erf form)."""
    if activation == "relu":
        return relu.forward(xp, z)
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "sigmoid":
        return sigmoid.forward(xp, z)
    if activation == "silu":
        return z * sigmoid.forward(xp, z)
    return z * 0.5 * (erf.forward(xp, z * _SQRT_HALF) + 1)


def _derivative(xp, z, activation: str):
    """``act'(z)``."""
    if activation == "relu":
        return z > 0  # a bool mask: g * mask keeps g's dtype, one pass fewer than a float mask
    if activation == "tanh":
        t = xp.tanh(z)
        return 1 - t * t
    if activation == "sigmoid":
        s = sigmoid.forward(xp, z)
        return s * (1 - s)
    if activation == "silu":
        s = sigmoid.forward(xp, z)
        return s * (1 + z * (1 - s))
    return (erf.forward(xp, z * _SQRT_HALF) + 1) * 0.5 + z * xp.exp(z * z * -0.5) * _INV_SQRT_2PI


def _second_derivative(z, activation: str):
    """``act''(z)`` in tape ops (differentiable again)."""
    if activation == "relu":
        return multiply(z, 0)
    if activation == "tanh":
        t = tanh(z)
        return multiply(multiply(t, -2), subtract(1, square(t)))
    s = sigmoid(z)
    ds = multiply(s, subtract(1, s))
    if activation == "sigmoid":
        return multiply(ds, subtract(1, multiply(s, 2)))
    if activation == "silu":
        return multiply(ds, add(2, multiply(z, subtract(1, multiply(s, 2)))))
    pdf = multiply(exp(multiply(square(z), -0.5)), _INV_SQRT_2PI)
    return multiply(pdf, subtract(2, square(z)))


@defop("bias_act", nin=2)
def bias_act(xp, x, bias, activation="relu"):
    """``activation(x + bias)`` in one pass, ``bias`` of shape ``x.shape[-1:]``;
    ``activation`` is one of relu, gelu (exact), silu, tanh, sigmoid. Dense layers call it;
    on a GPU it is one fused kernel forward and one backward.

    Example:
        >>> import tape
        >>> y = tape.ops.bias_act(tape.tensor([[-1.0, 1.0]]), tape.tensor([0.5, 0.5]))
        >>> y.numpy().tolist()
        [[0.0, 1.5]]
    """
    _check_activation(activation)
    return _activate(xp, x + bias, activation).astype(x.dtype, copy=False)


@bias_act.defvjp
def _bias_act_vjp(ctx, g):
    x, bias = ctx.inputs
    activation = ctx.params.get("activation", "relu")
    if activation == "relu" and ctx.out.device == "cpu":
        # relu'(z) from the output: no second x + bias (on a GPU the fused kernel does it)
        dz = multiply(g, ctx.out > 0)
    else:
        dz = bias_act_grad(x, bias, g, activation=activation)
    return dz, dz  # the tape sums bias's broadcast axes


@defop("bias_act_grad", nin=3)
def bias_act_grad(xp, x, bias, g, activation="relu"):
    """``g * activation'(x + bias)``: bias_act's input gradient as one op."""
    _check_activation(activation)
    return (g * _derivative(xp, x + bias, activation)).astype(x.dtype, copy=False)


@bias_act_grad.defvjp
def _bias_act_grad_vjp(ctx, u):
    x, bias, g = ctx.inputs
    activation = ctx.params.get("activation", "relu")
    dz = None
    if ctx.needs_grad[0] or ctx.needs_grad[1]:
        dz = multiply(multiply(u, g), _second_derivative(add(x, bias), activation))
    dg = bias_act_grad(x, bias, u, activation=activation) if ctx.needs_grad[2] else None
    return dz, dz, dg


@defop("softmax_xent", nin=2, low_precision="float32")
def softmax_xent(xp, labels, logits):
    """Softmax cross-entropy of ``labels`` (probabilities, e.g. one-hot) against ``logits``
    over the last axis, per row: ``-sum(labels * log_softmax(logits), -1)``. One op, so a
    GPU computes it (and its gradient) in one pass per row; stable for any logits.

    Example:
        >>> import tape
        >>> loss = tape.ops.softmax_xent(tape.tensor([[0.0, 1.0]]), tape.tensor([[0.0, 0.0]]))
        >>> round(loss.item(), 4)
        0.6931
    """
    return -(labels * log_softmax.forward(xp, logits)).sum(axis=-1)


@softmax_xent.defvjp
def _softmax_xent_vjp(ctx, g):
    labels, logits = ctx.inputs
    dlabels = dlogits = None
    if ctx.needs_grad[0]:
        dlabels = negative(multiply(expand_dims(g, -1), log_softmax(logits)))
    if ctx.needs_grad[1]:
        dlogits = softmax_xent_grad(labels, logits, g)
    return dlabels, dlogits


@defop("softmax_xent_grad", nin=3, low_precision="float32")
def softmax_xent_grad(xp, labels, logits, g):
    """``g[..., None] * (softmax(logits) * sum(labels, -1) - labels)``: softmax_xent's
    logits gradient as one op."""
    p = softmax.forward(xp, logits)
    return g[..., None] * (p * labels.sum(axis=-1, keepdims=True) - labels)


@softmax_xent_grad.defvjp
def _softmax_xent_grad_vjp(ctx, u):
    labels, logits, g = ctx.inputs
    p = softmax(logits)
    total = sum(labels, axis=-1, keepdims=True)
    ge = expand_dims(g, -1)
    dlabels = dlogits = dg = None
    if ctx.needs_grad[0]:
        dlabels = multiply(ge, subtract(sum(multiply(u, p), axis=-1, keepdims=True), u))
    if ctx.needs_grad[1]:
        dlogits = multiply(multiply(ge, total), softmax_grad(p, u, axis=-1))
    if ctx.needs_grad[2]:
        dg = sum(multiply(u, subtract(multiply(p, total), labels)), axis=-1)
    return dlabels, dlogits, dg


@defop("sparse_softmax_xent", nin=2, low_precision="float32")
def sparse_softmax_xent(xp, labels, logits):
    """Softmax cross-entropy of integer class ``labels`` against ``logits`` over the last
    axis, per row: ``logsumexp(logits) - logits[label]``, stable for any logits. Labels
    must lie in ``[0, classes)``; ``tape.nn.sparse_softmax_cross_entropy_with_logits``
    checks them.

    Example:
        >>> import tape
        >>> loss = tape.ops.sparse_softmax_xent(tape.tensor([1]), tape.tensor([[0.0, 0.0]]))
        >>> round(loss.item(), 4)
        0.6931
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    picked = shifted.reshape(-1, logits.shape[-1])[_label_index(xp, labels)]
    return xp.log(xp.exp(shifted).sum(axis=-1)) - picked.reshape(labels.shape)


def _label_index(xp, labels) -> tuple:
    """The (row, column) index of each label in the logits seen as (rows, classes): ~3x
    cheaper than ``take_along_axis`` on small batches, and writable through a view."""
    return xp.arange(labels.size), labels.reshape(-1)


@sparse_softmax_xent.defvjp
def _sparse_softmax_xent_vjp(ctx, g):
    labels, logits = ctx.inputs  # integer labels have no gradient
    return None, sparse_softmax_xent_grad(labels, logits, g)


sparse_softmax_xent.defsaves("inputs")


@defop("sparse_softmax_xent_grad", nin=3, low_precision="float32")
def sparse_softmax_xent_grad(xp, labels, logits, g):
    """``g[..., None] * (softmax(logits) - one_hot(labels))``: sparse_softmax_xent's
    logits gradient as one op."""
    p = softmax.forward(xp, logits)  # a fresh array: reshape is a view
    p.reshape(-1, logits.shape[-1])[_label_index(xp, labels)] -= 1
    p *= g[..., None]
    return p


@sparse_softmax_xent_grad.defvjp
def _sparse_softmax_xent_grad_vjp(ctx, u):
    labels, logits, g = ctx.inputs
    dlogits = dg = None
    if ctx.needs_grad[1]:
        dlogits = multiply(expand_dims(g, -1), softmax_grad(softmax(logits), u, axis=-1))
    if ctx.needs_grad[2]:  # u . (softmax - one_hot) per row: the same op with g = 1
        dg = sum(multiply(u, sparse_softmax_xent_grad(labels, logits, ones_like(g))), axis=-1)
    return None, dlogits, dg


bias_act.defkernel(gpu.bias_act_kernel)
bias_act_grad.defkernel(gpu.bias_act_grad_kernel)
softmax_xent.defkernel(gpu.softmax_xent_kernel)
softmax_xent_grad.defkernel(gpu.softmax_xent_grad_kernel)
