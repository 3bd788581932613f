"""Every op of the table in bfloat16 and float16: forward and VJP against JAX in the same
dtype, float32 accumulation where values are accumulated, the cast-up warning of ops with
no low-precision path, and a bfloat16 MLP's gradients.

The rows are ``op_rows.ROWS`` (the float64 sweep's table): each row's inputs are drawn in
float64, rounded to the low dtype, and given to tape and to JAX alike. Tolerances, per
dtype (``TOL``): a few units in the last place of the low dtype (bfloat16 eps = 2**-7,
float16 eps = 2**-10), relative to the result, plus the same fraction of the result's
largest magnitude, where terms cancel (a gradient such as ``g - sum(g)``).

Where an oracle's own low-precision rounding cancels badly (layer_norm_grad's composite in
bfloat16 can be off by half its value, where tape, in float32, is right), tape's error
against the exact value (JAX in float64 on the same rounded inputs) may be as large as
JAX's own plus that tolerance: tape in a low dtype is at least as accurate as JAX in it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import tape  # noqa: E402
from tape import dtypes  # noqa: E402
from tape.ops import REGISTRY, LowPrecisionWarning, defop  # noqa: E402

from .op_rows import ROWS  # noqa: E402
from .test_op_table import (  # noqa: E402
    _as_tuple,
    _inputs,
    _jax_out_structs,
    _random_like,
    _tape_vjp,
    cases,
)

LOW = ("bfloat16", "float16")
# (rtol, atol as a fraction of the result's largest magnitude), per dtype: 4 units in the
# last place.
TOL = {"bfloat16": (3e-2, 3e-2), "float16": (4e-3, 4e-3)}
# Rows whose atol is that many times larger. tape.nn.layer_norm over other axes than the
# last is moments + batch_norm, which computes x * a + b: in float16, x * a and b are
# rounded at the size of x / std before they cancel, and the gradient with respect to x
# then differs from the float64 one by up to ~10 units of its largest magnitude where
# XLA, fusing the chain, rounds once (seen: 9.6, float16, nn.layer_norm with axis=1).
LOOSER = {"nn.layer_norm": 4, "nn.batch_norm": 4}
EXAMPLES = 2  # per row and dtype: each new shape and dtype costs a JAX compile


def _low(dtype: str) -> np.dtype:
    return dtypes.as_dtype(dtype)


def _round(xs, dtype):
    """The row's float64 inputs in ``dtype`` (integer inputs, such as labels, kept)."""
    return [x.astype(dtype) if x.dtype.kind == "f" else x for x in xs]


def _jax_vjp(ref, params, xs, vs):
    """JAX's outputs and VJP, op by op (not jitted as one function: XLA's CPU compiler,
    with conftest's --xla_disable_hlo_passes=algsimp, crashes the process compiling the
    bfloat16 VJP of take_along_axis(log_softmax(z)) for z of shape (1, 3), jax 0.10.2).
    Each op rounds to its dtype, as tape's elementwise ops do."""
    outs, pullback = jax.vjp(lambda *a: _as_tuple(ref(*a, **params)), *xs)
    return outs, pullback(tuple(vs))


def _expected(dtype, low):
    """The dtype tape gives where JAX gives ``dtype``: the same, except where an oracle
    promotes to float64 through a NumPy constant (``x / np.sqrt(d)``): tape keeps ``low``."""
    return low if dtype == np.float64 else dtype


def _close(what, got, want, dtype, exact=None, looser=1):
    """``got`` (tape) within ``TOL`` of ``want`` (JAX in the same dtype), or, given the
    float64 ``exact`` value, no further from it than ``want`` is, plus ``TOL`` (its atol
    ``looser`` times larger)."""
    got = got.numpy() if isinstance(got, tape.Tensor) else np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, JAX gives {want.shape}"
    expected = _expected(want.dtype, _low(dtype))
    assert got.dtype == expected, f"{what}: dtype {got.dtype}, expected {expected}"
    rtol, atol = TOL[dtype]
    atol *= looser
    wide, wanted = got.astype(np.float64), want.astype(np.float64)
    finite = np.isfinite(wanted)
    scale = float(np.abs(wanted[finite]).max(initial=1.0))
    if exact is None:
        np.testing.assert_allclose(wide, wanted, rtol=rtol, atol=atol * scale, err_msg=what)
        return
    exact = np.asarray(exact, dtype=np.float64)
    np.testing.assert_array_equal(np.isfinite(wide), finite, err_msg=what)
    error, jax_error = np.abs(wide - exact)[finite], np.abs(wanted - exact)[finite]
    bound = jax_error + rtol * np.abs(exact[finite]) + atol * scale
    worst = int(np.argmax(error - bound)) if error.size else 0
    assert np.all(error <= bound), (
        f"{what}: tape {wide[finite][worst]}, JAX {wanted[finite][worst]}, float64 "
        f"{exact[finite][worst]}: tape's error {error[worst]:.3g} exceeds JAX's "
        f"{jax_error[worst]:.3g} plus tolerance")


# ---- every row, forward and VJP, against JAX in the same dtype --------------------------


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_forward_and_vjp_match_jax_in_low_precision(row, dtype, data):
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    xs = _round(xs, _low(dtype))
    vs = _random_like(rng, _jax_out_structs(row, params, xs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowPrecisionWarning)
        outs, grads = _tape_vjp(row, params, xs,
                                [v.astype(_expected(v.dtype, _low(dtype))) for v in vs])
    want_outs, want_grads = _jax_vjp(row.ref, params, tuple(xs), vs)
    wide = tuple(x.astype(np.float64) if dtypes.is_float(x.dtype) else x for x in xs)
    wide_vs = tuple(v.astype(s.dtype) for v, s in zip(vs, _jax_out_structs(row, params, wide)))
    exact_outs, exact_grads = _jax_vjp(row.ref, params, wide, wide_vs)
    looser = LOOSER.get(row.name, 1)
    for i, (got, want, exact) in enumerate(zip(outs, want_outs, exact_outs)):
        _close(f"{row.name} output {i} in {dtype}", got, want, dtype, exact, looser)
    for i, (x, got, want, exact) in enumerate(zip(xs, grads, want_grads, exact_grads)):
        if dtypes.is_float(x.dtype):
            assert got.dtype == x.dtype, f"{row.name} gradient {i}: {got.dtype} for {x.dtype}"
            _close(f"{row.name} gradient of input {i} in {dtype}", got, want, dtype, exact,
                   looser)


# ---- float32 accumulation: what a low-precision running sum would get wrong ----------------
# A float16 running sum stops counting at 2048 (2048 + 1 rounds to 2048) and overflows at
# 65504; a bfloat16 one stops at 256. float16 cases sum halves, so that the exact result,
# 50,000, fits its range (100,000 ones overflow in float16 whatever the accumulator: inf, as
# JAX gives, tests/ops/test_float16_reductions.py). Expected values are float64 NumPy,
# rounded once to the dtype.

N = 100_000
UNIT = {"bfloat16": 1.0, "float16": 0.5}  # the summed value: N * UNIT fits both ranges


def _exact(value, dtype):
    """``value`` (float64) rounded once to ``dtype``: what float32 accumulation gives."""
    return np.asarray(value, dtype=np.float64).astype(_low(dtype))


def _assert_exact(got, value, dtype):
    assert got.dtype == _low(dtype), f"{got.dtype}, expected {dtype}"
    np.testing.assert_array_equal(got.numpy().astype(np.float64),
                                  _exact(value, dtype).astype(np.float64))


@pytest.mark.parametrize("dtype", LOW)
def test_sum_of_100000_values_is_rounded_once(dtype):
    unit = UNIT[dtype]
    x = tape.full((N,), unit, dtype=dtype)
    _assert_exact(tape.sum(x), N * unit, dtype)
    _assert_exact(tape.sum(tape.reshape(x, (N // 4, 4)), axis=0), np.full(4, N // 4 * unit),
                  dtype)
    _assert_exact(tape.cumsum(x)[-1], N * unit, dtype)
    _assert_exact(tape.logsumexp(tape.zeros((N,), dtype=dtype)), np.log(N), dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_mean_and_variance_of_100000_values_match_float64(dtype):
    values = np.random.default_rng(0).normal(3.0, 2.0, size=N).astype(_low(dtype))
    wide = values.astype(np.float64)
    x = tape.tensor(values)
    _assert_exact(tape.mean(tape.full((N,), 3.0, dtype=dtype)), 3.0, dtype)
    got = tape.mean(x)
    assert got.dtype == _low(dtype)
    np.testing.assert_allclose(float(got.numpy().astype(np.float64)), wide.mean(),
                               rtol=TOL[dtype][0])
    np.testing.assert_allclose(float(tape.var(x).numpy().astype(np.float64)), wide.var(),
                               rtol=TOL[dtype][0])


@pytest.mark.parametrize("dtype", LOW)
def test_softmax_over_a_long_row_sums_in_float32(dtype):
    x = tape.zeros((2, N), dtype=dtype)  # each probability is 1 / N
    with tape.GradientTape() as g:
        g.watch(x)
        p = tape.softmax(x)
        loss = tape.sum(tape.multiply(p, p))
    _assert_exact(p[:, :3], np.full((2, 3), 1 / N), dtype)
    _assert_exact(tape.log_softmax(x)[:, :3], np.full((2, 3), -np.log(N)), dtype)
    # d/dx sum(p^2) = 2 p (p - sum(p^2)) = 0 at equal logits; a low-precision sum gives
    # sum(p^2) far from 1 / N and a nonzero gradient
    np.testing.assert_allclose(g.gradient(loss, x).numpy().astype(np.float64), 0.0,
                               atol=1e-9)


@pytest.mark.parametrize("dtype", LOW)
def test_softmax_cross_entropy_over_a_long_row(dtype):
    labels = np.zeros((2, N))
    labels[:, 0] = 1
    logits = tape.zeros((2, N), dtype=dtype)
    with tape.GradientTape() as g:
        g.watch(logits)
        loss = tape.ops.softmax_xent(tape.tensor(labels, dtype=dtype), logits)
    _assert_exact(loss, np.full(2, np.log(N)), dtype)
    grad = g.gradient(loss, logits)  # softmax - labels
    _assert_exact(grad[:, 1:3], np.full((2, 2), 1 / N), dtype)
    _assert_exact(grad[:, 0], np.full(2, 1 / N - 1), dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_matmul_and_einsum_with_k_100000(dtype):
    unit = UNIT[dtype]
    x = tape.ones((2, N), dtype=dtype)
    y = tape.full((N, 3), unit, dtype=dtype)
    _assert_exact(tape.matmul(x, y), np.full((2, 3), N * unit), dtype)
    _assert_exact(tape.einsum("ik,kj->ij", x, y), np.full((2, 3), N * unit), dtype)
    with tape.GradientTape() as g:  # the VJP's matmul contracts over K = 100,000 too
        g.watch(x)
        out = tape.matmul(tape.transpose(x), tape.full((2, 1), unit, dtype=dtype))
    _assert_exact(g.gradient(out, x), np.full((2, N), unit), dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_bias_gradient_over_a_batch_of_100000_sums_in_float32(dtype):
    # x + b broadcasts b over the batch: its gradient is sum_to over 100,000 rows, the
    # gradient a Dense bias gets under mixed precision
    x = tape.zeros((N, 2), dtype=dtype)
    b = tape.zeros((2,), dtype=dtype)
    unit = UNIT[dtype]
    with tape.GradientTape() as g:
        g.watch(b)
        out = tape.add(x, b)
    grad = g.gradient(out, b, output_gradients=tape.full((N, 2), unit, dtype=dtype))
    _assert_exact(grad, np.full(2, N * unit), dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_layer_norm_and_average_pooling_over_long_axes(dtype):
    values = np.random.default_rng(1).normal(5.0, 1.0, size=(2, N)).astype(_low(dtype))
    wide = values.astype(np.float64)
    want = (wide - wide.mean(-1, keepdims=True)) / np.sqrt(wide.var(-1, keepdims=True) + 1e-3)
    got = tape.ops.layer_norm(tape.tensor(values), tape.ones(N, dtype=dtype),
                              tape.zeros(N, dtype=dtype))
    assert got.dtype == _low(dtype)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, rtol=rtol, atol=atol)
    window = 4096  # one window of 4096 ones: a bfloat16 running sum stops at 256
    pooled = tape.nn.avg_pool1d(tape.ones((1, window, 1), dtype=dtype), window)
    _assert_exact(pooled, np.ones((1, 1, 1)), dtype)


# ---- ops with no low-precision path: cast up, one warning ----------------------------------


@pytest.fixture
def cast_up_op():
    """A throwaway op declared ``low_precision="cast_up"`` whose forward records the dtypes
    it is given, removed from the table afterwards (erf, the table's one such op, may have
    given its one warning earlier in the session)."""
    seen: list = []

    def forward(xp, x):
        seen.append(x.dtype)
        return xp.exp(x)

    op = defop("_test_cast_up", differentiable=False, low_precision="cast_up")(forward)
    try:
        yield op, seen
    finally:
        del REGISTRY["_test_cast_up"]


def test_an_op_without_a_low_precision_path_is_cast_up_with_one_warning(cast_up_op):
    op, seen = cast_up_op
    values = np.array([0.0, 0.5, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = [op(tape.Tensor(values.astype(_low(dtype)))) for dtype in LOW + LOW]
        single = op(tape.Tensor(values.astype(np.float32)))
    low = [w for w in caught if issubclass(w.category, LowPrecisionWarning)]
    assert len(low) == 1, [str(w.message) for w in low]  # once per op, not per call
    message = str(low[0].message)
    assert "_test_cast_up" in message and "bfloat16" in message and "float32" in message
    assert low[0].filename == __file__  # it points at the user's line
    assert seen == [np.dtype(np.float32)] * 5  # the forward never saw a 2-byte float
    for out, dtype in zip(outs, LOW + LOW):
        _assert_exact(out, np.exp(values.astype(_low(dtype)).astype(np.float32)), dtype)
    assert single.dtype == np.float32


def test_a_cast_up_op_is_cast_up_in_a_replayed_graph_too(cast_up_op):
    op, seen = cast_up_op
    f = tape.trace(lambda x: op(x) * 2.0)
    x = tape.Tensor(np.array([0.5, 1.0], dtype=_low("bfloat16")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowPrecisionWarning)
        eager, captured, replayed = op(x) * 2.0, f(x), f(x)
    assert seen == [np.dtype(np.float32)] * 3
    for out in (captured, replayed):
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(out.numpy(), eager.numpy())


@pytest.mark.parametrize("dtype", LOW)
def test_erf_and_gelu_run_in_float32_on_the_default_device(dtype):
    # erf has no 16-bit loop in scipy.special, nor in cupyx.scipy.special (CuPy 14 refuses
    # bfloat16 there): declared cast_up, it computes in float32 on either device
    values = np.linspace(-2.5, 2.5, 11).astype(_low(dtype))
    x = tape.tensor(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowPrecisionWarning)
        with tape.GradientTape() as g:
            g.watch(x)
            y = tape.erf(x)
        grad = g.gradient(y, x)
        gelu = tape.nn.gelu(x)
    wide = jnp.asarray(values.astype(np.float64))
    _assert_exact(y, np.asarray(jax.scipy.special.erf(wide)), dtype)
    _close("erf gradient", grad, np.asarray(jax.grad(lambda v: jnp.sum(
        jax.scipy.special.erf(v)))(wide)).astype(_low(dtype)), dtype)
    _close("gelu", gelu, np.asarray(jax.nn.gelu(wide, approximate=False)).astype(_low(dtype)),
           dtype)


# ---- a bfloat16 MLP: loss and gradients against JAX -----------------------------------------


def _mlp_parameters(rng, dtype):
    shapes = [(8, 32), (32,), (32, 4), (4,)]
    return [(rng.normal(size=s) * 0.4).astype(dtype) for s in shapes]


def test_a_bfloat16_mlp_loss_and_gradients_match_jax():
    bf16 = _low("bfloat16")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(bf16)
    labels = rng.integers(0, 4, size=64)
    params = _mlp_parameters(rng, bf16)

    def tape_loss(w1, b1, w2, b2):
        h = tape.ops.bias_act(tape.matmul(tape.tensor(x), w1), b1, activation="gelu")
        logits = tape.add(tape.matmul(h, w2), b2)
        return tape.mean(tape.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

    def jax_loss(w1, b1, w2, b2):
        h = jax.nn.gelu(x @ w1 + b1, approximate=False)
        logits = jax.nn.log_softmax(h @ w2 + b2)
        return -jnp.mean(jnp.take_along_axis(logits, labels[:, None], axis=-1))

    ws = [tape.Variable(p) for p in params]
    with tape.GradientTape() as g:
        loss = tape_loss(*ws)
    grads = g.gradient(loss, ws)
    want_loss, want_grads = jax.value_and_grad(jax_loss, argnums=(0, 1, 2, 3))(*params)
    _close("MLP loss", loss, want_loss, "bfloat16")
    for i, (got, want) in enumerate(zip(grads, want_grads)):
        assert got.dtype == bf16
        _close(f"MLP gradient {i}", got, want, "bfloat16")
    # and within bfloat16's rounding of the float64 values, where JAX's own lie
    wide = [p.astype(np.float64) for p in params]
    exact, exact_grads = jax.value_and_grad(
        lambda *w: jax_loss(*w), argnums=(0, 1, 2, 3))(*wide)
    for got, want in zip([loss, *grads], [exact, *exact_grads]):
        _close("MLP against float64", got, np.asarray(want).astype(bf16), "bfloat16")
