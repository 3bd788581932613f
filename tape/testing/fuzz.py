"""A differential fuzzer: random small programs must give the same values and gradients
eagerly, traced and in JAX.

``programs()`` is a hypothesis strategy of ``Program``s: a few steps drawn from the op
table (elementwise ops, broadcasting against other values or constants, reductions over
any axis, softmax, running sums, where, matmul, reshape, swapped axes, concatenation,
slicing and gathers, Python reads of ``.shape`` and ``.size``, a Variable read and
assigned, random draws) applied to an input whose first dimension is a batch. Each program
runs under two nested GradientTapes (the gradient of its loss, and of the squared norm of
that gradient) and then assigns its Variable, once per batch size in ``Program.sizes``.
``check_program`` runs it eagerly, traced under ``input_signature=[TensorSpec((None,
...))]`` (the first size traces, the others replay) with the graph passes on, off and with
fused elementwise nodes, traced per shape with no signature, and in JAX (float64), and
fails, printing the program, where any two disagree.

Example:
    >>> from hypothesis import given, settings
    >>> from tape.testing.fuzz import check_program, programs
    >>> @settings(max_examples=3, deadline=None, database=None)
    ... @given(programs())
    ... def test_eager_traced_and_jax_agree(program):
    ...     check_program(program)
    >>> test_eager_traced_and_jax_agree()
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

try:
    from hypothesis import strategies as st
except ImportError as e:  # an optional dependency: say how to get it
    raise ImportError("tape.testing.fuzz needs hypothesis: pip install 'tape[test]'") from e

import numpy as np

import tape

from .. import _state
from .oracle import require_jax

__all__ = ["Program", "Step", "check_program", "programs", "run_tape"]

B = "B"  # the batch dimension in a drawn shape: free (None) in the traced signature
# Input values: small, with exact zeros (a product's special case, in the calls a program
# says) and ties (max's).
_VALUES = np.array([-1.5, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 2.0])
_UNARY = ("tanh", "sin", "cos", "square", "negative", "sigmoid")
_REDUCE = ("sum", "mean", "max", "prod", "logsumexp")
_BINARY = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / (1.0 + b * b),  # a denominator away from zero
}


@dataclasses.dataclass(frozen=True)
class Step:
    """``v{n} = kind(args..., **params)``; ``args`` index earlier values (v0 is the input,
    v1 the Variable's value)."""

    kind: str
    args: tuple
    params: tuple = ()  # sorted (name, value) pairs, so that a Step hashes

    @property
    def p(self) -> dict:
        return dict(self.params)


@dataclasses.dataclass(frozen=True)
class Program:
    """Steps over an input of shape ``(batch,) + features``, run at each of ``sizes``."""

    features: tuple
    steps: tuple
    sizes: tuple
    zeros: tuple  # per call: whether its input holds exact zeros
    seed: int
    variable_argument: bool  # the Variable is passed as an argument, else captured
    assign_from: int  # the value whose mean goes into the Variable's assignment

    def __str__(self) -> str:
        lines = [f"# input v0: {(B,) + self.features}, Variable v1: {self.features[-1:]}, "
                 f"batch sizes {self.sizes}, zeros {self.zeros}, seed {self.seed}, Variable "
                 f"passed as an argument: {self.variable_argument}"]
        for n, step in enumerate(self.steps, start=2):
            args = ", ".join(f"v{a}" for a in step.args)
            params = ", ".join(f"{k}={_short(v)}" for k, v in step.params)
            lines.append(f"v{n} = {step.kind}({args}{', ' if args and params else ''}{params})")
        lines.append(f"loss = sum over v2..v{len(self.steps) + 1} of sum(v) + 0.1 * sum(v ** 2)")
        lines.append(f"v1 <- 0.5 * v1 - 0.1 * dloss/dv1 + 0.1 * mean(v{self.assign_from})")
        return "\n".join(lines)


# ---- drawing programs ---------------------------------------------------------------------


def _broadcast(a: tuple, b: tuple):
    """The broadcast of two drawn shapes, or None where they do not broadcast for every
    batch size or the batch would leave the first axis."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    out = tuple(reversed(out))
    return out if B not in out[1:] else None


def _size(shape: tuple) -> int:
    return math.prod(d for d in shape if d != B)


@st.composite
def _step(draw, shapes: list, k: int):
    """One step over the values of ``shapes`` (drawn shapes, B for the batch)."""
    # Half the steps read the input itself: where its zeros, ties and batch are seen first.
    index = draw(st.one_of(st.just(0), st.integers(0, len(shapes) - 1)))
    a = shapes[index]
    kinds = ["unary", "binary", "reduce", "reduce", "noise"]
    if a and a[-1] != B:
        kinds.append("matmul")
    if a:
        kinds.append("where")
    if a and a[-1] != B:
        kinds += ["softmax", "cumsum", "take", "concat"]
    if a and a[0] == B:
        kinds += ["shape_mean", "shape_ones", "size_mean", "stride"]
        if len(a) >= 2:
            kinds += ["flatten", "index"]
        if len(a) >= 3:
            kinds.append("swap")
    if a and a[-1] == k:
        kinds.append("var_mul")
    kind = draw(st.sampled_from(kinds))
    if kind == "unary":
        return Step(kind, (index,), (("fn", draw(st.sampled_from(_UNARY))),)), a
    if kind == "binary":
        fn = ("fn", draw(st.sampled_from(sorted(_BINARY))))
        partners = [j for j, s in enumerate(shapes) if _broadcast(a, s) is not None]
        if draw(st.booleans()):
            j = draw(st.sampled_from(partners))  # a itself at least
            return Step(kind, (index, j), (fn,)), _broadcast(a, shapes[j])
        start = draw(st.integers(0, len(a)))
        shape = tuple(1 if d == B or draw(st.booleans()) and draw(st.booleans()) else d
                      for d in a[start:])
        const = np.round(np.random.default_rng(draw(st.integers(0, 99))).normal(
            size=shape), 2)
        return Step(kind, (index,), (fn, ("const", const))), _broadcast(a, shape)
    if kind == "reduce":
        axis = draw(st.sampled_from([None] + list(range(len(a)))))
        keepdims = draw(st.booleans())
        fn = draw(st.sampled_from(_REDUCE))
        axes = range(len(a)) if axis is None else (axis,)
        out = tuple((1 if keepdims else None) if i in axes else d for i, d in enumerate(a))
        return (Step(kind, (index,), (("axis", axis), ("fn", fn), ("keepdims", keepdims))),
                tuple(d for d in out if d is not None))
    if kind == "matmul":
        m = draw(st.integers(1, 3))
        const = np.round(np.random.default_rng(draw(st.integers(0, 99))).normal(
            size=(a[-1], m)), 2)
        return Step(kind, (index,), (("const", const),)), a[:-1] + (m,)
    if kind == "flatten":
        return Step(kind, (index,), (("shape", (-1, _size(a[1:]))),)), (B, _size(a[1:]))
    if kind == "index":
        j = draw(st.integers(0, a[1] - 1))
        return Step(kind, (index,), (("column", j),)), (B,) + a[2:]
    if kind in ("softmax", "cumsum"):  # along a feature axis (the last, or any but the batch)
        axis = draw(st.sampled_from([i for i, d in enumerate(a) if d != B]))
        return Step(kind, (index,), (("axis", axis),)), a
    if kind == "where":  # where(a > 0, a, b) for a value or constant b that broadcasts
        partners = [j for j, s in enumerate(shapes) if _broadcast(a, s) == a]
        return Step(kind, (index, draw(st.sampled_from(partners)))), a
    if kind == "take":  # a gather on the last axis, repeats and negative indices included
        picks = draw(st.lists(st.integers(-a[-1], a[-1] - 1), min_size=1, max_size=4))
        return Step(kind, (index,), (("indices", tuple(picks)),)), a[:-1] + (len(picks),)
    if kind == "concat":  # with itself or another value of its shape, on the last axis
        partners = [j for j, s in enumerate(shapes) if s == a]
        j = draw(st.sampled_from(partners))
        return Step(kind, (index, j)), a[:-1] + (2 * a[-1],)
    if kind == "swap":
        return Step(kind, (index,)), (a[0], a[2], a[1]) + a[3:]
    if kind == "size_mean":
        return Step(kind, (index,)), ()
    if kind == "shape_ones":
        return Step(kind, (index,)), a
    if kind == "shape_mean":
        return Step(kind, (index,)), a[1:]
    if kind == "stride":
        return Step(kind, (index,)), a  # every other row: a batch of ceil(B / 2)
    if kind == "var_mul":
        return Step(kind, (index, 1)), a
    return Step("noise", (index,)), a


@st.composite
def programs(draw, max_steps: int = 6) -> Program:
    """A hypothesis strategy of random small ``Program``s (see the module docstring)."""
    features = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    k = features[-1]
    shapes = [(B,) + features, (k,)]
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        step, shape = draw(_step(shapes, k))
        steps.append(step)
        shapes.append(shape)
    sizes = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=3)))
    zeros = tuple(draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes))))
    return Program(features, tuple(steps), sizes, zeros, draw(st.integers(0, 2**16)),
                   draw(st.booleans()), draw(st.integers(0, len(shapes) - 1)))


# ---- running them ------------------------------------------------------------------------


class _TapeOps:
    """The ops a program uses, from tape; ``draws`` keeps the random numbers drawn."""

    def __init__(self, draws=None):
        self.draws = draws

    def __getattr__(self, name):
        return getattr(tape, name)

    @staticmethod
    def const(array):
        return tape.tensor(array)

    @staticmethod
    def ones(shape):
        return tape.ones(shape, "float64")

    def normal(self, shape):
        t = tape.random.normal(shape, dtype="float64")
        if self.draws is not None:
            self.draws.append(t.numpy())
        return t


class _JaxOps:
    """The same ops from jax.numpy; random draws are the ones tape made."""

    def __init__(self, jnp, draws):
        self.jnp = jnp
        self.draws = iter(draws)

    def __getattr__(self, name):
        return getattr(self.jnp, name)

    def const(self, array):
        return self.jnp.asarray(array)

    def ones(self, shape):
        return self.jnp.ones(shape)

    def sigmoid(self, x):
        return 1.0 / (1.0 + self.jnp.exp(-x))

    def softmax(self, x, axis):
        return self.jnp.exp(x - self.logsumexp(x, axis=axis, keepdims=True))

    def logsumexp(self, x, axis=None, keepdims=False):
        from jax.scipy.special import logsumexp

        return logsumexp(x, axis=axis, keepdims=keepdims)

    def normal(self, shape):
        return self.jnp.asarray(next(self.draws))


def _body(ops, program: Program, x, w):
    """The program's values from the input ``x`` and the Variable's value ``w``."""
    values = [x, w]
    for step in program.steps:
        p = step.p
        a = values[step.args[0]]
        if step.kind == "unary":
            out = getattr(ops, p["fn"])(a)
        elif step.kind == "binary":
            b = values[step.args[1]] if len(step.args) > 1 else ops.const(p["const"])
            out = _BINARY[p["fn"]](a, b)
        elif step.kind == "reduce":
            out = getattr(ops, p["fn"])(a, axis=p["axis"], keepdims=p["keepdims"])
        elif step.kind == "matmul":
            out = ops.matmul(a, ops.const(p["const"]))
        elif step.kind == "flatten":
            out = ops.reshape(a, p["shape"])
        elif step.kind == "index":
            out = a[:, p["column"]]
        elif step.kind == "stride":
            out = a[::2]
            out = ops.concatenate([out, out], axis=0)[: a.shape[0]]  # back to the batch
        elif step.kind == "softmax":
            out = ops.softmax(a, axis=p["axis"])
        elif step.kind == "cumsum":
            out = ops.cumsum(a, axis=p["axis"])
        elif step.kind == "where":
            out = ops.where(a > 0, a, values[step.args[1]])
        elif step.kind == "take":
            out = ops.take(a, ops.const(np.array(p["indices"])), axis=-1)
        elif step.kind == "concat":
            out = ops.concatenate([a, values[step.args[1]]], axis=-1)
        elif step.kind == "swap":
            out = ops.swapaxes(a, 1, 2)
        elif step.kind == "size_mean":
            out = ops.sum(a) / a.size
        elif step.kind == "shape_mean":
            out = ops.sum(a, axis=0) / a.shape[0]
        elif step.kind == "shape_ones":
            out = a + 0.5 * ops.ones((a.shape[0],) + tuple(a.shape[1:]))
        elif step.kind == "var_mul":
            out = a * values[1]
        else:
            out = a + 0.1 * ops.normal(tuple(a.shape))
        values.append(out)
    return values


def _loss(ops, values):
    """Every step's value counts, so that no step is dead code to the gradients."""
    return sum(ops.sum(v) + 0.1 * ops.sum(v * v) for v in values[2:])


def _tape_step(program: Program, ops, x, w):
    """One call: values, gradients to second order, then the Variable's assignment."""
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            values = _body(ops, program, x, w)
            loss = _loss(ops, values)
        gx, gw = inner.gradient(loss, [x, w], unconnected_gradients="zero")
        norm = tape.sum(gx * gx)
    ggx = outer.gradient(norm, x, unconnected_gradients="zero")
    w.assign(0.5 * w - 0.1 * gw + 0.1 * tape.mean(values[program.assign_from]))
    return values[-1], loss, gx, gw, ggx


def _inputs(program: Program):
    """The input batch for each call, and the Variable's initial value."""
    rng = np.random.default_rng(program.seed)
    xs = [rng.choice(_VALUES if zeros else _VALUES[_VALUES != 0], size=(n,) + program.features)
          for n, zeros in zip(program.sizes, program.zeros)]
    return xs, np.round(rng.normal(size=program.features[-1:]), 2)


def run_tape(program: Program, trace: dict | None = None, draws: list | None = None) -> list:
    """The program's results (values, loss, gradients, the Variable after) per call, as
    NumPy arrays: eagerly, or through ``tape.trace(**trace)`` (``input_signature=True``
    asks for a None batch dimension)."""
    xs, w0 = _inputs(program)
    w = tape.Variable(w0, name="fuzz_w")
    ops = _TapeOps(draws)

    def step(x, *var):
        return _tape_step(program, ops, x, var[0] if var else w)

    fn = step
    if trace is not None:
        options = dict(trace)
        if options.pop("input_signature", False):
            options["input_signature"] = [tape.TensorSpec((None,) + program.features,
                                                          "float64")]
            if program.variable_argument:
                options["input_signature"].append(tape.TensorSpec(w0.shape, "float64"))
        fn = tape.trace(step, **options)
    results = []
    for i, x in enumerate(xs):
        tape.random.seed(i)
        args = (tape.tensor(x), w) if program.variable_argument else (tape.tensor(x),)
        results.append([t.numpy() for t in fn(*args)] + [w.numpy()])
    return results


def _run_jax(program: Program, draws: list, eager: list, calls: int) -> list:
    """JAX's results for the first ``calls`` calls, each from the Variable value that the
    eager run had before it (so that any one call can be checked alone)."""
    jax = require_jax()
    jnp = jax.numpy
    xs, w0 = _inputs(program)
    per_call = len(draws) // len(xs)

    @jax.jit
    def call(x, w, noise):
        def loss_of(x, w):
            ops = _JaxOps(jnp, noise)
            values = _body(ops, program, x, w)
            return _loss(ops, values), values

        (loss, values), (gx, gw) = jax.value_and_grad(loss_of, (0, 1), has_aux=True)(x, w)
        ggx = jax.grad(lambda x: jnp.sum(jax.grad(loss_of, has_aux=True)(x, w)[0] ** 2))(x)
        w = 0.5 * w - 0.1 * gw + 0.1 * jnp.mean(values[program.assign_from])
        return values[-1], loss, gx, gw, ggx, w

    results = []
    for i, x in enumerate(xs[:calls]):
        w = w0 if i == 0 else eager[i - 1][-1]
        out = call(jnp.asarray(x), jnp.asarray(w), draws[i * per_call:(i + 1) * per_call])
        results.append([np.asarray(a) for a in out])
    return results


# How each traced variant is made: the graph passes on (the default), off, and with
# elementwise fusion (numexpr, where it is installed); traced per shape without a signature.
VARIANTS = {
    "traced, None batch": {"input_signature": True},
    "traced, None batch, no passes": {"input_signature": True, "optimize": False},
    "traced, None batch, fused": {"input_signature": True, "fuse": True},
    "traced per shape": {},
}
_NAMES = ("output", "loss", "d loss/d x", "d loss/d Variable", "d |d loss/d x|^2 / d x",
          "Variable after")


def check_program(program: Program, jax_calls: int = 1, rtol: float = 1e-9,
                  jax_rtol: float = 1e-6) -> None:
    """Run ``program`` eagerly and in every traced variant, and its first ``jax_calls``
    calls in JAX (each a compilation: 0 skips JAX, ``len(program.sizes)`` checks all), and
    raise AssertionError, with the program and what differs, where any disagree."""
    draws: list = []
    eager = run_tape(program, draws=draws)
    for name, options in VARIANTS.items():
        options = dict(options)
        with _fusion(options.pop("fuse", False)):
            try:
                got = run_tape(program, options)
            except tape.errors.TapeError as e:
                raise AssertionError(f"{name} raised {type(e).__name__}: {e}\n"
                                     f"program:\n{program}") from e
        _compare(program, name, eager, got, rtol, 1e-12)
    if jax_calls:
        _compare(program, "JAX", eager, _run_jax(program, draws, eager, jax_calls),
                 jax_rtol, 1e-8)


@contextlib.contextmanager
def _fusion(on: bool):
    """Elementwise fusion on CPU graphs (the numexpr engine), where numexpr is installed."""
    if not on:
        yield
        return
    try:
        import numexpr  # noqa: F401
    except ImportError:
        yield
        return
    with _state.environ("TAPE_FUSION_CPU", "numexpr"):
        yield


def _compare(program, name, expected, got, rtol, atol) -> None:
    for call, (want, have) in enumerate(zip(expected, got)):
        for what, a, b in zip(_NAMES, want, have):
            if np.shape(a) != np.shape(b) or not np.allclose(a, b, rtol=rtol, atol=atol,
                                                             equal_nan=True):
                raise AssertionError(
                    f"{name} differs from eager in {what} at call {call} (batch "
                    f"{program.sizes[call]}):\n  eager: {np.round(a, 6).tolist()}\n"
                    f"  {name}: {np.round(b, 6).tolist()}\nprogram:\n{program}")


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"const{value.shape}"
    return repr(value)
