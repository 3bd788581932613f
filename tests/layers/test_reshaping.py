"""Shape layers (ZeroPadding, Cropping, UpSampling, RepeatVector, Permute, Identity) and
TimeDistributed against NumPy written out here (np.pad, slicing, np.repeat, transpose),
gradients by finite differences in float64, configs, errors, symbolic shapes, and saved and
reloaded models."""

import numpy as np
import pytest

import tape
from tape import layers
from tape.layers import (
    Conv2D,
    Cropping1D,
    Cropping2D,
    Dense,
    Dropout,
    Identity,
    Input,
    Permute,
    RepeatVector,
    TimeDistributed,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from tape.models import Sequential
from tape.testing import check_gradients

from .layer_checks import assert_models_round_trip

RNG = np.random.default_rng(7)
SEQ = RNG.normal(size=(2, 6, 3))  # (batch, steps, channels)
IMG = RNG.normal(size=(2, 5, 6, 3))  # (batch, height, width, channels)
IMG_CF = RNG.normal(size=(2, 3, 5, 6))  # channels first

# (layer factory, input, NumPy oracle)
CASES = [
    (lambda: ZeroPadding1D(), SEQ, lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0)))),
    (lambda: ZeroPadding1D((0, 3)), SEQ, lambda x: np.pad(x, ((0, 0), (0, 3), (0, 0)))),
    (lambda: ZeroPadding2D(), IMG, lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    (lambda: ZeroPadding2D(2), IMG, lambda x: np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))),
    (lambda: ZeroPadding2D((1, 0)), IMG, lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0)))),
    (lambda: ZeroPadding2D(((1, 2), (3, 0))), IMG,
     lambda x: np.pad(x, ((0, 0), (1, 2), (3, 0), (0, 0)))),
    (lambda: ZeroPadding2D(((0, 1), (2, 1)), data_format="channels_first"), IMG_CF,
     lambda x: np.pad(x, ((0, 0), (0, 0), (0, 1), (2, 1)))),
    (lambda: Cropping1D(), SEQ, lambda x: x[:, 1:-1]),
    (lambda: Cropping1D((2, 0)), SEQ, lambda x: x[:, 2:]),
    (lambda: Cropping1D(2), SEQ, lambda x: x[:, 2:4]),
    (lambda: Cropping2D(), IMG, lambda x: x),
    (lambda: Cropping2D(1), IMG, lambda x: x[:, 1:4, 1:5]),
    (lambda: Cropping2D((2, 1)), IMG, lambda x: x[:, 2:3, 1:5]),
    (lambda: Cropping2D(((0, 2), (3, 1))), IMG, lambda x: x[:, 0:3, 3:5]),
    (lambda: Cropping2D(((1, 0), (0, 2)), data_format="channels_first"), IMG_CF,
     lambda x: x[:, :, 1:, :4]),
    (lambda: UpSampling1D(), SEQ, lambda x: np.repeat(x, 2, axis=1)),
    (lambda: UpSampling1D(3), SEQ, lambda x: np.repeat(x, 3, axis=1)),
    (lambda: UpSampling2D(), IMG, lambda x: np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)),
    (lambda: UpSampling2D((3, 1)), IMG, lambda x: np.repeat(x, 3, axis=1)),
    (lambda: UpSampling2D(2, data_format="channels_first"), IMG_CF,
     lambda x: np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)),
    (lambda: RepeatVector(4), SEQ[:, 0], lambda x: np.stack([x] * 4, axis=1)),
    (lambda: Permute((2, 1)), SEQ, lambda x: x.transpose(0, 2, 1)),
    (lambda: Permute((3, 1, 2)), IMG, lambda x: x.transpose(0, 3, 1, 2)),
    (lambda: Permute((1, 2, 3)), IMG, lambda x: x),
    (lambda: Identity(), IMG, lambda x: x),
]
IDS = [f"{i}" for i in range(len(CASES))]


@pytest.mark.parametrize("make, x, oracle", CASES, ids=IDS)
def test_values_shapes_and_gradients(make, x, oracle):
    layer = make()
    y = layer(x.astype(np.float32))
    np.testing.assert_array_equal(y.numpy(), oracle(x.astype(np.float32)))
    assert layer.compute_output_shape(x.shape) == y.shape
    symbolic = make()(Input(shape=x.shape[1:]))
    assert symbolic.shape == (None, *y.shape[1:])
    check_gradients(make_float64(make), x)


def make_float64(make):
    layer = make()
    layer.dtype = "float64"
    return lambda x: layer(x) ** 2  # a nonlinear function of the layer's output


def test_unknown_sizes_stay_unknown_symbolically():
    x = Input(shape=(None, None, 3))
    assert ZeroPadding2D(((1, 2), (0, 1)))(x).shape == (None, None, None, 3)
    assert Cropping2D(1)(x).shape == (None, None, None, 3)
    assert UpSampling2D(2)(x).shape == (None, None, None, 3)
    assert Permute((3, 1, 2))(x).shape == (None, 3, None, None)
    assert RepeatVector(5)(Input(shape=(4,))).shape == (None, 5, 4)


def test_any_batch_size_after_a_symbolic_call():
    layer = Cropping1D((1, 2))
    layer(Input(shape=(6, 3)))
    for batch in (1, 4):
        x = RNG.normal(size=(batch, 6, 3)).astype(np.float32)
        np.testing.assert_array_equal(layer(x).numpy(), x[:, 1:4])


CONFIG_CASES = [
    lambda: ZeroPadding1D((2, 1)),
    lambda: ZeroPadding2D(((1, 2), (3, 4)), data_format="channels_first", name="pad"),
    lambda: Cropping1D(3),
    lambda: Cropping2D((1, 2)),
    lambda: UpSampling1D(4),
    lambda: UpSampling2D((2, 3), data_format="channels_first"),
    lambda: RepeatVector(5),
    lambda: Permute((3, 1, 2)),
    lambda: Identity(name="id"),
    lambda: TimeDistributed(Dense(3, activation="relu", name="inner"), name="td"),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


def test_configs_hold_normalized_keras_forms():
    assert ZeroPadding2D(1).get_config()["padding"] == ((1, 1), (1, 1))
    assert ZeroPadding2D((1, 2)).get_config()["padding"] == ((1, 1), (2, 2))
    assert ZeroPadding1D(2).get_config()["padding"] == (2, 2)
    assert Cropping2D([[1, 0], [2, 3]]).get_config()["cropping"] == ((1, 0), (2, 3))
    assert UpSampling2D(3).get_config()["size"] == (3, 3)
    assert TimeDistributed(Dense(2)).get_config()["layer"]["class_name"] == "Dense"


@pytest.mark.parametrize("make, match", [
    (lambda: ZeroPadding1D(-1), "ZeroPadding1D: padding .*padding=-1"),
    (lambda: ZeroPadding2D(((1, -2), (0, 0))), r"ZeroPadding2D: padding .*\(1, -2\)"),
    (lambda: ZeroPadding2D((1, 2, 3)), r"ZeroPadding2D: padding .*padding=\(1, 2, 3\)"),
    (lambda: Cropping1D((-1, 0)), r"Cropping1D: cropping .*cropping=\(-1, 0\)"),
    (lambda: Cropping2D(1.5), "Cropping2D: cropping .*cropping=1.5"),
    (lambda: UpSampling1D(0), "UpSampling1D: size .*size=0"),
    (lambda: UpSampling2D((2, 0)), r"UpSampling2D: size .*size=\(2, 0\)"),
    (lambda: UpSampling2D(interpolation="cubic"), "interpolation='cubic'"),
    (lambda: RepeatVector(0), "RepeatVector: n .*n=0"),
    (lambda: Permute((1, 3)), r"Permute: dims .*dims=\(1, 3\)"),
    (lambda: Permute((0, 1)), r"Permute: dims .*dims=\(0, 1\)"),
    (lambda: Permute((1, 1)), r"Permute: dims .*dims=\(1, 1\)"),
    (lambda: ZeroPadding2D(data_format="NHWC"), "data_format='NHWC'"),
])
def test_bad_arguments_name_the_layer_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bilinear_upsampling_is_not_implemented():
    with pytest.raises(NotImplementedError, match="UpSampling2D.*'nearest'.*'bilinear'"):
        UpSampling2D(interpolation="bilinear")


def test_cropping_more_than_the_size_is_an_error_naming_layer_and_value():
    with pytest.raises(ValueError, match=r"Cropping1D 'crop'.*cropping=\(4, 2\).*6 entries"):
        Cropping1D((4, 2), name="crop")(SEQ)
    with pytest.raises(ValueError, match=r"Cropping2D 'c2'.*cropping=\(\(3, 3\), \(0, 0\)\)"):
        Cropping2D(((3, 3), (0, 0)), name="c2")(Input(shape=(5, 6, 3)))


def test_wrong_input_rank_is_a_shape_error():
    with pytest.raises(tape.ShapeError, match="expected ndim=4"):
        ZeroPadding2D()(SEQ)
    with pytest.raises(tape.ShapeError, match="expected ndim=3"):
        Permute((2, 1))(IMG)
    with pytest.raises(tape.ShapeError, match="expected ndim=2"):
        RepeatVector(2)(SEQ)


def test_shape_layers_in_saved_and_reloaded_models(tmp_path):
    def make():
        return [ZeroPadding2D(((1, 0), (0, 2))), Conv2D(2, 3, padding="same"),
                Cropping2D(((0, 1), (1, 1))), UpSampling2D((1, 2)), Permute((2, 1, 3)),
                Identity()]

    assert_models_round_trip(make, IMG[:, :4, :4].astype(np.float32), tmp_path)


def test_sequence_layers_in_saved_and_reloaded_models(tmp_path):
    def make():
        return [ZeroPadding1D((2, 0)), Cropping1D((0, 1)), UpSampling1D(2),
                TimeDistributed(Dense(3)), layers.Flatten(), RepeatVector(2)]

    assert_models_round_trip(make, SEQ.astype(np.float32), tmp_path)


# ---- TimeDistributed ------------------------------------------------------------------


def test_time_distributed_dense_equals_dense_per_step():
    layer = TimeDistributed(Dense(4, activation="tanh", bias_initializer="random_normal"))
    x = SEQ.astype(np.float32)
    y = layer(x).numpy()
    assert y.shape == (2, 6, 4) and len(layer.weights) == 2
    dense = layer.layer
    for t in range(x.shape[1]):
        np.testing.assert_allclose(y[:, t], dense(x[:, t]).numpy(), rtol=1e-6, atol=1e-7)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(y, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_time_distributed_conv2d_over_frames_and_symbolic_shape():
    frames = RNG.normal(size=(2, 3, 5, 5, 2)).astype(np.float32)
    layer = TimeDistributed(Conv2D(4, 3))
    y = layer(frames).numpy()
    assert y.shape == (2, 3, 3, 3, 4)
    for t in range(3):
        np.testing.assert_allclose(y[:, t], layer.layer(frames[:, t]).numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert TimeDistributed(Conv2D(4, 3))(Input(shape=(None, 5, 5, 2))).shape == (
        None, None, 3, 3, 4)


def test_time_distributed_gradients_float64():
    layer = TimeDistributed(Dense(3, activation="tanh", dtype="float64"))
    x = SEQ
    layer(x)
    check_gradients(lambda t, *weights: layer(t), x, *layer.trainable_weights)


def test_a_training_step_through_time_distributed_updates_the_dense_weights():
    model = Sequential([Input(shape=(6, 3)), TimeDistributed(Dense(2)), layers.Flatten(),
                        Dense(1)])
    model.compile("sgd", "mse")
    inner = model.layers[0].layer
    before = [w.copy() for w in inner.get_weights()]
    with tape.GradientTape() as g:
        loss = tape.mean((model(SEQ.astype(np.float32)) - 1.0) ** 2)
    grads = g.gradient(loss, inner.trainable_weights)
    assert all(grad is not None and np.any(grad.numpy() != 0) for grad in grads)
    model.fit(SEQ.astype(np.float32), np.ones((2, 1), np.float32), epochs=1, verbose=0)
    for w, w0 in zip(inner.get_weights(), before, strict=True):
        assert not np.allclose(w, w0)


def test_time_distributed_passes_training_to_the_wrapped_layer():
    layer = TimeDistributed(Dropout(0.5, seed=0))
    x = np.ones((4, 5, 6), np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    assert np.any(layer(x, training=True).numpy() == 0)


def test_time_distributed_rejects_non_layers_and_low_rank_inputs():
    with pytest.raises(ValueError, match="layer must be a Layer.*layer=<ufunc .tanh.>"):
        TimeDistributed(np.tanh)
    with pytest.raises(tape.ShapeError, match="expected min_ndim=3"):
        TimeDistributed(Dense(2))(SEQ[:, 0])
