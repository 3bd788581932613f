"""BatchNormalization and LayerNormalization against NumPy formulas (Keras semantics), their
gradients against jax.grad in float64, train vs inference behaviour, moving-statistic updates
(eagerly and inside fit), masks, saving and bad input."""

import numpy as np
import pytest

import tape
from tape.layers import (
    BatchNormalization,
    Dense,
    Embedding,
    Flatten,
    Input,
    LayerNormalization,
    get_mask,
)
from tape.models import Model, Sequential, load_model

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(11)


def _np_normalize(x, mean, var, gamma, beta, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _set_random_affine(layer):
    layer.set_weights([RNG.normal(size=w.shape) if "moving_variance" not in v.name
                       else RNG.uniform(0.5, 2.0, size=w.shape)
                       for w, v in zip(layer.get_weights(), layer.weights)])


# ---- BatchNormalization -------------------------------------------------------------------------


def test_weights_follow_keras_order_and_trainability():
    layer = BatchNormalization()
    layer(np.zeros((2, 3), np.float32))
    assert [v.name.split("/")[-1] for v in layer.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    assert [v.name.split("/")[-1] for v in layer.trainable_weights] == ["gamma", "beta"]
    assert len(BatchNormalization(center=False, scale=False)(
        np.zeros((2, 3), np.float32)).shape) == 2


def test_training_uses_batch_statistics_and_updates_moving_ones():
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3, dtype="float64")
    x = RNG.normal(loc=2.0, scale=3.0, size=(8, 4))
    layer(x[:1])  # build
    _set_random_affine(layer)
    gamma, beta, moving_mean, moving_var = layer.get_weights()
    out = layer(x, training=True).numpy()
    mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance, as Keras
    np.testing.assert_allclose(out, _np_normalize(x, mean, var, gamma, beta, 1e-3), rtol=1e-10)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.9 * moving_mean + 0.1 * mean,
                               rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 * moving_var + 0.1 * var,
                               rtol=1e-12)


def test_inference_uses_moving_statistics_and_changes_nothing():
    layer = BatchNormalization(dtype="float64")
    x = RNG.normal(size=(5, 3))
    layer(x[:1])
    _set_random_affine(layer)
    before = layer.get_weights()
    gamma, beta, moving_mean, moving_var = before
    for out in (layer(x), layer(x, training=False)):
        np.testing.assert_allclose(
            out.numpy(), _np_normalize(x, moving_mean, moving_var, gamma, beta, 1e-3), rtol=1e-12)
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_frozen_layer_runs_in_inference_mode_even_when_training():
    layer = BatchNormalization(dtype="float64")
    x = RNG.normal(size=(5, 3))
    layer(x[:1])
    _set_random_affine(layer)
    layer.trainable = False
    gamma, beta, moving_mean, moving_var = layer.get_weights()
    out = layer(x, training=True).numpy()
    np.testing.assert_allclose(out, _np_normalize(x, moving_mean, moving_var, gamma, beta, 1e-3),
                               rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), moving_mean)


def test_other_axes_keep_their_own_statistics():
    layer = BatchNormalization(axis=1, dtype="float64")  # channels first
    x = RNG.normal(size=(4, 3, 2, 2))
    out = layer(x, training=True).numpy()
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    assert layer.moving_mean.shape == (3,)


@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_jax(training):
    layer = BatchNormalization(dtype="float64")
    x = RNG.normal(size=(6, 3))
    layer(x[:1])
    _set_random_affine(layer)
    _, _, moving_mean, moving_var = (jnp.asarray(w) for w in layer.get_weights())
    v = RNG.normal(size=(6, 3))
    xt = tape.Tensor(x)
    with tape.GradientTape() as g:
        g.watch(xt)
        loss = tape.sum(layer(xt, training=training) * v)
    got = g.gradient(loss, [xt, layer.gamma, layer.beta])

    def f(x, gamma, beta):
        if training:
            mean, var = jnp.mean(x, axis=0), jnp.var(x, axis=0)
        else:
            mean, var = moving_mean, moving_var
        return jnp.sum(((x - mean) / jnp.sqrt(var + 1e-3) * gamma + beta) * v)

    want = jax.grad(f, argnums=(0, 1, 2))(jnp.asarray(x), layer.gamma.numpy(),
                                          layer.beta.numpy())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-12)


def test_masked_positions_do_not_count_in_batch_statistics():
    layer = BatchNormalization(momentum=0.0, dtype="float64")
    x = RNG.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    layer(x, mask=mask, training=True)
    kept = x[mask]  # (5, 3): the unmasked positions
    np.testing.assert_allclose(layer.moving_mean.numpy(), kept.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), kept.var(axis=0), rtol=1e-12)


def test_embedding_mask_passes_through_and_is_used():
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    embed = Embedding(4, 2, mask_zero=True)
    layer = BatchNormalization(momentum=0.0)
    out = layer(embed(ids), training=True)
    np.testing.assert_array_equal(get_mask(out).numpy(), ids != 0)
    vectors = embed(ids).numpy()[ids != 0]
    np.testing.assert_allclose(layer.moving_mean.numpy(), vectors.mean(axis=0), rtol=1e-5,
                               atol=1e-7)


def test_fit_updates_moving_statistics_and_evaluate_does_not():
    x = RNG.normal(loc=5.0, size=(64, 3)).astype(np.float32)
    model = Sequential([BatchNormalization(momentum=0.5, input_shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((64, 1)), batch_size=16, epochs=3, verbose=0)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), atol=0.5)
    frozen = bn.get_weights()
    model.evaluate(x, np.zeros((64, 1)), verbose=0)
    model.predict(x, verbose=0)
    for a, b in zip(bn.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)


# ---- LayerNormalization -------------------------------------------------------------------------


@pytest.mark.parametrize("axis, shape", [(-1, (2, 3, 4)), ([1, 2], (2, 3, 4)), (1, (2, 3, 4)),
                                         ([-3, -1], (2, 3, 2, 4))])
def test_layer_norm_matches_numpy_over_its_axes(axis, shape):
    layer = LayerNormalization(axis=axis, dtype="float64")
    x = RNG.normal(size=shape)
    layer(x)
    _set_random_affine(layer)
    gamma, beta = layer.get_weights()
    axes = tuple(a % len(shape) for a in np.atleast_1d(axis))
    weight_shape = [shape[a] if a in axes else 1 for a in range(len(shape))]
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    want = _np_normalize(x, mean, var, gamma.reshape(weight_shape), beta.reshape(weight_shape),
                         1e-3)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-10)
    assert gamma.shape == tuple(shape[a] for a in axes)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_layer_norm_gradients_match_jax(axis):
    layer = LayerNormalization(axis=axis, dtype="float64")
    x = RNG.normal(size=(2, 3, 4))
    layer(x)
    _set_random_affine(layer)
    axes = (2,) if axis == -1 else (1, 2)
    v = RNG.normal(size=x.shape)
    xt = tape.Tensor(x)
    with tape.GradientTape() as g:
        g.watch(xt)
        loss = tape.sum(layer(xt) * v)
    got = g.gradient(loss, [xt, layer.gamma, layer.beta])

    def f(x, gamma, beta):
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.var(x, axis=axes, keepdims=True)
        return jnp.sum(((x - mean) / jnp.sqrt(var + 1e-3) * gamma + beta) * v)

    want = jax.grad(f, argnums=(0, 1, 2))(jnp.asarray(x), layer.gamma.numpy(),
                                          layer.beta.numpy())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-12)


def test_layer_norm_without_center_and_scale_has_no_weights():
    layer = LayerNormalization(center=False, scale=False, epsilon=0.0, dtype="float64")
    x = RNG.normal(size=(3, 5))
    out = layer(x).numpy()
    assert layer.weights == []
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=-1), 1, rtol=1e-10)


# ---- saving and bad input -----------------------------------------------------------------------


def test_save_and_load_keep_moving_statistics(tmp_path):
    inputs = Input(shape=(4, 3))
    x = BatchNormalization(axis=-1, momentum=0.8)(inputs)
    x = LayerNormalization(axis=[1, 2], epsilon=1e-2)(x)
    model = Model(inputs, Dense(1)(Flatten()(x)))
    model.compile(optimizer="adam", loss="mse")
    data = RNG.normal(loc=3.0, size=(16, 4, 3)).astype(np.float32)
    model.fit(data, RNG.normal(size=(16, 1)), epochs=2, verbose=0)
    assert np.any(model.layers[1].moving_mean.numpy() != 0)
    model.save(tmp_path / "norm.safetensors")
    loaded = load_model(tmp_path / "norm.safetensors")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    assert loaded.layers[1].momentum == 0.8 and loaded.layers[2].axis == [1, 2]


def test_wrong_rank_and_feature_size_name_the_layer_and_shapes():
    layer = BatchNormalization(name="bn_checked")
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'bn_checked'.*expected ndim=2.*\(2, 3, 1\)"):
        layer(np.zeros((2, 3, 1), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'bn_checked'.*axis 1.*value 3.*\(2, 4\)"):
        layer(np.zeros((2, 4), np.float32))
    norm = LayerNormalization(name="ln_checked")
    norm(np.zeros((2, 5), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'ln_checked'.*value 5.*\(2, 6\)"):
        norm(np.zeros((2, 6), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'ln_axis'.*axis=3.*\(2, 5\)"):
        LayerNormalization(axis=3, name="ln_axis")(np.zeros((2, 5), np.float32))
    with pytest.raises(tape.ShapeError, match=r"batch axis"):
        LayerNormalization(axis=0)(np.zeros((2, 5), np.float32))


def test_mask_of_the_wrong_shape_names_the_layer():
    layer = BatchNormalization(name="bn_mask")
    with pytest.raises(tape.ShapeError, match=r"'bn_mask'.*mask of shape \(2, 5\).*\(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), np.float32), mask=np.ones((2, 5), bool), training=True)
