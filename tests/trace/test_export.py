"""ONNX export: the model passes onnx.checker, and onnx's own reference evaluator (pure
Python, independent of tape) computes what tape computes; unsupported graphs are refused
with an error naming why."""

from __future__ import annotations

import numpy as np
import pytest

import tape
from tape.errors import TraceError
from tape.trace import export_onnx
from tape.trace.fusion import fuse_elementwise

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'tape[onnx]')")
from onnx.reference import ReferenceEvaluator  # noqa: E402


def _evaluate(model, feeds: dict) -> list:
    return ReferenceEvaluator(model).run(None, feeds)


def test_an_mlp_predict_function_exports_with_a_free_batch_size(tmp_path):
    tape.random.seed(0)
    model = tape.models.Sequential([
        tape.layers.Dense(16, activation="relu", input_dim=8),
        tape.layers.Dense(8, activation="tanh"),
        tape.layers.Dense(3, activation="softmax"),
    ])
    predict = tape.trace(lambda x: model(x),
                         input_signature=[tape.TensorSpec((None, 8), "float32")])
    rng = np.random.default_rng(0)
    predict(rng.normal(size=(4, 8)).astype(np.float32))
    path = tmp_path / "mlp.onnx"
    tape.trace.export_onnx(predict, path)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    batch = rng.normal(size=(11, 8)).astype(np.float32)  # another batch size
    (got,) = _evaluate(loaded, {"x": batch})
    np.testing.assert_allclose(got, model(batch).numpy(), rtol=1e-5, atol=1e-7)
    dims = loaded.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 8
    assert {i.name for i in loaded.graph.initializer} >= {w.name.replace("/", "_")
                                                           for w in model.weights}


def many_ops(x, y):
    a = tape.concatenate([tape.tanh(x), tape.sigmoid(y)], axis=1)  # (4, 6)
    b = tape.transpose(a)[1:5, ::2]  # (4, 2)
    c = tape.reshape(b, (2, 4)) * 2.0 - 1.0
    d = tape.where(tape.greater(c, 0.0), tape.exp(c), tape.square(c))
    e = tape.sum(d, axis=1, keepdims=True) + tape.mean(x, axis=0)[:2]  # (2, 2)
    e = e + tape.mean(tape.cast(x > 0, "int32"))  # an integer mean is float32
    f = tape.log_softmax(tape.maximum(e, 0.1), axis=-1) + tape.softmax(c, axis=0)[:, 0:2]
    g = tape.cast(tape.greater(f, -1.0), "float32") + tape.sqrt(tape.abs(f))
    h = x[..., 1, None] * x[2, :]  # (4, 1) * (3,) -> (4, 3)
    return g, d, tape.log(tape.sum(h * h) + 1.0), tape.minimum(x, y[:, :3]) @ x.T


def test_many_ops_export_and_compute_what_tape_computes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = rng.normal(size=(4, 3)).astype(np.float32)
    f = tape.trace(many_ops)
    f(x, y)
    model = export_onnx(f)
    types = {n.op_type for n in model.graph.node}
    assert {"Concat", "Transpose", "Slice", "Reshape", "Where", "ReduceSum", "ReduceMean",
            "LogSoftmax",
            "Softmax", "Cast", "Squeeze", "Unsqueeze", "Min", "MatMul"} <= types
    x2, y2 = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(2))
    got = _evaluate(model, {"x": x2, "y": y2})
    want = [t.numpy() for t in many_ops(tape.tensor(x2), tape.tensor(y2))]
    for g_, w in zip(got, want):
        assert g_.shape == w.shape
        np.testing.assert_allclose(g_, w, rtol=1e-5, atol=1e-6)


def test_a_graph_with_fused_nodes_exports_their_members():
    f = tape.trace(lambda x: tape.tanh(x * 3.0 + 1.0) * x)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    f(x)
    fused = fuse_elementwise(f.graph)
    assert [n.op.name for n in fused.nodes] == ["fused"]
    model = tape.trace.export_onnx(fused)
    assert [n.op_type for n in model.graph.node] == ["Mul", "Add", "Tanh", "Mul"]
    (got,) = _evaluate(model, {"x": x})
    np.testing.assert_allclose(got, np.tanh(x * 3 + 1) * x, rtol=1e-6)


def test_a_training_step_is_refused_naming_the_variables_it_assigns():
    w = tape.Variable(np.ones(3, np.float32), name="w")

    @tape.trace
    def step(x):
        w.assign_sub(x * 0.1)
        return tape.sum(w)

    step(tape.ones(3))
    with pytest.raises(TraceError, match=r"assigns Variables \('w'\).*inference function"):
        export_onnx(step)


def test_an_op_without_an_onnx_form_is_refused_by_name():
    f = tape.trace(lambda x: tape.floor_divide(x, 2.0) + 1.0)
    f(tape.ones(3))
    with pytest.raises(TraceError, match=r"uses op 'floor_divide' \(at .*test_export.py"):
        export_onnx(f)


def test_advanced_indexing_and_python_outputs_are_refused():
    f = tape.trace(lambda x: x[np.array([0, 2])])
    f(tape.ones(3))
    with pytest.raises(TraceError, match="only basic indexing"):
        export_onnx(f)
    g = tape.trace(lambda x: (x * 2.0, 3))
    g(tape.ones(3))
    with pytest.raises(TraceError, match="returns a Python value"):
        export_onnx(g)


def test_an_untraced_function_is_an_error():
    with pytest.raises(TraceError, match="not a traced function that has been called"):
        export_onnx(lambda x: x)
