"""Recurrent layers against the same recurrences written directly in jax.numpy (float64, the
Keras weight layouts and gate orders), gradients against jax.vjp, masks, go_backwards,
initial states, Bidirectional, save/load round trips, bad-input errors, and an LSTM that
learns to sum digits."""

import numpy as np
import pytest

import tape
from tape.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Embedding,
    GRUCell,
    Input,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    get_mask,
)
from tape.models import Model, Sequential, load_model

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(7)


# ---- the oracle: recurrences in jax.numpy, written from the Keras equations ------------------


def _sigmoid(z):
    return 1 / (1 + jnp.exp(-z))


# dx, dh: dropout masks on the inputs and on the state where it enters the products.


def jax_simple_step(x, states, kernel, recurrent_kernel, bias, dx=1.0, dh=1.0):
    (h,) = states
    h = jnp.tanh((x * dx) @ kernel + (h * dh) @ recurrent_kernel + bias)
    return h, [h]


def jax_lstm_step(x, states, kernel, recurrent_kernel, bias, dx=1.0, dh=1.0):
    h, c = states
    u = h.shape[-1]
    z = (x * dx) @ kernel + (h * dh) @ recurrent_kernel + bias
    i, f = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u])
    g, o = jnp.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])
    c = f * c + i * g
    h = o * jnp.tanh(c)
    return h, [h, c]


def jax_gru_step(x, states, kernel, recurrent_kernel, bias, reset_after=True, dx=1.0, dh=1.0):
    (h,) = states
    u = h.shape[-1]
    x, hd = x * dx, h * dh
    if reset_after:
        xz = x @ kernel + bias[0]
        hz = hd @ recurrent_kernel + bias[1]
        z = _sigmoid(xz[:, :u] + hz[:, :u])
        r = _sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
        cand = jnp.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
    else:
        xz = x @ kernel + bias
        z = _sigmoid(xz[:, :u] + hd @ recurrent_kernel[:, :u])
        r = _sigmoid(xz[:, u:2 * u] + hd @ recurrent_kernel[:, u:2 * u])
        cand = jnp.tanh(xz[:, 2 * u:] + (r * hd) @ recurrent_kernel[:, 2 * u:])
    h = z * h + (1 - z) * cand
    return h, [h]


def jax_rnn(step, x, weights, states, mask=None, go_backwards=False):
    """(sequence of outputs, last output, final states): masked steps keep the states and
    repeat the previous output (zeros before the first kept step)."""
    steps = x.shape[1]
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    out = jnp.zeros((x.shape[0], states[0].shape[-1]))
    outs = []
    for t in order:
        y, new = step(x[:, t], states, *weights)
        if mask is not None:
            keep = mask[:, t][:, None]
            new = [jnp.where(keep, n, s) for n, s in zip(new, states)]
            y = jnp.where(keep, y, out)
        states, out = new, y
        outs.append(out)
    return jnp.stack(outs, axis=1), out, states


STEPS = {"SimpleRNN": jax_simple_step, "LSTM": jax_lstm_step, "GRU": jax_gru_step}
LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


def _layer_and_step(kind, reset_after=True, **kwargs):
    if kind == "GRU":
        layer = GRU(3, reset_after=reset_after, dtype="float64", **kwargs)
        return layer, lambda x, s, *w: jax_gru_step(x, s, *w, reset_after=reset_after)
    return LAYERS[kind](3, dtype="float64", **kwargs), STEPS[kind]


CASES = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]
CASE_IDS = ["SimpleRNN", "LSTM", "GRU", "GRU-reset_before"]


def _random_weights(layer):
    """Nonzero biases too, so that the bias layout (GRU's (2, 3u)) is exercised."""
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return [jnp.asarray(w) for w in layer.get_weights()]


# ---- forward ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, reset_after", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_layers_match_the_jax_recurrence(kind, reset_after, go_backwards):
    layer, step = _layer_and_step(kind, reset_after, return_sequences=True,
                                  return_state=True, go_backwards=go_backwards)
    x = RNG.normal(size=(2, 5, 4))
    layer(x)
    weights = _random_weights(layer)
    seq, *states = layer(x)
    zeros = [jnp.zeros((2, 3))] * N_STATES[kind]
    want_seq, _, want_states = jax_rnn(step, x, weights, zeros, go_backwards=go_backwards)
    np.testing.assert_allclose(seq.numpy(), want_seq, rtol=1e-10, atol=1e-12)
    assert len(states) == N_STATES[kind]
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_keras_weight_layout_and_unit_forget_bias():
    lstm = LSTM(5)
    lstm(np.zeros((1, 2, 3), np.float32))
    shapes = [w.shape for w in lstm.get_weights()]
    assert shapes == [(3, 20), (5, 20), (20,)]
    np.testing.assert_array_equal(lstm.get_weights()[2], [0] * 5 + [1] * 5 + [0] * 10)
    gru = GRU(5)
    gru(np.zeros((1, 2, 3), np.float32))
    assert [w.shape for w in gru.get_weights()] == [(3, 15), (5, 15), (2, 15)]
    gru = GRU(5, reset_after=False, use_bias=False)
    gru(np.zeros((1, 2, 3), np.float32))
    assert [w.shape for w in gru.get_weights()] == [(3, 15), (5, 15)]
    # The recurrent kernel is orthogonal by default, as in Keras.
    rk = lstm.get_weights()[1]
    np.testing.assert_allclose(rk @ rk.T, np.eye(5), atol=1e-5)


def test_initial_state_is_used():
    layer, step = _layer_and_step("LSTM", return_state=True)
    x = RNG.normal(size=(2, 4, 4))
    layer(x)
    weights = _random_weights(layer)
    h0, c0 = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    out, h, c = layer(x, initial_state=[h0, c0])
    _, want_out, (want_h, want_c) = jax_rnn(step, x, weights, [jnp.asarray(h0), jnp.asarray(c0)])
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-10)
    np.testing.assert_allclose(c.numpy(), want_c, rtol=1e-10)


@pytest.mark.parametrize("cell_class, step, n", [(SimpleRNNCell, jax_simple_step, 1),
                                                  (LSTMCell, jax_lstm_step, 2),
                                                  (GRUCell, jax_gru_step, 1)])
def test_cells_alone_and_in_the_generic_rnn(cell_class, step, n):
    cell = cell_class(3, dtype="float64")
    x_t = RNG.normal(size=(2, 4))
    states = [RNG.normal(size=(2, 3)) for _ in range(n)]
    out, new_states = cell(x_t, [tape.Tensor(s) for s in states])
    weights = [jnp.asarray(w) for w in cell.get_weights()]
    want_out, want_states = step(x_t, [jnp.asarray(s) for s in states], *weights)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-10)
    for got, want in zip(new_states, want_states):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    # The same cell (same weights) run over time by RNN.
    x = RNG.normal(size=(2, 3, 4))
    seq = RNN(cell, return_sequences=True)(x)
    want_seq, _, _ = jax_rnn(step, x, weights, [jnp.zeros((2, 3))] * n)
    np.testing.assert_allclose(seq.numpy(), want_seq, rtol=1e-10)


@pytest.mark.parametrize("kind, reset_after", CASES, ids=CASE_IDS)
def test_dropout_masks_are_fixed_over_time_and_only_while_training(kind, reset_after):
    layer, _ = _layer_and_step(kind, reset_after, return_sequences=True, dropout=0.4,
                               recurrent_dropout=0.3, seed=3)
    step = {"SimpleRNN": jax_simple_step, "LSTM": jax_lstm_step,
            "GRU": lambda *a, **k: jax_gru_step(*a, reset_after=reset_after, **k)}[kind]
    x = RNG.normal(size=(8, 4, 3))
    layer(x)
    weights = _random_weights(layer)
    zeros = [jnp.zeros((8, 3))] * N_STATES[kind]
    want, _, _ = jax_rnn(step, x, weights, zeros)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-10)  # inference: no dropout
    trained = layer(x, training=True).numpy()
    masks = layer.cell._dropout_masks
    dx, dh = masks["inputs"].numpy(), masks["state"].numpy()
    assert dx.shape == (8, 3) and dh.shape == (8, 3)
    np.testing.assert_allclose(np.unique(dx), [0.0, 1 / 0.6])
    np.testing.assert_allclose(np.unique(dh), [0.0, 1 / 0.7])
    # The same two masks at every step, in the Keras places.
    want, _, _ = jax_rnn(lambda *a: step(*a, dx=dx, dh=dh), x, weights, zeros)
    np.testing.assert_allclose(trained, want, rtol=1e-10)
    layer(x, training=True)  # a new sequence draws new masks
    assert not np.array_equal(layer.cell._dropout_masks["inputs"].numpy(), dx)


# ---- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, reset_after", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_wrt_inputs_and_weights_match_jax(kind, reset_after, masked):
    layer, step = _layer_and_step(kind, reset_after, return_sequences=True)
    x = RNG.normal(size=(3, 4, 2))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0]], dtype=bool) if masked else None
    layer(x)
    weights = _random_weights(layer)
    v = RNG.normal(size=(3, 4, 3))
    xt = tape.Tensor(x)
    with tape.GradientTape() as g:
        g.watch(xt)
        loss = tape.sum(layer(xt, mask=mask) * v)
    got = g.gradient(loss, [xt] + layer.trainable_weights)

    def f(x, *weights):
        seq, _, _ = jax_rnn(step, x, weights, [jnp.zeros((3, 3))] * N_STATES[kind], mask=mask)
        return jnp.sum(seq * v)

    want = jax.grad(f, argnums=tuple(range(1 + len(weights))))(jnp.asarray(x), *weights)
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-11, err_msg=f"grad {i}")


def test_lstm_gradients_match_finite_differences_to_second_order():
    layer = LSTM(2, dtype="float64")
    x = RNG.normal(size=(2, 3, 2))
    layer(x)
    kernel, recurrent, bias = layer.trainable_weights

    def f(x, k):
        saved = layer.cell.kernel
        layer.cell.kernel = k
        try:
            return layer(x)
        finally:
            layer.cell.kernel = saved

    tape.testing.check_gradients(f, x, kernel.numpy(), order=2)


# ---- masks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_post_padding_mask_matches_running_on_each_prefix(kind):
    layer, _ = _layer_and_step(kind, return_state=True)
    lengths = [5, 3, 1]
    x = RNG.normal(size=(3, 5, 4))
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    out, *states = layer(x, mask=mask)
    for i, n in enumerate(lengths):
        want_out, *want_states = layer(x[i:i + 1, :n])
        np.testing.assert_allclose(out.numpy()[i], want_out.numpy()[0], rtol=1e-10)
        for s, w in zip(states, want_states):
            np.testing.assert_allclose(s.numpy()[i], w.numpy()[0], rtol=1e-10)


def test_masked_steps_keep_the_state_and_repeat_the_output():
    layer = LSTM(3, return_sequences=True, return_state=True, dtype="float64")
    x = RNG.normal(size=(1, 6, 2))
    mask = np.array([[True, True, False, False, True, False]])
    seq, _, c = layer(x, mask=mask)
    seq = seq.numpy()[0]
    np.testing.assert_array_equal(seq[2], seq[1])
    np.testing.assert_array_equal(seq[3], seq[1])
    np.testing.assert_array_equal(seq[5], seq[4])
    # Dropping the masked steps gives the same kept outputs and final state.
    kept, _, want_c = layer(x[:, [0, 1, 4]], mask=None)
    np.testing.assert_allclose(seq[[0, 1, 4]], kept.numpy()[0], rtol=1e-10)
    np.testing.assert_allclose(c.numpy(), want_c.numpy(), rtol=1e-10)


def test_pre_padding_mask_leaves_the_initial_state_alone():
    layer = GRU(3, dtype="float64")
    x = RNG.normal(size=(1, 5, 2))
    mask = np.array([[False, False, True, True, True]])
    np.testing.assert_allclose(layer(x, mask=mask).numpy(), layer(x[:, 2:]).numpy(), rtol=1e-10)


def test_embedding_mask_zero_reaches_the_rnn_in_sequential_and_functional_models():
    ids = np.array([[3, 5, 2, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    embed = Embedding(10, 4, mask_zero=True)
    lstm = LSTM(3, return_sequences=True)
    head = LSTM(2)
    sequential = Sequential([embed, lstm, head])
    got = sequential(ids).numpy()
    for i, row in enumerate(ids):
        n = int((row != 0).sum())
        want = head(lstm(embed(row[None, :n]))).numpy()[0]
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)
    inputs = Input(shape=(5,), dtype="int32")
    functional = Model(inputs, head(lstm(embed(inputs))))
    np.testing.assert_allclose(functional.predict(ids, verbose=0), got, rtol=1e-5, atol=1e-6)
    # return_sequences passes the mask on; the last output drops it.
    seq = lstm(embed(ids))
    np.testing.assert_array_equal(get_mask(seq).numpy(), ids != 0)
    assert get_mask(head(seq)) is None


# ---- Bidirectional ----------------------------------------------------------------------------


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merges_forward_and_flipped_backward(merge_mode):
    layer = Bidirectional(LSTM(3, return_sequences=True, return_state=True, dtype="float64"),
                          merge_mode=merge_mode)
    x = RNG.normal(size=(2, 4, 2))
    layer(x)
    weights = _random_weights(layer)
    out = layer(x)
    zeros = [jnp.zeros((2, 3))] * 2
    fwd, _, fwd_states = jax_rnn(jax_lstm_step, x, weights[:3], zeros)
    bwd, _, bwd_states = jax_rnn(jax_lstm_step, x, weights[3:], zeros, go_backwards=True)
    bwd = bwd[:, ::-1]  # back to the input's time order
    want = {"concat": [jnp.concatenate([fwd, bwd], -1)], "sum": [fwd + bwd],
            "mul": [fwd * bwd], "ave": [(fwd + bwd) / 2], None: [fwd, bwd]}[merge_mode]
    want = want + list(fwd_states) + list(bwd_states)
    assert len(out) == len(want)
    for got, w in zip(out, want):
        np.testing.assert_allclose(got.numpy(), w, rtol=1e-10)
    names = [w.name for w in layer.weights]
    assert names[0].startswith("forward_") and names[3].startswith("backward_")


def test_bidirectional_with_mask_last_outputs_and_initial_states():
    layer = Bidirectional(GRU(3, dtype="float64"), merge_mode="concat")
    x = RNG.normal(size=(2, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    got = layer(x, mask=mask).numpy()
    want = layer(x[:1, :3]).numpy()[0]
    np.testing.assert_allclose(got[0], want, rtol=1e-10)
    h_f, h_b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    with_state = layer(x, initial_state=[h_f, h_b]).numpy()
    fwd = layer.forward_layer(x, initial_state=[h_f]).numpy()
    bwd = layer.backward_layer(x, initial_state=[h_b]).numpy()
    np.testing.assert_allclose(with_state, np.concatenate([fwd, bwd], -1), rtol=1e-12)


def test_bidirectional_sequence_mask_zeroes_padding_in_both_directions():
    layer = Bidirectional(SimpleRNN(2, return_sequences=True))
    x = RNG.normal(size=(1, 4, 3)).astype(np.float32)
    out = layer(x, mask=np.array([[True, True, True, False]])).numpy()
    np.testing.assert_array_equal(out[0, 3], np.zeros(4))
    assert np.all(out[0, :3] != 0)


# ---- configs, saving --------------------------------------------------------------------------


def test_save_and_load_round_trip_of_every_recurrent_layer(tmp_path):
    inputs = Input(shape=(6,), dtype="int32")
    x = Embedding(12, 4, mask_zero=True)(inputs)
    x = Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave")(x)
    x = SimpleRNN(3, return_sequences=True, go_backwards=True)(x)
    x = RNN(GRUCell(3, reset_after=False), return_sequences=True)(x)
    x = GRU(4)(x)
    model = Model(inputs, Dense(2)(x))
    model.compile(optimizer="adam", loss="mse")
    ids = RNG.integers(0, 12, size=(4, 6))
    ids[:, 4:] = 0
    model.fit(ids, RNG.normal(size=(4, 2)), epochs=1, verbose=0)
    path = tmp_path / "rnn.safetensors"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    sequential = Sequential([Embedding(5, 2, input_shape=(3,)),
                             LSTM(2, go_backwards=True, unit_forget_bias=False,
                                  recurrent_dropout=0.25)])
    sequential.save(tmp_path / "seq.npz")
    again = load_model(tmp_path / "seq.npz")
    np.testing.assert_array_equal(again.predict(ids[:, :3] % 5, verbose=0),
                                  sequential.predict(ids[:, :3] % 5, verbose=0))
    assert again.layers[1].go_backwards and not again.layers[1].unit_forget_bias
    assert again.layers[1].recurrent_dropout == 0.25


def test_functional_initial_state_and_returned_states_round_trip(tmp_path):
    x, h0 = Input(shape=(5, 3)), Input(shape=(4,))
    out, h = GRU(4, return_state=True)(x, initial_state=[h0])
    both = Bidirectional(LSTM(2, return_sequences=True, return_state=True), merge_mode=None)(x)
    assert (out.shape, h.shape) == ((None, 4), (None, 4))
    assert [t.shape for t in both] == [(None, 5, 2)] * 2 + [(None, 2)] * 4
    model = Model([x, h0], [out, both[0], both[5]])
    data = [RNG.normal(size=(2, 5, 3)), RNG.normal(size=(2, 4))]
    got = model.predict(data, verbose=0)
    assert not np.allclose(got[0], model.predict([data[0], 0 * data[1]], verbose=0)[0])
    model.save(tmp_path / "states.safetensors")
    loaded = load_model(tmp_path / "states.safetensors")
    for a, b in zip(loaded.predict(data, verbose=0), got):
        np.testing.assert_array_equal(a, b)


def test_frozen_rnn_has_no_trainable_weights():
    layer = LSTM(2, trainable=False)
    layer(np.zeros((1, 2, 3), np.float32))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    bi = Bidirectional(GRU(2), trainable=False)
    bi(np.zeros((1, 2, 3), np.float32))
    assert bi.trainable_weights == []


# ---- bad input --------------------------------------------------------------------------------


def test_wrong_rank_names_the_layer_and_shape():
    layer = LSTM(2, name="encoder")
    with pytest.raises(tape.ShapeError, match=r"'encoder'.*expected ndim=3.*\(4, 3\)"):
        layer(np.zeros((4, 3), np.float32))


def test_mismatched_feature_size_names_the_layer_and_shapes():
    layer = GRU(2, name="gru_features")
    layer(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(tape.ShapeError, match=r"'gru_features'.*axis -1.*value 3.*\(1, 2, 5\)"):
        layer(np.zeros((1, 2, 5), np.float32))


def test_mask_of_the_wrong_shape_names_the_layer_and_shapes():
    layer = SimpleRNN(2, name="rnn_masked")
    with pytest.raises(tape.ShapeError, match=r"'rnn_masked'.*mask of shape \(2, 4\).*"
                                              r"\(2, 3, 1\).*\(2, 3\)"):
        layer(np.zeros((2, 3, 1), np.float32), mask=np.ones((2, 4), bool))


def test_initial_state_of_the_wrong_shape_names_the_layer():
    layer = LSTM(2, name="lstm_state")
    with pytest.raises(tape.ShapeError, match=r"'lstm_state'.*2 tensor\(s\).*\(3, 2\).*"
                                              r"received shapes \[\(3, 5\)\]"):
        layer(np.zeros((3, 2, 1), np.float32), initial_state=[np.zeros((3, 5), np.float32)])


def test_cell_states_of_the_wrong_shape_name_the_cell():
    cell = LSTMCell(2, name="lone_cell")
    with pytest.raises(tape.ShapeError, match=r"'lone_cell'.*2 state\(s\)"):
        cell(np.zeros((3, 4), np.float32), [np.zeros((3, 2), np.float32)])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="stateful"):
        LSTM(2, stateful=True)


# ---- learning a task with a known answer ------------------------------------------------------


def test_lstm_learns_to_sum_variable_length_digit_sequences():
    """Sum of 1 to 5 digits in 0..3 (token = digit + 1, 0 pads): 16 classes. The padding
    reaches the LSTM only as a mask, so it must learn to ignore it; held-out accuracy must
    be near perfect."""
    rng = np.random.default_rng(0)
    tape.random.seed(0)
    n, length = 3000, 5
    digits = rng.integers(0, 4, size=(n, length))
    lengths = rng.integers(1, length + 1, size=n)
    present = np.arange(length)[None, :] < lengths[:, None]
    tokens = np.where(present, digits + 1, 0)
    sums = (digits * present).sum(axis=1)
    model = Sequential([Embedding(5, 8, mask_zero=True), LSTM(32), Dense(16)])
    model.compile(optimizer=tape.optimizers.Adam(0.01),
                  loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(tokens[:2500], sums[:2500], batch_size=64, epochs=12, verbose=0)
    _, accuracy = model.evaluate(tokens[2500:], sums[2500:], verbose=0)
    assert accuracy >= 0.98, f"held-out accuracy {accuracy:.3f}"


def test_sequence_layers_read_no_values_while_tracing():
    """Under the tracing flag, reading a tensor into Python raises TraceError: every new layer
    (with masks, training-mode statistics, dropout and a causal mask) runs forward and
    backward through op-table calls only, so a traced graph can replay it."""
    from tape import _state
    from tape.layers import BatchNormalization, LayerNormalization, MultiHeadAttention

    ids = tape.Tensor(np.array([[1, 2, 0], [3, 0, 0]]))
    layers = [Embedding(5, 4, mask_zero=True), LSTM(3, return_sequences=True),
              GRU(3, reset_after=False), Bidirectional(SimpleRNN(2, return_sequences=True)),
              BatchNormalization(), LayerNormalization(axis=[1, 2]),
              MultiHeadAttention(2, 3, dropout=0.1)]
    embed, *rest, attention = layers
    for layer in rest:  # build eagerly, as a traced step's first call would
        layer(embed(ids))
    attention(embed(ids), embed(ids))
    with _state.using(_state.tracing, True):
        with tape.GradientTape() as g:
            x = embed(ids)
            outs = [layer(x, training=True) for layer in rest]
            outs.append(attention(x, x, training=True, use_causal_mask=True))
            loss = tape.sum(tape.stack([tape.sum(out) for out in outs]))
        weights = [w for layer in layers for w in layer.trainable_weights]
        grads = g.gradient(loss, weights)
    assert all(grad is not None for grad in grads)


def test_traced_replays_use_each_call_s_mask_and_fresh_dropout_masks():
    """A traced function over Embedding(mask_zero) -> Bidirectional LSTM -> BatchNorm -> GRU
    replays with the new ids' mask (the mask is computed by ops, not baked), matching eager;
    a seeded LSTM's dropout masks differ from one replay to the next."""
    from tape.layers import BatchNormalization

    model = Sequential([Embedding(6, 4, mask_zero=True),
                        Bidirectional(LSTM(3, return_sequences=True)), BatchNormalization(),
                        GRU(3)])
    first, second = np.array([[1, 2, 0, 0], [3, 4, 5, 0]]), np.array([[5, 0, 0, 0], [1] * 4])
    model(first)

    @tape.trace
    def predict(ids):
        return model(ids, training=False)

    predict(tape.Tensor(first))
    np.testing.assert_allclose(predict(tape.Tensor(second)).numpy(), model(second).numpy(),
                               rtol=1e-5, atol=1e-6)
    layer = LSTM(3, dropout=0.5, recurrent_dropout=0.5, seed=4)
    x = tape.Tensor(RNG.normal(size=(2, 4, 3)).astype(np.float32))

    @tape.trace
    def noisy(x):
        return layer(x, training=True)

    outs = [noisy(x).numpy() for _ in range(3)]
    assert not np.allclose(outs[1], outs[2]) and not np.allclose(outs[0], outs[1])
