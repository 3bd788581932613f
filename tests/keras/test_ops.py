"""keras.ops on tape's op table: values against NumPy written out and jax.nn, gradients
against float64 finite differences."""

import numpy as np
import pytest

import tape
from tape.keras import ops

jnn = pytest.importorskip("jax.nn")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)) * 3
XT = tape.tensor(X.astype(np.float32))


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_same_functions_as_tapes_op_table():
    assert ops.matmul is tape.matmul and ops.sum is tape.sum and ops.where is tape.where
    assert ops.nn.relu is tape.relu and ops.relu is ops.nn.relu


def test_shape_cast_and_conversion():
    assert ops.shape(XT) == (3, 4) and isinstance(ops.shape(XT), tuple)
    assert ops.cast(XT, "int32").dtype == np.int32
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == np.float32  # Keras' floatx
    assert ops.convert_to_tensor(XT) is XT
    assert isinstance(ops.convert_to_numpy(XT), np.ndarray)
    assert ops.size(XT) == 12 and ops.ndim(XT) == 2 and ops.dtype(XT) == "float32"


@pytest.mark.parametrize("axis", [-1, 0])
def test_one_hot_takes_num_classes_and_axis(axis):
    labels = np.array([2, 0, 1])
    got = ops.one_hot(labels, num_classes=3, axis=axis)
    expected = np.eye(3)[labels]
    close(got, expected if axis == -1 else expected.T)


@pytest.mark.parametrize("ours, oracle", [
    (ops.nn.sigmoid, jnn.sigmoid), (ops.nn.relu, jnn.relu), (ops.nn.relu6, jnn.relu6),
    (ops.nn.log_sigmoid, jnn.log_sigmoid), (ops.nn.hard_sigmoid, jnn.hard_sigmoid),
    (ops.nn.softplus, jnn.softplus), (ops.nn.silu, jnn.silu), (ops.nn.elu, jnn.elu),
    (ops.nn.selu, jnn.selu), (ops.nn.softsign, jnn.soft_sign),
    (lambda x: ops.nn.softmax(x, axis=0), lambda x: jnn.softmax(x, axis=0)),
    (ops.nn.log_softmax, jnn.log_softmax),
    (lambda x: ops.nn.leaky_relu(x, negative_slope=0.1),
     lambda x: jnn.leaky_relu(x, negative_slope=0.1)),
])
def test_activations_match_jax(ours, oracle):
    close(ours(XT), oracle(X.astype(np.float32)), 1e-5)


def test_log_sigmoid_gradient_is_stable_and_matches_finite_differences():
    x = tape.tensor(np.array([-50.0, -1.0, 0.5, 40.0]))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(ops.nn.log_sigmoid(x))
    eps = 1e-6
    numeric = [(np.log(1 / (1 + np.exp(-(v + eps)))) - np.log(1 / (1 + np.exp(-(v - eps)))))
               / (2 * eps) for v in x.numpy()]
    close(g.gradient(y, x), numeric, 1e-6)


def test_reductions_and_shapes_against_numpy():
    close(ops.mean(XT, axis=0), X.mean(0))
    close(ops.sum(XT, axis=1, keepdims=True), X.sum(1, keepdims=True), 1e-4)
    close(ops.concatenate([XT, XT], axis=1), np.concatenate([X, X], 1))
    close(ops.stack([XT, XT]), np.stack([X, X]))
    assert ops.expand_dims(XT, 1).shape == (3, 1, 4)
    assert ops.squeeze(ops.expand_dims(XT, 0)).shape == (3, 4)
    assert ops.reshape(XT, (4, 3)).shape == (4, 3)
    close(ops.transpose(XT), X.T)
    close(ops.where(XT > 0, XT, 0.0), np.where(X > 0, X, 0))
    close(ops.matmul(XT, ops.transpose(XT)), X @ X.T, 1e-3)
    close(ops.slice(XT, (1, 1), (2, 2)), X[1:3, 1:3])
    parts = ops.unstack(XT, axis=1)
    assert len(parts) == 4 and parts[0].shape == (3,)
    close(ops.rsqrt(tape.tensor([4.0, 16.0])), [0.5, 0.25])
    close(ops.norm(XT, axis=-1), np.linalg.norm(X, axis=-1), 1e-4)
    close(ops.norm(XT, ord=1, axis=0), np.abs(X).sum(0), 1e-4)
    close(ops.nn.normalize(XT), X / np.linalg.norm(X, axis=-1, keepdims=True), 1e-5)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    close(ops.average(XT, axis=1, weights=w), np.average(X, axis=1, weights=w), 1e-5)
    close(ops.ravel(XT), X.ravel())
    close(ops.hstack([XT, XT]), np.hstack([X, X]))
    close(ops.vstack([XT[0], XT[1]]), np.vstack([X[0], X[1]]))
    close(ops.log2(tape.tensor([8.0])), [3.0])
    close(ops.log10(tape.tensor([1000.0])), [3.0])
    values, indices = ops.top_k(tape.tensor([1.0, 5.0, 3.0]), 2)
    assert values.numpy().tolist() == [5.0, 3.0] and indices.numpy().tolist() == [1, 2]


def test_crossentropies_against_formulas():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    y = np.array([[1.0, 0, 0], [0, 0, 1.0]], np.float32)
    close(ops.categorical_crossentropy(y, p), -np.log([0.7, 0.8]), 1e-5)
    close(ops.sparse_categorical_crossentropy(np.array([0, 2]), p), -np.log([0.7, 0.8]), 1e-5)
    t, o = np.array([1.0, 0.0], np.float32), np.array([0.9, 0.2], np.float32)
    close(ops.binary_crossentropy(t, o), -(t * np.log(o) + (1 - t) * np.log(1 - o)), 1e-5)
    logits = np.array([2.0, -1.0], np.float32)
    close(ops.binary_crossentropy(t, logits, from_logits=True),
          -(t * np.log(1 / (1 + np.exp(-logits))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(
              -logits)))), 1e-5)


def test_moments_and_batch_normalization():
    mean, var = ops.nn.moments(XT, axes=[0])
    close(mean, X.mean(0), 1e-5)
    close(var, X.var(0), 1e-4)
    out = ops.nn.batch_normalization(XT, mean, var, axis=-1, epsilon=1e-3)
    close(out, (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-3), 1e-4)


def test_control_flow_runs_as_python():
    assert ops.cond(tape.tensor(True), lambda: 1, lambda: 2) == 1
    assert ops.fori_loop(0, 5, lambda i, v: v + i, 0) == 10
    assert ops.while_loop(lambda i: i < 7, lambda i: i + 2, 0) == 8
    close(ops.vectorized_map(lambda row: ops.sum(row), XT), X.sum(1), 1e-5)
