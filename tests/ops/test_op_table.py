"""The op-table sweep: every differentiable op in ``REGISTRY`` has a row in ``op_rows.py``,
and every row's forward, VJP and Hessian-vector product match JAX in float64 on a small
pool of shapes, and finite differences (``tape.testing.check_gradients``) on wider shapes;
dtypes survive forward and backward; ties, kinks and special points match JAX.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)  # conftest.py does too; the oracle needs float64

import tape  # noqa: E402
from tape.ops import REGISTRY  # noqa: E402
from tape.testing import check_gradients  # noqa: E402

from .op_rows import ROWS, Row  # noqa: E402

SECOND_ORDER_ROWS = tuple(row for row in ROWS if row.second_order)
DTYPE_ROWS = tuple(row for row in ROWS if row.dtypes)
RTOL, ATOL = 1e-9, 1e-11  # float64 against float64: only rounding differs

# Examples per row, scaled from the hypothesis profile (conftest.py: dev 20, ci 40,
# intense 500): at ci, 15 first-order, 5 second-order and 4 dtype examples per row.
_PROFILE_EXAMPLES = settings.default.max_examples
FIRST_ORDER_EXAMPLES = max(1, _PROFILE_EXAMPLES * 3 // 8)
SECOND_ORDER_EXAMPLES = max(1, _PROFILE_EXAMPLES // 8)
DTYPE_EXAMPLES = max(1, _PROFILE_EXAMPLES // 10)


def _ids(row: Row) -> str:
    return row.name


# ---- drawing a case ---------------------------------------------------------------------------


@st.composite
def cases(draw, row: Row):
    """(input shapes, params, seed for the values) for one example of ``row``."""
    shapes = draw(st.sampled_from(row.shapes))
    params = row.params(draw, shapes)
    return shapes, params, draw(st.integers(0, 2**32 - 1))


def _inputs(row: Row, shapes, seed):
    rng = np.random.default_rng(seed)
    return row.values(rng, shapes), rng


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, list | tuple) else (out,)


def _random_like(rng, structs) -> tuple:
    return tuple(np.asarray(rng.normal(size=s.shape), dtype=s.dtype) for s in structs)


# ---- the JAX oracle, compiled once per (row function, params, shapes) -----------------------


class Static:
    """Params as a jit static argument: hashed by repr (index arrays, slices, dtypes)."""

    def __init__(self, value):
        self.value = value
        self._key = repr(value)

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, Static) and self._key == other._key


@functools.partial(jax.jit, static_argnums=(0, 1))
def _jax_vjp(ref, params, xs, vs):
    def f(*args):
        return _as_tuple(ref(*args, **params.value))

    outs, pullback = jax.vjp(f, *xs)
    return outs, pullback(vs)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _jax_second_order(ref, params, xs, vs, us):
    """d<grads(xs, vs), us> with respect to xs (an HVP) and to vs (a JVP)."""

    def f(*args):
        return _as_tuple(ref(*args, **params.value))

    def grads(xs, vs):
        return jax.vjp(f, *xs)[1](vs)

    return jax.vjp(grads, xs, vs)[1](us)


def _jax_out_structs(row: Row, params, xs):
    return jax.eval_shape(lambda *a: _as_tuple(row.ref(*a, **params)), *xs)


# ---- running tape --------------------------------------------------------------------------


def _tape_vjp(row: Row, params, xs, vs):
    xs_t = [tape.Tensor(x) for x in xs]
    with tape.GradientTape() as g:
        g.watch(xs_t)
        outs = _as_tuple(row.fn(*xs_t, **params))
    grads = g.gradient(list(outs), xs_t, output_gradients=[tape.Tensor(v) for v in vs],
                       unconnected_gradients="zero")
    return outs, grads


def _tape_second_order(row: Row, params, xs, vs, us):
    xs_t = [tape.Tensor(x) for x in xs]
    vs_t = [tape.Tensor(v) for v in vs]
    with tape.GradientTape() as outer:
        outer.watch(xs_t + vs_t)
        with tape.GradientTape() as inner:
            inner.watch(xs_t)
            outs = _as_tuple(row.fn(*xs_t, **params))
        grads = inner.gradient(list(outs), xs_t, output_gradients=vs_t,
                               unconnected_gradients="zero")
    return outer.gradient(grads, xs_t + vs_t, output_gradients=[tape.Tensor(u) for u in us],
                          unconnected_gradients="zero")


def _close(what: str, got, want, rtol=RTOL, atol=ATOL):
    got = got.numpy() if isinstance(got, tape.Tensor) else np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, JAX gives {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, JAX gives {want.dtype}"
    if got.dtype.kind == "f" and got.dtype.itemsize < 8:
        # A result in a narrower float (cast to float16, say) may differ by one unit in the
        # last place: XLA converts float64 -> float16 through float32 (rounding twice).
        rtol = max(rtol, 2 * float(np.finfo(got.dtype).eps))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


# ---- the table covers the registry -----------------------------------------------------------


def test_every_differentiable_op_has_a_row():
    covered = {name for row in ROWS for name in row.covers + row.covers2}
    missing = sorted(op.name for op in REGISTRY.values() if op.differentiable
                     and op.name not in covered)
    assert not missing, f"differentiable ops with no gradient row in op_rows.py: {missing}"


def test_rows_name_existing_differentiable_ops():
    unknown = sorted({name for row in ROWS for name in row.covers + row.covers2
                      if name not in REGISTRY or not REGISTRY[name].differentiable})
    assert not unknown, f"rows cover ops that are not differentiable ops in REGISTRY: {unknown}"


@contextlib.contextmanager
def _vjps_called():
    """The names of the registry ops whose VJP runs inside the block."""
    called: set[str] = set()
    saved = {name: op.vjp for name, op in REGISTRY.items() if op.vjp is not None}

    def spy(name, vjp):
        def wrapped(ctx, g):
            called.add(name)
            return vjp(ctx, g)

        return wrapped

    for name, vjp in saved.items():
        REGISTRY[name].vjp = spy(name, vjp)
    try:
        yield called
    finally:
        for name, vjp in saved.items():
            REGISTRY[name].vjp = vjp


@pytest.mark.parametrize("row", ROWS, ids=_ids)
@settings(max_examples=3)
@given(data=st.data())
def test_row_runs_the_vjps_it_covers(row, data):
    """A row's ``covers`` (and ``covers2``) are not just claims: those VJPs really run."""
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    outs = _as_tuple(row.fn(*map(tape.Tensor, xs), **params))
    vs = [np.ones(o.shape, o.dtype) for o in outs]
    with _vjps_called() as called:
        _tape_vjp(row, params, xs, vs)
    missing = set(row.covers) - called
    assert not missing, f"{row.name}: the VJPs of {sorted(missing)} never ran"
    if row.covers2:
        with _vjps_called() as called:
            _tape_second_order(row, params, xs, vs, [np.ones_like(x) for x in xs])
        missing = set(row.covers2) - called
        assert not missing, f"{row.name}: second order never ran the VJPs of {sorted(missing)}"


# ---- forward and VJP against JAX -------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=_ids)
@settings(max_examples=FIRST_ORDER_EXAMPLES)
@given(data=st.data())
def test_forward_and_vjp_match_jax(row, data):
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    structs = _jax_out_structs(row, params, xs)
    vs = _random_like(rng, structs)
    want_outs, want_grads = _jax_vjp(row.ref, Static(params), tuple(xs), vs)
    outs, grads = _tape_vjp(row, params, xs, vs)
    assert len(outs) == len(want_outs), f"{row.name}: {len(outs)} outputs, JAX {len(want_outs)}"
    for i, (got, want) in enumerate(zip(outs, want_outs)):
        _close(f"{row.name} output {i}", got, want)
    for i, (got, want) in enumerate(zip(grads, want_grads)):
        _close(f"{row.name} gradient of input {i}", got, want)


@pytest.mark.parametrize("row", SECOND_ORDER_ROWS, ids=_ids)
@settings(max_examples=SECOND_ORDER_EXAMPLES)
@given(data=st.data())
def test_second_order_matches_jax(row, data):
    """Differentiate ``<vjp(x, v), u>`` again, with respect to x (a Hessian-vector product)
    and to the upstream gradient v (a JVP), and compare both with JAX."""
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    vs = _random_like(rng, _jax_out_structs(row, params, xs))
    us = tuple(rng.normal(size=x.shape) for x in xs)
    want = _jax_second_order(row.ref, Static(params), tuple(xs), vs, us)
    got = _tape_second_order(row, params, xs, vs, us)
    want_x, want_v = want
    for i, (g, w) in enumerate(zip(got[: len(xs)], want_x)):
        _close(f"{row.name} Hessian-vector product, input {i}", g, w)
    for i, (g, w) in enumerate(zip(got[len(xs):], want_v)):
        _close(f"{row.name} d(vjp)/d(upstream), output {i}", g, w)


# ---- the wide sweep: finite differences (no compile cost), shapes beyond the pool ---------

WIDE_EXAMPLES = max(1, _PROFILE_EXAMPLES // 2)  # 20 at ci: cheap, no compiling


@st.composite
def wide_cases(draw, row: Row):
    shapes = row.wide(draw) if row.wide is not None else draw(st.sampled_from(row.shapes))
    params = row.params(draw, shapes)
    return shapes, params, draw(st.integers(0, 2**32 - 1))


def _single_output(row: Row, params):
    """The row's function of its float inputs alone, with one output (check_gradients
    wants a tensor): several outputs are flattened and concatenated."""

    def f(*xs):
        outs = _as_tuple(row.fn(*xs, **params))
        if len(outs) == 1:
            return outs[0]
        return tape.concatenate([tape.reshape(o, (-1,)) for o in outs])

    f.__name__ = row.name
    return f


@pytest.mark.parametrize("row", ROWS, ids=_ids)
@settings(max_examples=WIDE_EXAMPLES)
@given(data=st.data())
def test_wide_shapes_match_finite_differences(row, data):
    """First order (second order for second-order rows) against central differences,
    through tape.testing.check_gradients, on shapes of up to 4 dims of up to 4 each."""
    shapes, params, seed = data.draw(wide_cases(row))
    xs, _ = _inputs(row, shapes, seed)
    check_gradients(_single_output(row, params), *xs, order=2 if row.second_order else 1,
                    seed=seed)


# ---- dtypes ---------------------------------------------------------------------------------

# How close a float16/float32 run must be to the float64 run on the same (rounded) inputs.
DTYPE_TOL = {"float16": 3e-2, "float32": 1e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("row", DTYPE_ROWS, ids=_ids)
@settings(max_examples=DTYPE_EXAMPLES)
@given(data=st.data())
def test_dtype_is_kept_through_forward_and_backward(row, dtype, data):
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    xs = [x.astype(dtype) for x in xs]
    outs64 = _as_tuple(row.fn(*[tape.Tensor(x.astype(np.float64)) for x in xs], **params))
    vs = [rng.normal(size=o.shape).astype(dtype) for o in outs64]
    outs, grads = _tape_vjp(row, params, xs, vs)
    _, grads64 = _tape_vjp(row, params, [x.astype(np.float64) for x in xs],
                           [v.astype(np.float64) for v in vs])
    tol = DTYPE_TOL[dtype]
    for i, (out, out64) in enumerate(zip(outs, outs64)):
        assert out.dtype == np.dtype(dtype), f"{row.name} output {i} is {out.dtype}"
        np.testing.assert_allclose(out.numpy().astype(np.float64), out64.numpy(), rtol=tol,
                                   atol=tol, err_msg=f"{row.name} output {i} in {dtype}")
    for i, (g, g64) in enumerate(zip(grads, grads64)):
        assert g.dtype == np.dtype(dtype), f"{row.name} gradient {i} is {g.dtype}"
        np.testing.assert_allclose(g.numpy().astype(np.float64), g64.numpy(), rtol=tol,
                                   atol=tol, err_msg=f"{row.name} gradient {i} in {dtype}")


# ---- ties, kinks and special points, with fixed inputs ---------------------------------------

TIED = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_ties_split_the_gradient_like_jax(name, axis, keepdims):
    x = TIED if name == "max" else -TIED
    fn, ref = getattr(tape, name), getattr(jnp, name)
    want_out, pullback = jax.vjp(lambda a: ref(a, axis=axis, keepdims=keepdims), x)
    v = np.arange(1.0, 1.0 + want_out.size).reshape(want_out.shape)
    (want,) = pullback(v)
    xt = tape.Tensor(x)
    with tape.GradientTape() as g:
        g.watch(xt)
        out = fn(xt, axis=axis, keepdims=keepdims)
    got = g.gradient(out, xt, output_gradients=tape.Tensor(v))
    _close(f"{name} with ties", got, want)
    # The split conserves the upstream gradient: nothing is counted twice.
    np.testing.assert_allclose(got.numpy().sum(), v.sum())


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_in_half_like_jax(name):
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    ref = getattr(jnp, name)
    _, pullback = jax.vjp(ref, x, y)
    v = np.array([1.0, 2.0, 4.0])
    want = pullback(v)
    xt, yt = tape.Tensor(x), tape.Tensor(y)
    with tape.GradientTape() as g:
        g.watch([xt, yt])
        out = getattr(tape, name)(xt, yt)
    got = g.gradient(out, [xt, yt], output_gradients=tape.Tensor(v))
    for i in range(2):
        _close(f"{name} with ties, input {i}", got[i], want[i])


# (name, tape function, JAX function, inputs): points where an op has a kink, a zero or a
# special rule; the gradient there must be JAX's choice.
SPECIAL_POINTS = [
    ("relu at 0", tape.relu, jax.nn.relu, [np.array([0.0, -1.0, 2.0])]),
    ("power with base 0", tape.power, jnp.power, [np.array([0.0, 0.0, 2.0]),
                                                  np.array([2.0, 3.0, 0.5])]),
    ("prod with one zero", lambda x: tape.prod(x, axis=1), lambda x: jnp.prod(x, axis=1),
     [np.array([[0.0, 2.0, 3.0], [1.0, 2.0, 3.0]])]),
    ("prod with two zeros", tape.prod, jnp.prod, [np.array([0.0, 2.0, 0.0])]),
    ("logsumexp with -inf", tape.logsumexp, jax.scipy.special.logsumexp,
     [np.array([-np.inf, 0.0, 1.0])]),
    ("softmax of large logits", tape.softmax, jax.nn.softmax, [np.array([1000.0, 0.0, -5.0])]),
    ("log_softmax of large logits", tape.log_softmax, jax.nn.log_softmax,
     [np.array([1000.0, 0.0, -5.0])]),
    ("sigmoid of large inputs", tape.sigmoid, jax.nn.sigmoid, [np.array([-800.0, 0.0, 800.0])]),
    ("softplus of large inputs", tape.softplus, jax.nn.softplus,
     [np.array([-800.0, 0.0, 800.0])]),
    ("elu at 0 and far below", lambda x: tape.nn.elu(x, 0.5), lambda x: jax.nn.elu(x, 0.5),
     [np.array([0.0, -1000.0, 1000.0])]),
    ("logsumexp over an empty axis", lambda x: tape.logsumexp(x, axis=1),
     lambda x: jax.scipy.special.logsumexp(x, axis=1), [np.zeros((2, 0))]),
    ("sum over an empty axis", lambda x: tape.sum(x, axis=0), lambda x: jnp.sum(x, axis=0),
     [np.zeros((0, 3))]),
    ("matmul with an empty inner axis", tape.matmul, jnp.matmul,
     [np.ones((2, 0)), np.ones((0, 3))]),
    ("pad of a 0-d tensor", lambda x: tape.pad(x, 1), lambda x: jnp.pad(x, 1), [np.array(2.0)]),
    # Tied values: each sorted value's gradient goes to the element it came from.
    ("sort with ties", tape.sort, jnp.sort,
     [np.array([[1.0, 0.0, 1.0, 1.0], [2.0, 2.0, 0.5, 2.0]])]),
    # jnp.sort(descending=True) reverses an ascending sort, so its tied values come last
    # index first; tape follows the stable descending argsort (as torch.sort(stable=True)).
    ("descending sort with ties", lambda x: tape.sort(x, descending=True),
     lambda x: jnp.take_along_axis(x, jnp.argsort(x, stable=True, descending=True), -1),
     [np.array([1.0, 0.0, 1.0, 1.0])]),
    ("top_k with ties", lambda x: tape.top_k(x, 2).values, lambda x: jax.lax.top_k(x, 2)[0],
     [np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])]),
    ("cumsum over an empty axis", lambda x: tape.cumsum(x, axis=0),
     lambda x: jnp.cumsum(x, axis=0), [np.zeros((0, 3))]),
]


@pytest.mark.parametrize("name, fn, ref, xs", SPECIAL_POINTS, ids=[p[0] for p in SPECIAL_POINTS])
def test_special_points_match_jax(name, fn, ref, xs):
    want_out, pullback = jax.vjp(ref, *xs)
    v = np.linspace(0.5, 1.5, want_out.size).reshape(want_out.shape)
    want = pullback(v)
    xs_t = [tape.Tensor(x) for x in xs]
    with tape.GradientTape() as g:
        g.watch(xs_t)
        out = fn(*xs_t)
    got = g.gradient(out, xs_t, output_gradients=tape.Tensor(v))
    _close(f"{name}: output", out, want_out)
    for i, (gi, wi) in enumerate(zip(got, want)):
        _close(f"{name}: gradient of input {i}", gi, wi)


# (name, tape function, input, upstream gradient, expected gradient): kinks where tape keeps
# TensorFlow's (and PyTorch's) documented choice and JAX picks another one.
OTHER_CONVENTIONS = [
    # sign(0) = 0; JAX gives 1 at 0.
    ("abs at 0", tape.abs, [0.0, -1.0, 2.0], [1.0, 1.0, 1.0], [0.0, -1.0, 1.0]),
    # The gradient passes where min <= x <= max, bounds included; JAX halves it there.
    ("clip at its bounds", lambda x: tape.clip(x, -1.0, 1.0), [-1.0, 0.0, 1.0, 2.0],
     [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 0.0]),
    # The slope at 0 is alpha, as TensorFlow's LeakyReluGrad (features > 0); JAX gives 1.
    ("leaky_relu at 0", lambda x: tape.nn.leaky_relu(x, 0.2), [0.0, -1.0, 1.0],
     [1.0, 1.0, 1.0], [0.2, 0.2, 1.0]),
]


@pytest.mark.parametrize("name, fn, x, v, expected", OTHER_CONVENTIONS,
                         ids=[c[0] for c in OTHER_CONVENTIONS])
def test_kinks_where_tape_follows_tensorflow(name, fn, x, v, expected):
    xt = tape.Tensor(np.array(x))
    with tape.GradientTape() as g:
        g.watch(xt)
        out = fn(xt)
    got = g.gradient(out, xt, output_gradients=tape.Tensor(np.array(v)))
    np.testing.assert_array_equal(got.numpy(), expected, err_msg=name)


def test_getitem_repeated_indices_accumulate():
    """x[[0, 0, 2]]: the scatter-add VJP adds the repeated row's gradients."""
    x = tape.Tensor(np.arange(6.0).reshape(3, 2))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.getitem(x, np.array([0, 0, 2]))
    grad = g.gradient(y, x, output_gradients=tape.Tensor(np.array([[1.0, 2.0], [3.0, 4.0],
                                                                  [5.0, 6.0]])))
    np.testing.assert_array_equal(grad.numpy(), [[4.0, 6.0], [0.0, 0.0], [5.0, 6.0]])


def test_one_hot_forward_matches_jax():
    """one_hot is not differentiable (no row), but its forward is public."""
    labels = np.array([[0, 2], [1, 1]])
    got = tape.one_hot(tape.Tensor(labels), 3)
    _close("one_hot", got, np.asarray(jax.nn.one_hot(labels, 3, dtype=jnp.float32)))


TIES = np.array([[2.0, 1.0, 2.0, 0.0, 1.0], [3.0, 3.0, 3.0, -1.0, 3.0]])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("x", [TIES, TIES.T, np.array([0, 255, 3, 255, 0], dtype=np.uint8),
                               np.array([np.iinfo(np.int64).min, 5, 0, 5])], ids=str)
def test_argsort_orders_ties_as_jax_stable_sort(x, descending):
    """argsort has no gradient (no row): its indices, ties included, match JAX's stable sort
    (unsigned ints and int64's minimum too, which negating would break)."""
    for axis in range(x.ndim):
        got = tape.argsort(tape.Tensor(x), axis=axis, descending=descending)
        want = jnp.argsort(x, axis=axis, stable=True, descending=descending)
        np.testing.assert_array_equal(got.numpy(), np.asarray(want))
    flat = tape.argsort(tape.Tensor(x), axis=None, descending=descending)
    np.testing.assert_array_equal(flat.numpy(), np.asarray(
        jnp.argsort(x.ravel(), stable=True, descending=descending)))


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_top_k_indices_and_values_match_jax(k):
    values, indices = tape.top_k(tape.Tensor(TIES), k)
    want_values, want_indices = jax.lax.top_k(TIES, k)
    np.testing.assert_array_equal(indices.numpy(), np.asarray(want_indices))
    np.testing.assert_array_equal(values.numpy(), np.asarray(want_values))
    assert indices.dtype == np.int64 and values.dtype == np.float64


@pytest.mark.parametrize("row", ROWS, ids=_ids)
@settings(max_examples=2)
@given(data=st.data())
def test_every_gradient_has_its_inputs_shape_and_float32_dtype(row, data):
    """The VJP contract the tape relies on (ops.registry.Op.defvjp): one-input ops return
    their input's shape and dtype themselves; the tape fixes multi-input ones."""
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    xs = [x.astype(np.float32) for x in xs]
    outs = _as_tuple(row.fn(*[tape.Tensor(x) for x in xs], **params))
    vs = [rng.normal(size=o.shape).astype(np.float32) for o in outs]
    _, grads = _tape_vjp(row, params, xs, vs)
    for i, (g, x) in enumerate(zip(grads, xs)):
        assert g is not None and (g.shape, g.dtype) == (x.shape, np.float32), (
            f"{row.name} gradient {i}: {None if g is None else (g.shape, g.dtype)} "
            f"for an input of {x.shape} float32")
