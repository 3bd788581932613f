"""Tensor and Variable: creation, attributes, Python protocols, operators, dtype rules,
immutability, and Variable state (assign, trainable, name)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import tape

# ---- creation ---------------------------------------------------------------------------


def test_tensor_from_python_floats_is_float32():
    t = tape.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    assert tape.tensor(1.5).dtype == np.float32
    assert tape.tensor([1, 2.5]).dtype == np.float32  # a float anywhere makes it float


def test_tensor_from_python_ints_and_bools():
    assert tape.tensor([1, 2]).dtype == np.int64
    assert tape.tensor(3).dtype == np.int64
    assert tape.tensor([True, False]).dtype == np.bool_


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.uint8])
def test_numpy_array_keeps_its_dtype(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    t = tape.tensor(a)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), a)


def test_tensor_dtype_argument_casts():
    t = tape.tensor([1, 2], dtype="float64")
    assert t.dtype == np.float64
    assert tape.tensor(np.ones(2), dtype=np.float16).dtype == np.float16


def test_tensor_copies_its_numpy_input():
    a = np.array([1.0, 2.0])
    t = tape.tensor(a)
    a[0] = 100.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_constant_with_shape_broadcasts():
    c = tape.constant(1.5, shape=(2, 3))
    assert c.shape == (2, 3)
    assert c.dtype == np.float32
    np.testing.assert_array_equal(c.numpy(), np.full((2, 3), 1.5))
    assert tape.constant([1, 2], dtype="float64").dtype == np.float64


def test_zeros_ones_full():
    z = tape.zeros((2, 3))
    o = tape.ones(4)
    assert (z.shape, z.dtype) == ((2, 3), np.float32)
    assert (o.shape, o.dtype) == ((4,), np.float32)
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(o.numpy(), np.ones(4))
    assert tape.zeros(2, dtype="int32").dtype == np.int32
    f = tape.full((2, 2), 7.0)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), np.full((2, 2), 7.0))
    assert tape.full((3,), 7).dtype == np.int64  # the dtype follows the value
    assert tape.full((3,), 7, dtype="float64").dtype == np.float64


def test_arange():
    a = tape.arange(5)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a.numpy(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(tape.arange(2, 8, 3).numpy(), [2, 5])
    f = tape.arange(0.0, 1.0, 0.25)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert tape.arange(3, dtype="float64").dtype == np.float64


def test_linspace():
    t = tape.linspace(0, 1, 5)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.numpy(), [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(tape.linspace(0, 1, 4, endpoint=False).numpy(), [0, 0.25, 0.5, 0.75])


def test_eye():
    np.testing.assert_array_equal(tape.eye(3).numpy(), np.eye(3))
    e = tape.eye(2, 3, dtype="float64")
    assert (e.shape, e.dtype) == ((2, 3), np.float64)
    np.testing.assert_array_equal(e.numpy(), np.eye(2, 3))


def test_zeros_like_and_ones_like():
    i = tape.tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    z = tape.zeros_like(i)
    assert (z.shape, z.dtype) == ((2, 3), np.int32)
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    o = tape.ones_like(i, dtype=np.float64)
    assert (o.shape, o.dtype) == ((2, 3), np.float64)
    np.testing.assert_array_equal(o.numpy(), np.ones((2, 3)))


# ---- random -----------------------------------------------------------------------------


def test_random_seed_makes_draws_reproducible():
    def draws():
        return [
            tape.random.normal((3,)).numpy(),
            tape.random.uniform((3,)).numpy(),
            tape.random.randint(0, 100, shape=(3,)).numpy(),
            tape.random.permutation(10).numpy(),
        ]

    tape.random.seed(123)
    first = draws()
    tape.random.seed(123)
    second = draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tape.random.seed(124)
    assert not np.array_equal(tape.random.normal((3,)).numpy(), first[0])


def test_random_per_call_seed():
    a = tape.random.normal((4,), seed=7)
    b = tape.random.normal((4,), seed=7)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_random_normal_moments_and_dtype():
    x = tape.random.normal((20_000,), mean=2.0, stddev=3.0, seed=0)
    assert (x.shape, x.dtype) == ((20_000,), np.float32)
    assert abs(x.numpy().mean() - 2.0) < 0.1
    assert abs(x.numpy().std() - 3.0) < 0.1
    assert tape.random.normal((2,), dtype="float64").dtype == np.float64


def test_random_uniform_range():
    u = tape.random.uniform((2, 1000), minval=-2.0, maxval=5.0, seed=1).numpy()
    assert u.dtype == np.float32 and u.shape == (2, 1000)
    assert u.min() >= -2.0 and u.max() < 5.0
    assert abs(u.mean() - 1.5) < 0.3


def test_random_randint_range_and_dtype():
    r = tape.random.randint(3, 7, shape=(1000,), seed=2).numpy()
    assert r.dtype == np.int64
    assert set(r.tolist()) == {3, 4, 5, 6}
    r0 = tape.random.randint(4, shape=(200,), seed=3).numpy()
    assert set(r0.tolist()) == {0, 1, 2, 3}


def test_random_permutation_of_int_and_of_tensor():
    p = tape.random.permutation(6, seed=4).numpy()
    assert sorted(p.tolist()) == list(range(6))
    x = tape.tensor(np.arange(5.0) * 10)
    shuffled = tape.random.permutation(x, seed=4).numpy()
    assert sorted(shuffled.tolist()) == [0.0, 10.0, 20.0, 30.0, 40.0]
    # the same seed gives the same shuffle, applied to the tensor's first axis
    np.testing.assert_array_equal(
        shuffled, np.arange(5.0)[tape.random.permutation(5, seed=4).numpy()] * 10
    )
    assert not np.array_equal(p, tape.random.permutation(6, seed=5).numpy())


def test_random_permutation_of_tensor_passes_gradient_back():
    x = tape.tensor(np.arange(4.0))
    w = tape.tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(tape.random.permutation(x, seed=5) * w)
    perm = tape.random.permutation(4, seed=5).numpy()  # the same seed, the same shuffle
    expected = np.zeros(4)
    expected[perm] = [1.0, 2.0, 3.0, 4.0]  # y = sum_i x[perm[i]] * w[i]
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), expected)


# ---- attributes -------------------------------------------------------------------------


def test_attributes():
    t = tape.tensor(np.zeros((2, 3, 4), dtype=np.float64))
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert isinstance(t.dtype, np.dtype) and t.dtype == np.float64
    assert t.ndim == 3
    assert t.size == 24
    assert t.device == "cpu"


def test_transpose_attribute():
    a = np.arange(6.0).reshape(2, 3)
    t = tape.tensor(a)
    assert isinstance(t.T, tape.Tensor)
    np.testing.assert_array_equal(t.T.numpy(), a.T)


def test_numpy_returns_a_read_only_array_with_the_values():
    t = tape.tensor([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 5.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_item():
    assert tape.tensor(2.5).item() == 2.5
    assert isinstance(tape.tensor([7]).item(), int)
    assert float(tape.tensor(1.5)) == 1.5 and int(tape.tensor(3)) == 3
    with pytest.raises(tape.ShapeError, match=r"one element.*\(2,\)"):
        tape.tensor([1.0, 2.0]).item()


def test_astype():
    t = tape.tensor([1.7, -2.2])
    i = t.astype("int32")
    assert i.dtype == np.int32
    np.testing.assert_array_equal(i.numpy(), [1, -2])
    assert t.astype(np.float64).dtype == np.float64


@pytest.mark.parametrize("call", [
    lambda a: a.prod(axis=1), lambda a: a.var(axis=0, ddof=1), lambda a: a.std(keepdims=True),
    lambda a: a.all(axis=1), lambda a: a.any(), lambda a: a.argmin(axis=0), lambda a: a.argmin(),
    lambda a: a.argsort(axis=0), lambda a: a.cumsum(), lambda a: a.cumsum(axis=1),
    lambda a: a.clip(-0.5, 1.5), lambda a: a.clip(max=0.0), lambda a: a.round(),
    lambda a: a.swapaxes(0, 1), lambda a: a.tolist(),
], ids=lambda call: call.__code__.co_firstlineno)
def test_numpy_style_methods_give_what_the_ndarray_methods_give(call):
    a = np.array([[1.25, -0.5, 2.0], [0.0, 3.5, -1.75]])
    got, want = call(tape.tensor(a)), call(a)
    if isinstance(want, list):
        assert type(got) is list and got == want
    else:
        assert isinstance(got, tape.Tensor) and got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_len_and_iteration():
    t = tape.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3 and all(isinstance(r, tape.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[2].numpy(), [5.0, 6.0])
    with pytest.raises(TypeError):
        len(tape.tensor(1.0))
    with pytest.raises(TypeError):
        iter(tape.tensor(1.0)).__next__()


def test_repr_shows_values_dtype_and_device():
    r = repr(tape.tensor([1.5, 2.25]))
    assert "1.5" in r and "2.25" in r
    assert "float32" in r
    assert "cpu" in r
    r = repr(tape.tensor(np.array([3, 4], dtype=np.int16)))
    assert "3" in r and "4" in r and "int16" in r


# ---- operators --------------------------------------------------------------------------

A = np.array([[1.5, -2.0, 3.0], [4.0, 5.5, -6.0]])
B = np.array([[2.0, 0.5, -1.0], [3.0, -2.5, 4.0]])

BINARY = [
    ("add", operator.add),
    ("sub", operator.sub),
    ("mul", operator.mul),
    ("truediv", operator.truediv),
    ("floordiv", operator.floordiv),
    ("mod", operator.mod),
    ("pow", lambda x, y: abs(x) ** y),
]


@pytest.mark.parametrize("name,fn", BINARY, ids=[n for n, _ in BINARY])
def test_binary_operators_match_numpy(name, fn):
    out = fn(tape.tensor(A), tape.tensor(B))
    assert isinstance(out, tape.Tensor)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), fn(A, B))


@pytest.mark.parametrize("name,fn", BINARY, ids=[n for n, _ in BINARY])
def test_binary_operators_with_python_scalars_on_both_sides(name, fn):
    t = tape.tensor(np.abs(A))
    right, left = fn(t, 2.0), fn(3.0, t)
    assert isinstance(right, tape.Tensor) and isinstance(left, tape.Tensor)
    np.testing.assert_allclose(right.numpy(), fn(np.abs(A), 2.0))
    np.testing.assert_allclose(left.numpy(), fn(3.0, np.abs(A)))
    assert right.dtype == np.float64 and left.dtype == np.float64


def test_matmul_operator():
    out = tape.tensor(A) @ tape.tensor(B.T)
    np.testing.assert_allclose(out.numpy(), A @ B.T)
    out = A @ tape.tensor(B.T)  # NumPy on the left defers to the tensor
    assert isinstance(out, tape.Tensor)
    np.testing.assert_allclose(out.numpy(), A @ B.T)


def test_unary_operators():
    t = tape.tensor(A)
    np.testing.assert_array_equal((-t).numpy(), -A)
    np.testing.assert_array_equal(abs(t).numpy(), np.abs(A))
    np.testing.assert_array_equal((+t).numpy(), A)


@pytest.mark.parametrize(
    "fn", [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]
)
def test_comparisons_give_bool_tensors(fn):
    out = fn(tape.tensor(A), tape.tensor(B))
    assert isinstance(out, tape.Tensor) and out.dtype == np.bool_
    np.testing.assert_array_equal(out.numpy(), fn(A, B))
    scalar = fn(tape.tensor(A), 3.0)
    assert scalar.dtype == np.bool_
    np.testing.assert_array_equal(scalar.numpy(), fn(A, 3.0))


def test_float16_tensor_with_python_float_stays_float16():
    h = tape.tensor(np.array([1.0, 2.0], dtype=np.float16))
    for out in (h * 2.0, 2.0 * h, h + 1.5, h / 4.0, h - 1, 1 - h, h**2):
        assert out.dtype == np.float16
    np.testing.assert_array_equal((h * 2.0).numpy(), np.array([2.0, 4.0], dtype=np.float16))


def test_python_scalars_are_weak_for_float32_and_int32():
    f = tape.tensor([1.0, 2.0])
    assert (f * 2.0).dtype == np.float32 and (f + 1).dtype == np.float32
    i = tape.tensor(np.array([1, 2], dtype=np.int32))
    assert (i + 1).dtype == np.int32 and (3 * i).dtype == np.int32


def test_getitem_basic_indexing():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tape.tensor(a)
    basic = [0, -1, (1, 2), (slice(None), 1), (..., 2), (0, slice(1, None), slice(None, None, 2))]
    for index in basic:
        np.testing.assert_array_equal(t[index].numpy(), a[index])
    np.testing.assert_array_equal(t[None, 0].numpy(), a[None, 0])


def test_getitem_advanced_indexing():
    a = np.arange(12.0).reshape(3, 4)
    t = tape.tensor(a)
    np.testing.assert_array_equal(t[[0, 2]].numpy(), a[[0, 2]])
    np.testing.assert_array_equal(t[[0, 1, 2], [3, 2, 1]].numpy(), a[[0, 1, 2], [3, 2, 1]])
    np.testing.assert_array_equal(t[:, np.array([1, 1])].numpy(), a[:, [1, 1]])
    np.testing.assert_array_equal(t[tape.tensor([2, 0])].numpy(), a[[2, 0]])


def test_getitem_boolean_indexing():
    a = np.array([[1.0, -2.0], [-3.0, 4.0]])
    t = tape.tensor(a)
    np.testing.assert_array_equal(t[t > 0].numpy(), [1.0, 4.0])
    np.testing.assert_array_equal(t[a < 0].numpy(), [-2.0, -3.0])
    np.testing.assert_array_equal(t[np.array([False, True])].numpy(), [[-3.0, 4.0]])


def test_getitem_gradient_accumulates_repeated_indices():
    x = tape.tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(x[[0, 0, 2]] * tape.tensor(np.array([1.0, 10.0, 100.0])))
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [11.0, 0.0, 100.0, 0.0])


def test_getitem_boolean_mask_gradient():
    x = tape.tensor(np.array([1.0, -2.0, 3.0]))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(x[x > 0] ** 2)
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [2.0, 0.0, 6.0])


# ---- immutability -----------------------------------------------------------------------


def test_setitem_raises_type_error():
    t = tape.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="immutable"):
        t[0] = 1.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_np_asarray_is_not_a_writable_alias():
    t = tape.tensor([1.0, 2.0])
    a = np.asarray(t)
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 50.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    b = np.array(t)  # an explicit copy is the user's to change
    b[0] = 50.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


# ---- Variable ---------------------------------------------------------------------------


def test_variable_defaults_and_name():
    v = tape.Variable([1.0, 2.0])
    assert isinstance(v, tape.Tensor)
    assert v.trainable is True
    assert isinstance(v.name, str) and v.name
    assert v.dtype == np.float32
    w = tape.Variable(np.zeros((2, 2)), trainable=False, name="w")
    assert (w.name, w.trainable, w.dtype) == ("w", False, np.float64)
    assert tape.Variable(lambda: np.ones(3)).shape == (3,)  # a callable initial value


def test_variable_assign_methods():
    v = tape.Variable([1.0, 2.0], name="v")
    assert v.assign([3.0, 4.0]) is v
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    v.assign_add(tape.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0])
    v.assign_sub(np.array([0.5, 2.0]))
    np.testing.assert_array_equal(v.numpy(), [3.5, 3.0])
    assert v.dtype == np.float32  # a float64 delta is cast to the variable's dtype


def test_variable_assign_with_wrong_shape_names_the_variable():
    v = tape.Variable([1.0, 2.0], name="my_weights")
    for method in (v.assign, v.assign_add, v.assign_sub):
        with pytest.raises(tape.ShapeError, match=r"my_weights.*\(3,\).*\(2,\)"):
            method([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def test_variable_assign_of_strings_is_a_dtype_error():
    v = tape.Variable([1.0, 2.0], name="v")
    with pytest.raises(tape.DTypeError, match="'v'"):
        v.assign(["a", "b"])


def test_variable_assign_copies_a_numpy_value():
    v = tape.Variable(np.zeros(2, dtype=np.float32))
    a = np.array([1.0, 2.0], dtype=np.float32)
    v.assign(a)
    a[0] = 100.0
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def test_old_numpy_views_keep_the_old_value_after_assign():
    v = tape.Variable([1.0, 2.0])
    before = v.numpy()
    v.assign([5.0, 6.0])
    np.testing.assert_array_equal(before, [1.0, 2.0])
    np.testing.assert_array_equal(v.numpy(), [5.0, 6.0])


VAR_OPS = [
    ("add", lambda x: x + 1.0),
    ("radd", lambda x: 1.0 + x),
    ("mul", lambda x: x * x),
    ("truediv", lambda x: 2.0 / x),
    ("pow", lambda x: x**2),
    ("matmul", lambda x: x @ tape.tensor(np.ones((3, 2)))),
    ("neg", lambda x: -x),
    ("gt", lambda x: x > 2.0),
    ("getitem", lambda x: x[1, ::2]),
    ("T", lambda x: x.T),
    ("exp", tape.exp),
    ("sum", lambda x: tape.sum(x, axis=0)),
    ("method_sum", lambda x: x.sum()),
    ("reshape", lambda x: x.reshape(3, 2)),
    ("concatenate", lambda x: tape.concatenate([x, x], axis=1)),
    ("where", lambda x: tape.where(x > 2.0, x, 0.0)),
    ("np_exp", np.exp),
    ("np_sum", lambda x: np.sum(x, axis=1)),
]


@pytest.mark.parametrize("name,fn", VAR_OPS, ids=[n for n, _ in VAR_OPS])
def test_variable_reads_like_a_tensor_in_every_op(name, fn):
    value = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out_v = fn(tape.Variable(value))
    out_t = fn(tape.tensor(value))
    assert type(out_v) is tape.Tensor
    assert out_v.dtype == out_t.dtype
    np.testing.assert_array_equal(out_v.numpy(), out_t.numpy())


def test_variable_repr_shows_name_values_dtype_device():
    r = repr(tape.Variable([1.25, 2.5], name="kernel"))
    assert "kernel" in r and "1.25" in r and "2.5" in r and "float32" in r and "cpu" in r


def test_python_float_with_integer_tensor_gives_float32_as_in_jax():
    assert (tape.tensor([1, 2]) * 2.0).dtype == np.float32
    assert (2.5 + tape.tensor([True, False])).dtype == np.float32
    assert (tape.tensor([1, 2]) * 2).dtype == np.int64
    np.testing.assert_array_equal((tape.tensor([1, 2]) * 0.5).numpy(), [0.5, 1.0])


def test_assign_add_and_sub_update_in_place_only_when_nothing_else_holds_the_array():
    v = tape.Variable(np.ones(3, np.float32))
    address = id(v._data)
    v.assign_sub(tape.ones(3))
    assert id(v._data) == address and v.numpy().tolist() == [0.0] * 3  # alone: in place
    view = v.numpy()
    kept = view.copy()
    v.assign_add([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(view, kept)  # a user's view never changes under them
    w = tape.Variable([2.0, 2.0])
    with tape.GradientTape() as g:
        y = tape.sum(w * w)
    w.assign_sub([1.0, 1.0])  # the tape saved w's array: the update makes a new one
    assert g.gradient(y, w).numpy().tolist() == [4.0, 4.0]
    assert w.numpy().tolist() == [1.0, 1.0]


def test_mean_of_integers_and_bools_is_float32_like_jax():
    # the value is checked against NumPy's float64 mean
    for values in ([1, 2, 4], [[3, 5], [8, 13]], [True, False, True]):
        got = tape.mean(tape.tensor(values))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.item(), np.mean(np.asarray(values, np.float64)),
                                   rtol=1e-6)
