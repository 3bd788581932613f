"""ReLU, LeakyReLU, ELU, Softmax and PReLU layers against jax.nn, gradients by finite
differences in float64, configs, errors, and the layers inside saved and reloaded models."""

import numpy as np
import pytest

import tape
from tape import layers
from tape.layers import ELU, Input, LeakyReLU, PReLU, ReLU, Softmax
from tape.testing import check_gradients

from .layer_checks import assert_models_round_trip

jax = pytest.importorskip("jax")
jnp = jax.numpy

RNG = np.random.default_rng(11)


def _x(shape=(3, 4, 5), scale=2.0):
    return RNG.normal(size=shape) * scale


def _keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras' ReLU definition written out in jnp."""
    y = jnp.where(x >= threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else jnp.where(x >= max_value, max_value, y)


ORACLES = [
    (lambda: ReLU(), jax.nn.relu),
    (lambda: ReLU(max_value=6.0), jax.nn.relu6),
    (lambda: ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5),
     lambda x: _keras_relu(x, 2.0, 0.1, 0.5)),
    (lambda: ReLU(negative_slope=0.2), lambda x: jax.nn.leaky_relu(x, 0.2)),
    (lambda: LeakyReLU(), lambda x: jax.nn.leaky_relu(x, 0.3)),
    (lambda: LeakyReLU(negative_slope=0.05), lambda x: jax.nn.leaky_relu(x, 0.05)),
    (lambda: LeakyReLU(alpha=0.1), lambda x: jax.nn.leaky_relu(x, 0.1)),
    (lambda: ELU(), jax.nn.elu),
    (lambda: ELU(alpha=2.5), lambda x: jax.nn.elu(x, 2.5)),
    (lambda: Softmax(), jax.nn.softmax),
    (lambda: Softmax(axis=1), lambda x: jax.nn.softmax(x, axis=1)),
    (lambda: Softmax(axis=(1, 2)), lambda x: jax.nn.softmax(x, axis=(1, 2))),
]


@pytest.mark.parametrize("make, oracle", ORACLES)
def test_values_match_jax(make, oracle):
    x = _x()
    np.testing.assert_allclose(make()(x.astype(np.float32)).numpy(),
                               oracle(x.astype(np.float32)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make, oracle", ORACLES)
def test_gradients_float64(make, oracle):
    layer = make()
    layer.dtype = "float64"
    x = _x()
    check_gradients(layer, x)
    # and the gradient itself against JAX's
    with tape.GradientTape() as g:
        xt = tape.Variable(x)
        y = layer(xt)
    v = RNG.normal(size=x.shape)
    ours = g.gradient(y, xt, output_gradients=tape.tensor(v)).numpy()
    _, vjp = jax.vjp(oracle, x)
    np.testing.assert_allclose(ours, vjp(v)[0], rtol=1e-10, atol=1e-12)


def test_relu_max_value_gradient_is_zero_from_the_cap_on():
    x = tape.Variable(np.array([-1.0, 0.5, 6.0, 7.0]))
    with tape.GradientTape() as g:
        y = tape.sum(ReLU(max_value=6.0, dtype="float64")(x))
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [0.0, 1.0, 0.0, 0.0])


def test_softmax_mask_matches_jax_where():
    x = _x((2, 3, 5))
    mask = RNG.random(size=(2, 3, 5)) < 0.6
    mask[0, 0] = False  # a fully masked row is all zeros, as Keras (probabilities * mask)
    got = Softmax(dtype="float64")(x, mask=mask).numpy()
    want = np.where(mask, jax.nn.softmax(x, where=mask), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got[0, 0], 0.0)
    check_gradients(lambda t: Softmax(dtype="float64")(t, mask=mask), x)


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (4, 5)), ([1], (1, 5)),
                                                      (2, (4, 1)), ([1, 2], (1, 1))])
def test_prelu_alpha_shape_values_and_gradients(shared_axes, alpha_shape):
    layer = PReLU(alpha_initializer="random_normal", shared_axes=shared_axes, dtype="float64")
    x = _x((3, 4, 5))
    y = layer(x).numpy()
    (alpha,) = layer.get_weights()
    assert alpha.shape == alpha_shape and layer.alpha.trainable
    np.testing.assert_allclose(y, jnp.where(x > 0, x, alpha * x), rtol=1e-12)
    check_gradients(lambda t, a: layer(t), x, layer.alpha)  # alpha checked in place


def test_prelu_default_is_relu_and_images_get_one_alpha_per_channel():
    x = _x((2, 3, 3, 4))
    np.testing.assert_allclose(PReLU()(x).numpy(), np.maximum(x, 0).astype(np.float32))
    layer = PReLU(shared_axes=[1, 2])
    layer(x)
    assert layer.alpha.shape == (1, 1, 4)
    with pytest.raises(tape.ShapeError, match="expected axis 3 of the input shape to have "
                                              "value 4"):
        layer(_x((2, 3, 3, 5)))


CONFIG_CASES = [
    lambda: ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="r"),
    lambda: LeakyReLU(alpha=0.2),
    lambda: ELU(alpha=0.7),
    lambda: Softmax(axis=(1, 2)),
    lambda: PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1, 2]),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


def test_config_keeps_keras_names():
    assert LeakyReLU(alpha=0.2).get_config()["negative_slope"] == 0.2
    assert ReLU().get_config()["max_value"] is None
    assert PReLU(shared_axes=2).get_config()["shared_axes"] == [2]


@pytest.mark.parametrize("make, match", [
    (lambda: ReLU(max_value=-1.0), "ReLU: max_value.*max_value=-1.0"),
    (lambda: ReLU(negative_slope=-0.5), "ReLU: negative_slope.*negative_slope=-0.5"),
    (lambda: ReLU(threshold="0"), "ReLU: threshold.*threshold='0'"),
    (lambda: LeakyReLU(negative_slope=-0.3), "LeakyReLU: .*negative_slope=-0.3"),
    (lambda: ELU(alpha=None), "ELU: alpha.*alpha=None"),
    (lambda: Softmax(axis=1.5), "Softmax: axis.*axis=1.5"),
    (lambda: PReLU(shared_axes=[0]), r"PReLU: shared_axes.*shared_axes=\[0\]"),
])
def test_bad_arguments_name_the_layer_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_prelu_needs_known_sizes_and_fitting_shared_axes():
    with pytest.raises(ValueError, match="known size.*input_shape=\\(None, None, 4\\)"):
        PReLU(shared_axes=None)(Input(shape=(None, 4)))
    assert PReLU(shared_axes=[1])(Input(shape=(None, 4))).shape == (None, None, 4)
    with pytest.raises(ValueError, match="shared_axes \\(3,\\) do not fit"):
        PReLU(shared_axes=[3])(Input(shape=(2, 4)))


def test_symbolic_shapes():
    x = Input(shape=(6, 4))
    for layer in (ReLU(6.0), LeakyReLU(), ELU(), Softmax(axis=1), PReLU()):
        assert layer(x).shape == (None, 6, 4)


def test_in_saved_and_reloaded_models(tmp_path):
    def make():
        return [ReLU(max_value=1.5, negative_slope=0.1), LeakyReLU(alpha=0.2), ELU(0.5),
                PReLU(alpha_initializer="random_uniform", shared_axes=[1]), Softmax(axis=1)]

    x = RNG.normal(size=(8, 3, 4)).astype(np.float32)
    functional, _ = assert_models_round_trip(make, x, tmp_path)
    prelu = next(layer for layer in functional.layers if isinstance(layer, PReLU))
    alpha_before = prelu.get_weights()[0]
    functional.fit(x, np.ones((8, 2), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(prelu.get_weights()[0], alpha_before)  # alpha is trained
