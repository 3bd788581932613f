"""@tape.trace: capture once per signature, replay after; retracing; errors while tracing."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tape
from tape.errors import TraceError


def test_first_call_traces_later_calls_replay_without_running_the_body():
    calls = []

    @tape.trace
    def f(x, y):
        calls.append(1)  # a Python side effect: happens while tracing only
        return tape.sum(tape.tanh(x) * y), x * 2.0

    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, np.float32)
    s1, d1 = f(tape.tensor(a), tape.tensor(b))
    s2, d2 = f(tape.tensor(a + 1), tape.tensor(b * 3))
    assert len(calls) == 1 and f.trace_count == 1
    np.testing.assert_allclose(s1.numpy(), np.sum(np.tanh(a) * b), rtol=1e-6)
    np.testing.assert_allclose(s2.numpy(), np.sum(np.tanh(a + 1) * b * 3), rtol=1e-6)
    np.testing.assert_array_equal(d2.numpy(), (a + 1) * 2)


def test_numpy_arrays_are_tensor_arguments_and_outputs_keep_their_structure():
    @tape.trace
    def f(inputs):
        return {"sum": inputs["a"] + inputs["b"], "pair": (inputs["a"] * 0.0, 7), "none": None}

    out = f({"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)})
    out = f({"a": np.full(2, 2.0, np.float32), "b": np.ones(2, np.float32)})
    assert f.trace_count == 1
    assert out["sum"].numpy().tolist() == [3.0, 3.0]
    assert out["pair"][1] == 7 and out["none"] is None
    assert isinstance(out["pair"][0], tape.Tensor)


def test_a_new_shape_dtype_or_python_value_traces_again():
    @tape.trace
    def f(x, scale):
        return x * scale

    f(tape.ones((2,)), 2.0)
    f(tape.ones((2,)), 2.0)
    f(tape.ones((3,)), 2.0)
    f(tape.ones((3,), dtype="float64"), 2.0)
    r = f(tape.ones((3,), dtype="float64"), 3.0)
    assert f.trace_count == 4
    assert r.numpy().tolist() == [3.0, 3.0, 3.0]
    assert f.signatures[0] == ["shape (2,) float32", "python float 2.0"]


def test_the_fifth_trace_warns_naming_the_argument_that_changed():
    @tape.trace
    def f(x, lr):
        return x * lr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(1, 5):
            f(tape.ones((n, 10)), 0.1)
    with pytest.warns(UserWarning, match=r"x: shape \(4, 10\) float32 -> shape \(17, 10\)"):
        f(tape.ones((17, 10)), 0.1)
    with pytest.warns(UserWarning, match=r"lr: python float 0.1 -> python float 0.05"):
        f(tape.ones((17, 10)), 0.05)


def test_input_signature_traces_once_for_any_batch_size():
    w = tape.Variable(np.arange(12.0, dtype=np.float32).reshape(4, 3))

    @tape.trace(input_signature=[tape.TensorSpec((None, 4), "float32")])
    def predict(x):
        return tape.nn.softmax(x @ w)

    rng = np.random.default_rng(0)
    for n in (32, 17, 1):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        got = predict(x).numpy()
        e = np.exp(x @ w.numpy() - (x @ w.numpy()).max(-1, keepdims=True))
        np.testing.assert_allclose(got, e / e.sum(-1, keepdims=True), rtol=1e-5)
    assert predict.trace_count == 1
    assert "float32[?, 4]" in str(predict.graph)


def test_a_call_that_does_not_fit_the_signature_names_argument_spec_and_value():
    f = tape.trace(lambda x: x + 1.0, input_signature=[tape.TensorSpec((None, 4))])
    with pytest.raises(TraceError, match=r"argument 'x'.*TensorSpec\(shape=\(None, 4\).*"
                                         r"got shape \(2, 5\) float32"):
        f(tape.ones((2, 5)))
    with pytest.raises(TraceError, match="got shape \\(2, 4\\) float64"):
        f(tape.ones((2, 4), dtype="float64"))


def test_run_eagerly_runs_the_python_body_every_time():
    calls = []

    @tape.trace
    def f(x):
        calls.append(1)
        return x + 1.0

    tape.run_eagerly(True)
    try:
        f(tape.ones(2))
        f(tape.ones(2))
    finally:
        tape.run_eagerly(False)
    assert len(calls) == 2 and f.trace_count == 0
    f(tape.ones(2))
    f(tape.ones(2))
    assert len(calls) == 3 and f.trace_count == 1


def test_the_environment_variable_turns_tracing_off():
    code = ("import tape\ncalls = []\n@tape.trace\ndef f(x):\n    calls.append(1)\n"
            "    return x\nf(tape.ones(1)); f(tape.ones(1))\nprint(len(calls), f.trace_count)")
    env = dict(os.environ, TAPE_RUN_EAGERLY="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["2", "0"]


@pytest.mark.parametrize("read", [bool, float, lambda t: t.item(), lambda t: t.numpy()])
def test_reading_a_value_while_tracing_names_the_function_and_the_line(read):
    @tape.trace
    def branchy(x):
        if read(tape.sum(x) > 0):  # data-dependent control flow
            return x
        return -x

    with pytest.raises(TraceError) as info:
        branchy(tape.ones(3))
    message = str(info.value)
    assert "branchy" in message and "tape.where" in message
    assert "test_capture.py" in message


def test_if_on_a_tensor_while_tracing_is_an_error():
    @tape.trace
    def relu_ish(x):
        if x > 0:
            return x
        return x * 0.0

    with pytest.raises(TraceError, match="bool\\(\\).*relu_ish"):
        relu_ish(tape.tensor(1.0))
    # the suggested way works
    fixed = tape.trace(lambda x: tape.where(x > 0, x, 0.0))
    assert fixed(tape.tensor(-2.0)).item() == 0.0


def test_a_tensor_escaping_the_trace_is_an_error_naming_where_it_was_made():
    kept = []

    @tape.trace
    def leaky(x):
        y = tape.exp(x)
        kept.append(y)
        return y + 1.0

    out = leaky(tape.ones(2))
    assert out.numpy().tolist() == pytest.approx([np.e + 1] * 2)  # the output is fine
    with pytest.raises(TraceError, match=r"made while tracing.*leaky.*test_capture.py"):
        kept[0] + 1.0


def test_variables_may_be_created_on_the_first_trace_only():
    made = []

    @tape.trace
    def f(x):
        if not made:
            made.append(tape.Variable(tape.ones(x.shape[-1:]), name="lazy"))
        return x * made[0]

    assert f(tape.full((2,), 3.0)).numpy().tolist() == [3.0, 3.0]
    made[0].assign([2.0, 2.0])
    assert f(tape.full((2,), 3.0)).numpy().tolist() == [6.0, 6.0]  # reads the current value

    @tape.trace
    def g(x):
        tape.Variable(tape.zeros(()), name="every_time")
        return x

    g(tape.ones(1))
    with pytest.raises(TraceError, match="'every_time'.*first trace"):
        g(tape.ones(2))


def test_methods_are_traced_per_instance():
    class Scaler:
        def __init__(self, k):
            self.k = tape.Variable(k)

        @tape.trace
        def __call__(self, x):
            return x * self.k

    a, b = Scaler(2.0), Scaler(3.0)
    assert a(tape.ones(1)).item() == 2.0 and b(tape.ones(1)).item() == 3.0
    assert a(tape.ones(1)).item() == 2.0 and b(tape.ones(1)).item() == 3.0


def test_under_a_gradient_tape_a_traced_function_is_differentiable():
    f = tape.trace(lambda x: tape.sum(tape.sin(x)))
    x = tape.tensor([0.0, 1.0])
    f(x)  # traced
    with tape.GradientTape() as g:
        g.watch(x)
        y = f(x)
    np.testing.assert_allclose(g.gradient(y, x).numpy(), np.cos([0.0, 1.0]), rtol=1e-6)


def test_graph_prints_draws_and_shows_its_replay_source():
    f = tape.trace(lambda x, w: tape.relu(x @ w))
    f(tape.ones((2, 3)), tape.ones((3, 4)))
    text = str(f.graph)
    assert "matmul(x0, x1)" in text and "relu(" in text and "float32[2, 4]" in text
    dot = f.graph.to_dot()
    assert dot.startswith('digraph "') and "<lambda>" in dot and "x0 -> v" in dot
    assert 'label="relu' in dot and dot.rstrip().endswith("}")
    source = f.replay_source
    assert source.startswith("def replay(P):") and "return [" in source
    with pytest.raises(TraceError, match="not been traced"):
        _ = tape.trace(lambda x: x).graph


def test_input_signature_serves_other_batch_sizes_through_flatten_and_expand_dims():
    from tape.layers import Dense, Flatten
    from tape.models import Sequential

    tape.random.seed(0)
    model = Sequential([Flatten(input_shape=(4, 4)), Dense(3)])

    @tape.trace(input_signature=[tape.TensorSpec((None, 4, 4)), tape.TensorSpec((None,),
                                                                                 "int64")])
    def loss(x, y):
        return tape.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)

    rng = np.random.default_rng(0)
    for n in (3, 5, 1, 3, 5):
        x = rng.normal(size=(n, 4, 4)).astype(np.float32)
        y = rng.integers(0, 3, n)
        expected = tape.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)).numpy()
        assert expected.shape == (n,)
        np.testing.assert_allclose(loss(x, y).numpy(), expected, rtol=1e-6)
    # A layer call reads its input's shape (to build and check it), so the graph holds for
    # the size it was traced at only, and each new size traces once (never reusing one).
    assert loss.graph.size_dependence and loss.trace_count == 3


def test_numpy_and_tensor_arguments_share_a_signature_and_outputs_never_alias_them():
    f = tape.trace(lambda x: x * 2.0)
    a = np.ones(3, np.float32)
    f(tape.tensor(a))
    assert f(a).numpy().tolist() == [2.0] * 3 and f.trace_count == 1  # the same graph
    same = tape.trace(lambda x: x)
    out = same(a)
    out = same(a)  # replayed: the output is the input value...
    assert not np.shares_memory(out.numpy(), a)  # ...in a tensor of its own
    a[:] = 5.0
    assert out.numpy().tolist() == [1.0] * 3  # changing the caller's array changes no tensor


def test_explain_says_how_the_last_signature_replays():
    f = tape.trace(lambda x: tape.exp(x) + 1.0)
    with pytest.raises(tape.errors.TraceError, match="has not been traced yet"):
        f.explain()
    f(tape.ones((2,)))
    assert f.explain().endswith("2 nodes; traced, not replayed yet")
    f(tape.ones((2,)))
    assert f.explain().endswith("replayed on NumPy (CUDA graphs are for the GPU)")


def test_an_in_place_update_never_writes_a_start_value_another_variable_takes():
    a = tape.Variable(np.array([1.0, 2.0], np.float32))
    b = tape.Variable(np.zeros(2, np.float32))

    @tape.trace
    def step():
        old_a = a + 0.0  # folded away: b is assigned the read of a itself
        a.assign(a - 1.0)  # elementwise on a: a candidate to write a's array in place
        b.assign(old_a)

    for k in range(3):
        step()
        np.testing.assert_array_equal(b.numpy(), np.array([1.0, 2.0]) - k)
        np.testing.assert_array_equal(a.numpy(), np.array([1.0, 2.0]) - k - 1)
