"""Mixed precision (issue 20): dtype policies, layers computing in float16/bfloat16 with float32
weights, float32 losses and normalization statistics, dynamic loss scaling, and policies
through get_config and save/load. Oracles: JAX in the same dtypes, NumPy in float64."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tape
from tape import layers, mixed_precision, optimizers
from tape.errors import DTypeError
from tape.tensor import AutocastVariable

LOW = ["float16", "bfloat16"]


@pytest.fixture(autouse=True)
def _float32_afterwards():
    yield
    mixed_precision.set_global_policy("float32")


def _jnp_dtype(name):
    return jnp.bfloat16 if name == "bfloat16" else jnp.float16


# ---- policies ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, compute", [("mixed_float16", "float16"),
                                           ("mixed_bfloat16", "bfloat16")])
def test_mixed_policies_compute_low_and_keep_float32_variables(name, compute):
    policy = mixed_precision.Policy(name)
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (name, compute,
                                                                          "float32")
    assert mixed_precision.get({"class_name": "DTypePolicy", "config": {"name": name}}) == policy
    assert mixed_precision.get(mixed_precision.serialize(policy)) == policy


def test_plain_policy_uses_one_dtype():
    policy = mixed_precision.DTypePolicy("float64")
    assert (policy.compute_dtype, policy.variable_dtype, policy.is_mixed) == ("float64",
                                                                              "float64", False)


def test_unknown_policy_lists_the_known_ones():
    with pytest.raises(ValueError, match="mixed_float8") as info:
        mixed_precision.set_global_policy("mixed_float8")
    for known in ("mixed_float16", "mixed_bfloat16", "float32"):
        assert known in str(info.value)
    assert mixed_precision.global_policy().name == "float32"  # unchanged


def test_bfloat16_without_ml_dtypes_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # as if it were not installed
    with pytest.raises(DTypeError, match="ml_dtypes"):
        mixed_precision.set_global_policy("mixed_bfloat16")
    with pytest.raises(DTypeError, match="pip install ml_dtypes"):
        tape.zeros((2,), dtype="bfloat16")


def test_keras_names_reach_the_same_objects():
    from tape import keras, tf

    assert keras.mixed_precision.set_global_policy is mixed_precision.set_global_policy
    assert keras.mixed_precision.LossScaleOptimizer is optimizers.LossScaleOptimizer
    assert tf.keras.mixed_precision.Policy is keras.DTypePolicy
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    assert keras.layers.Dense(2).compute_dtype == "bfloat16"


# ---- layers --------------------------------------------------------------------------------

@pytest.mark.parametrize("compute", LOW)
def test_global_policy_makes_layers_compute_low_with_float32_weights(compute):
    mixed_precision.set_global_policy(f"mixed_{compute}")
    dense = layers.Dense(3, activation="relu")
    y = dense(np.ones((2, 4), np.float32))
    assert y.dtype.name == compute
    assert dense.dtype == dense.kernel.dtype.name == "float32"
    assert isinstance(dense.kernel, AutocastVariable)
    assert dense.kernel.dtype.name == "float32"  # outside the call, as stored


@pytest.mark.parametrize("compute", LOW)
def test_dense_gradient_arrives_in_float32_and_matches_jax(compute):
    mixed_precision.set_global_policy(f"mixed_{compute}")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    dense = layers.Dense(4, activation="tanh")
    dense.build((None, 5))
    with tape.GradientTape() as g:
        y = dense(x)
        loss = tape.sum(tape.cast(y, "float32") ** 2)
    gk, gb = g.gradient(loss, [dense.kernel, dense.bias])
    assert gk.dtype.name == gb.dtype.name == "float32"

    low = _jnp_dtype(compute)

    def oracle(kernel, bias):  # the same computation in the same dtypes
        y = jnp.tanh(jnp.asarray(x, low) @ kernel.astype(low) + bias.astype(low))
        return jnp.sum(y.astype(jnp.float32) ** 2)

    jk, jb = jax.grad(oracle, argnums=(0, 1))(jnp.asarray(dense.kernel.numpy()),
                                             jnp.asarray(dense.bias.numpy()))
    tol = 3e-2 if compute == "bfloat16" else 3e-3
    scale = float(np.abs(np.asarray(jk)).max())
    np.testing.assert_allclose(gk.numpy(), np.asarray(jk), rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(gb.numpy(), np.asarray(jb), rtol=tol, atol=tol * scale)


def test_a_float32_layer_in_a_mixed_model_stays_float32():
    mixed_precision.set_global_policy("mixed_bfloat16")
    inputs = tape.keras.Input((4,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    outputs = layers.Dense(3, activation="softmax", dtype="float32")(hidden)
    model = tape.models.Model(inputs, outputs)
    assert model.layers[1].compute_dtype == "bfloat16"
    last = model.layers[2]
    assert last.compute_dtype == "float32" and not isinstance(last.kernel, AutocastVariable)
    y = model(np.ones((2, 4), np.float32))
    assert y.dtype.name == "float32"


def test_policies_round_trip_through_get_config_and_save(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    model = tape.models.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                                    layers.Dense(3, dtype="float32")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    y = np.arange(16) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    config = model.layers[0].get_config()
    assert config["dtype"] == "mixed_float16"
    assert layers.Dense.from_config(config).dtype_policy.name == "mixed_float16"

    path = tmp_path / "model.tape"
    model.save(path)
    mixed_precision.set_global_policy("float32")  # the file decides, not the global policy
    loaded = tape.models.load_model(path)
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["mixed_float16", "float32"]
    assert isinstance(loaded.optimizer, optimizers.LossScaleOptimizer)
    assert float(loaded.optimizer.dynamic_scale) == float(model.optimizer.dynamic_scale)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_normalization_statistics_accumulate_in_float32():
    mixed_precision.set_global_policy("mixed_float16")
    x = np.full((2, 64), 300.0, np.float32)  # squares (9e4) overflow float16 (max 65504)
    x[:, ::2] = 200.0
    norm = layers.LayerNormalization(epsilon=0.0)
    y = norm(x)
    assert y.dtype.name == "float16" and norm.gamma.dtype.name == "float32"
    expected = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    np.testing.assert_allclose(y.numpy().astype(np.float64), expected, atol=2e-3)


def test_losses_compute_in_float32_from_low_precision_outputs():
    mixed_precision.set_global_policy("mixed_float16")
    logits = np.array([[30.0, -30.0, 0.0]], np.float32)
    probs = layers.Activation("softmax")(logits)  # float16 probabilities with their logits
    assert probs.dtype.name == "float16"
    loss = tape.losses.sparse_categorical_crossentropy(np.array([1]), probs)
    assert loss.dtype.name == "float32"
    np.testing.assert_allclose(loss.numpy(), [60.0], rtol=1e-3)  # float16 probs would be 0


def test_embedding_keeps_its_table_and_casts_the_rows():
    mixed_precision.set_global_policy("mixed_bfloat16")
    embedding = layers.Embedding(10, 4)
    out = embedding(np.array([[1, 2]]))
    assert out.dtype.name == "bfloat16" and embedding.embeddings.dtype.name == "float32"
    assert not isinstance(embedding.embeddings, AutocastVariable)


# ---- loss scaling --------------------------------------------------------------------------

def _scaled_setup(initial_scale=1024.0, growth=3):
    w = tape.Variable([1.0, -2.0], name="w")
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.1), initial_scale=initial_scale,
                                        dynamic_growth_steps=growth)
    opt.build([w])
    return w, opt


def _state(w, opt):
    return [w.numpy().copy()] + [v.numpy().copy() for v in opt.inner_optimizer.variables]


@pytest.mark.parametrize("traced", [False, True])
def test_an_inf_gradient_skips_the_step_and_halves_the_scale(traced):
    w, opt = _scaled_setup()

    def step(g):
        opt.apply([g], [w])
        return opt.dynamic_scale + 0.0

    run = tape.trace(step) if traced else step
    run(tape.tensor([1024.0, 2048.0]))  # a finite step: applied (Adam moves w by ~0.1)
    assert np.abs(w.numpy() - [0.9, -2.1]).max() < 1e-5
    before = _state(w, opt)
    run(tape.tensor([np.inf, 1.0]))
    for old, new in zip(before, _state(w, opt)):
        np.testing.assert_array_equal(old, new)  # weights, moments, iterations unchanged
    assert float(opt.dynamic_scale) == 512.0 and int(opt.step_counter) == 0
    run(tape.tensor([np.nan, 1.0]))
    assert float(opt.dynamic_scale) == 256.0 and int(opt.iterations) == 1


@pytest.mark.parametrize("traced", [False, True])
def test_the_scale_grows_back_after_its_period_of_finite_steps(traced):
    w, opt = _scaled_setup(initial_scale=64.0, growth=3)

    def step(g):
        opt.apply([g], [w])
        return opt.dynamic_scale + 0.0

    run = tape.trace(step) if traced else step
    scales = []
    for _ in range(7):
        run(tape.tensor([1.0, 1.0]))
        scales.append(float(opt.dynamic_scale))
    assert scales == [64.0, 64.0, 128.0, 128.0, 128.0, 256.0, 256.0]
    assert int(opt.iterations) == 7


def test_gradients_are_unscaled_before_the_update():
    w = tape.Variable([1.0], name="w")
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.5), initial_scale=2.0 ** 10)
    with tape.GradientTape() as g:
        loss = opt.scale_loss(tape.sum(w * w))
    assert float(loss) == 1024.0
    opt.apply(g.gradient(loss, [w]), [w])
    np.testing.assert_allclose(w.numpy(), [0.0])  # 1 - 0.5 * 2


@pytest.mark.parametrize("policy, wrapped", [("mixed_float16", True),
                                             ("mixed_bfloat16", False), ("float32", False)])
def test_compile_wraps_the_optimizer_for_float16_only(policy, wrapped):
    mixed_precision.set_global_policy(policy)
    model = tape.models.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    assert isinstance(model.optimizer, optimizers.LossScaleOptimizer) is wrapped
    model.compile("sgd", "mse", auto_scale_loss=False)
    assert not isinstance(model.optimizer, optimizers.LossScaleOptimizer)


def test_fit_under_float16_skips_overflowing_steps_and_keeps_training():
    mixed_precision.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = tape.models.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                                    layers.Dense(2, activation="softmax")])
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.optimizer.dynamic_scale.assign(2.0 ** 30)  # overflows float16 at first
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    scale = float(model.optimizer.dynamic_scale)
    assert scale < 2.0 ** 30  # some steps overflowed and were skipped
    assert int(model.optimizer.iterations) < 8 * 8
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert history.history["accuracy"][-1] > 0.9


# ---- every kind of layer: the compute dtype out, float32 gradients in, float32's values ----

LAYER_CASES = {
    "Dense": (lambda **kw: layers.Dense(4, activation="gelu", **kw), (3, 5)),
    "Conv1D": (lambda **kw: layers.Conv1D(4, 3, **kw), (2, 7, 3)),
    "Conv2D": (lambda **kw: layers.Conv2D(4, 3, activation="relu", **kw), (2, 6, 6, 3)),
    "MaxPooling2D": (lambda **kw: layers.MaxPooling2D(2, **kw), (2, 6, 6, 3)),
    "AveragePooling2D": (lambda **kw: layers.AveragePooling2D(2, **kw), (2, 6, 6, 3)),
    "LSTM": (lambda **kw: layers.LSTM(4, **kw), (2, 5, 3)),
    "GRU": (lambda **kw: layers.GRU(4, return_sequences=True, **kw), (2, 5, 3)),
    "SimpleRNN": (lambda **kw: layers.SimpleRNN(4, **kw), (2, 5, 3)),
    "MultiHeadAttention": (lambda **kw: layers.MultiHeadAttention(2, 4, **kw), (2, 5, 8)),
    "BatchNormalization": (lambda **kw: layers.BatchNormalization(**kw), (4, 3)),
    "LayerNormalization": (lambda **kw: layers.LayerNormalization(**kw), (4, 3)),
    "Softmax": (lambda **kw: layers.Softmax(**kw), (4, 3)),
}


def _call(layer, name, x):
    return layer(x, x, training=True) if name == "MultiHeadAttention" else layer(x, training=True)


@pytest.mark.parametrize("compute", LOW)
@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_each_layer_kind_computes_low_close_to_float32(name, compute):
    make, shape = LAYER_CASES[name]
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    reference = make(dtype="float32")
    expected = _call(reference, name, x).numpy()
    mixed = make(dtype=f"mixed_{compute}")
    _call(mixed, name, x)  # build
    for w, value in zip(mixed.weights, reference.weights):
        w.assign(value.numpy())
    with tape.GradientTape() as g:
        y = _call(mixed, name, x)
        loss = tape.sum(tape.cast(y, "float32"))
    assert y.dtype.name == compute
    tol = 6e-2 if compute == "bfloat16" else 2e-2  # 8 and 11 significant bits
    np.testing.assert_allclose(y.numpy().astype(np.float32), expected, rtol=tol, atol=tol)
    grads = g.gradient(loss, mixed.trainable_weights)
    assert all(gr.dtype.name == "float32" and np.isfinite(gr.numpy()).all() for gr in grads)


def test_tf2_loop_unscales_once():
    from tape import tf

    w = tf.Variable([1.0], name="w")
    opt = tf.keras.mixed_precision.LossScaleOptimizer(tf.keras.optimizers.SGD(0.5),
                                                      initial_scale=256.0)
    with tf.GradientTape() as g:
        loss = tf.reduce_sum(w * w)
        scaled = opt.get_scaled_loss(loss)
    grads = opt.get_unscaled_gradients(g.gradient(scaled, [w]))
    np.testing.assert_allclose(grads[0].numpy(), [2.0])
    opt.apply_gradients(zip(grads, [w]))
    np.testing.assert_allclose(w.numpy(), [0.0])  # 1 - 0.5 * 2: not divided by 256 twice
