"""Bad input: typed errors whose messages name the op, the shapes and the user's line;
unsupported data; NaN and inf propagating as in NumPy; gradients of integer sources."""

from __future__ import annotations

import functools
import operator
import sys
import warnings

import numpy as np
import pytest

import tape


def _next_line() -> int:
    """The line number after the caller's line."""
    return sys._getframe(1).f_lineno + 1


def _assert_names_this_line(message: str, line: int) -> None:
    assert f"{__file__}:{line}" in message, message


# ---- shape errors -----------------------------------------------------------------------


def test_binary_op_shape_mismatch():
    a, b = tape.ones((2, 3)), tape.ones((4,))
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        a + b
    message = str(info.value)
    assert "add" in message
    assert "(2, 3)" in message and "(4,)" in message
    _assert_names_this_line(message, line)


def test_shape_error_is_a_value_error():
    assert issubclass(tape.ShapeError, ValueError)
    assert issubclass(tape.ShapeError, tape.TapeError)
    with pytest.raises(ValueError):
        tape.ones(2) * tape.ones(3)


@pytest.mark.parametrize(
    "name,fn",
    [
        # operator.* are C functions: the user's line is the test's own line.
        ("subtract", operator.sub),
        ("multiply", operator.mul),
        ("divide", operator.truediv),
        ("power", operator.pow),
        ("floor_divide", operator.floordiv),
        ("mod", operator.mod),
        ("maximum", tape.maximum),
        ("where", functools.partial(tape.where, True)),
    ],
)
def test_every_binary_op_names_itself_and_both_shapes(name, fn):
    a, b = tape.ones((3, 2)), tape.ones((3,))
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        fn(a, b)
    message = str(info.value)
    assert name in message and "(3, 2)" in message and "(3,)" in message
    _assert_names_this_line(message, line)


def test_matmul_shape_mismatch():
    a, b = tape.ones((2, 3)), tape.ones((4, 5))
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        a @ b
    message = str(info.value)
    assert "matmul" in message
    assert "(2, 3)" in message and "(4, 5)" in message
    _assert_names_this_line(message, line)


def test_matmul_function_shape_mismatch():
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        tape.matmul(tape.ones((5,)), tape.ones((3, 2)))
    message = str(info.value)
    assert "matmul" in message and "(5,)" in message and "(3, 2)" in message
    _assert_names_this_line(message, line)


def test_shape_mismatch_through_numpy_interop_names_this_line():
    t = tape.ones((2, 3))
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        np.ones((4,)) * t
    message = str(info.value)
    assert "multiply" in message and "(4,)" in message and "(2, 3)" in message
    _assert_names_this_line(message, line)


def test_shape_mismatch_inside_a_tape_names_this_line():
    x = tape.ones((2, 2))
    with tape.GradientTape() as g:
        g.watch(x)
        with pytest.raises(tape.ShapeError) as info:
            line = _next_line()
            x + tape.ones((3,))
    _assert_names_this_line(str(info.value), line)


def test_ragged_data_is_a_shape_error():
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        tape.tensor([[1.0, 2.0], [3.0]])
    _assert_names_this_line(str(info.value), line)


def test_index_out_of_range():
    t = tape.ones((2, 3))
    with pytest.raises(IndexError) as info:
        line = _next_line()
        t[2]
    assert isinstance(info.value, tape.ShapeError)
    assert "(2, 3)" in str(info.value)
    _assert_names_this_line(str(info.value), line)


# ---- dtype errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        ["a", "b"],
        "text",
        b"bytes",
        np.array(["x", "y"]),
        np.array([1, None], dtype=object),
        np.array([1.0, 2.0], dtype=object),
        [object()],
        np.array([1 + 2j]),
    ],
    ids=["str_list", "str", "bytes", "str_array", "object_none", "object_floats", "obj", "complex"],
)
def test_unsupported_data_is_a_dtype_error(data):
    with pytest.raises(tape.DTypeError, match="booleans, integers or floats"):
        tape.tensor(data)


def test_dtype_error_is_a_type_error_and_covers_variables_and_dtype_arguments():
    assert issubclass(tape.DTypeError, TypeError)
    with pytest.raises(tape.DTypeError):
        tape.Variable(np.array(["w"]))
    with pytest.raises(tape.DTypeError):
        tape.zeros(3, dtype=str)
    with pytest.raises(tape.DTypeError):
        tape.tensor([1.0], dtype="complex64")
    for like in (tape.zeros_like, tape.ones_like):
        with pytest.raises(tape.DTypeError):
            like(tape.ones(2), dtype=str)
    with pytest.raises(tape.DTypeError):
        tape.full_like(tape.ones(2), "a", dtype=str)


# ---- NaN and inf ------------------------------------------------------------------------


def test_nan_and_inf_propagate_as_in_numpy():
    with np.errstate(all="ignore"):
        assert tape.log(tape.tensor(0.0)).item() == -np.inf
        assert np.isnan(tape.log(tape.tensor(-1.0)).item())
        zero = tape.tensor(0.0)
        assert np.isnan((zero / zero).item())
        assert (tape.tensor(1.0) / zero).item() == np.inf
        assert (tape.tensor(-1.0) / zero).item() == -np.inf
        assert tape.exp(tape.tensor(1000.0)).item() == np.inf
        assert np.isnan(tape.sqrt(tape.tensor(-1.0)).item())
        inf = tape.tensor(np.inf)
        assert np.isnan((inf - inf).item())
        assert np.isnan((tape.tensor(np.nan) * 0.0).item())
        assert np.isnan(tape.sum(tape.tensor([1.0, np.nan])).item())
        assert np.isnan(tape.maximum(tape.tensor(np.nan), 1.0).item())


def test_large_values_are_not_clamped():
    big = tape.tensor(np.array([3e38], dtype=np.float32))
    with np.errstate(over="ignore"):
        assert (big * 10.0).item() == np.inf


def test_non_finite_gradients_propagate_unclamped():
    x = tape.tensor(np.array([0.0, 1.0]))
    with np.errstate(all="ignore"):
        with tape.GradientTape() as g:
            g.watch(x)
            y = tape.sum(tape.log(x))
        dx = g.gradient(y, x)
    np.testing.assert_array_equal(dx.numpy(), [np.inf, 1.0])  # 1 / x


# ---- gradients of integer sources -------------------------------------------------------


def test_gradient_with_respect_to_an_int_source_is_none_with_one_warning():
    n = tape.tensor([1, 2, 3])
    x = tape.tensor([1.0, 2.0, 3.0])
    with tape.GradientTape() as g:
        g.watch([x, n])
        y = tape.sum(x * n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert g.gradient(y, n) is None
    assert len(caught) == 1
    assert "int64" in str(caught[0].message)


def test_grad_with_respect_to_an_int_argument_raises():
    with pytest.raises(tape.GradientError) as info:
        line = _next_line()
        tape.grad(lambda n: tape.sum(n * n))(tape.tensor([1, 2]))
    message = str(info.value)
    assert "int64" in message and "argument 0" in message
    _assert_names_this_line(message, line)


def test_grad_of_a_non_scalar_function_raises():
    with pytest.raises(tape.GradientError, match=r"scalar.*\(2,\)"):
        tape.grad(lambda x: x * 2.0)(tape.tensor([1.0, 2.0]))


def test_gradient_with_a_non_tensor_source_raises():
    x = tape.tensor(1.0)
    with tape.GradientTape() as g:
        g.watch(x)
        y = x * 2.0
    with pytest.raises(TypeError, match="sources must be tensors"):
        g.gradient(y, [x, 3.0])


def test_watch_of_a_non_tensor_raises():
    with tape.GradientTape() as g:
        with pytest.raises(TypeError, match="watch"):
            g.watch(3.0)


def test_variable_assign_with_wrong_shape_raises_naming_the_variable():
    v = tape.Variable(np.zeros((2, 2)), name="dense/kernel")
    with pytest.raises(tape.ShapeError) as info:
        line = _next_line()
        v.assign(np.zeros((3, 2)))
    message = str(info.value)
    assert "dense/kernel" in message and "(3, 2)" in message and "(2, 2)" in message
    _assert_names_this_line(message, line)


def test_non_tensor_operand_error_names_the_op_and_this_line():
    with pytest.raises(tape.DTypeError) as info:
        tape.ones(2) + "a"  # noqa: B018
    message = str(info.value)
    assert message.startswith("add:")
    assert f"{__file__}:" in message


def test_float_index_is_a_dtype_error_naming_this_line():
    with pytest.raises(tape.DTypeError, match="getitem: index arrays must be integer") as info:
        tape.ones(3)[tape.tensor([0.5])]
    assert f"{__file__}:" in str(info.value)


def test_matmul_error_names_the_op_once():
    with pytest.raises(tape.ShapeError) as info:
        tape.ones((2, 3)) @ tape.ones((2, 3))
    assert str(info.value).count("matmul:") == 1


@pytest.mark.parametrize("call, op, detail", [
    (lambda x: tape.top_k(x, 4), "top_k", r"k=4 for shape \(2, 3\)"),
    (lambda x: tape.top_k(x, -1), "top_k", r"k=-1 for shape \(2, 3\)"),
    (lambda x: tape.sort(x, axis=2), "sort", r"axis 2 is out of bounds for shape \(2, 3\)"),
    (lambda x: tape.argsort(x, axis=-3), "argsort", r"axis -3 .* shape \(2, 3\)"),
    (lambda x: tape.tril(x[0]), "tril", r"rank >= 2.*shape \(3,\)"),
    (lambda x: tape.triu(x[0, 0]), "triu", r"rank >= 2.*shape \(\)"),
    (lambda x: tape.cumsum(x[0, 0], axis=0), "cumsum", r"0-d tensor has no axis 0"),
])
def test_sorting_and_triangle_errors_name_the_op_the_shape_and_this_line(call, op, detail):
    x = tape.ones((2, 3))
    with pytest.raises(tape.ShapeError, match=f"^{op}: .*{detail}") as info:
        call(x)
    line = call.__code__.co_firstlineno  # the user's line is the lambda's
    _assert_names_this_line(str(info.value), line)


@pytest.mark.parametrize("depth", [-1, 0, 2.5, "3", None])
def test_one_hot_depth_must_be_a_positive_integer(depth):
    # depth=-1 gave shape (2, 0) and 2.5 was truncated to 2, without a word
    with pytest.raises(tape.ShapeError, match=r"one_hot: depth must be a positive integer") as e:
        line = _next_line()
        tape.one_hot(tape.tensor([0, 1]), depth)
    _assert_names_this_line(str(e.value), line)


def test_one_hot_takes_numpy_integer_depths_and_zeroes_out_of_range_indices():
    got = tape.one_hot(tape.tensor([0, 2, 3, -1]), np.int64(3)).numpy()
    np.testing.assert_array_equal(got, np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]))


# ---- the Keras API names the user's line (tape.errors.names_user_line) --------------------


def _small_model(compile=True):
    from tape import layers, models

    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    if compile:
        model.compile("sgd", "mse")
    return model


def _keras_calls():
    from tape import layers, models

    x = np.ones((4, 3), np.float32)
    return [
        ("Dense(-1)", lambda: layers.Dense(-1), ValueError),
        ("unknown keyword", lambda: layers.Dense(3, foo=1), TypeError),
        ("LSTM(0)", lambda: layers.LSTM(0), ValueError),
        ("compile", lambda: _small_model(False).compile("nope", "mse"), ValueError),
        ("fit before compile", lambda: _small_model(False).fit(x, x[:, :2], verbose=0),
         RuntimeError),
        ("fit batch_size=0", lambda: _small_model().fit(x, x[:, :2], batch_size=0, verbose=0),
         ValueError),
        ("evaluate", lambda: _small_model(False).evaluate(x, x[:, :2], verbose=0), RuntimeError),
        ("predict", lambda: _small_model().predict(None), ValueError),
        # Keras 3's order is add_weight(shape, initializer): (2,) is no initializer
        ("add_weight", lambda: layers.Dense(2).add_weight(3, (2,)), ValueError),
        ("Sequential.add", lambda: models.Sequential().add(3), TypeError),
        ("load_model", lambda: models.load_model("/no/such/file.safetensors"),
         FileNotFoundError),
        ("optimizers.get", lambda: tape.optimizers.get("nope"), ValueError),
    ]


@pytest.mark.parametrize("what,call,kind", _keras_calls(), ids=[c[0] for c in _keras_calls()])
def test_keras_api_errors_name_the_users_line_once(what, call, kind):
    with pytest.raises(kind) as e:
        call()
    message = str(e.value)
    _assert_names_this_line(message, call.__code__.co_firstlineno)  # the lambda's line
    assert message.count(" [at ") == 1, message


def test_an_error_of_the_users_own_layer_keeps_its_message():
    from tape import layers

    class Picky(layers.Layer):
        def __init__(self, size):
            super().__init__()
            if size < 0:
                raise ValueError(f"Picky: size must be >= 0, received {size}")

    with pytest.raises(ValueError, match=r"^Picky: size must be >= 0, received -2 \[at ") as e:
        line = _next_line()
        Picky(-2)
    _assert_names_this_line(str(e.value), line)
    with pytest.raises(KeyError) as e:  # a KeyError's str() is its key's repr: left alone
        tape.errors.names_user_line(lambda: {}["k"])()
    assert str(e.value) == "'k'"
