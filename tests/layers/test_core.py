"""Core layers against NumPy and finite differences; Dropout statistics; configs; symbolic
shapes through the functional API (KerasTensor history)."""

import numpy as np
import pytest

import tape
from tape import activations, layers
from tape.layers import Activation, Dense, Dropout, Flatten, Input, Lambda, Reshape
from tape.testing import check_gradients

RNG = np.random.default_rng(0)


def test_dense_matches_numpy_from_get_weights():
    layer = Dense(4, activation="tanh", bias_initializer="random_normal")
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(y, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_on_rank_3_inputs_acts_on_last_axis():
    layer = Dense(2, use_bias=False)
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 3, 2) and len(layer.weights) == 1
    np.testing.assert_allclose(y.numpy(), x @ layer.get_weights()[0], rtol=1e-5, atol=1e-6)


def test_dense_gradients_match_numpy_formulas():
    layer = Dense(3)
    x = RNG.normal(size=(4, 2)).astype(np.float32)
    with tape.GradientTape() as g:
        loss = tape.sum(layer(x))
    grad_kernel, grad_bias = g.gradient(loss, layer.trainable_weights)
    np.testing.assert_allclose(grad_kernel.numpy(), x.T @ np.ones((4, 3)), rtol=1e-6)
    np.testing.assert_allclose(grad_bias.numpy(), np.full(3, 4.0))


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "softmax", "gelu", "silu",
                                        "softplus", "elu", "selu", "softsign"])
def test_dense_gradient_check_float64(activation):
    layer = Dense(3, activation=activation, dtype="float64")
    x = RNG.normal(size=(4, 2))
    layer(x)
    kernel, bias = layer.get_weights()

    def f(x, kernel, bias):
        saved = layer.kernel, layer.bias
        layer.kernel, layer.bias = kernel, bias
        try:
            return layer(x)
        finally:
            layer.kernel, layer.bias = saved

    check_gradients(f, x, kernel, bias)


@pytest.mark.parametrize("name", sorted(activations.ALL))
def test_activation_layer_gradients_float64(name):
    layer = Activation(name, dtype="float64")
    x = RNG.uniform(0.2, 1.5, size=(3, 4)) * RNG.choice([-1.0, 1.0], size=(3, 4))
    check_gradients(layer, x)


def test_activations_get_resolves_names_callables_and_rejects_unknown():
    assert activations.get("swish") is activations.get("silu")
    assert activations.get(None) is activations.linear
    assert activations.get(np.abs) is np.abs
    with pytest.raises(ValueError, match="valid names: .*relu.*softmax"):
        activations.get("rleu")
    x = tape.tensor([[-1.0, 0.5]])
    np.testing.assert_allclose(activations.get("leaky_relu")(x).numpy(), [[-0.2, 0.5]])
    np.testing.assert_allclose(activations.get("relu")(x).numpy(), [[0.0, 0.5]])


def test_softmax_and_sigmoid_outputs_remember_logits_for_fused_losses():
    losses = pytest.importorskip("tape.losses")
    if not hasattr(losses, "logits_of"):
        pytest.skip("tape.losses has no logits registry")
    logits = tape.tensor([[1.0, 2.0]])
    probs = Activation("softmax")(logits)
    assert losses.logits_of(probs, "softmax") is not None
    np.testing.assert_allclose(probs.numpy().sum(), 1.0, rtol=1e-6)
    assert losses.logits_of(Dense(1, activation="sigmoid")(logits), "sigmoid") is not None


def test_dropout_is_identity_at_inference():
    x = tape.ones((3, 4))
    layer = Dropout(0.5)
    assert layer(x) is x
    with tape._state.using(tape._state.training, False):
        assert layer(x) is x


def test_dropout_rate_and_scaling_in_training():
    rate = 0.3
    y = Dropout(rate, seed=1)(tape.ones((200, 500)), training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    # 100k Bernoulli(0.7) draws: std of the fraction is ~0.0015
    assert abs(kept.mean() - (1 - rate)) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_dropout_uses_training_context_and_fresh_masks():
    layer = Dropout(0.5, seed=3)
    x = tape.ones((50, 50))
    with tape._state.using(tape._state.training, True):
        a, b = layer(x).numpy(), layer(x).numpy()
    assert (a == 0).any() and not np.array_equal(a, b)
    again = Dropout(0.5, seed=3)
    with tape._state.using(tape._state.training, True):
        np.testing.assert_array_equal(again(x).numpy(), a)  # seeded: reproducible sequence


def test_dropout_gradient_is_masked_like_the_output():
    x = tape.Variable(RNG.normal(size=(20, 30)).astype(np.float32))
    with tape.GradientTape() as g:
        y = Dropout(0.4)(x, training=True)
        loss = tape.sum(y)
    grad = g.gradient(loss, x).numpy()
    y = y.numpy()
    np.testing.assert_array_equal(grad == 0, y == 0)
    np.testing.assert_allclose(grad[y != 0], 1 / 0.6, rtol=1e-6)


def test_dropout_noise_shape_broadcasts_mask_and_edge_rates():
    y = Dropout(0.5, noise_shape=(None, 1), seed=0)(tape.ones((40, 6)), training=True).numpy()
    assert all(len(set(row)) == 1 for row in y)  # one decision per row
    assert not np.any(Dropout(1.0)(tape.ones((3,)), training=True).numpy())
    with pytest.raises(ValueError, match="rate=1.5"):
        Dropout(1.5)


def test_flatten_reshape_lambda_values():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(Flatten()(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x).numpy(),
                                  x.transpose(0, 2, 1).reshape(2, 12))
    np.testing.assert_array_equal(Reshape((4, -1))(x).numpy(), x.reshape(2, 4, 3))
    with pytest.raises(ValueError, match="cannot reshape examples of shape \\(3, 4\\)"):
        Reshape((5,))(x)
    np.testing.assert_array_equal(Lambda(lambda t, k: t * k, arguments={"k": 3})(x).numpy(),
                                  x * 3)


def test_flatten_reshape_gradients_float64():
    x = RNG.normal(size=(2, 3, 2))
    check_gradients(lambda t: Flatten(dtype="float64")(t) ** 2, x)
    check_gradients(lambda t: Reshape((-1, 3), dtype="float64")(t) ** 2, x)


def test_lambda_receives_training_when_it_asks():
    seen = []
    layer = Lambda(lambda x, training=None: seen.append(training) or x)
    layer(tape.ones((1,)), training=True)
    layer(tape.ones((1,)))
    assert seen == [True, False]


CONFIG_CASES = [
    lambda: Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                  kernel_regularizer=tape.regularizers.L2(0.1), activity_regularizer="l1",
                  name="d", dtype="float64"),
    lambda: Activation("softmax", name="a"),
    lambda: Dropout(0.25, noise_shape=(None, 1), seed=4),
    lambda: Flatten(data_format="channels_first"),
    lambda: Reshape((2, -1)),
    lambda: Lambda(np.tanh, output_shape=(3,)),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_get_config_round_trip(make):
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layers.deserialize(layers.serialize(layer)).get_config() == layer.get_config()


def test_dense_config_rebuilds_initializers_and_regularizers():
    layer = Dense(2, kernel_initializer=tape.initializers.RandomNormal(stddev=3.0, seed=1),
                  bias_regularizer=tape.regularizers.L1L2(l1=0.1, l2=0.2))
    clone = Dense.from_config(layer.get_config())
    assert clone.kernel_initializer.stddev == 3.0 and clone.kernel_initializer.seed == 1
    assert clone.bias_regularizer.l2 == 0.2
    clone(tape.ones((1, 4)))
    layer(tape.ones((1, 4)))
    np.testing.assert_array_equal(clone.get_weights()[0], layer.get_weights()[0])


def test_invalid_arguments_are_reported_with_the_value():
    with pytest.raises(ValueError, match="units=0"):
        Dense(0)
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="last dimension"):
        Dense(2)(Input(shape=(None,)))


# ---- symbolic (functional API) ---------------------------------------------------------
def test_input_keras_tensor_and_input_layer():
    x = Input(shape=(28, 28), name="image")
    assert (x.shape, x.dtype, x.name, x.ndim) == ((None, 28, 28), np.float32, "image", 3)
    layer, node_index, tensor_index = x._history
    assert isinstance(layer, layers.InputLayer) and (node_index, tensor_index) == (0, 0)
    assert layer.output is x and x.node.is_input and x.node.parents == ()
    assert Input(shape=(3,), batch_size=8, dtype="int32").shape == (8, 3)
    assert Input(batch_shape=(4, None)).shape == (4, None)


def test_symbolic_shapes_through_core_layers():
    x = Input(shape=(6, 4))
    h = Dense(5)(x)
    assert h.shape == (None, 6, 5) and h.dtype == np.float32
    f = Flatten()(h)
    assert f.shape == (None, 30)
    r = Reshape((-1, 3))(f)
    assert r.shape == (None, 10, 3)
    d = Dropout(0.5)(Activation("relu")(r))
    assert d.shape == (None, 10, 3)
    s = Lambda(lambda t: tape.sum(t, axis=1))(d)  # shape found by running on zeros
    assert s.shape == (None, 3)
    c = Lambda(lambda t: t.astype("float64"))(s)
    assert c.dtype == np.float64
    assert Lambda(lambda t: t, output_shape=(7,))(s).shape == (None, 7)
    assert Flatten()(Input(shape=(None, 4))).shape == (None, None)


def test_symbolic_call_builds_layer_and_records_history():
    x = Input(shape=(4,))
    dense = Dense(3)
    y = dense(x)
    assert dense.built and dense.kernel.shape == (4, 3)
    assert dense.input_shape == (None, 4) and dense.output_shape == (None, 3)
    layer, node_index, tensor_index = y._history
    assert layer is dense and (node_index, tensor_index) == (0, 0)
    node = y.node
    assert node is dense._inbound_nodes[0] and node.layer is dense
    assert node.arguments is x and node.parents == (x,) and node.outputs == (y,)
    assert dense.losses == []  # symbolic calls record no loss values


def test_shared_layer_gets_one_node_per_call():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    dense = Dense(2)
    ya, yb = dense(a), dense(b)
    assert len(dense._inbound_nodes) == 2 and len(dense.weights) == 2
    assert yb._history.node_index == 1 and yb.node.parents == (b,)
    assert ya.name != yb.name


def test_wrong_symbolic_feature_size_is_an_error():
    dense = Dense(2, name="proj")
    dense(Input(shape=(4,)))
    with pytest.raises(ValueError, match="layer 'proj'.*value 4.*\\(None, 5\\)"):
        dense(Input(shape=(5,)))


def test_nodes_in_order_and_run_replays_the_graph():
    x = Input(shape=(3,))
    h = Dense(4, activation="relu")(x)
    y = Dense(2)(Dropout(0.5)(h, training=False))
    nodes = layers.nodes_in_order(y)
    assert [type(n.layer).__name__ for n in nodes] == ["InputLayer", "Dense", "Dropout", "Dense"]
    assert nodes[2].call_kwargs == {"training": False}
    data = RNG.normal(size=(5, 3)).astype(np.float32)
    values = {id(x): tape.tensor(data)}
    for node in nodes[1:]:
        for kt, value in zip(node.outputs, node.run(values), strict=True):
            values[id(kt)] = value
    expected = nodes[3].layer(nodes[1].layer(data))
    np.testing.assert_allclose(values[id(y)].numpy(), expected.numpy(), rtol=1e-6)


def test_keras_tensor_has_no_value():
    x = Input(shape=(2,))
    with pytest.raises(TypeError, match="symbolic"):
        x + 1
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)


def test_nested_layers_gradient_check_and_a_training_loop():
    class MLP(tape.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [Dense(5, activation="tanh", dtype="float64"),
                           Dense(3, activation="gelu", dtype="float64")]
            self.out = Dense(1, dtype="float64")

        def call(self, x):
            for layer in self.hidden:
                x = layer(x)
            return self.out(x)

    mlp = MLP(dtype="float64")
    check_gradients(mlp, RNG.normal(size=(4, 2)))
    assert len(mlp.trainable_weights) == 6

    x = RNG.uniform(-1, 1, size=(64, 1)).astype(np.float32)
    y = 2 * x + 1
    model = Dense(1)
    for _ in range(200):
        with tape.GradientTape() as g:
            loss = tape.mean((model(x) - y) ** 2)
        for var, grad in zip(model.trainable_weights,
                             g.gradient(loss, model.trainable_weights), strict=True):
            var.assign_sub(0.2 * grad)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose([kernel.item(), bias.item()], [2.0, 1.0], atol=1e-2)
