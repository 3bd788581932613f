"""tape.tf: TF2 names Keras-era code calls, against NumPy written out."""

import numpy as np
import pytest

import tape
from tape import tf

RNG = np.random.default_rng(1)
A = RNG.normal(size=(3, 4)).astype(np.float32)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_gradient_tape_named_tape_is_fine_and_right():
    w = tf.Variable(tf.constant([[2.0], [-1.0]]))
    x = tf.constant([[1.0, 3.0]])
    with tf.GradientTape() as tape:  # the TF idiom that shadowed `tape` before tape.tf
        loss = tf.reduce_sum(tf.square(tf.matmul(x, w)))
    grad = tape.gradient(loss, w)
    close(grad, 2 * (x.numpy() @ w.numpy()) * x.numpy().T)  # d/dw (xw)^2 = 2(xw) x^T
    assert tf.GradientTape is tape.__class__ and tf.Variable is tf.keras.Variable


def test_function_is_trace_with_an_input_signature():
    calls = []

    @tf.function(input_signature=[tf.TensorSpec(shape=(None, 4), dtype=tf.float32)])
    def double_sum(x):
        calls.append(1)
        return tf.reduce_sum(x * 2.0, axis=1)

    close(double_sum(tf.constant(A)), (A * 2).sum(1))
    close(double_sum(tf.constant(A[:2])), (A[:2] * 2).sum(1))
    assert double_sum.trace_count == 1 and len(calls) == 1

    @tf.function
    def plain(x):
        return x + 1.0

    close(plain(tf.ones((2,))), [2.0, 2.0])


def test_reductions_against_numpy():
    t = tf.constant(A)
    close(tf.reduce_sum(t), A.sum(), 1e-4)
    close(tf.reduce_mean(t, axis=0), A.mean(0))
    close(tf.reduce_max(t, axis=1, keepdims=True), A.max(1, keepdims=True))
    close(tf.reduce_min(t), A.min())
    close(tf.reduce_prod(t, axis=1), A.prod(1), 1e-4)
    assert bool(tf.reduce_any(t > 1.0)) == bool((A > 1.0).any())
    assert bool(tf.reduce_all(t > -10.0))
    close(tf.math.reduce_logsumexp(t, axis=1), np.log(np.exp(A).sum(1)), 1e-5)


def test_shape_concat_cast_and_friends():
    t = tf.constant(A)
    assert tf.shape(t) == (3, 4) and tf.shape(t)[0] == 3
    close(tf.concat([t, t], axis=0), np.concatenate([A, A]))
    assert tf.cast(t, tf.int32).dtype == np.int32 and tf.float32 == np.float32
    close(tf.matmul(t, t, transpose_b=True), A @ A.T, 1e-4)
    close(tf.transpose(t, perm=[1, 0]), A.T)
    close(tf.clip_by_value(t, -0.5, 0.5), np.clip(A, -0.5, 0.5))
    close(tf.gather(t, [2, 0]), A[[2, 0]])
    close(tf.one_hot([1, 0], 3, on_value=5.0, off_value=-1.0), [[-1, 5, -1], [5, -1, -1]])
    close(tf.pad(t, [[1, 0], [0, 2]]), np.pad(A, ((1, 0), (0, 2))))
    close(tf.math.divide_no_nan(tf.constant([1.0, 2.0]), tf.constant([0.0, 4.0])), [0.0, 0.5])
    assert tf.range(5).numpy().tolist() == [0, 1, 2, 3, 4]
    assert tf.newaxis is None


def test_bfloat16_by_name_and_by_tf_dtype():
    """``tf.cast(x, tf.bfloat16)`` (mixed-precision TF code) and ``tape.cast(x, "bfloat16")``:
    the values rounded to bfloat16's 8 significant bits (ml_dtypes' own rounding is the
    oracle), the gradient back in float32."""
    import ml_dtypes

    values = np.array([1.0 + 2.0**-9, 3.14159, -1e-3], np.float32)
    want = values.astype(ml_dtypes.bfloat16).astype(np.float32)
    assert tf.bfloat16 == tf.dtypes.bfloat16 == tf.dtypes.as_dtype("bfloat16")
    for cast in (lambda x: tf.cast(x, tf.bfloat16), lambda x: tape.cast(x, "bfloat16")):
        x = tf.Variable(values)
        with tf.GradientTape() as g:
            low = cast(x)
            loss = tf.reduce_sum(tf.cast(low, tf.float32) * 3.0)
        assert low.dtype == np.dtype(ml_dtypes.bfloat16)
        np.testing.assert_array_equal(tf.cast(low, tf.float32).numpy(), want)
        assert want[0] != values[0]  # the rounding happened
        grad = g.gradient(loss, x)
        assert grad.dtype == np.float32
        np.testing.assert_array_equal(grad.numpy(), [3.0, 3.0, 3.0])
    with pytest.raises(AttributeError, match="tf.dtypes.qint8 is out of reach"):
        tf.dtypes.qint8  # noqa: B018


def test_nn_functions_against_formulas():
    logits = tf.constant(A)
    softmax = np.exp(A) / np.exp(A).sum(1, keepdims=True)
    close(tf.nn.softmax(logits), softmax)
    labels = np.array([0, 3, 1])
    close(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
          -np.log(softmax[np.arange(3), labels]))
    onehot = np.eye(4, dtype=np.float32)[labels]
    close(tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits),
          -np.log(softmax[np.arange(3), labels]))
    z = np.array([0.0, 1.0, 1.0], np.float32)
    x = np.array([-1.0, 2.0, 0.5], np.float32)
    close(tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
          np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))))
    close(tf.nn.l2_loss(tf.constant([3.0, 4.0])), 12.5)
    close(tf.nn.l2_normalize(tf.constant([3.0, 4.0]), axis=0), [0.6, 0.8])
    close(tf.nn.leaky_relu(tf.constant([-1.0, 1.0])), [-0.2, 1.0])


def test_random_names():
    assert tf.random.normal((2, 3)).shape == (2, 3)
    ints = tf.random.uniform((500,), minval=0, maxval=3, dtype=tf.int32).numpy()
    assert set(np.unique(ints)) == {0, 1, 2}
    u = tf.random.uniform((500,)).numpy()
    assert 0.0 <= u.min() and u.max() < 1.0
    tf.random.set_seed(5)
    first = tf.random.normal((3,)).numpy()
    tf.random.set_seed(5)
    assert np.array_equal(first, tf.random.normal((3,)).numpy())


def test_data_pipeline_as_tf_data():
    ds = (tf.data.Dataset.from_tensor_slices((np.arange(10.0), np.arange(10)))
          .shuffle(10, seed=0)
          .map(lambda x, y: (x * 2.0, y), num_parallel_calls=tf.data.AUTOTUNE)
          .batch(4)
          .prefetch(tf.data.AUTOTUNE))
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    assert [len(x) for x in xs] == [4, 4, 2]
    assert sorted(np.concatenate(ys).tolist()) == list(range(10))
    assert np.array_equal(np.concatenate(xs), 2.0 * np.concatenate(ys))
    shard = tf.data.Dataset.from_tensor_slices(np.arange(10)).shard(num_shards=3, index=2)
    assert [int(v) for v in shard] == [2, 5, 8] and len(shard) == 3
    with pytest.raises(ValueError, match="shard"):
        shard.shard(2, 5)


def test_keras_model_trains_on_a_tf_dataset():
    x = RNG.normal(size=(64, 4)).astype(np.float32)
    y = (x.sum(1, keepdims=True) > 0).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = tf.keras.Sequential([tf.keras.Input((4,)),
                                 tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(ds, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert isinstance(model, tape.models.Model)
