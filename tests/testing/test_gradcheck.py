"""check_gradients passes correct gradients (first and second order) and, for wrong ones,
fails with a message that says which argument and element, and by how much."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import tape
from tape.testing import check_gradients

RNG = np.random.default_rng(0)
X23 = RNG.uniform(-1.0, 1.0, (2, 3))
X34 = RNG.uniform(-1.0, 1.0, (3, 4))
POS = RNG.uniform(0.5, 2.0, (2, 3))

# (id, f, args): smooth at the chosen points, so order 2 is checked too.
CORRECT = [
    ("exp_log", lambda x: tape.log(tape.exp(x) + 1.0), (X23,)),
    ("sin_cos", lambda x: tape.sin(x) * tape.cos(2.0 * x), (X23,)),
    ("tanh_sigmoid", lambda x: tape.tanh(x) + tape.sigmoid(x) ** 2, (X23,)),
    ("sqrt_div", lambda x, y: tape.sqrt(x) / (y * y + 1.0), (POS, X23)),
    ("power", lambda x, y: x**y, (POS, X23)),
    ("matmul", lambda a, b: tape.tanh(a @ b), (X23, X34)),
    ("broadcast", lambda a, b: a * b - a / (b * b + 1.0), (X23[:, :1], X34[0, :3])),
    ("sum_axis", lambda x: tape.sum(x**3, axis=0), (X23,)),
    ("mean_keepdims", lambda x: tape.mean(tape.exp(x), axis=1, keepdims=True), (X23,)),
    ("logsumexp", lambda x: tape.logsumexp(x, axis=-1), (X34,)),
    ("softmax", lambda x: tape.softmax(x), (X34,)),
    ("reshape_transpose", lambda x: tape.transpose(tape.reshape(x, (3, 2))) ** 2, (X23,)),
    ("getitem", lambda x: x[1:, ::-1] * x[0], (X34,)),
    ("concatenate", lambda a, b: tape.concatenate([a, b * a], axis=0), (X23, X23 + 1)),
    ("linear", lambda x: 3.0 * x - x, (X23,)),  # order 2: the gradient is a constant
    ("scalar", lambda x: x * x * x, (0.7,)),
    ("variance", lambda x: tape.var(x, axis=0), (X34,)),
]


@pytest.mark.parametrize("f, args", [c[1:] for c in CORRECT], ids=[c[0] for c in CORRECT])
@pytest.mark.parametrize("order", [1, 2])
def test_passes_for_correct_gradients(f, args, order):
    assert check_gradients(f, *args, order=order) is None


def test_order_three():
    check_gradients(lambda x, y: tape.exp(x * y) + tape.sin(x) * y, X23, X23[0], order=3)


def test_integer_arguments_are_constants():
    idx = np.array([2, 0, 2])  # repeated: take's gradient has to accumulate
    check_gradients(lambda x, i: tape.take(x, i, axis=1) ** 2, X34, idx, order=2)


def test_unconnected_argument_passes():
    # y's gradient is None, which counts as zero, and the numerical one is zero too.
    check_gradients(lambda x, y: tape.sin(x), X23, X34)


def test_float32_inputs_get_float32_tolerances():
    x = X23.astype(np.float32)
    check_gradients(lambda x: tape.exp(tape.cast(x, "float32")) * 3.0, x, order=2)


# ---- wrong gradients ------------------------------------------------------------------------


@tape.custom_gradient
def sin_with_wrong_sign(x):
    return tape.sin(x), lambda g: -g * tape.cos(x)


@tape.custom_gradient
def sin_with_one_bad_element(x):
    bump = np.zeros(x.shape)
    bump[1, 2] = 5.0
    return tape.sin(x), lambda g: g * (tape.cos(x) + bump)


@tape.custom_gradient
def sin_first_order_only(x):
    # Right first derivative, but stop_gradient hides cos(x) from an outer tape, so the
    # second derivative comes out as zero instead of -sin(x).
    return tape.sin(x), lambda g: g * tape.stop_gradient(tape.cos(x))


def _values(message: str, label: str) -> tuple[float, float]:
    m = re.search(label + r": analytic (\S+), numerical (\S+)", message)
    assert m, message
    return float(m.group(1)), float(m.group(2))


def test_wrong_gradient_fails_and_names_argument_element_and_values():
    with pytest.raises(AssertionError) as info:
        check_gradients(sin_with_wrong_sign, X23)
    message = str(info.value)
    assert "check_gradients(sin_with_wrong_sign): order-1 gradient" in message
    assert "worst element: argument 0, element (" in message
    analytic, numerical = _values(message, r"worst element: argument 0, element \(\d, \d\)")
    assert analytic == pytest.approx(-numerical, rel=1e-6)  # the sign is wrong, nothing else
    assert re.search(r"argument 0 \(shape \(2, 3\)\): max abs error \S+, max rel error 2", message)
    assert "eps=1e-06, rtol=1e-05, atol=1e-06 (least precise dtype: float64)" in message


def test_wrong_gradient_located_in_the_right_argument_and_element():
    with pytest.raises(AssertionError) as info:
        check_gradients(lambda x, y: x * sin_with_one_bad_element(y), X23, X23 + 0.5)
    message = str(info.value)
    analytic, numerical = _values(message, r"worst element: argument 1, element \(1, 2\)")
    assert abs(analytic - numerical) > 0.1
    assert "1 of 6 elements mismatch" in message  # argument 1
    assert "0 of 6 elements mismatch" in message  # argument 0 is right


def test_second_order_bug_passes_order_one_and_fails_order_two():
    check_gradients(sin_first_order_only, X23, order=1)
    with pytest.raises(AssertionError, match="order-2 derivative") as info:
        check_gradients(sin_first_order_only, X23, order=2)
    analytic, numerical = _values(str(info.value), r"worst element: argument 0, element \(\d, \d\)")
    assert analytic == 0.0 and abs(numerical) > 1e-3


def test_none_gradient_of_a_used_argument_counts_as_zero_and_fails():
    with pytest.raises(AssertionError, match=r"argument 0, element \(\d, \d\): analytic 0,"):
        check_gradients(lambda x: tape.stop_gradient(x) ** 2, POS)


def test_float32_defaults_show_in_the_message():
    with pytest.raises(
        AssertionError, match=r"eps=0.001, rtol=0.01, atol=0.001 \(least precise dtype: float32\)"
    ):
        check_gradients(sin_with_wrong_sign, X23.astype(np.float32))


def test_seed_changes_the_projection_but_not_the_verdict():
    for seed in range(5):
        check_gradients(lambda x: tape.tanh(x) ** 2, X23, seed=seed)
        with pytest.raises(AssertionError):
            check_gradients(sin_with_wrong_sign, X23, seed=seed)


# ---- argument errors --------------------------------------------------------------------------


def test_no_float_argument_is_a_clear_error():
    with pytest.raises(TypeError, match="no float argument.*argument 0 is int64"):
        check_gradients(lambda i: i * 2, np.array([1, 2]))


def test_non_float_output_is_a_clear_error():
    with pytest.raises(TypeError, match="must return a float tape.Tensor, got bool"):
        check_gradients(lambda x: x > 0, X23)


def test_order_must_be_positive():
    with pytest.raises(ValueError, match="order must be an int >= 1"):
        check_gradients(tape.sin, X23, order=0)


def test_imports_without_hypothesis():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import tape, tape.testing\n"
        "tape.testing.check_gradients(tape.sin, [0.5])\n"
        "try:\n    tape.testing.strategies\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "tape.testing.strategies needs hypothesis: pip install 'tape[test]'" in out.stdout


def test_variable_arguments_are_checked_in_place_and_restored():
    layer = tape.layers.Dense(3, activation="tanh", dtype="float64")
    x = np.random.default_rng(0).normal(size=(4, 2))
    layer(x)
    before = [w.numpy().copy() for w in layer.weights]
    check_gradients(lambda x, *weights: layer(x), x, *layer.trainable_weights, order=2)
    for value, w in zip(before, layer.weights):
        np.testing.assert_array_equal(w.numpy(), value)


def test_a_wrong_variable_gradient_is_caught_and_the_variable_restored():
    @tape.custom_gradient
    def doubled_weight_grad(x, w):
        return x @ w, lambda g: (g @ tape.transpose(w), 2.0 * (tape.transpose(x) @ g))

    w = tape.Variable(np.arange(6.0).reshape(2, 3) / 7)
    before = w.numpy().copy()
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    with pytest.raises(AssertionError, match=r"worst element: argument 1"):
        check_gradients(doubled_weight_grad, x, w)
    np.testing.assert_array_equal(w.numpy(), before)


def test_bfloat16_arguments_are_float_and_get_bfloat16_tolerances():
    bf16 = tape.dtypes.bfloat16()  # kind 'V': a dtype.kind == "f" check would refuse it
    x = X23.astype(bf16)
    # f computes in bfloat16 (a cast): its rounding, eps 2**-7, needs the bfloat16 row
    check_gradients(lambda x: tape.cast(tape.tanh(tape.cast(x, bf16)), "float64"), x)
    with pytest.raises(
        AssertionError, match=r"eps=0.1, rtol=0.2, atol=0.1 \(least precise dtype: bfloat16\)"
    ):
        check_gradients(square_with_double_gradient, np.array([1.5], dtype=bf16), seed=3)


@tape.custom_gradient
def square_with_double_gradient(x):
    return x * x, lambda g: g * 4.0 * x


def test_a_bfloat16_variable_is_checked_in_place_and_restored():
    bf16 = tape.dtypes.bfloat16()
    w = tape.Variable(np.array([[0.5, -1.0], [2.0, 0.25]], dtype=bf16))
    before = w.numpy().copy()
    check_gradients(lambda x, w: tape.sum(tape.cast(x, bf16) @ w), X23[:, :2].T.copy(), w)
    np.testing.assert_array_equal(w.numpy(), before)
    assert w.dtype == bf16
