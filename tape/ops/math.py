"""Elementwise primitives: arithmetic, transcendental functions, comparisons, logic.

Each VJP is written with tape ops (so it can be differentiated again) and returns one
gradient per input; the tape sums broadcast axes back to each input's shape (STYLE P4).
"""

from __future__ import annotations

import math

from ..backend import special_module
from .registry import defop

# ---- arithmetic ---------------------------------------------------------------------------


@defop("add", nin=2)
def add(xp, x, y):
    """Elementwise ``x + y`` with broadcasting. ``tape.add(1.0, tape.ones(2))`` -> [2., 2.]"""
    return xp.add(x, y)


@add.defvjp
def _add_vjp(ctx, g):
    return g, g


@defop("subtract", nin=2)
def subtract(xp, x, y):
    """Elementwise ``x - y`` with broadcasting."""
    return xp.subtract(x, y)


@subtract.defvjp
def _subtract_vjp(ctx, g):
    return g, (negative(g) if ctx.needs_grad[1] else None)


@defop("multiply", nin=2)
def multiply(xp, x, y):
    """Elementwise ``x * y`` with broadcasting."""
    return xp.multiply(x, y)


@multiply.defvjp
def _multiply_vjp(ctx, g):
    x, y = ctx.inputs
    need_x, need_y = ctx.needs_grad
    return (multiply(g, y) if need_x else None), (multiply(g, x) if need_y else None)


@defop("divide", nin=2)
def divide(xp, x, y):
    """Elementwise true division ``x / y``."""
    return xp.true_divide(x, y)


@divide.defvjp
def _divide_vjp(ctx, g):
    x, y = ctx.inputs
    gx = divide(g, y) if ctx.needs_grad[0] else None
    gy = negative(multiply(g, divide(ctx.out, y))) if ctx.needs_grad[1] else None
    return gx, gy


@defop("negative")
def negative(xp, x):
    """Elementwise ``-x``."""
    return xp.negative(x)


@negative.defvjp
def _negative_vjp(ctx, g):
    return negative(g)


@defop("power", nin=2)
def power(xp, x, y):
    """Elementwise ``x ** y``."""
    return xp.power(x, y)


@power.defvjp
def _power_vjp(ctx, g):
    x, y = ctx.inputs
    gx = gy = None
    if ctx.needs_grad[0]:
        gx = multiply(g, multiply(y, power(x, subtract(y, 1))))
    if ctx.needs_grad[1]:
        # log(x) with x == 0 replaced by 1, as JAX does, so 0 ** y has a finite y-gradient.
        safe_x = where(equal(x, 0), 1, x)
        gy = multiply(g, multiply(ctx.out, log(safe_x)))
    return gx, gy


@defop("mod", nin=2)
def mod(xp, x, y):
    """Elementwise remainder with the sign of ``y`` (Python's ``%``)."""
    return xp.mod(x, y)


@mod.defvjp
def _mod_vjp(ctx, g):
    x, y = ctx.inputs
    gy = negative(multiply(g, floor_divide(x, y))) if ctx.needs_grad[1] else None
    return g, gy


@defop("square")
def square(xp, x):
    """Elementwise ``x * x``."""
    return xp.square(x)


@square.defvjp
def _square_vjp(ctx, g):
    return multiply(g, multiply(ctx.inputs[0], 2))


@defop("abs")
def abs(xp, x):  # noqa: A001 - NumPy's name
    """Elementwise absolute value; its gradient at 0 is 0 (``sign(0)``, as TensorFlow and
    PyTorch; JAX picks 1)."""
    return xp.abs(x)


@abs.defvjp
def _abs_vjp(ctx, g):
    return multiply(g, sign(ctx.inputs[0]))


@defop("maximum", nin=2)
def maximum(xp, x, y):
    """Elementwise maximum; where ``x == y`` each side gets half the gradient (as JAX)."""
    return xp.maximum(x, y)


@maximum.defvjp
def _maximum_vjp(ctx, g):
    return _chooser_vjp(ctx, g, greater)


@defop("minimum", nin=2)
def minimum(xp, x, y):
    """Elementwise minimum; ties split the gradient in half (as JAX)."""
    return xp.minimum(x, y)


@minimum.defvjp
def _minimum_vjp(ctx, g):
    return _chooser_vjp(ctx, g, less)


def _chooser_vjp(ctx, g, wins):
    x, y = ctx.inputs
    half = multiply(g, 0.5)
    tie = equal(x, y)
    gx = where(wins(x, y), g, where(tie, half, 0)) if ctx.needs_grad[0] else None
    gy = where(wins(y, x), g, where(tie, half, 0)) if ctx.needs_grad[1] else None
    return gx, gy


@defop("where", nin=3)
def where(xp, condition, x, y):
    """Pick ``x`` where ``condition`` holds, else ``y`` (broadcasting all three)."""
    return xp.where(condition, x, y)


@where.defvjp
def _where_vjp(ctx, g):
    c = ctx.inputs[0]
    gx = where(c, g, 0) if ctx.needs_grad[1] else None
    gy = where(c, 0, g) if ctx.needs_grad[2] else None
    return None, gx, gy


@defop("clip")
def clip(xp, x, min=None, max=None):  # noqa: A002 - NumPy's names
    """Limit values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    return xp.clip(x, min, max)


@clip.defvjp
def _clip_vjp(ctx, g):
    x = ctx.inputs[0]
    lo, hi = ctx.params.get("min"), ctx.params.get("max")
    inside = None
    if lo is not None:
        inside = greater_equal(x, lo)
    if hi is not None:
        upper = less_equal(x, hi)
        inside = upper if inside is None else logical_and(inside, upper)
    return g if inside is None else where(inside, g, 0)


# ---- transcendental ---------------------------------------------------------------------


@defop("exp")
def exp(xp, x):
    """Elementwise ``e ** x``."""
    return xp.exp(x)


@exp.defvjp
def _exp_vjp(ctx, g):
    return multiply(g, ctx.out)


@defop("expm1")
def expm1(xp, x):
    """Elementwise ``exp(x) - 1``, accurate for small ``x``."""
    return xp.expm1(x)


@expm1.defvjp
def _expm1_vjp(ctx, g):
    return multiply(g, add(ctx.out, 1))


@defop("log")
def log(xp, x):
    """Elementwise natural logarithm (``log(0) = -inf``, negatives give NaN, as NumPy)."""
    return xp.log(x)


@log.defvjp
def _log_vjp(ctx, g):
    return divide(g, ctx.inputs[0])


@defop("log1p")
def log1p(xp, x):
    """Elementwise ``log(1 + x)``, accurate for small ``x``."""
    return xp.log1p(x)


@log1p.defvjp
def _log1p_vjp(ctx, g):
    return divide(g, add(ctx.inputs[0], 1))


@defop("sqrt")
def sqrt(xp, x):
    """Elementwise square root."""
    return xp.sqrt(x)


@sqrt.defvjp
def _sqrt_vjp(ctx, g):
    return divide(multiply(g, 0.5), ctx.out)


@defop("sin")
def sin(xp, x):
    """Elementwise sine."""
    return xp.sin(x)


@sin.defvjp
def _sin_vjp(ctx, g):
    return multiply(g, cos(ctx.inputs[0]))


@defop("cos")
def cos(xp, x):
    """Elementwise cosine."""
    return xp.cos(x)


@cos.defvjp
def _cos_vjp(ctx, g):
    return negative(multiply(g, sin(ctx.inputs[0])))


@defop("tan")
def tan(xp, x):
    """Elementwise tangent."""
    return xp.tan(x)


@tan.defvjp
def _tan_vjp(ctx, g):
    return multiply(g, add(square(ctx.out), 1))


@defop("tanh")
def tanh(xp, x):
    """Elementwise hyperbolic tangent."""
    return xp.tanh(x)


@tanh.defvjp
def _tanh_vjp(ctx, g):
    return tanh_grad(ctx.out, g)


@defop("tanh_grad", nin=2)
def tanh_grad(xp, y, g):
    """``g * (1 - y**2)``: tanh's VJP as one op, so backward costs one dispatch."""
    return g * (1 - y * y)


@tanh_grad.defvjp
def _tanh_grad_vjp(ctx, gg):
    y, g = ctx.inputs
    gy = multiply(gg, multiply(g, multiply(y, -2))) if ctx.needs_grad[0] else None
    gg_ = tanh_grad(y, gg) if ctx.needs_grad[1] else None
    return gy, gg_


@defop("sigmoid")
def sigmoid(xp, x):
    """Elementwise logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``."""
    return xp.tanh(x * 0.5) * 0.5 + 0.5


@sigmoid.defvjp
def _sigmoid_vjp(ctx, g):
    return sigmoid_grad(ctx.out, g)


@defop("sigmoid_grad", nin=2)
def sigmoid_grad(xp, y, g):
    """``g * y * (1 - y)``: the sigmoid VJP as one op."""
    return g * (y * (1 - y))


@sigmoid_grad.defvjp
def _sigmoid_grad_vjp(ctx, gg):
    y, g = ctx.inputs
    gy = multiply(gg, multiply(g, subtract(1, multiply(y, 2)))) if ctx.needs_grad[0] else None
    gg_ = sigmoid_grad(y, gg) if ctx.needs_grad[1] else None
    return gy, gg_


@defop("erf")
def erf(xp, x):
    """Elementwise error function."""
    return special_module(xp).erf(x).astype(x.dtype, copy=False)


@erf.defvjp
def _erf_vjp(ctx, g):
    x = ctx.inputs[0]
    return multiply(g, multiply(exp(negative(square(x))), 2 / math.sqrt(math.pi)))


# ---- casts and identities -----------------------------------------------------------------


@defop("cast")
def cast(xp, x, dtype):
    """``x`` converted to ``dtype``; the gradient flows between float dtypes."""
    return x.astype(dtype, copy=False)


@cast.defvjp
def _cast_vjp(ctx, g):
    return cast(g, dtype=ctx.inputs[0].dtype)


@defop("identity")
def identity(xp, x):
    """The same values, as a new tensor."""
    return x


@identity.defvjp
def _identity_vjp(ctx, g):
    return g


@defop("stop_gradient", differentiable=False)
def stop_gradient(xp, x):
    """The same values, seen by tapes as a constant."""
    return x


@defop("custom_gradient", nin=-1)
def CUSTOM(xp, *xs, grad_fn=None, name=None):
    """Marks a call of a ``@custom_gradient`` function; never run forward by the table."""
    raise TypeError("custom_gradient entries are recorded, never applied")


@CUSTOM.defvjp
def _custom_vjp(ctx, g):
    grads = ctx.params["grad_fn"](g)
    if not isinstance(grads, list | tuple):
        grads = (grads,)
    if len(grads) != len(ctx.inputs):
        raise ValueError(
            f"custom gradient of {ctx.params['name']} returned {len(grads)} gradients for "
            f"{len(ctx.inputs)} inputs"
        )
    return tuple(grads) if len(grads) > 1 else grads[0]


# ---- non-differentiable -------------------------------------------------------------------


def _nondiff(name: str, nin: int, numpy_name: str | None = None, doc: str = ""):
    """Declare a non-differentiable elementwise op that calls ``xp.<numpy_name>``."""
    fn_name = numpy_name or name

    if nin == 1:

        def forward(xp, x):
            return getattr(xp, fn_name)(x)
    else:

        def forward(xp, x, y):
            return getattr(xp, fn_name)(x, y)

    forward.__doc__ = doc or f"Elementwise ``numpy.{fn_name}`` (no gradient)."
    return defop(name, nin=nin, differentiable=False)(forward)


sign = _nondiff("sign", 1)
floor = _nondiff("floor", 1)
ceil = _nondiff("ceil", 1)
round = _nondiff("round", 1, doc="Round half to even, as NumPy (no gradient).")  # noqa: A001
isnan = _nondiff("isnan", 1)
isinf = _nondiff("isinf", 1)
isfinite = _nondiff("isfinite", 1)
logical_not = _nondiff("logical_not", 1)
floor_divide = _nondiff("floor_divide", 2)
equal = _nondiff("equal", 2)
not_equal = _nondiff("not_equal", 2)
less = _nondiff("less", 2)
less_equal = _nondiff("less_equal", 2)
greater = _nondiff("greater", 2)
greater_equal = _nondiff("greater_equal", 2)
logical_and = _nondiff("logical_and", 2)
logical_or = _nondiff("logical_or", 2)
logical_xor = _nondiff("logical_xor", 2)
