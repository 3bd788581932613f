"""GaussianNoise and SpatialDropout1D/2D: the identity at inference, noisy in training with
the right statistics (seeded), reproducible per seed and fresh per call; Rescaling against
NumPy; gradients in float64, configs, errors and saved and reloaded models."""

import numpy as np
import pytest

import tape
from tape import layers
from tape.layers import (
    Conv2D,
    GaussianNoise,
    Input,
    Rescaling,
    SpatialDropout1D,
    SpatialDropout2D,
)
from tape.testing import check_gradients

from .layer_checks import assert_models_round_trip

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("make, shape", [
    (lambda: GaussianNoise(0.5, seed=1), (4, 5)),
    (lambda: SpatialDropout1D(0.5, seed=1), (4, 5, 6)),
    (lambda: SpatialDropout2D(0.5, seed=1), (2, 3, 3, 4)),
])
def test_identity_at_inference(make, shape):
    x = tape.tensor(RNG.normal(size=shape).astype(np.float32))
    layer = make()
    assert layer(x) is x
    assert layer(x, training=False) is x
    with tape._state.using(tape._state.training, False):
        assert layer(x) is x
    assert not np.array_equal(layer(x, training=True).numpy(), x.numpy())


def test_gaussian_noise_statistics_in_training():
    x = np.full((400, 500), 3.0, np.float32)
    noise = GaussianNoise(0.25, seed=2)(x, training=True).numpy() - x
    # 200k draws: the sample mean's std is 0.25 / 447 ~ 6e-4; the sample std's ~ 4e-4
    assert abs(noise.mean()) < 4e-3
    assert abs(noise.std() - 0.25) < 4e-3
    # normal, not uniform: about 68.3% within one stddev (std of the fraction ~1e-3)
    assert abs(np.mean(np.abs(noise) < 0.25) - 0.6827) < 0.01


def test_gaussian_noise_seed_reproduces_the_sequence_and_calls_are_fresh():
    x = tape.zeros((50, 40))
    layer = GaussianNoise(1.0, seed=7)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)
    again = GaussianNoise(1.0, seed=7)
    np.testing.assert_array_equal(again(x, training=True).numpy(), first)
    np.testing.assert_array_equal(again(x, training=True).numpy(), second)
    assert GaussianNoise(0.0)(x, training=True) is x


def test_gaussian_noise_gradient_is_the_identity_float64():
    layer = GaussianNoise(0.3, seed=0, dtype="float64")
    x = tape.Variable(RNG.normal(size=(3, 4)))
    v = RNG.normal(size=(3, 4))
    with tape.GradientTape() as g:
        y = layer(x, training=True)
    np.testing.assert_array_equal(g.gradient(y, x, output_gradients=tape.tensor(v)).numpy(), v)
    check_gradients(lambda t: layer(t) ** 3, RNG.normal(size=(3, 4)))  # inference path


@pytest.mark.parametrize("make, shape, channel_axes", [
    (lambda: SpatialDropout1D(0.4, seed=3), (40, 7, 30), (0, 2)),
    (lambda: SpatialDropout2D(0.4, seed=3), (20, 3, 4, 30), (0, 3)),
    (lambda: SpatialDropout2D(0.4, data_format="channels_first", seed=3), (20, 30, 3, 4),
     (0, 1)),
])
def test_spatial_dropout_drops_whole_channels(make, shape, channel_axes):
    y = make()(np.ones(shape, np.float32), training=True).numpy()
    spatial = tuple(a for a in range(len(shape)) if a not in channel_axes)
    per_channel = y.max(axis=spatial)
    # every (example, channel) is all dropped or all kept, at every position
    np.testing.assert_array_equal(y.min(axis=spatial), per_channel)
    np.testing.assert_allclose(np.unique(per_channel), [0.0, 1 / 0.6], rtol=1e-6)
    # 600 channel decisions at rate 0.4: std of the kept fraction is 0.02
    assert abs((per_channel > 0).mean() - 0.6) < 0.08


def test_spatial_dropout_gradient_follows_the_mask():
    x = tape.Variable(RNG.normal(size=(10, 4, 12)).astype(np.float32))
    with tape.GradientTape() as g:
        y = SpatialDropout1D(0.5, seed=5)(x, training=True)
        loss = tape.sum(y)
    grad = g.gradient(loss, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(grad[kept], 2.0)
    np.testing.assert_array_equal(grad[~kept], 0.0)


def test_spatial_dropout_checks_the_input_rank():
    with pytest.raises(tape.ShapeError, match="expected ndim=3"):
        SpatialDropout1D(0.5)(np.ones((2, 3), np.float32))
    with pytest.raises(tape.ShapeError, match="expected ndim=4"):
        SpatialDropout2D(0.5)(np.ones((2, 3, 4), np.float32))


@pytest.mark.parametrize("scale, offset, dtype", [
    (1 / 255, 0.0, np.uint8),
    (1 / 127.5, -1.0, np.uint8),
    (2.0, 0.5, np.float32),
    ([0.5, 2.0, -1.0], [1.0, 0.0, 3.0], np.float32),
])
def test_rescaling_matches_numpy(scale, offset, dtype):
    x = RNG.integers(0, 256, size=(2, 4, 3)).astype(dtype)
    y = Rescaling(scale, offset)(x)
    assert y.dtype == np.float32
    want = x.astype(np.float32) * np.asarray(scale, np.float32) + np.asarray(offset, np.float32)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)
    assert Rescaling(scale, offset)(Input(shape=(4, 3), dtype=str(np.dtype(dtype)))).dtype \
        == np.float32


def test_rescaling_gradient_float64():
    check_gradients(Rescaling([0.5, -2.0], 1.0, dtype="float64"), RNG.normal(size=(3, 2)))


CONFIG_CASES = [
    lambda: GaussianNoise(0.2, seed=4, name="noise"),
    lambda: SpatialDropout1D(0.3, seed=1),
    lambda: SpatialDropout2D(0.3, data_format="channels_first"),
    lambda: Rescaling(1 / 255),
    lambda: Rescaling([1.0, 2.0], offset=[0.0, -1.0]),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    assert "noise_shape" not in config
    assert type(layer).from_config(config).get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


@pytest.mark.parametrize("make, match", [
    (lambda: GaussianNoise(-0.1), "GaussianNoise: stddev .*stddev=-0.1"),
    (lambda: GaussianNoise("1"), "GaussianNoise: stddev .*stddev='1'"),
    (lambda: SpatialDropout1D(1.5), "rate=1.5"),
    (lambda: SpatialDropout2D(0.5, data_format="NCHW"), "SpatialDropout2D: .*'NCHW'"),
    (lambda: Rescaling("x"), "Rescaling: scale .*scale='x'"),
    (lambda: Rescaling(1.0, offset=[[1.0]]), r"Rescaling: offset .*offset=\[\[1.0\]\]"),
])
def test_bad_arguments_name_the_layer_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_noise_layers_in_saved_and_reloaded_models(tmp_path):
    def make():
        return [Rescaling(1 / 255, offset=-0.5), GaussianNoise(0.1, seed=1),
                Conv2D(4, 3, padding="same"), SpatialDropout2D(0.25, seed=2)]

    images = RNG.integers(0, 256, size=(6, 5, 5, 3)).astype(np.float32)
    assert_models_round_trip(make, images, tmp_path)


def test_spatial_dropout1d_in_saved_and_reloaded_models(tmp_path):
    x = RNG.normal(size=(6, 5, 4)).astype(np.float32)
    assert_models_round_trip(lambda: [SpatialDropout1D(0.3, seed=0)], x, tmp_path)


@pytest.mark.gpu
def test_every_new_layer_gives_the_cpu_result_on_the_gpu():
    """Seeded Gaussian noise is drawn on the host, so a seed gives the same draws on both
    devices (dropout masks are not: the GPU computes its own Philox stream)."""
    from tape.layers import (
        ELU,
        Cropping2D,
        Dense,
        LeakyReLU,
        Permute,
        PReLU,
        ReLU,
        Softmax,
        TimeDistributed,
        UpSampling2D,
        ZeroPadding2D,
    )

    def make():
        return [Rescaling(0.5, 1.0), GaussianNoise(0.3, seed=1), ZeroPadding2D(1),
                Cropping2D(((1, 0), (0, 1))), UpSampling2D(2), Permute((2, 1, 3)),
                ReLU(1.0, 0.1), LeakyReLU(), ELU(), PReLU(alpha_initializer="random_normal"),
                TimeDistributed(Dense(3)), Softmax(axis=1)]

    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    results = {}
    for device in ("cpu", "gpu"):
        tape.random.seed(0)
        with tape.device(device):
            h = tape.tensor(x)
            for layer in make():
                h = layer(h, training=True)
                assert h.device.startswith(device), (layer.name, h.device)
            results[device] = h.to("cpu").numpy()
    np.testing.assert_allclose(results["gpu"], results["cpu"], rtol=1e-5, atol=1e-6)
    y = SpatialDropout2D(0.5, seed=2)(tape.ones((4, 3, 3, 8)).to("gpu"), training=True)
    assert y.device.startswith("gpu")
    y = y.to("cpu").numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :1, :], y.shape))
    assert 0 < (y == 0).mean() < 1
