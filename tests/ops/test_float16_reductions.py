"""float16 reductions accumulate in float32, as NumPy's mean and JAX's sum and mean do: a
float16 running sum overflows at 65504 and stops counting at 2048 (1 + 2048 rounds to 2048).
JAX is the oracle for values and gradients; NumPy's mean agrees where it is shown."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import tape  # noqa: E402

F16 = np.float16


def _values_and_grad(fn, x, **kwargs):
    """(forward, gradient of sum(forward) as float32 weights) from tape, eagerly."""
    t = tape.tensor(x)
    with tape.GradientTape() as g:
        g.watch(t)
        out = fn(t, **kwargs)
        total = tape.sum(tape.cast(out, "float32"))
    return out.numpy(), g.gradient(total, t).numpy()


def _jax_values_and_grad(fn, x, **kwargs):
    def total(v):
        return jnp.sum(fn(v, **kwargs).astype(jnp.float32))

    return np.asarray(fn(jnp.asarray(x), **kwargs)), np.asarray(jax.grad(total)(jnp.asarray(x)))


CASES = [
    # (what, tape fn, jax fn, input, axis): the issue's three means, then sums and friends
    ("mean of 100,000 ones", tape.mean, jnp.mean, np.ones(100_000, F16), None),
    ("mean of 1,000 hundreds", tape.mean, jnp.mean, np.full(1000, 100, F16), None),
    ("mean down 70,000 rows", tape.mean, jnp.mean, np.ones((70_000, 2), F16), 0),
    ("sum down 5,000 rows", tape.sum, jnp.sum, np.ones((5000, 2), F16), 0),
    ("sum over 100,000 ones (inf)", tape.sum, jnp.sum, np.ones(100_000, F16), None),
    ("sum of 3,000 tenths", tape.sum, jnp.sum, np.full((2, 3000), 0.1, F16), 1),
]


@pytest.mark.parametrize("what,fn,ref,x,axis", CASES, ids=[c[0] for c in CASES])
def test_float16_reduction_and_gradient_match_jax(what, fn, ref, x, axis):
    got, grad = _values_and_grad(fn, x, axis=axis)
    want, want_grad = _jax_values_and_grad(ref, x, axis=axis)
    assert got.dtype == F16 and grad.dtype == F16
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(grad.astype(np.float64), want_grad.astype(np.float64),
                               rtol=1e-3)


def test_the_issue_figures_and_numpy_mean():
    assert tape.mean(tape.ones((100_000,), dtype="float16")).item() == 1.0
    assert tape.mean(tape.full((1000,), 100.0, dtype="float16")).item() == 100.0
    down = np.ones((70_000, 2), F16)
    np.testing.assert_array_equal(tape.mean(tape.tensor(down), axis=0).numpy(), down.mean(0))
    assert np.isfinite(down.mean(0)).all()


def test_mean_gradient_over_70000_rows_is_not_zero():
    # 70000 as a float16 count is inf: dividing g by it gave 0; JAX gives 1/70000 in float16
    _, grad = _values_and_grad(tape.mean, np.ones((70_000, 2), F16), axis=0)
    np.testing.assert_array_equal(grad, np.full((70_000, 2), F16(1 / 70_000)))


def test_float16_logsumexp_over_many_values_matches_float64():
    # JAX's float16 logsumexp overflows here (inf): float64 NumPy written out is the oracle
    x = np.random.default_rng(1).normal(scale=0.1, size=(100_000, 2)).astype(F16)
    wide = x.astype(np.float64)
    top = wide.max(0)
    want = np.log(np.exp(wide - top).sum(0)) + top
    t = tape.tensor(x)
    with tape.GradientTape() as g:
        g.watch(t)
        out = tape.logsumexp(t, axis=0)
    assert out.dtype == F16
    np.testing.assert_allclose(out.numpy().astype(np.float64), want, rtol=1e-3)
    softmax = np.exp(wide - want)
    np.testing.assert_allclose(g.gradient(out, t).numpy().astype(np.float64), softmax,
                               rtol=2e-2, atol=1e-7)


def test_variance_over_many_float16_values_matches_float64():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=80_000).astype(F16)
    want = x.astype(np.float64).var(ddof=1)
    got = tape.var(tape.tensor(x), ddof=1)
    assert got.dtype == F16
    np.testing.assert_allclose(float(got.numpy()), want, rtol=2e-3)


def test_traced_float16_mean_matches_eager():
    @tape.trace
    def f(x):
        return tape.mean(x, axis=0)

    x = tape.ones((70_000, 2), dtype="float16")
    for _ in range(2):  # capture, then replay
        np.testing.assert_array_equal(f(x).numpy(), np.ones(2, F16))


def test_float32_and_integer_reductions_keep_their_dtypes():
    assert tape.sum(tape.ones((3,))).dtype == np.float32
    assert tape.sum(tape.tensor([1, 2])).dtype == np.asarray([1, 2]).sum().dtype
    assert tape.mean(tape.tensor([1, 2])).dtype == np.float32
    assert tape.logsumexp(tape.tensor([1.0, 2.0], dtype="float64")).dtype == np.float64
