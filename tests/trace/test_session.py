"""Session, placeholder and feed_dict: the TF1-style door to traced graphs."""

from __future__ import annotations

import numpy as np
import pytest

import tape
from tape.errors import DTypeError, ShapeError, TraceError


@pytest.fixture()
def mlp():
    rng = np.random.default_rng(0)
    w1 = tape.Variable(rng.normal(size=(784, 32)).astype(np.float32) * 0.05)
    w2 = tape.Variable(rng.normal(size=(32, 10)).astype(np.float32) * 0.05)

    @tape.trace
    def predict(x):
        return tape.relu(x @ w1) @ w2

    return predict, w1, w2


def test_the_seed_snippet_runs():
    a = tape.constant([[1.0, 2.0], [3.0, 4.0]])
    b = tape.constant([[1.0, 1.0], [0.0, 1.0]])
    c = tape.matmul(a, b)
    with tape.Session() as sess:
        assert sess.run(c).tolist() == [[1.0, 3.0], [3.0, 7.0]]


def test_placeholder_through_a_traced_function_fed_at_run(mlp):
    predict, w1, w2 = mlp
    x = tape.placeholder("float32", shape=(None, 784), name="x")
    logits = predict(x)
    assert "symbolic" in repr(logits)
    rng = np.random.default_rng(1)
    with tape.Session() as sess:
        for n in (5, 128):
            batch = rng.normal(size=(n, 784)).astype(np.float32)
            out = sess.run(logits, feed_dict={x: batch})
            expected = np.maximum(batch @ w1.numpy(), 0) @ w2.numpy()
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
            by_name = sess.run({"l": logits, "both": [logits, logits]}, feed_dict={"x": batch})
            np.testing.assert_array_equal(by_name["l"], out)
            np.testing.assert_array_equal(by_name["both"][1], out)
    assert predict.trace_count == 1


def test_a_missing_feed_names_the_users_placeholder(mlp):
    predict, *_ = mlp
    images = tape.placeholder("float32", shape=(None, 784), name="images")
    logits = predict(images)
    with tape.Session() as sess, pytest.raises(TraceError, match="placeholder 'images'"):
        sess.run(logits, feed_dict={})


def test_wrong_feed_shape_or_dtype_is_an_error_with_expected_and_received(mlp):
    predict, *_ = mlp
    x = tape.placeholder("float32", shape=(None, 784), name="x")
    logits = predict(x)
    with tape.Session() as sess:
        with pytest.raises(ShapeError, match=r"'x': expected shape \(\?, 784\), got \(3, 783\)"):
            sess.run(logits, feed_dict={x: np.zeros((3, 783), np.float32)})
        with pytest.raises(DTypeError, match="'x': expected dtype float32, got float64"):
            sess.run(logits, feed_dict={x: np.zeros((3, 784))})


def test_a_contiguous_feed_of_the_right_dtype_is_not_copied():
    x = tape.placeholder("float32", shape=(None, 3), name="x")
    same = tape.trace(lambda t: tape.identity(t))(x)
    feed = np.ones((4, 3), np.float32)
    with tape.Session() as sess:
        out = sess.run(same, feed_dict={x: feed})
    assert np.shares_memory(out, feed)


@pytest.mark.parametrize("use", [
    lambda t: t @ tape.ones((3, 2)), lambda t: t + 1.0,
    lambda t: tape.nn.relu(t), lambda t: tape.matmul(tape.ones((2, 2)), t),
    lambda t: np.asarray(t), lambda t: float(t), lambda t: t[0],
], ids=["matmul_operator", "add_operator", "relu", "matmul", "asarray", "float", "index"])
def test_a_placeholder_or_symbolic_tensor_in_eager_code_says_what_to_do(use):
    x = tape.placeholder("float32", shape=(None, 3), name="x")
    y = tape.trace(lambda t: t * 2.0)(x)
    for symbol, what in ((x, "placeholder 'x'"), (y, "symbolic tensor 0 of .*<lambda>")):
        with pytest.raises(TraceError, match=f"{what} has no value") as info:
            use(symbol)
        assert f"{__file__}:" in str(info.value) and str(info.value).count("[at ") == 1


def test_symbolic_tensors_have_no_value_outside_a_session(mlp):
    predict, *_ = mlp
    logits = predict(tape.placeholder("float32", shape=(None, 784)))
    with pytest.raises(TraceError, match="Session.run"):
        logits.numpy()
    closed = tape.Session()
    closed.close()
    with pytest.raises(TraceError, match="closed"):
        closed.run(tape.ones(1))
