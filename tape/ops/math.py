"""Elementwise primitives: arithmetic, transcendental functions, comparisons, logic.

Each VJP is written with tape ops (so it can be differentiated again) and returns one
gradient per input; the tape sums broadcast axes back to each input's shape (STYLE P4).
"""

from __future__ import annotations

import math

from ..backend import special_module
from ..dtypes import is_low_precision
from ..tensor import Tensor
from .registry import cast, defop, defufunc
from .shape import sum_to

# ---- arithmetic ---------------------------------------------------------------------------


add = defufunc(
    "add", nin=2, out=True, unit=0, commutative=True,
    doc="Elementwise ``x + y`` with broadcasting. ``tape.add(1.0, tape.ones(2))`` -> [2., 2.]",
)


@add.defvjp
def _add_vjp(ctx, g):
    return g, g


subtract = defufunc("subtract", nin=2, out=True, unit=0,
                    doc="Elementwise ``x - y`` with broadcasting.")


@subtract.defvjp
def _subtract_vjp(ctx, g):
    return g, (negative(g) if ctx.needs_grad[1] else None)


multiply = defufunc("multiply", nin=2, out=True, unit=1, commutative=True,
                    doc="Elementwise ``x * y`` with broadcasting.")


@multiply.defvjp
def _multiply_vjp(ctx, g):
    x, y = ctx.inputs
    need_x, need_y = ctx.needs_grad
    return (multiply(g, y) if need_x else None), (multiply(g, x) if need_y else None)


divide = defufunc("divide", nin=2, ufunc="true_divide", out=True, unit=1,
                  doc="Elementwise true division ``x / y``.")


@divide.defvjp
def _divide_vjp(ctx, g):
    x, y = ctx.inputs
    gx = divide(g, y) if ctx.needs_grad[0] else None
    gy = negative(multiply(g, divide(ctx.out, y))) if ctx.needs_grad[1] else None
    return gx, gy


negative = defufunc("negative", out=True, doc="Elementwise ``-x``.")


@negative.defvjp
def _negative_vjp(ctx, g):
    return negative(g)


power = defufunc("power", nin=2, out=True, unit=1, doc="Elementwise ``x ** y``.")


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


mod = defufunc("mod", nin=2, doc="Elementwise remainder with the sign of ``y`` (Python's ``%``).")


@mod.defvjp
def _mod_vjp(ctx, g):
    x, y = ctx.inputs
    gy = negative(multiply(g, floor_divide(x, y))) if ctx.needs_grad[1] else None
    return g, gy


square = defufunc("square", out=True, doc="Elementwise ``x * x``.")


@square.defvjp
def _square_vjp(ctx, g):
    return multiply(g, multiply(ctx.inputs[0], 2))


@defop("abs", out="abs", elementwise=True, fresh=True)
def abs(xp, x):  # noqa: A001 - NumPy's name
    """Elementwise absolute value; its gradient at 0 is 0 (``sign(0)``, as TensorFlow and
    PyTorch; JAX picks 1)."""
    return xp.abs(x)


@abs.defvjp
def _abs_vjp(ctx, g):
    return multiply(g, sign(ctx.inputs[0]))


maximum = defufunc(
    "maximum", nin=2, out=True,
    doc="Elementwise maximum; where ``x == y`` each side gets half the gradient (as JAX).",
)


@maximum.defvjp
def _maximum_vjp(ctx, g):
    return _chooser_vjp(ctx, g, greater)


minimum = defufunc(
    "minimum", nin=2, out=True,
    doc="Elementwise minimum; ties split the gradient in half (as JAX).",
)


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


where = defufunc(
    "where", nin=3,
    doc="Pick ``x`` where ``condition`` holds, else ``y`` (broadcasting all three).",
)


@where.defvjp
def _where_vjp(ctx, g):
    c = ctx.inputs[0]
    gx = where(c, g, 0) if ctx.needs_grad[1] else None
    gy = where(c, 0, g) if ctx.needs_grad[2] else None
    return None, gx, gy


@defop("clip", fresh=True)
def clip(xp, x, min=None, max=None):  # noqa: A002 - NumPy's names
    """Limit values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    out = xp.clip(x, min, max)
    # NumPy makes a bfloat16 tensor clipped at Python floats float32
    return out.astype(x.dtype) if is_low_precision(x.dtype) else out


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


exp = defufunc("exp", out=True, doc="Elementwise ``e ** x``.")


@exp.defvjp
def _exp_vjp(ctx, g):
    return multiply(g, ctx.out)


expm1 = defufunc("expm1", out=True, doc="Elementwise ``exp(x) - 1``, accurate for small ``x``.")


@expm1.defvjp
def _expm1_vjp(ctx, g):
    return multiply(g, add(ctx.out, 1))


log = defufunc(
    "log", out=True,
    doc="Elementwise natural logarithm (``log(0) = -inf``, negatives give NaN, as NumPy).",
)


@log.defvjp
def _log_vjp(ctx, g):
    return divide(g, ctx.inputs[0])


log1p = defufunc("log1p", out=True, doc="Elementwise ``log(1 + x)``, accurate for small ``x``.")


@log1p.defvjp
def _log1p_vjp(ctx, g):
    return divide(g, add(ctx.inputs[0], 1))


sqrt = defufunc("sqrt", out=True, doc="Elementwise square root.")


@sqrt.defvjp
def _sqrt_vjp(ctx, g):
    return divide(multiply(g, 0.5), ctx.out)


sin = defufunc("sin", out=True, doc="Elementwise sine.")


@sin.defvjp
def _sin_vjp(ctx, g):
    return multiply(g, cos(ctx.inputs[0]))


cos = defufunc("cos", out=True, doc="Elementwise cosine.")


@cos.defvjp
def _cos_vjp(ctx, g):
    return negative(multiply(g, sin(ctx.inputs[0])))


tan = defufunc("tan", doc="Elementwise tangent.")


@tan.defvjp
def _tan_vjp(ctx, g):
    return multiply(g, add(square(ctx.out), 1))


tanh = defufunc("tanh", out=True, doc="Elementwise hyperbolic tangent.")


@tanh.defvjp
def _tanh_vjp(ctx, g):
    return tanh_grad(ctx.out, g)


@defop("tanh_grad", nin=2, fresh=True, elementwise=True)
def tanh_grad(xp, y, g):
    """``g * (1 - y**2)``: tanh's VJP as one op, so backward costs one dispatch."""
    return g * (1 - y * y)


@tanh_grad.defvjp
def _tanh_grad_vjp(ctx, gg):
    y, g = ctx.inputs
    gy = multiply(gg, multiply(g, multiply(y, -2))) if ctx.needs_grad[0] else None
    gg_ = tanh_grad(y, gg) if ctx.needs_grad[1] else None
    return gy, gg_


@defop("sigmoid", fresh=True, elementwise=True)
def sigmoid(xp, x):
    """Elementwise logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``."""
    return xp.tanh(x * 0.5) * 0.5 + 0.5


@sigmoid.defvjp
def _sigmoid_vjp(ctx, g):
    return sigmoid_grad(ctx.out, g)


@defop("sigmoid_grad", nin=2, fresh=True, elementwise=True)
def sigmoid_grad(xp, y, g):
    """``g * y * (1 - y)``: the sigmoid VJP as one op."""
    return g * (y * (1 - y))


@sigmoid_grad.defvjp
def _sigmoid_grad_vjp(ctx, gg):
    y, g = ctx.inputs
    gy = multiply(gg, multiply(g, subtract(1, multiply(y, 2)))) if ctx.needs_grad[0] else None
    gg_ = sigmoid_grad(y, gg) if ctx.needs_grad[1] else None
    return gy, gg_


@defop("erf", fresh=True, low_precision="cast_up")  # no 16-bit loop in SciPy nor CuPy 14
def erf(xp, x):
    """Elementwise error function."""
    return special_module(xp).erf(x).astype(x.dtype, copy=False)


@erf.defvjp
def _erf_vjp(ctx, g):
    x = ctx.inputs[0]
    return multiply(g, multiply(exp(negative(square(x))), 2 / math.sqrt(math.pi)))


# ---- casts and identities -----------------------------------------------------------------


@defop("identity", noop_if_same=True)
def identity(xp, x):
    """The same values, as a new tensor."""
    return x


@identity.defvjp
def _identity_vjp(ctx, g):
    return g


@defop("to_device")
def to_device(xp, x, device):
    """A copy of ``x`` on ``device`` (``Tensor.to``); gradients flow back to ``x``'s device."""
    from ..backend import to_device as move

    return move(x, device)


@to_device.defvjp
def _to_device_vjp(ctx, g):
    return to_device(g, device=ctx.inputs[0].device)


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
    # The user's grad_fn may return arrays, Python numbers, other dtypes or broadcast shapes:
    # bring each to its input's shape and dtype (the VJP contract, see ops.registry).
    fixed = []
    for x, gx in zip(ctx.inputs, grads):
        if gx is not None:
            gx = gx if isinstance(gx, Tensor) else Tensor(gx, dtype=x.dtype)
            if gx.dtype != x.dtype:
                gx = cast(gx, dtype=x.dtype)
            if gx.shape != x.shape:
                gx = sum_to(gx, x.shape)
        fixed.append(gx)
    return tuple(fixed) if len(fixed) > 1 else fixed[0]


# ---- non-differentiable -------------------------------------------------------------------


sign = defufunc("sign", differentiable=False)
floor = defufunc("floor", differentiable=False)
ceil = defufunc("ceil", differentiable=False)
round = defufunc(  # noqa: A001 - NumPy's name
    "round", differentiable=False, doc="Round half to even, as NumPy (no gradient)."
)
isnan = defufunc("isnan", differentiable=False)
isinf = defufunc("isinf", differentiable=False)
isfinite = defufunc("isfinite", differentiable=False)
logical_not = defufunc("logical_not", differentiable=False)
floor_divide = defufunc("floor_divide", nin=2, differentiable=False)
equal = defufunc("equal", nin=2, differentiable=False)
not_equal = defufunc("not_equal", nin=2, differentiable=False)
less = defufunc("less", nin=2, differentiable=False)
less_equal = defufunc("less_equal", nin=2, differentiable=False)
greater = defufunc("greater", nin=2, differentiable=False)
greater_equal = defufunc("greater_equal", nin=2, differentiable=False)
logical_and = defufunc("logical_and", nin=2, differentiable=False)
logical_or = defufunc("logical_or", nin=2, differentiable=False)
logical_xor = defufunc("logical_xor", nin=2, differentiable=False)


def _where_numexpr(args, arg_dtypes, dtype, literal):
    """numexpr's where takes a bool condition only."""
    return f"where({args[0]}, {args[1]}, {args[2]})" if arg_dtypes[0] == "bool" else None


def _cast_numexpr(args, arg_dtypes, dtype, literal):
    """numexpr has no cast: bool to float as a where, float32 to float64 as a product."""
    source = arg_dtypes[0]
    if source == "bool" and dtype != "bool":
        return f"where({args[0]}, {literal(1.0, dtype)}, {literal(0.0, dtype)})"
    if (source, dtype) == ("float32", "float64"):
        return f"({args[0]} * {literal(1.0, dtype)})"
    return args[0] if source == dtype else None


# ---- lowerings for fused elementwise nodes (tape.trace's fusion pass) -------------------------
# Each op's expression as a numexpr template and as a CUDA C template ({0}, {1}: the inputs;
# {zero}, {half}, {one}: typed literals; {T}: the C type). Kept beside the ops they lower, and
# tested against each op's own forward (tests/trace/test_fusion.py). maximum/minimum propagate
# NaN as NumPy does (a comparison with NaN is false); where and cast build their numexpr
# text for the dtypes numexpr can express (above).
add.deffusion('({0} + {1})', '{0} + {1}')
subtract.deffusion('({0} - {1})', '{0} - {1}')
multiply.deffusion('({0} * {1})', '{0} * {1}')
divide.deffusion('({0} / {1})', '{0} / {1}')
negative.deffusion('(-{0})', '-{0}')
square.deffusion('({0} * {0})', '{0} * {0}')
power.deffusion('({0} ** {1})', 'pow({0}, {1})', scalar_constants=(1,))
abs.deffusion('abs({0})', 'fabs({0})')
exp.deffusion('exp({0})', 'exp({0})')
expm1.deffusion('expm1({0})', 'expm1({0})')
log.deffusion('log({0})', 'log({0})')
log1p.deffusion('log1p({0})', 'log1p({0})')
sqrt.deffusion('sqrt({0})', 'sqrt({0})')
sin.deffusion('sin({0})', 'sin({0})')
cos.deffusion('cos({0})', 'cos({0})')
tanh.deffusion('tanh({0})', 'tanh({0})')
sigmoid.deffusion('(tanh({0} * {half}) * {half} + {half})', 'tanh({0} * {half}) * {half} + {half}')
tanh_grad.deffusion('({1} * ({one} - {0} * {0}))', '{1} * ({one} - {0} * {0})')
sigmoid_grad.deffusion('({1} * ({0} * ({one} - {0})))', '{1} * ({0} * ({one} - {0}))')
maximum.deffusion('where(({0} != {0}) | ({0} >= {1}), {0}, {1})',
                  '({0} != {0} || {0} >= {1}) ? {0} : {1}')
minimum.deffusion('where(({0} != {0}) | ({0} <= {1}), {0}, {1})',
                  '({0} != {0} || {0} <= {1}) ? {0} : {1}')
where.deffusion(_where_numexpr, '{0} ? {1} : {2}', cuda_inputs="condition")
greater.deffusion('({0} > {1})', '{0} > {1}', cuda_inputs="common")
greater_equal.deffusion('({0} >= {1})', '{0} >= {1}', cuda_inputs="common")
less.deffusion('({0} < {1})', '{0} < {1}', cuda_inputs="common")
less_equal.deffusion('({0} <= {1})', '{0} <= {1}', cuda_inputs="common")
equal.deffusion('({0} == {1})', '{0} == {1}', cuda_inputs="common")
not_equal.deffusion('({0} != {1})', '{0} != {1}', cuda_inputs="common")
logical_and.deffusion('({0} & {1})', '{0} && {1}', cuda_inputs="as_is")
logical_or.deffusion('({0} | {1})', '{0} || {1}', cuda_inputs="as_is")
logical_not.deffusion('(~{0})', '!{0}', cuda_inputs="as_is")
cast.deffusion(_cast_numexpr, '({T})({0})', cuda_inputs="as_is")


# ---- what each VJP reads (Op.defsaves): the rest a tape keeps as shapes only -------------
add.defsaves()
subtract.defsaves()
negative.defsaves()
multiply.defsaves("inputs")
exp.defsaves("out")
tanh.defsaves("out")
sigmoid.defsaves("out")
