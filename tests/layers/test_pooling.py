"""Pooling layers against loops written directly in NumPy; the max-pool gradient's routing
(ties included) and its second order; output shapes; configs; save/load; bad input."""

import json

import numpy as np
import pytest

import tape
from tape import layers
from tape.errors import ShapeError
from tape.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Dense,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Input,
    MaxPooling1D,
    MaxPooling2D,
)
from tape.models import Model, load_model

RNG = np.random.default_rng(0)


def numpy_pool(x, size, strides, padding, reduce):
    """Pooling by explicit loops over output positions (channels-last, any spatial rank).
    'same': TF's rule (ceil(n / s) outputs; the padding it takes, smaller half before);
    windows are cut to the real elements, so a mean divides by how many there are."""
    spatial = x.shape[1:-1]
    if padding == "same":
        out = [-(-n // s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + k - n, 0) // 2
                  for o, s, k, n in zip(out, strides, size, spatial)]
    else:
        out = [(n - k) // s + 1 for n, k, s in zip(spatial, size, strides)]
        before = [0] * len(spatial)
    result = np.empty((x.shape[0], *out, x.shape[-1]))
    for pos in np.ndindex(*out):
        index = tuple(slice(max(p * s - b, 0), min(p * s - b + k, n))
                      for p, s, b, k, n in zip(pos, strides, before, size, spatial))
        window = x[(slice(None), *index, slice(None))]
        axes = tuple(range(1, 1 + len(spatial)))
        result[(slice(None), *pos, slice(None))] = reduce(window, axis=axes)
    return result


POOL2D_CASES = [((2, 2), None, "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"),
                ((3, 2), (2, 1), "valid"), ((1, 1), (2, 3), "valid")]


@pytest.mark.parametrize("size, strides, padding", POOL2D_CASES)
@pytest.mark.parametrize("cls, reduce", [(MaxPooling2D, np.max), (AveragePooling2D, np.mean)])
def test_pooling2d_matches_numpy_loops(cls, reduce, size, strides, padding):
    x = RNG.normal(size=(2, 7, 6, 3))
    layer = cls(size, strides=strides, padding=padding, dtype="float64")
    y = layer(x).numpy()
    want = numpy_pool(x, size, strides or size, padding, reduce)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape(x.shape) == y.shape


@pytest.mark.parametrize("size, strides, padding", [(2, None, "valid"), (3, 2, "same"),
                                                    (4, 1, "same"), (3, 3, "valid")])
@pytest.mark.parametrize("cls, reduce", [(MaxPooling1D, np.max), (AveragePooling1D, np.mean)])
def test_pooling1d_matches_numpy_loops(cls, reduce, size, strides, padding):
    x = RNG.normal(size=(3, 10, 2))
    layer = cls(size, strides=strides, padding=padding, dtype="float64")
    y = layer(x).numpy()
    want = numpy_pool(x, (size,), (strides or size,), padding, reduce)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape(x.shape) == y.shape


def test_average_pooling_same_divides_by_real_elements_like_tf():
    # tf.nn.avg_pool2d(ones 3x3, ksize 2, strides 2, 'SAME') is all ones: the padded corner
    # windows hold 2 or 1 real elements and are divided by that count.
    y = AveragePooling2D(2, padding="same")(np.ones((1, 3, 3, 1), np.float32)).numpy()
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))
    x = np.arange(9.0, dtype=np.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(AveragePooling2D(2, padding="same")(x).numpy()[0, :, :, 0],
                                  [[2.0, 3.5], [6.5, 8.0]])


@pytest.mark.parametrize("cls, reduce, rank", [
    (GlobalAveragePooling1D, np.mean, 1), (GlobalAveragePooling2D, np.mean, 2),
    (GlobalMaxPooling1D, np.max, 1), (GlobalMaxPooling2D, np.max, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_numpy(cls, reduce, rank, keepdims):
    x = RNG.normal(size=(2, *(4,) * rank, 3))
    layer = cls(keepdims=keepdims, dtype="float64")
    y = layer(x).numpy()
    np.testing.assert_allclose(y, reduce(x, axis=tuple(range(1, rank + 1)), keepdims=keepdims),
                               rtol=1e-12)
    assert layer.compute_output_shape(x.shape) == y.shape
    first = cls(data_format="channels_first", keepdims=keepdims, dtype="float64")
    y_first = first(np.moveaxis(x, -1, 1)).numpy()
    np.testing.assert_allclose(y_first if not keepdims else np.moveaxis(y_first, 1, -1), y,
                               rtol=1e-12)


def test_pooling_channels_first_equals_channels_last():
    x = RNG.normal(size=(2, 5, 7, 3))
    for cls in (MaxPooling2D, AveragePooling2D):
        last = cls(3, strides=2, padding="same", dtype="float64")(x).numpy()
        first = cls(3, strides=2, padding="same", data_format="channels_first",
                    dtype="float64")(np.moveaxis(x, -1, 1)).numpy()
        np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, rtol=1e-12)


# ---- max pooling's gradient ----------------------------------------------------------------


def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window():
    """Ties: the first maximum in row-major window order takes the whole gradient (PyTorch
    and TF's CPU kernel do the same); overlapping windows add up."""
    x = tape.Tensor(np.array([[1.0, 5.0, 5.0],
                              [5.0, 2.0, 0.0],
                              [3.0, 3.0, 3.0]]).reshape(1, 3, 3, 1))
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.nn.max_pool2d(x, 2, strides=1)
    grad = g.gradient(y, x, output_gradients=tape.Tensor(
        np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(1, 2, 2, 1)))
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], [[5.0, 5.0], [5.0, 3.0]])
    np.testing.assert_array_equal(grad.numpy()[0, :, :, 0], [[0.0, 11.0, 0.0],
                                                             [100.0, 0.0, 0.0],
                                                             [0.0, 1000.0, 0.0]])


def test_max_pool_second_order_is_the_same_routing():
    """d/dg <max_pool_grad(x, g), u> reads u at the argmax; d/dx of it is zero."""
    x = tape.Tensor(RNG.permutation(24).reshape(1, 4, 6, 1).astype(np.float64))
    u = RNG.normal(size=x.shape)
    upstream = tape.Tensor(np.ones((1, 2, 3, 1)))
    with tape.GradientTape(persistent=True) as outer:
        outer.watch([x, upstream])
        with tape.GradientTape() as inner:
            inner.watch(x)
            y = tape.nn.max_pool2d(x, 2)
        gx = inner.gradient(y, x, output_gradients=upstream)
        projected = tape.sum(gx * u)
    d_upstream, d_x = outer.gradient(projected, [upstream, x], unconnected_gradients="zero")
    windows = x.numpy()[0, :, :, 0].reshape(2, 2, 3, 2).transpose(0, 2, 1, 3).reshape(2, 3, 4)
    picks = windows.argmax(-1)
    u_windows = u[0, :, :, 0].reshape(2, 2, 3, 2).transpose(0, 2, 1, 3).reshape(2, 3, 4)
    want = np.take_along_axis(u_windows, picks[..., None], -1)[..., 0]
    np.testing.assert_allclose(d_upstream.numpy()[0, :, :, 0], want)
    np.testing.assert_array_equal(d_x.numpy(), 0.0)


# ---- shapes, configs, save/load, bad input ---------------------------------------------------


def test_symbolic_shapes_through_pooling_layers():
    x = Input(shape=(None, 9, 3))
    assert MaxPooling2D()(x).shape == (None, None, 4, 3)
    assert AveragePooling2D(3, strides=2, padding="same")(x).shape == (None, None, 5, 3)
    assert GlobalMaxPooling2D()(x).shape == (None, 3)
    assert GlobalAveragePooling2D(keepdims=True)(x).shape == (None, 1, 1, 3)
    s = Input(shape=(10, 4))
    assert MaxPooling1D(3, padding="same")(s).shape == (None, 4, 4)
    assert AveragePooling1D(3, strides=1)(s).shape == (None, 8, 4)
    assert GlobalAveragePooling1D()(s).shape == (None, 4)
    assert MaxPooling2D(data_format="channels_first")(Input(shape=(3, 8, 6))).shape == (
        None, 3, 4, 3)


CONFIG_CASES = [
    lambda: MaxPooling2D((3, 2), strides=(1, 2), padding="same", name="p", dtype="float64"),
    lambda: AveragePooling2D(data_format="channels_first"),
    lambda: MaxPooling1D(4, strides=1),
    lambda: AveragePooling1D(3, padding="same"),
    lambda: GlobalAveragePooling2D(keepdims=True),
    lambda: GlobalMaxPooling1D(data_format="channels_first"),
    lambda: GlobalAveragePooling1D(),
    lambda: GlobalMaxPooling2D(),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_get_config_round_trips_through_json(make):
    layer = make()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(again) is type(layer) and again.get_config() == config


def test_keras_aliases():
    assert layers.MaxPool2D is MaxPooling2D and layers.AvgPool1D is AveragePooling1D
    assert layers.GlobalAvgPool2D is GlobalAveragePooling2D


def test_save_and_load_a_model_with_every_pooling_layer(tmp_path):
    tape.random.seed(0)
    images = Input(shape=(8, 8, 2))
    h = Conv2D(4, 3, padding="same")(images)
    a = GlobalMaxPooling2D()(MaxPooling2D(padding="same")(h))
    b = GlobalAveragePooling2D()(AveragePooling2D(3, strides=1)(h))
    seq = Input(shape=(12, 3))
    s = Conv1D(4, 3)(seq)
    c = GlobalAveragePooling1D()(MaxPooling1D(2)(s))
    d = GlobalMaxPooling1D()(AveragePooling1D(3, padding="same")(s))
    model = Model([images, seq], Dense(2)(layers.concatenate([a, b, c, d])))
    model.compile("adam", "mse")
    x = [RNG.normal(size=(4, 8, 8, 2)).astype(np.float32),
         RNG.normal(size=(4, 12, 3)).astype(np.float32)]
    model.fit(x, RNG.normal(size=(4, 2)).astype(np.float32), epochs=1, verbose=0)
    path = str(tmp_path / "pool.safetensors")
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_inputs_name_the_layer_and_the_shapes():
    with pytest.raises(ShapeError, match=r"'big_pool'.*\(3, 3\).*\(1, 2, 5, 1\)"):
        MaxPooling2D(3, name="big_pool")(np.ones((1, 2, 5, 1), np.float32))
    with pytest.raises(ShapeError, match=r"'big_pool_sym'.*\(3, 3\).*\(None, 2, 5, 1\)"):
        AveragePooling2D(3, name="big_pool_sym")(Input(shape=(2, 5, 1)))
    with pytest.raises(ShapeError, match=r"'pool_rank'.*ndim=4.*ndim=3"):
        MaxPooling2D(name="pool_rank")(np.ones((2, 4, 4), np.float32))
    with pytest.raises(ShapeError, match=r"'gap_rank'.*ndim=3.*ndim=4"):
        GlobalAveragePooling1D(name="gap_rank")(np.ones((2, 4, 4, 1), np.float32))
    with pytest.raises(ShapeError, match=r"max_pool2d: the pooling window .*\(1, 1, 3, 2\)"):
        tape.nn.max_pool2d(tape.ones((1, 1, 3, 2)), 2)
    with pytest.raises(ValueError, match="padding='full'"):
        MaxPooling1D(padding="full")


# ---- tracing ----------------------------------------------------------------------------------


def _conv_and_pooling_layers():
    from tape.layers import Conv2DTranspose, DepthwiseConv2D

    return [Conv2D(4, 3, padding="same", groups=2), DepthwiseConv2D(2, depth_multiplier=2),
            Conv2DTranspose(3, 3, strides=2, padding="same"), MaxPooling2D(padding="same"),
            AveragePooling2D(3, strides=2, padding="same"), GlobalMaxPooling2D(),
            GlobalAveragePooling2D()]


def test_conv_and_pooling_layers_read_no_values_while_tracing():
    """Under the tracing flag, reading a tensor into Python raises TraceError: every layer
    here runs forward, backward and a second backward through op-table calls only."""
    from tape import _state

    x = tape.Variable(RNG.normal(size=(2, 6, 6, 2)).astype(np.float32))
    seq = tape.Variable(RNG.normal(size=(2, 9, 3)).astype(np.float32))
    images = _conv_and_pooling_layers()
    sequences = [Conv1D(2, 3, padding="causal"), MaxPooling1D(2), AveragePooling1D(3),
                 GlobalMaxPooling1D(), GlobalAveragePooling1D()]
    for layer in images:  # build eagerly, as a traced step's first call would
        layer(x)
    for layer in sequences:
        layer(seq)
    with _state.using(_state.tracing, True):
        with tape.GradientTape() as outer:
            with tape.GradientTape() as inner:
                outs = [layer(x) for layer in images] + [layer(seq) for layer in sequences]
                loss = tape.sum(tape.stack([tape.sum(out * out) for out in outs]))
            grads = inner.gradient(loss, [x, seq])
            norm = tape.sum(grads[0] * grads[0]) + tape.sum(grads[1] * grads[1])
        second = outer.gradient(norm, [x, seq])
    assert all(g is not None for g in grads + second)


def test_traced_cnn_training_matches_eager_exactly():
    """fit's traced step replays the conv and pooling primitives on raw arrays: the same
    weights and losses as eager training, bit for bit."""
    from tape.layers import Conv2DTranspose, DepthwiseConv2D, Flatten

    x = RNG.normal(size=(24, 8, 8, 2)).astype(np.float32)
    y = RNG.integers(0, 3, 24)
    histories, weights = {}, {}
    for eager in (True, False):
        tape.random.seed(5)
        model = tape.models.Sequential([
            Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
            DepthwiseConv2D(3, depth_multiplier=2, padding="same"), MaxPooling2D(),
            Conv2DTranspose(3, 2, strides=2), AveragePooling2D(3, strides=2, padding="same"),
            Flatten(), Dense(3)])
        model.compile("adam", tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=eager)
        histories[eager] = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
        weights[eager] = model.get_weights()
        if not eager:  # the step really ran as a graph of the conv and pooling primitives
            graph = model.make_train_function().graph
            assert {"conv", "conv_input_grad", "conv_filter_grad", "max_pool", "max_pool_grad",
                    "avg_pool", "avg_pool_grad"} <= {node.op.name for node in graph.nodes}
    assert histories[True] == histories[False]
    for a, b in zip(weights[True], weights[False], strict=True):
        np.testing.assert_array_equal(a, b)
