"""NumPy interoperability: np.asarray, NumPy ufuncs and functions on tensors return tape
Tensors recorded on tapes, and unsupported functions fall back to NumPy with a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tape

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def _watched(value=X):
    return tape.tensor(np.array(value, dtype=np.float64))


def test_np_asarray_gives_the_values_and_dtype():
    t = tape.tensor(np.array([1, 2, 3], dtype=np.int16))
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.int16
    np.testing.assert_array_equal(a, [1, 2, 3])
    f = np.asarray(tape.tensor([1.5, 2.5]), dtype=np.float64)
    assert f.dtype == np.float64
    np.testing.assert_array_equal(f, [1.5, 2.5])


def test_np_array_of_tensors_in_a_list():
    a = np.array([tape.tensor(1.0), tape.tensor(2.0)])
    np.testing.assert_array_equal(a, [1.0, 2.0])


def test_np_exp_returns_a_recorded_tensor():
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        y = np.exp(x)
        loss = tape.sum(y)
    assert type(y) is tape.Tensor and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), np.exp(X))
    np.testing.assert_allclose(g.gradient(loss, x).numpy(), np.exp(X), rtol=1e-12)


def test_np_sum_with_axis_returns_a_recorded_tensor():
    x = _watched()
    w = np.array([1.0, 2.0, 3.0])
    with tape.GradientTape() as g:
        g.watch(x)
        s = np.sum(x, axis=0)
        loss = tape.sum(s * tape.tensor(w))
    assert type(s) is tape.Tensor and s.shape == (3,)
    np.testing.assert_allclose(s.numpy(), X.sum(axis=0))
    np.testing.assert_array_equal(g.gradient(loss, x).numpy(), np.broadcast_to(w, X.shape))


def test_np_concatenate_returns_a_recorded_tensor():
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        c = np.concatenate([x, x * 3.0])
        loss = tape.sum(c)
    assert type(c) is tape.Tensor and c.shape == (4, 3)
    np.testing.assert_allclose(c.numpy(), np.concatenate([X, X * 3.0]))
    np.testing.assert_array_equal(g.gradient(loss, x).numpy(), np.full(X.shape, 4.0))


@pytest.mark.parametrize("order", ["tensor_first", "array_first"])
def test_tensor_and_numpy_array_in_a_binary_op(order):
    x = _watched()
    a = np.array([[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])
    with tape.GradientTape() as g:
        g.watch(x)
        y = x * a + a if order == "tensor_first" else a * x + a
        loss = tape.sum(y)
    assert type(y) is tape.Tensor
    np.testing.assert_allclose(y.numpy(), X * a + a)
    np.testing.assert_array_equal(g.gradient(loss, x).numpy(), a)


def test_numpy_float64_array_with_float32_tensor_follows_numpy_promotion():
    x = tape.tensor([1.0, 2.0])  # float32
    a = np.array([0.5, 0.25])  # float64 keeps its dtype, so the result is float64
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(a - x * a)
    assert y.dtype == np.float64
    dx = g.gradient(y, x)
    assert dx.dtype == np.float32  # a gradient has its source's dtype
    np.testing.assert_array_equal(dx.numpy(), -a.astype(np.float32))


def test_more_numpy_functions_are_recorded():
    x = _watched()
    m = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
    with tape.GradientTape() as g:
        g.watch(x)
        loss = (
            np.mean(np.square(x))
            + np.sum(np.matmul(x, m))
            + np.sum(np.reshape(x, (3, 2))[0])
            + np.sum(np.where(x > 0, x, 0.0))
        )
    assert type(loss) is tape.Tensor
    expected = 2 * X / X.size + m.sum(axis=1) + (X > 0)
    expected[0, :2] += 1.0  # reshape(x, (3, 2))[0] is x[0, 0] and x[0, 1]
    np.testing.assert_allclose(g.gradient(loss, x).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda xp, a: xp.cumsum(a, axis=1), lambda xp, a: xp.cumsum(a),
    lambda xp, a: xp.sort(a, axis=0), lambda xp, a: xp.tril(a), lambda xp, a: xp.triu(a, 1),
], ids=["cumsum_axis", "cumsum_flat", "sort", "tril", "triu"])
def test_cumsum_sort_and_triangles_are_recorded(fn):
    jax = pytest.importorskip("jax")
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        y = fn(np, x)
        loss = tape.sum(y * y)
    assert type(y) is tape.Tensor
    np.testing.assert_array_equal(y.numpy(), fn(np, X))
    want = jax.grad(lambda a: jax.numpy.sum(fn(jax.numpy, a) ** 2))(X)
    np.testing.assert_allclose(g.gradient(loss, x).numpy(), np.asarray(want), rtol=1e-12)


def test_np_argsort_gives_a_tensor_of_indices():
    got = np.argsort(_watched(), axis=1)
    assert type(got) is tape.Tensor
    np.testing.assert_array_equal(got.numpy(), np.argsort(X, axis=1, kind="stable"))


def test_numpy_on_a_variable_is_recorded_and_auto_watched():
    v = tape.Variable(np.array([1.0, 2.0]))
    with tape.GradientTape() as g:
        loss = np.sum(np.log(v))
    assert g.watched_variables() == (v,)
    np.testing.assert_allclose(g.gradient(loss, v).numpy(), [1.0, 0.5])


def test_unsupported_function_falls_back_and_warns_under_a_tape():
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        with pytest.warns(UserWarning, match="cumprod.*no tape op") as record:
            out = np.cumprod(x)
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, np.cumprod(X))
    assert len(record) == 1
    assert record[0].filename == __file__  # the warning points at the user's line


def test_unsupported_ufunc_method_falls_back_and_warns_under_a_tape():
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        with pytest.warns(UserWarning, match="no tape op") as record:
            out = np.add.accumulate(x, axis=1)
    np.testing.assert_allclose(out, np.add.accumulate(X, axis=1))
    assert record[0].filename == __file__


@pytest.mark.parametrize("fn,name", [
    (np.fft.fft, "numpy.fft.fft"),  # a complex result: it warned only for float ones
    (np.fft.rfft, "numpy.fft.rfft"),
    (lambda x: np.linalg.eigh(x[:, :2] @ x[:, :2].T), "numpy.linalg.eigh"),  # a tuple
    (np.linalg.norm, "numpy.linalg.norm"),  # a NumPy scalar
])
def test_a_dropped_gradient_warns_naming_the_function_whatever_the_result(fn, name):
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        with pytest.warns(UserWarning, match=f"{name} has no tape op.*no gradient") as record:
            fn(x)
    assert len(record) == 1 and record[0].filename == __file__


def test_unsupported_function_without_a_tape_does_not_warn():
    x = _watched()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = np.cumsum(x)
    np.testing.assert_allclose(out, np.cumsum(X))


def test_unsupported_function_with_an_integer_result_does_not_warn():
    x = _watched()
    with tape.GradientTape() as g:
        g.watch(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            order = np.argsort(x, axis=1)
    np.testing.assert_array_equal(order, np.argsort(X, axis=1))


def test_numpy_out_argument_cannot_write_into_a_tensor():
    t = tape.tensor([1.0, 2.0])
    with pytest.raises((ValueError, TypeError)):
        np.add(np.ones(2), 1.0, out=t)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
