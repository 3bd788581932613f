"""MultiHeadAttention against the Keras equations written in jax.numpy (einsum over the
Keras weight shapes), its gradients against jax.grad in float64, masks (explicit, causal,
from Embedding), dropout, a Transformer encoder block that learns a task only attention can
solve, saving, and bad input."""

import numpy as np
import pytest

import tape
from tape.layers import (
    Add,
    Dense,
    Embedding,
    Flatten,
    Input,
    LayerNormalization,
    MultiHeadAttention,
    get_mask,
)
from tape.models import Model, load_model

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(5)


def jax_mha(query, value, key, weights, mask=None):
    """Keras' MultiHeadAttention: einsum projections, scaled scores, masked softmax."""
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    q = jnp.einsum("btd,dhk->bthk", query, qk) + qb
    k = jnp.einsum("bsd,dhk->bshk", key, kk) + kb
    v = jnp.einsum("bsd,dhv->bshv", value, vk) + vb
    scores = jnp.einsum("bshk,bthk->bhts", k, q / np.sqrt(qk.shape[-1]))
    if mask is not None:
        scores = jnp.where(mask[:, None], scores, -1e9)
    probs = jax.nn.softmax(scores, axis=-1)
    out = jnp.einsum("bhts,bshv->bthv", probs, v)
    return jnp.einsum("bthv,hvo->bto", out, ok) + ob, probs


def _layer(**kwargs):
    layer = MultiHeadAttention(dtype="float64", **kwargs)
    return layer


def _randomize(layer):
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return [jnp.asarray(w) for w in layer.get_weights()]


def test_weights_have_keras_names_shapes_and_order():
    layer = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
    layer(np.zeros((1, 6, 7), np.float32), np.zeros((1, 2, 8), np.float32))
    assert [(v.name.split("/", 1)[1], v.shape) for v in layer.weights] == [
        ("query/kernel", (7, 2, 3)), ("query/bias", (2, 3)),
        ("key/kernel", (8, 2, 3)), ("key/bias", (2, 3)),
        ("value/kernel", (8, 2, 4)), ("value/bias", (2, 4)),
        ("attention_output/kernel", (2, 4, 5)), ("attention_output/bias", (5,))]


@pytest.mark.parametrize("separate_key", [False, True])
def test_output_and_scores_match_the_keras_equations(separate_key):
    layer = _layer(num_heads=3, key_dim=2, value_dim=4, output_shape=6)
    query, value = RNG.normal(size=(2, 5, 4)), RNG.normal(size=(2, 3, 7))
    key = RNG.normal(size=(2, 3, 5)) if separate_key else None
    layer(query, value, key=key)
    weights = _randomize(layer)
    mask = RNG.random((2, 5, 3)) > 0.3
    out, scores = layer(query, value, key=key, attention_mask=mask,
                        return_attention_scores=True)
    want_out, want_scores = jax_mha(query, value, value if key is None else key, weights, mask)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-10, atol=1e-12)
    assert out.shape == (2, 5, 6) and scores.shape == (2, 3, 5, 3)


def test_causal_mask_combines_with_the_attention_mask():
    layer = _layer(num_heads=2, key_dim=3)
    x = RNG.normal(size=(2, 4, 3))
    layer(x, x)
    weights = _randomize(layer)
    pad = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)[:, None, :]  # (B, 1, S)
    out, scores = layer(x, x, attention_mask=pad, use_causal_mask=True,
                        return_attention_scores=True)
    causal = np.tril(np.ones((4, 4), bool))
    want_out, want_scores = jax_mha(x, x, x, weights, causal & pad)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-10)
    np.testing.assert_array_equal(scores.numpy()[:, :, ~causal], 0.0)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-12)


def test_gradients_wrt_inputs_and_weights_match_jax():
    layer = _layer(num_heads=2, key_dim=2, value_dim=3)
    query, value = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 3))
    layer(query, value)
    weights = _randomize(layer)
    mask = RNG.random((2, 3, 5)) > 0.3
    v = RNG.normal(size=(2, 3, 4))
    q_t, v_t = tape.Tensor(query), tape.Tensor(value)
    with tape.GradientTape() as g:
        g.watch([q_t, v_t])
        loss = tape.sum(layer(q_t, v_t, attention_mask=mask) * v)
    got = g.gradient(loss, [q_t, v_t] + layer.trainable_weights)

    def f(query, value, *weights):
        return jnp.sum(jax_mha(query, value, value, weights, mask)[0] * v)

    want = jax.grad(f, argnums=tuple(range(10)))(jnp.asarray(query), jnp.asarray(value),
                                                 *weights)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-11, err_msg=f"grad {i}")


def test_embedding_masks_apply_to_queries_and_values():
    ids = np.array([[4, 2, 0, 0], [1, 3, 3, 0]])
    embed = Embedding(5, 6, mask_zero=True)
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    x = embed(ids)
    out, scores = layer(x, x, return_attention_scores=True)
    keep = ids != 0
    explicit = layer(x.numpy(), x.numpy(), attention_mask=keep[:, :, None] & keep[:, None, :])
    np.testing.assert_allclose(out.numpy(), explicit.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(scores.numpy()[0, :, :2, 2:], 0.0)  # padding is not attended
    np.testing.assert_array_equal(get_mask(out).numpy(), keep)


def test_dropout_only_while_training_and_scores_are_before_dropout():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=1)
    x = RNG.normal(size=(2, 6, 8)).astype(np.float32)
    inference = layer(x, x).numpy()
    np.testing.assert_array_equal(layer(x, x, training=False).numpy(), inference)
    trained, scores = layer(x, x, training=True, return_attention_scores=True)
    assert not np.allclose(trained.numpy(), inference)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-5)


def _encoder_block(x, num_heads, key_dim, ff_dim):
    attended = MultiHeadAttention(num_heads, key_dim)(x, x)
    x = LayerNormalization()(Add()([x, attended]))
    ff = Dense(x.shape[-1])(Dense(ff_dim, activation="relu")(x))
    return LayerNormalization()(Add()([x, ff]))


def test_transformer_encoder_block_learns_duplicate_detection(tmp_path):
    """Per token: does it occur elsewhere in its sequence? The answer depends on the other
    tokens only, and P(duplicate | token) is the same for every token, so a model without
    attention cannot beat the majority class (about 0.53); the encoder block must."""
    rng = np.random.default_rng(0)
    tape.random.seed(0)
    tokens = rng.integers(1, 9, size=(2000, 6))
    labels = ((tokens[:, :, None] == tokens[:, None, :]).sum(-1) > 1).astype(np.int64)
    inputs = Input(shape=(6,), dtype="int32")
    x = _encoder_block(Embedding(9, 16)(inputs), num_heads=2, key_dim=8, ff_dim=32)
    model = Model(inputs, Dense(2)(x))
    model.compile(optimizer=tape.optimizers.Adam(0.01),
                  loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(tokens[:1600], labels[:1600], batch_size=64, epochs=12, verbose=0)
    _, accuracy = model.evaluate(tokens[1600:], labels[1600:], verbose=0)
    majority = max(labels[1600:].mean(), 1 - labels[1600:].mean())
    assert accuracy >= 0.85 > majority + 0.2, (accuracy, majority)
    model.save(tmp_path / "encoder.safetensors")
    loaded = load_model(tmp_path / "encoder.safetensors")
    np.testing.assert_array_equal(loaded.predict(tokens[:8], verbose=0),
                                  model.predict(tokens[:8], verbose=0))


def test_functional_cross_attention_with_scores_round_trips(tmp_path):
    query_in, value_in = Input(shape=(4, 6)), Input(shape=(3, 5))
    out, scores = MultiHeadAttention(num_heads=2, key_dim=3, output_shape=4, name="cross")(
        query_in, value_in, return_attention_scores=True, use_causal_mask=True)
    assert out.shape == (None, 4, 4) and scores.shape == (None, 2, 4, 3)
    model = Model([query_in, value_in], [Dense(1)(Flatten()(out)), scores])
    query, value = RNG.normal(size=(2, 4, 6)), RNG.normal(size=(2, 3, 5))
    first, probs = model.predict([query, value], verbose=0)
    np.testing.assert_array_equal(probs[:, :, 0, 1:], 0.0)  # causal: query 0 sees key 0 only
    model.save(tmp_path / "cross.npz")
    loaded = load_model(tmp_path / "cross.npz")
    again, probs_again = loaded.predict([query, value], verbose=0)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(probs_again, probs)
    assert loaded.get_layer("cross").get_config()["output_shape"] == 4


def test_scaled_dot_product_attention_fully_masked_rows_stay_finite():
    q = k = v = tape.Tensor(RNG.normal(size=(2, 3, 4)))
    out = tape.nn.scaled_dot_product_attention(q, k, v, mask=np.zeros((3, 3), bool))
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(v.numpy().mean(1, keepdims=True),
                                                            (2, 3, 4)), rtol=1e-12)


# ---- bad input ----------------------------------------------------------------------------------


def test_attention_mask_of_the_wrong_shape_names_the_layer_and_shapes():
    layer = MultiHeadAttention(num_heads=2, key_dim=2, name="mha_mask")
    x = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(tape.ShapeError, match=r"'mha_mask'.*attention_mask of shape \(2, 4, 5\)"
                                              r".*\(2, 4, 4\)"):
        layer(x, x, attention_mask=np.ones((2, 4, 5), bool))
    with pytest.raises(tape.ShapeError, match="does not broadcast to"):
        tape.nn.scaled_dot_product_attention(x, x, x, mask=np.ones((3, 4), bool))


def test_wrong_rank_and_feature_size_name_the_layer_and_shapes():
    layer = MultiHeadAttention(num_heads=2, key_dim=2, name="mha_checked")
    with pytest.raises(tape.ShapeError, match=r"'mha_checked'.*query.*\(4, 3\)"):
        layer(np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32))
    layer = MultiHeadAttention(num_heads=2, key_dim=2, name="mha_built")
    layer(np.zeros((1, 4, 3), np.float32), np.zeros((1, 2, 5), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'mha_built'.*value must have shape \(batch, "
                                              r"time, 5\), received \(1, 2, 6\)"):
        layer(np.zeros((1, 4, 3), np.float32), np.zeros((1, 2, 6), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'mha_built'.*key \(1, 3, 5\) and value "
                                              r"\(1, 2, 5\)"):
        layer(np.zeros((1, 4, 3), np.float32), np.zeros((1, 2, 5), np.float32),
              key=np.zeros((1, 3, 5), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(0, 2)
    with pytest.raises(ValueError, match="attention_axes"):
        MultiHeadAttention(2, 2, attention_axes=(1, 2))


def test_traced_replay_applies_the_new_inputs_masks():
    embed, layer = Embedding(6, 4, mask_zero=True), MultiHeadAttention(2, 3)
    first, second = np.array([[1, 2, 0], [3, 0, 0]]), np.array([[5, 4, 3], [1, 1, 0]])

    @tape.trace
    def attend(ids):
        x = embed(ids)
        return layer(x, x, use_causal_mask=True)

    attend(tape.Tensor(first))
    x = embed(second)
    np.testing.assert_allclose(attend(tape.Tensor(second)).numpy(),
                               layer(x, x, use_causal_mask=True).numpy(), rtol=1e-5, atol=1e-6)
