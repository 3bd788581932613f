"""check_gradients: random-projection finite-difference checks in float64, order >= 1.

The method is autograd's ``check_vjp`` (STYLE P13): one reverse pass and one central
difference along a random direction check the whole Jacobian at once. Only when that
scalar disagrees does the check fall back to per-element differences, to say where.
"""

from __future__ import annotations

import contextlib

import numpy as np

import tape
from tape.dtypes import is_float

# (eps, rtol, atol) by the least precise float dtype among the arguments as given and f's
# output. The check itself runs in float64, so float64 needs only a small step. A float32
# or float16 row means f computes in that precision somewhere (it casts, or uses float32
# weights), so rounding in f's outputs, of about finfo(dtype).eps * |f| / eps, dominates:
# the step grows and the tolerances loosen to match (bfloat16's eps is 8x float16's).
_DEFAULTS = {
    "float64": (1e-6, 1e-5, 1e-6),
    "float32": (1e-3, 1e-2, 1e-3),
    "float16": (3e-2, 1e-1, 5e-2),
    "bfloat16": (1e-1, 2e-1, 1e-1),
}
_BFLOAT16_EPS = 2.0**-7  # 8 bits of significand; np.finfo does not know ml_dtypes' types
_MAX_LOCALIZE = 4096  # per-element differences cost 2 calls of f per element


def check_gradients(f, *args, order=1, eps=None, rtol=None, atol=None, seed=0) -> None:
    """Check the gradients ``tape`` computes for ``f`` against central finite differences.

    Each float argument is copied to float64 and ``f`` is differentiated with respect to all
    of them at once. With a random upstream gradient ``v`` (the shape of ``f``'s output) and
    random directions ``u_i`` (one per float argument), the analytic value
    ``sum_i <grad_i, u_i>`` from one ``GradientTape.gradient(y, args, output_gradients=v)``
    must match ``(<v, f(x + eps*u)> - <v, f(x - eps*u)>) / (2*eps)``. A ``None`` gradient
    counts as zero. ``order=2`` then checks the function
    ``x -> sum_i <grad_i(x), u_i>`` (computed with nested tapes) to first order, which
    tests Hessian-vector products; higher orders recurse the same way.

    Integer and bool arguments are passed to ``f`` unchanged, as constants (indices, masks);
    at least one argument must be float. A ``Variable`` argument is checked in place: the
    finite differences assign shifted values to it (restored afterwards, also on failure),
    so ``check_gradients(lambda x, *w: layer(x), x, *layer.trainable_weights)`` checks a
    layer's weight gradients; build the layer with ``dtype="float64"`` for float64 checks.
    Variables that ``f`` uses but that are not arguments are not checked.

    Defaults come from the least precise float dtype among the arguments as given (Python
    numbers and lists count as float64) and ``f``'s output on the float64 copies:

    ========  ======  ======  ======
    dtype     eps     rtol    atol
    ========  ======  ======  ======
    float64   1e-6    1e-5    1e-6
    float32   1e-3    1e-2    1e-3
    float16   3e-2    1e-1    5e-2
    bfloat16  1e-1    2e-1    1e-1
    ========  ======  ======  ======

    Values match when ``|analytic - numerical| <= atol + rtol * scale``, where ``scale`` is
    the largest of ``|analytic|``, ``|numerical|`` and ``sum_i <|grad_i|, |u_i|>`` (so that
    cancellation in the projection does not make the check flaky).

    Args:
        f: Takes tensors (one per entry of ``args``) and returns a float tensor of any shape.
        *args: Arrays, tensors, lists or numbers: the point at which to check.
        order: Highest derivative order to check (1 = gradients, 2 = Hessian-vector products).
        eps: Finite-difference step; default from the table above.
        rtol: Relative tolerance; default from the table above.
        atol: Absolute tolerance; default from the table above.
        seed: Seed for the random projections ``v`` and ``u``.

    Returns:
        None. A mismatch raises instead.

    Raises:
        AssertionError: The gradients disagree with finite differences. The message names
            the order, the argument index and element index of the worst element, its
            analytic and numerical values, and the max abs/rel error per argument.
        TypeError: No float argument, an unsupported argument, or ``f`` does not return a
            float tensor.

    Example:
        >>> import tape
        >>> from tape.testing import check_gradients
        >>> check_gradients(lambda x, w: tape.tanh(x @ w), [[0.1, 0.2]], [[1.0], [-2.0]], order=2)
        >>> @tape.custom_gradient
        ... def bad_sin(x):
        ...     return tape.sin(x), lambda g: -g * tape.cos(x)
        >>> check_gradients(bad_sin, [0.5, 1.0])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        AssertionError: check_gradients(bad_sin): order-1 gradient does not match ...
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"check_gradients: order must be an int >= 1, got {order!r}")
    xs, diff, given = _convert(args)
    y = _call(f, xs)
    least = max([*given, y.dtype], key=_eps)
    d_eps, d_rtol, d_atol = _DEFAULTS[_table_dtype(least)]
    tols = (
        d_eps if eps is None else float(eps),
        d_rtol if rtol is None else float(rtol),
        d_atol if atol is None else float(atol),
        least,
    )
    rng = np.random.default_rng(seed)
    fn, name = f, getattr(f, "__name__", type(f).__name__)
    for level in range(1, order + 1):
        v, us = _check_first_order(fn, xs, diff, tols, rng, name, level)
        if level < order:
            fn = _projected_gradient(fn, diff, v, us)
    return None


def _eps(dtype: np.dtype) -> float:
    return _BFLOAT16_EPS if dtype.name == "bfloat16" else float(np.finfo(dtype).eps)


def _table_dtype(dtype: np.dtype) -> str:
    if dtype.name == "bfloat16":
        return "bfloat16"
    if dtype.itemsize <= 2:
        return "float16"
    return "float32" if dtype.itemsize == 4 else "float64"


def _convert(args):
    """float64 tensor copies of the float arguments; others become constant tensors."""
    xs, diff, given = [], [], []
    for i, a in enumerate(args):
        if isinstance(a, tape.Variable) and is_float(a.dtype):
            xs.append(a)  # checked in place, in its own dtype
            diff.append(i)
            given.append(a.dtype)
            continue
        array = np.asarray(a)  # Python floats give float64; tensors keep their dtype
        kind = array.dtype.kind
        if is_float(array.dtype):
            given.append(array.dtype)
            xs.append(tape.tensor(np.asarray(a, dtype=np.float64)))
            diff.append(i)
        elif kind in "biu":
            xs.append(tape.tensor(array))  # a constant: indices, counts, masks
        else:
            raise TypeError(
                f"check_gradients: argument {i} has dtype {array.dtype}; arguments must be "
                "float (checked) or integer/bool (passed through as constants)"
            )
    if not diff:
        kinds = ", ".join(f"argument {i} is {x.dtype}" for i, x in enumerate(xs)) or "no args"
        raise TypeError(
            f"check_gradients: no float argument to check ({kinds}); integer and bool "
            "arguments are constants, so pass floats, e.g. 3.0 rather than 3"
        )
    return xs, diff, given


def _call(fn, xs):
    y = fn(*xs)
    if not isinstance(y, tape.Tensor) or not is_float(y.dtype):
        what = y.dtype if isinstance(y, tape.Tensor) else type(y).__name__
        raise TypeError(f"check_gradients: f must return a float tape.Tensor, got {what}")
    return y


def _inner(v: np.ndarray, y) -> float:
    return float(np.vdot(v, np.asarray(y.numpy(), dtype=np.float64)))


def _vjp(fn, xs, diff, make_v):
    """(v, gradients of <v, fn(xs)>) for the float arguments; None gradients become zeros."""
    with tape.GradientTape() as g:
        for i in diff:
            g.watch(xs[i])
        y = _call(fn, xs)
    v = make_v(y)
    seed = tape.tensor(np.asarray(v, dtype=y.dtype).reshape(y.shape))
    grads = g.gradient(y, [xs[i] for i in diff], seed, unconnected_gradients="zero")
    return v, [tape.zeros_like(xs[i]) if gr is None else gr for i, gr in zip(diff, grads)]


@contextlib.contextmanager
def _shifted(xs, diff, us, step):
    """The arguments moved by ``step * u_i``: new tensors, or Variables assigned in place
    and restored on leaving."""
    out, saved = list(xs), []
    try:
        for i, u in zip(diff, us):
            x = xs[i]
            if isinstance(x, tape.Variable):
                saved.append((x, x.numpy().copy()))
                x.assign((saved[-1][1] + step * u).astype(x.dtype))
            else:
                out[i] = tape.tensor(x.numpy() + step * u)
        yield out
    finally:
        for variable, value in saved:
            variable.assign(value)


def _check_first_order(fn, xs, diff, tols, rng, name, level):
    """One projected check of ``fn`` at ``xs``; returns the (v, us) it drew."""
    eps, rtol, atol, _ = tols

    def draw_v(y):
        # Rounded to y's dtype, so that the seed the tape sees is exactly the v used below.
        return rng.standard_normal(y.shape).astype(y.dtype).astype(np.float64)

    v, grads = _vjp(fn, xs, diff, draw_v)
    us = [rng.standard_normal(xs[i].shape) for i in diff]
    for i, gr in zip(diff, grads):
        if tuple(gr.shape) != tuple(xs[i].shape):
            raise AssertionError(
                f"check_gradients({name}): order-{level} gradient for argument {i} has shape "
                f"{tuple(gr.shape)}, but the argument has shape {tuple(xs[i].shape)}"
            )
    gs = [np.asarray(gr.numpy(), dtype=np.float64) for gr in grads]
    analytic = sum(float(np.vdot(gr, u)) for gr, u in zip(gs, us))
    with _shifted(xs, diff, us, eps) as at:
        plus = _inner(v, _call(fn, at))
    with _shifted(xs, diff, us, -eps) as at:
        minus = _inner(v, _call(fn, at))
    numerical = (plus - minus) / (2 * eps)
    scale = max(
        abs(analytic),
        abs(numerical),
        sum(float(np.vdot(np.abs(gr), np.abs(u))) for gr, u in zip(gs, us)),
    )
    if abs(analytic - numerical) > atol + rtol * scale:
        raise AssertionError(_report(fn, xs, diff, v, gs, tols, name, level, analytic, numerical))
    return v, us


def _projected_gradient(fn, diff, v, us):
    """x -> sum_i <grad_i(x), u_i> of <v, fn(x)>, differentiable through nested tapes."""
    us_t = [tape.tensor(u) for u in us]

    def projected(*xs):
        _, grads = _vjp(fn, list(xs), diff, lambda y: v)
        return sum(tape.sum(gr * u) for gr, u in zip(grads, us_t))

    return projected


def _numerical_grad(fn, xs, i, v, eps):
    """Per-element central differences of <v, fn(xs)> with respect to argument ``i``."""
    shape = tuple(xs[i].shape)
    out = np.zeros(shape, dtype=np.float64)
    for k in np.ndindex(shape):
        unit = np.zeros(shape)
        unit[k] = 1.0
        with _shifted(xs, [i], [unit], eps) as at:
            plus = _inner(v, _call(fn, at))
        with _shifted(xs, [i], [unit], -eps) as at:
            out[k] = (plus - _inner(v, _call(fn, at))) / (2 * eps)
    return out


def _report(fn, xs, diff, v, gs, tols, name, level, analytic, numerical) -> str:
    eps, rtol, atol, dtype = tols
    what = "gradient"
    if level > 1:
        nested = "" if level == 2 else f", nested {level - 1} times"
        what = (
            f"derivative (checked as the gradient of x -> sum_i <grad_i f(x), u_i>{nested}: "
            "Hessian-vector products)"
        )
    lines = [
        f"check_gradients({name}): order-{level} {what} does not match central finite differences",
        f"  random projection: analytic {analytic:.10g}, numerical {numerical:.10g} "
        f"(abs error {abs(analytic - numerical):.3g})",
    ]
    worst = None  # (abs error, arg, element, analytic, numerical)
    stats = []
    for i, gr in zip(diff, gs):
        if gr.size > _MAX_LOCALIZE:
            stats.append(f"  argument {i}: {gr.size} elements, too many to localize")
            continue
        num = _numerical_grad(fn, xs, i, v, eps)
        err = np.abs(gr - num)
        rel = err / np.maximum(np.maximum(np.abs(gr), np.abs(num)), np.finfo(np.float64).tiny)
        bad = int(np.sum(err > atol + rtol * np.maximum(np.abs(gr), np.abs(num))))
        stats.append(
            f"  argument {i} (shape {gr.shape}): max abs error {err.max(initial=0):.3g}, "
            f"max rel error {rel.max(initial=0):.3g}, {bad} of {gr.size} elements mismatch"
        )
        if err.size:
            k = np.unravel_index(int(np.argmax(err)), err.shape)
            if worst is None or err[k] > worst[0]:
                worst = (err[k], i, tuple(int(j) for j in k), gr[k], num[k])
    if worst is not None:
        _, i, k, a, n = worst
        lines.append(
            f"  worst element: argument {i}, element {k}: analytic {a:.10g}, numerical {n:.10g}"
        )
    lines += stats
    lines.append(
        f"  eps={eps:g}, rtol={rtol:g}, atol={atol:g} (least precise dtype: {dtype}); "
        "checked in float64"
    )
    return "\n".join(lines)
