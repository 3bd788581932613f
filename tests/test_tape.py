"""GradientTape semantics: watching, persistence, nesting, gradient() arguments, structures,
stop_recording/stop_gradient, custom_gradient, jacobian, grad/value_and_grad, integer
sources, detect_anomaly, Variables changed after recording, Python scalars.

Expected gradients are closed forms derived by hand (or JAX in float64), never tape itself.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import tape


def f64(value):
    return tape.tensor(np.asarray(value, dtype=np.float64))


def _next_line() -> int:
    """The line number after the caller's line."""
    return sys._getframe(1).f_lineno + 1


# ---- watching ---------------------------------------------------------------------------


def test_trainable_variables_are_watched_automatically():
    v = tape.Variable(np.array([1.0, 2.0]))
    with tape.GradientTape() as g:
        y = tape.sum(v**3)
    np.testing.assert_array_equal(g.gradient(y, v).numpy(), [3.0, 12.0])  # 3 v^2


def test_non_trainable_variables_are_not_watched():
    v = tape.Variable(np.array([1.0, 2.0]), trainable=False)
    with tape.GradientTape() as g:
        y = tape.sum(v * v)
    assert g.watched_variables() == ()
    assert g.gradient(y, v) is None


def test_watch_a_tensor_and_a_non_trainable_variable():
    x = f64([1.0, 2.0])
    v = tape.Variable(np.array([3.0]), trainable=False)
    with tape.GradientTape() as g:
        g.watch([x, v])
        y = tape.sum(x * x) * v
    dx, dv = g.gradient(y, [x, v])
    np.testing.assert_array_equal(dx.numpy(), [6.0, 12.0])  # 2 x v
    np.testing.assert_array_equal(dv.numpy(), [5.0])  # sum(x^2)


def test_unwatched_tensor_has_no_gradient():
    x = f64([1.0, 2.0])
    with tape.GradientTape() as g:
        y = tape.sum(x * x)
    assert g.gradient(y, x) is None


def test_watch_accessed_variables_false():
    v = tape.Variable(np.array([1.0, 2.0]))
    w = tape.Variable(np.array([5.0, 7.0]))
    with tape.GradientTape(watch_accessed_variables=False) as g:
        g.watch(w)
        y = tape.sum(v * w)
    assert g.watched_variables() == (w,)
    dv, dw = g.gradient(y, [v, w])
    assert dv is None
    np.testing.assert_array_equal(dw.numpy(), [1.0, 2.0])


def test_watched_variables_in_first_use_order_without_repeats():
    a = tape.Variable(np.array(1.0), name="a")
    b = tape.Variable(np.array(2.0), name="b")
    frozen = tape.Variable(np.array(3.0), trainable=False)
    ints = tape.Variable(np.array(4))  # integers carry no gradient: never watched
    with tape.GradientTape() as g:
        y = b * a + b * frozen + a * 2.0 + ints
    assert g.watched_variables() == (b, a)
    assert y.dtype == np.float64


# ---- persistence ------------------------------------------------------------------------


def test_persistent_tape_allows_several_gradient_calls():
    x = f64(3.0)
    with tape.GradientTape(persistent=True) as g:
        g.watch(x)
        y = x**2
        z = x**3
    assert g.gradient(y, x).item() == 6.0  # 2x
    assert g.gradient(z, x).item() == 27.0  # 3x^2
    assert g.gradient(y, x).item() == 6.0


def test_non_persistent_tape_second_call_raises():
    x = f64(3.0)
    with tape.GradientTape() as g:
        g.watch(x)
        y = x**2
    assert g.gradient(y, x).item() == 6.0
    with pytest.raises(RuntimeError, match=r"persistent=True"):
        g.gradient(y, x)


def test_gradient_inside_the_with_block_then_keep_computing():
    v = tape.Variable(np.array([1.0, 2.0]))
    with tape.GradientTape() as g:
        y = tape.sum(v * v)
        dv = g.gradient(y, v)
        z = dv * 2.0 + v  # the spent tape must not break later ops
    np.testing.assert_array_equal(dv.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(z.numpy(), [5.0, 10.0])


# ---- higher order -----------------------------------------------------------------------


def test_nested_tapes_give_second_and_third_derivatives_of_x4():
    x = f64(1.5)
    with tape.GradientTape() as g3:
        g3.watch(x)
        with tape.GradientTape() as g2:
            g2.watch(x)
            with tape.GradientTape() as g1:
                g1.watch(x)
                y = x**4
            d1 = g1.gradient(y, x)
        d2 = g2.gradient(d1, x)
    d3 = g3.gradient(d2, x)
    assert d1.item() == pytest.approx(4 * 1.5**3, rel=1e-14)
    assert d2.item() == pytest.approx(12 * 1.5**2, rel=1e-14)
    assert d3.item() == pytest.approx(24 * 1.5, rel=1e-14)


def test_nested_tapes_on_a_variable():
    v = tape.Variable(np.array([0.5, -1.0]))
    with tape.GradientTape() as outer:
        with tape.GradientTape() as inner:
            y = tape.sum(tape.sin(v) * v)
        dv = inner.gradient(y, v)  # cos(v) v + sin(v)
        s = tape.sum(dv)
    d2 = outer.gradient(s, v)  # -sin(v) v + 2 cos(v)
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(dv.numpy(), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(d2.numpy(), -np.sin(x) * x + 2 * np.cos(x), rtol=1e-14)


def test_nested_grad_functions_give_third_derivative():
    d3 = tape.grad(tape.grad(tape.grad(lambda x: x**4)))
    assert d3(f64(2.0)).item() == pytest.approx(48.0, rel=1e-14)


def test_gradient_and_hessian_match_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x0 = np.array([[0.3, -0.7, 1.1], [0.9, 0.2, -0.4]])
    w0 = np.array([[0.5, -1.2], [0.8, 0.1], [-0.3, 0.6]])

    def f_jax(x, w):
        return jnp.sum(jnp.tanh(x @ w) ** 2) + jnp.mean(jnp.exp(-x) * x)

    def f_tape(x, w):
        return tape.sum(tape.tanh(x @ w) ** 2) + tape.mean(tape.exp(-x) * x)

    x, w = f64(x0), f64(w0)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch([x, w])
            y = f_tape(x, w)
        dx, dw = inner.gradient(y, [x, w])
        s = tape.sum(dx * f64(np.arange(6.0).reshape(2, 3)))
    hvp = outer.gradient(s, x)
    jdx, jdw = jax.grad(f_jax, argnums=(0, 1))(x0, w0)
    jhvp = jax.grad(lambda x: jnp.sum(jax.grad(f_jax)(x, w0) * np.arange(6.0).reshape(2, 3)))(x0)
    np.testing.assert_allclose(y.item(), float(f_jax(x0, w0)), rtol=1e-12)
    np.testing.assert_allclose(dx.numpy(), np.asarray(jdx), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw.numpy(), np.asarray(jdw), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hvp.numpy(), np.asarray(jhvp), rtol=1e-10, atol=1e-12)


def test_squares_take_the_exact_path_and_match_jax(monkeypatch):
    """``x ** 2`` is ``x * x`` (JAX's integer_pow), with gradient ``2 x``: exact on every
    device, where CUDA's float64 pow in power's VJP gave 5.999999999999999 at 3."""
    jax = pytest.importorskip("jax")
    monkeypatch.setattr(tape.ops, "power", None)  # ** 2 must not go through power
    values = np.array([3.0, -0.1, 1e-3, 7.25, 123456.789, -2.5e150])
    x = f64(values)
    with tape.GradientTape() as g:
        g.watch(x)
        y = x**2
    dx = g.gradient(y, x)
    jy = jax.vmap(lambda v: v**2)(values)
    jdx = jax.vmap(jax.grad(lambda v: v**2))(values)
    np.testing.assert_array_equal(y.numpy(), np.asarray(jy))
    np.testing.assert_array_equal(dx.numpy(), np.asarray(jdx))
    assert dx.numpy()[0] == 6.0
    assert (tape.tensor([3], dtype="int32") ** 2).dtype == np.int32  # as power's weak int


# ---- gradient() arguments ---------------------------------------------------------------


def test_output_gradients_weight_a_non_scalar_target():
    x = f64([1.0, 2.0, 3.0])
    with tape.GradientTape() as g:
        g.watch(x)
        y = x**2
    dx = g.gradient(y, x, output_gradients=f64([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(dx.numpy(), [2.0, 40.0, 600.0])  # 2 x * seed


def test_non_scalar_target_without_output_gradients_is_summed():
    x = f64([1.0, 2.0])
    with tape.GradientTape() as g:
        g.watch(x)
        y = x**3
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [3.0, 12.0])


def test_several_targets_sum_their_gradients():
    x = f64(2.0)
    with tape.GradientTape() as g:
        g.watch(x)
        a = x**2
        b = x * 5.0
    dx = g.gradient([a, b], x, output_gradients=[f64(1.0), f64(3.0)])
    assert dx.item() == 4.0 + 15.0


def test_unconnected_gradients_none_and_zero():
    x = f64([1.0, 2.0])
    unused = f64([[1.0, 2.0], [3.0, 4.0]])
    with tape.GradientTape(persistent=True) as g:
        g.watch([x, unused])
        y = tape.sum(x)
    dx, du = g.gradient(y, [x, unused])
    np.testing.assert_array_equal(dx.numpy(), [1.0, 1.0])
    assert du is None
    dx, du = g.gradient(y, [x, unused], unconnected_gradients="zero")
    assert du.shape == (2, 2) and du.dtype == np.float64
    np.testing.assert_array_equal(du.numpy(), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unconnected_gradients"):
        g.gradient(y, x, unconnected_gradients="zeros")


def test_sources_as_a_single_tensor_give_a_tensor():
    x = f64([1.0, 2.0])
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(x * x)
    dx = g.gradient(y, x)
    assert isinstance(dx, tape.Tensor)
    np.testing.assert_array_equal(dx.numpy(), [2.0, 4.0])


def test_sources_as_nested_structures_keep_their_structure():
    a, b, c = f64([1.0, 2.0]), f64(3.0), tape.Variable(np.array([[0.5]]))
    with tape.GradientTape() as g:
        g.watch([a, b])
        y = tape.sum(a * b) + tape.sum(c * b)
    grads = g.gradient(y, {"a": a, "rest": [b, (c, a)]})
    assert set(grads) == {"a", "rest"}
    assert isinstance(grads["rest"], list) and isinstance(grads["rest"][1], tuple)
    np.testing.assert_array_equal(grads["a"].numpy(), [3.0, 3.0])  # b
    assert grads["rest"][0].item() == 3.5  # sum(a) + sum(c)
    np.testing.assert_array_equal(grads["rest"][1][0].numpy(), [[3.0]])  # b
    np.testing.assert_array_equal(grads["rest"][1][1].numpy(), [3.0, 3.0])
    as_tuple = tape.GradientTape()
    with as_tuple:
        as_tuple.watch(a)
        z = tape.sum(a)
    t = as_tuple.gradient(z, (a,))
    assert isinstance(t, tuple) and len(t) == 1


# ---- stopping ---------------------------------------------------------------------------


def test_stop_recording():
    x = f64([1.0, 2.0])
    with tape.GradientTape() as g:
        g.watch(x)
        with g.stop_recording():
            frozen = x * 10.0  # a constant for this tape
        y = tape.sum(x * frozen)
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [10.0, 20.0])  # 10 x, not 20 x


def test_stop_recording_pauses_only_its_own_tape():
    x = f64(2.0)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            with inner.stop_recording():
                y = x**3
    assert outer.gradient(y, x).item() == 12.0
    assert inner.gradient(y, x) is None


def test_stop_gradient():
    x = f64([1.0, 2.0])
    with tape.GradientTape() as g:
        g.watch(x)
        s = tape.stop_gradient(x)
        y = tape.sum(x * s + s)
    assert type(s) is tape.Tensor
    np.testing.assert_array_equal(s.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [1.0, 2.0])  # s, not 2x + 1


# ---- custom_gradient --------------------------------------------------------------------


@tape.custom_gradient
def _square_with_scaled_gradient(x):
    """x**2 forward; a deliberately different gradient, 10 x, so it is visible."""

    def grad_fn(upstream):
        return upstream * 10.0 * x

    return x**2, grad_fn


@tape.custom_gradient
def _weighted_product(x, y):
    def grad_fn(upstream):
        return upstream * y * 2.0, upstream * x * 3.0

    return x * y, grad_fn


def test_custom_gradient_replaces_the_gradient():
    x = f64(3.0)
    with tape.GradientTape() as g:
        g.watch(x)
        y = _square_with_scaled_gradient(x) * 2.0
    assert y.item() == 18.0
    assert g.gradient(y, x).item() == 60.0  # 2 * 10 x


def test_custom_gradient_with_two_inputs():
    x, y = f64(2.0), f64(5.0)
    with tape.GradientTape() as g:
        g.watch([x, y])
        z = _weighted_product(x, y)
    dx, dy = g.gradient(z, [x, y])
    assert (z.item(), dx.item(), dy.item()) == (10.0, 10.0, 6.0)


def test_custom_gradient_under_a_nested_tape_gives_a_second_derivative():
    x = f64(3.0)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            y = _square_with_scaled_gradient(x)
        d1 = inner.gradient(y, x)
    d2 = outer.gradient(d1, x)
    assert d1.item() == 30.0  # 10 x
    assert d2.item() == 10.0  # d(10 x)/dx: grad_fn itself was differentiated


def test_custom_gradient_on_a_variable():
    v = tape.Variable(np.array([1.0, -2.0]))
    with tape.GradientTape() as g:
        y = tape.sum(_square_with_scaled_gradient(v))
    np.testing.assert_array_equal(g.gradient(y, v).numpy(), [10.0, -20.0])


# ---- jacobian ---------------------------------------------------------------------------


def test_jacobian_shape_and_values():
    x0 = np.array([0.5, -1.0, 2.0])
    x = f64(x0)
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.reshape(tape.stack([x * x, tape.sin(x)]), (2, 3))
    j = g.jacobian(y, x)
    assert j.shape == (2, 3, 3)
    expected = np.zeros((2, 3, 3))
    expected[0] = np.diag(2 * x0)
    expected[1] = np.diag(np.cos(x0))
    np.testing.assert_allclose(j.numpy(), expected, rtol=1e-14)


def test_jacobian_of_a_matrix_product():
    w0 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = f64([[0.1, 0.2, 0.3]])
    w = f64(w0)
    with tape.GradientTape() as g:
        g.watch(w)
        y = x @ w  # (1, 2); dy[0, j]/dw[k, l] = x[0, k] * (j == l)
    j = g.jacobian(y, w)
    assert j.shape == (1, 2, 3, 2)
    expected = np.einsum("k,jl->jkl", [0.1, 0.2, 0.3], np.eye(2))[None]
    np.testing.assert_allclose(j.numpy(), expected, rtol=1e-14)


# ---- functional forms -------------------------------------------------------------------


def test_grad_with_argnums_0():
    def f(x, y):
        return tape.sum(x**2 * y)

    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
    dx = tape.grad(f, argnums=0)(x, y)
    np.testing.assert_array_equal(dx.numpy(), [6.0, 16.0])  # 2 x y


def test_value_and_grad_with_two_argnums():
    def f(x, y):
        return tape.sum(tape.exp(x) * y)

    x0, y0 = np.array([0.0, 1.0]), np.array([2.0, 3.0])
    value, (dx, dy) = tape.value_and_grad(f, argnums=(0, 1))(f64(x0), f64(y0))
    assert value.item() == pytest.approx(np.sum(np.exp(x0) * y0), rel=1e-14)
    np.testing.assert_allclose(dx.numpy(), np.exp(x0) * y0, rtol=1e-14)
    np.testing.assert_allclose(dy.numpy(), np.exp(x0), rtol=1e-14)


def test_grad_of_a_python_float_argument():
    d = tape.grad(lambda x: 3.0 * x**2)(2.0)
    assert d.dtype == np.float32 and d.item() == 12.0


def test_jacobian_and_hessian_match_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x0 = np.array([[0.3, -1.2, 0.8], [1.5, 0.1, -0.4]])
    w0 = np.array([0.7, -0.2, 1.1])

    def f(xp, x, w):
        return xp.tanh(x @ w) * xp.sum(x**2, axis=1)

    def scalar(xp, x, w):
        return xp.sum(xp.exp(f(xp, x, w)))

    jx, jw = tape.jacobian(lambda x, w: f(tape, x, w), argnums=(0, 1))(f64(x0), f64(w0))
    want_x, want_w = jax.jacrev(lambda x, w: f(jnp, x, w), argnums=(0, 1))(x0, w0)
    assert jx.shape == (2, 2, 3) and jw.shape == (2, 3)
    np.testing.assert_allclose(jx.numpy(), want_x, rtol=1e-12)
    np.testing.assert_allclose(jw.numpy(), want_w, rtol=1e-12)
    for argnum, arg in ((0, x0), (1, w0)):
        h = tape.hessian(lambda x, w: scalar(tape, x, w), argnum)(f64(x0), f64(w0))
        want = jax.hessian(lambda x, w: scalar(jnp, x, w), argnum)(x0, w0)
        assert h.shape == arg.shape + arg.shape
        np.testing.assert_allclose(h.numpy(), want, rtol=1e-10)
    # jacobians nest: the third derivative of a cubic
    third = tape.jacobian(tape.jacobian(tape.grad(lambda x: tape.sum(x**3))))(f64(w0))
    want3 = jax.jacrev(jax.jacrev(jax.grad(lambda x: jnp.sum(x**3))))(w0)
    np.testing.assert_allclose(third.numpy(), want3, rtol=1e-12)


def test_jacobian_of_an_unused_argument_is_zeros_and_bad_input_is_clear():
    j = tape.jacobian(lambda x, y: x * 2.0, argnums=1)(f64([1.0, 2.0]), f64([3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(j.numpy(), np.zeros((2, 3)))
    with pytest.raises(tape.GradientError, match=r"jacobian of .*float tensor, got int64"):
        tape.jacobian(lambda x: tape.argmax(x))(f64([1.0, 2.0]))
    with pytest.raises(tape.GradientError, match=r"jacobian of .*argument 0.*int64"):
        tape.jacobian(lambda n: n * 2)(tape.tensor([1, 2]))
    with pytest.raises(TypeError, match="hessian: argnum must be one int"):
        tape.hessian(lambda x, y: x * y, (0, 1))


# ---- integer and bool sources -----------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_or_bool_source_gives_none_and_one_warning(dtype):
    x = f64([1.0, 2.0])
    k = tape.tensor(np.array([1, 0]).astype(dtype))
    with tape.GradientTape() as g:
        g.watch([x, k])
        y = tape.sum(x * k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dx, dk = g.gradient(y, [x, k])
    assert dk is None
    np.testing.assert_array_equal(dx.numpy(), [1.0, 0.0])
    assert len(caught) == 1
    assert dtype in str(caught[0].message)
    assert caught[0].filename == __file__


def test_jacobian_with_integer_source_warns_once():
    x = f64([1.0, 2.0, 3.0])
    k = tape.tensor([1, 2, 3])
    with tape.GradientTape() as g:
        g.watch(x)
        y = x * k
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert g.jacobian(y, k) is None
    assert len(caught) == 1 and "int64" in str(caught[0].message)


def test_grad_with_respect_to_an_int_argument_is_a_clear_error():
    with pytest.raises(tape.GradientError, match=r"argument 0.*int64.*float"):
        tape.grad(lambda n: tape.sum(n * 2))(tape.tensor([1, 2]))
    with pytest.raises(tape.GradientError, match=r"argument 1.*int64"):
        tape.value_and_grad(lambda x, n: x * n, argnums=(0, 1))(f64(1.0), 3)


# ---- detect_anomaly ---------------------------------------------------------------------


def test_detect_anomaly_names_the_first_bad_backward_op_and_the_user_line():
    x = f64([0.0, 4.0])
    with np.errstate(all="ignore"), tape.detect_anomaly():
        with tape.GradientTape() as g:
            g.watch(x)
            r = tape.sqrt(x)
            line = _next_line()
            y = tape.log(r)  # log(0) = -inf; its backward 1/0 is the first non-finite gradient
            loss = tape.sum(y)
        with pytest.raises(tape.GradientError) as info:
            g.gradient(loss, x)
    message = str(info.value)
    assert "'log'" in message
    assert "(2,) float64" in message
    assert f"{__file__}:{line}" in message
    assert "tape.log(r)" in message


def test_detect_anomaly_on_sqrt_at_zero_raises_without_numpy_warnings():
    x = tape.tensor(np.zeros((2, 3), dtype=np.float32))
    before = np.geterr()
    # NumPy's divide-by-zero warning would be an error here: the GradientError says it all.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with tape.detect_anomaly(), tape.GradientTape() as g:
            g.watch(x)
            line = _next_line()
            y = tape.sum(tape.sqrt(x))
        # gradient() outside the block still checks what was recorded inside it
        with pytest.raises(tape.GradientError, match=r"'sqrt'.*\(2, 3\) float32") as info:
            g.gradient(y, x)
    assert f"{__file__}:{line}" in str(info.value)
    assert np.geterr() == before


def test_without_detect_anomaly_nothing_extra_happens(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("anomaly machinery ran while detect_anomaly was off")

    monkeypatch.setattr(tape.autodiff, "user_line", forbidden)
    monkeypatch.setattr(tape.autodiff, "_check_finite", forbidden)
    x = f64([0.0, 4.0])
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(tape.sqrt(x))
    with np.errstate(divide="ignore"):
        dx = g.gradient(y, x)
    np.testing.assert_array_equal(dx.numpy(), [np.inf, 0.25])  # 1 / (2 sqrt x), unclamped


def test_detect_anomaly_passes_finite_gradients():
    x = f64([1.0, 4.0])
    with tape.detect_anomaly():
        with tape.GradientTape() as g:
            g.watch(x)
            y = tape.sum(tape.sqrt(x))
        np.testing.assert_array_equal(g.gradient(y, x).numpy(), [0.5, 0.25])


# ---- Variables changed after recording --------------------------------------------------


def test_assign_after_recording_uses_the_old_value():
    v = tape.Variable(np.array([1.0, 2.0]))
    with tape.GradientTape() as g:
        y = tape.sum(v**3)
    v.assign([10.0, 20.0])
    np.testing.assert_array_equal(g.gradient(y, v).numpy(), [3.0, 12.0])  # 3 v_old^2


def test_assign_inside_the_tape_between_reads():
    v = tape.Variable(np.array([1.0, 2.0]))
    with tape.GradientTape() as g:
        y = v * v  # reads v0
        v.assign_add([2.0, 2.0])
        z = tape.sum(y * v)  # reads v1 = v0 + 2
    # Both reads are of the same Variable: dz/dv = 2 v0 v1 + v0^2.
    v0, v1 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_array_equal(g.gradient(z, v).numpy(), 2 * v0 * v1 + v0**2)


def test_optimizer_style_update_between_persistent_gradients():
    v = tape.Variable(np.array([2.0]))
    with tape.GradientTape(persistent=True) as g:
        y = tape.sum(tape.exp(v) * v)
    first = g.gradient(y, v).numpy()
    v.assign_sub(first * 0.1)
    second = g.gradient(y, v).numpy()
    np.testing.assert_allclose(first, np.exp(2.0) * 3.0, rtol=1e-14)  # e^v (v + 1)
    np.testing.assert_array_equal(first, second)


def test_numpy_array_assigned_then_changed_does_not_change_saved_values():
    v = tape.Variable(np.zeros(2))
    a = np.array([1.0, 2.0])
    v.assign(a)
    with tape.GradientTape() as g:
        y = tape.sum(v * v)
    a[0] = 100.0
    np.testing.assert_array_equal(g.gradient(y, v).numpy(), [2.0, 4.0])


# ---- Python scalars ---------------------------------------------------------------------


def test_python_scalar_target_has_no_gradient():
    x = f64([1.0, 2.0])
    with tape.GradientTape(persistent=True) as g:
        g.watch(x)
    assert g.gradient(3.0, x) is None
    np.testing.assert_array_equal(
        g.gradient(3.0, x, unconnected_gradients="zero").numpy(), [0.0, 0.0]
    )


def test_operators_with_python_scalars_have_closed_form_gradients():
    x0 = np.array([0.5, 1.5, 3.0])
    x = f64(x0)
    cases = [
        (lambda t: 3.0 - t, -np.ones(3)),
        (lambda t: 2.0 / t, -2.0 / x0**2),
        (lambda t: 2.0**t, 2.0**x0 * np.log(2.0)),
        (lambda t: t**0.5, 0.5 / np.sqrt(x0)),
        (lambda t: t**3, 3 * x0**2),
        (lambda t: (t * 4.0 + 1) / 2, np.full(3, 2.0)),
        (lambda t: t % 1.0, np.ones(3)),
        (lambda t: -abs(t - 1.0), -np.sign(x0 - 1.0)),
    ]
    for fn, expected in cases:
        with tape.GradientTape() as g:
            g.watch(x)
            y = tape.sum(fn(x))
        np.testing.assert_allclose(g.gradient(y, x).numpy(), expected, rtol=1e-14)
