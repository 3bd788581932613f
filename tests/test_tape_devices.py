"""Tape behaviour on each device (``device`` runs 'cpu' and 'gpu'; the GPU case is marked
``gpu`` by tests/conftest.py and skipped with the reason where no GPU is usable)."""

from __future__ import annotations

import numpy as np
import pytest

import tape


def test_gradient_of_a_composite(device):
    x = tape.tensor([0.5, -1.0, 2.0]).to(device)
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.sum(tape.tanh(x) * tape.exp(x))
    grad = g.gradient(y, x)
    assert grad.device == x.device
    xs = np.array([0.5, -1.0, 2.0])
    want = (1 - np.tanh(xs) ** 2) * np.exp(xs) + np.tanh(xs) * np.exp(xs)
    np.testing.assert_allclose(grad.numpy(), want, rtol=1e-5)


def test_second_order_through_softmax_and_layer_norm(device):
    x = tape.tensor([[0.3, -0.2, 1.1, 0.4]], dtype="float64").to(device)
    gamma = tape.tensor([1.0, 2.0, 0.5, 1.5], dtype="float64").to(device)
    beta = tape.zeros((4,), dtype="float64").to(device)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            y = tape.sum(tape.softmax(tape.ops.layer_norm(x, gamma, beta)) * gamma)
        dx = inner.gradient(y, x)
        z = tape.sum(dx * dx)
    ddx = outer.gradient(z, x)
    assert ddx.device == x.device and np.isfinite(ddx.numpy()).all()
    cpu_x = tape.tensor(x.numpy())
    cpu = [t.to("cpu") for t in (gamma, beta)]
    with tape.GradientTape() as outer:
        outer.watch(cpu_x)
        with tape.GradientTape() as inner:
            inner.watch(cpu_x)
            y = tape.sum(tape.softmax(tape.ops.layer_norm(cpu_x, *cpu)) * cpu[0])
        dx = inner.gradient(y, cpu_x)
        z = tape.sum(dx * dx)
    np.testing.assert_allclose(ddx.numpy(), outer.gradient(z, cpu_x).numpy(), rtol=1e-9)


def test_variables_train_on_their_device(device):
    w = tape.Variable(tape.tensor([1.0, -2.0]).to(device))
    assert w.device == tape.ones(1).to(device).device
    opt = tape.optimizers.Adam(learning_rate=0.1)
    for _ in range(3):
        with tape.GradientTape() as g:
            loss = tape.sum(w * w)
        opt.apply_gradients([(g.gradient(loss, w), w)])
    assert w.device == opt.iterations.device
    assert abs(w.numpy()[0]) < 1.0 and abs(w.numpy()[1]) < 2.0


def test_numbers_masks_and_index_grids_meet_a_tensor_on_its_device(device):
    """Python numbers, and the masks and index grids library code builds, land on the device
    of the tensor beside them (on a GPU a host constant would be a DeviceError). The values
    are checked against NumPy."""
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(2, 3, 4)).astype(np.float32)
    x = tape.tensor(xs).to(device)
    np.testing.assert_allclose((1.0 - x * 2.0 + 3).numpy(), 1.0 - xs * 2.0 + 3, rtol=1e-6)
    assert tape.mean(x).device == x.device
    np.testing.assert_allclose(tape.mean(x, axis=1).numpy(), xs.mean(axis=1), rtol=1e-6)

    scores = xs @ xs.transpose(0, 2, 1) / 2.0  # causal attention, by hand in NumPy
    scores = np.where(np.tril(np.ones((3, 3), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    got = tape.nn.scaled_dot_product_attention(x, x, x, is_causal=True)
    assert got.device == x.device
    np.testing.assert_allclose(got.numpy(), weights @ xs, rtol=1e-5, atol=1e-6)

    order = np.argsort(xs, axis=-1)
    np.testing.assert_array_equal(tape.take_along_axis(x, order, axis=-1).numpy(),
                                  np.take_along_axis(xs, order, axis=-1))
    np.testing.assert_array_equal(tape.repeat(x, 2, axis=1).numpy(), np.repeat(xs, 2, axis=1))

    v = tape.tensor([1.0, -2.0, 3.0]).to(device)
    with tape.GradientTape() as g:
        g.watch(v)
        y = v * v
    np.testing.assert_allclose(g.jacobian(y, v).numpy(), np.diag([2.0, -4.0, 6.0]))

    labels = np.array([3, 0, 1])
    logits = xs[0]
    loss = tape.nn.sparse_softmax_cross_entropy_with_logits(tape.tensor(labels).to(device),
                                                            x[0])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(loss.numpy(), -log_probs[np.arange(3), labels], rtol=1e-5)


def test_gradients_built_from_identity_matrices_stay_on_the_device(device):
    """prod's and a diagonal einsum's gradients use identity matrices, made on the device."""
    xs = np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]])
    x = tape.tensor(xs, dtype="float64").to(device)
    with tape.GradientTape(persistent=True) as g:
        g.watch(x)
        p = tape.sum(tape.prod(x, axis=1))
        d = tape.sum(tape.einsum("ii->i", x[:, :2]) * tape.tensor([2.0, 3.0], "float64").to(device))
    want = xs.prod(axis=1, keepdims=True) / xs
    np.testing.assert_allclose(g.gradient(p, x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(g.gradient(d, x).numpy(), [[2.0, 0, 0], [0, 3.0, 0]])


def test_host_arrays_and_labels_go_where_the_tensor_is(device):
    """NumPy arrays and lists beside a tensor are constants made on its device (as JAX and
    TensorFlow place them): arithmetic, index arrays, scatter-adds and sparse labels."""
    xs = np.arange(6.0).reshape(2, 3)
    x = tape.tensor(xs).to(device)
    y = x + np.ones(3)
    assert y.device == x.device
    np.testing.assert_array_equal(y.numpy(), xs + 1)
    picked = x[np.array([1, 0, 1])]
    assert picked.device == x.device
    np.testing.assert_array_equal(picked.numpy(), xs[[1, 0, 1]])
    np.testing.assert_array_equal(x[:, [True, False, True]].numpy(), xs[:, [0, 2]])
    with tape.GradientTape() as g:
        g.watch(x)
        s = tape.sum(tape.gather(x, np.array([1, 1]), axis=0))
    np.testing.assert_array_equal(g.gradient(s, x).numpy(), [[0, 0, 0], [2, 2, 2]])
    key = np.array([7, 3], dtype=np.uint64)  # a host key, raw or as a CPU tensor
    dropped = tape.random.dropout(x, 0.5, key=key)
    assert dropped.device == x.device
    np.testing.assert_array_equal(dropped.numpy(),
                                  tape.random.dropout(x, 0.5, key=tape.tensor(key)).numpy())
    loss = tape.nn.sparse_softmax_cross_entropy_with_logits(np.array([2, 0]), x)
    assert loss.device == x.device
    want = np.log(np.exp(xs).sum(-1)) - xs[[0, 1], [2, 0]]
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-12)


@pytest.mark.gpu
def test_an_explicit_cpu_tensor_beside_a_gpu_tensor_is_still_an_error():
    with pytest.raises(tape.errors.DeviceError, match="gpu:0, cpu"):
        tape.tensor([1.0]).to("gpu") + tape.tensor([1.0])


def test_a_layer_built_by_its_first_call_puts_its_weights_beside_the_inputs(device):
    x = tape.tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype="float32").to(device)
    dense, norm = tape.layers.Dense(2), tape.layers.LayerNormalization()
    out = norm(dense(x))
    assert out.device == x.device
    assert {w.device for w in dense.weights + norm.weights} == {x.device}


def test_metrics_take_host_labels_and_weights_beside_device_predictions(device):
    preds = tape.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]).to(device)
    accuracy = tape.metrics.SparseCategoricalAccuracy()
    accuracy.update_state(np.array([1, 1, 1]), preds, sample_weight=np.array([1.0, 1.0, 2.0]))
    assert {v.device for v in accuracy.variables} == {"cpu"}  # built outside any device
    np.testing.assert_allclose(accuracy.result().numpy(), 3 / 4)
    labels, weights = np.array([0, 1, 1]), [1.0, 2.0, 1.0]
    aucs = []
    for scores in (preds[:, 1], preds.numpy()[:, 1]):  # on the device, then from the host
        auc = tape.metrics.AUC(num_thresholds=5)
        auc.update_state(labels, scores, sample_weight=weights)
        aucs.append(auc.result().item())
    # The negative scores highest (0.9 against 0.2 and 0.7): worse than chance.
    assert aucs[0] == aucs[1] and aucs[0] < 0.5


def test_a_traced_step_folds_constants_on_the_device(device):
    @tape.trace
    def step(x):
        scale = tape.exp(tape.constant(np.array([0.0, 1.0]))).to(x.device)  # a constant
        return x * (scale + 1.0)

    x = tape.tensor([2.0, 3.0]).to(device)
    for _ in range(2):  # trace, then replay
        y = step(x)
        assert y.device == x.device
        np.testing.assert_allclose(y.numpy(), [4.0, 3.0 * (np.e + 1)], rtol=1e-6)


def test_a_variable_counter_steps_on_its_device_inside_a_trace(device):
    counter = tape.Variable(tape.zeros((), dtype="int64").to(device))

    @tape.trace
    def tick():
        counter.assign_add(1)
        counter.assign_sub(np.int64(0))
        return counter * 1

    for _ in range(3):
        tick()
    assert counter.device == tape.zeros(1).to(device).device
    assert counter.numpy() == 3


def test_a_model_built_under_a_device_takes_host_batches_there(device):
    """Weights made under ``tape.device(...)`` (no ``to()``): calling the model on a NumPy
    array, fit, evaluate and predict all run where the weights are."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x.sum(-1) > 0).astype(np.int64)
    with tape.device(device):
        model = tape.models.Sequential([tape.layers.Dense(8, activation="relu"),
                                        tape.layers.Dense(2)])
        model.build((None, 4))
    assert model(x).device == model.weights[0].device
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert {v.device for v in model.weights} == {model(x[:1]).device}
    assert model.predict(x, verbose=0).shape == (32, 2)
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()


def test_variables_made_from_host_data_go_to_the_default_device(device):
    with tape.device(device):
        v = tape.Variable(np.ones(3))
        w = tape.Variable(tape.ones(3).to("cpu"))  # a tensor keeps its own device
    assert v.device == tape.ones(1).to(device).device and w.device == "cpu"


def test_schedules_and_callable_rates_follow_the_variables(device):
    schedule = tape.optimizers.schedules.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5)
    w = tape.Variable(tape.tensor([1.0, -1.0]).to(device))
    opt = tape.optimizers.SGD(learning_rate=schedule)
    for _ in range(2):
        opt.apply_gradients([(tape.ones(2).to(device), w)])
    # steps at t=0 and t=1: rates 0.5 and 0.5 * 0.5 ** 0.5
    np.testing.assert_allclose(w.numpy(), np.array([1.0, -1.0]) - (0.5 + 0.5 * 0.5 ** 0.5),
                               rtol=1e-6)
    callable_rate = tape.optimizers.SGD(learning_rate=lambda: 0.25)  # a host number
    callable_rate.apply_gradients([(tape.ones(2).to(device), w)])
    np.testing.assert_allclose(w.numpy(), np.array([1.0, -1.0]) - (0.75 + 0.5 * 0.5 ** 0.5),
                               rtol=1e-6)
    for name in ("CosineDecay", "PiecewiseConstantDecay"):
        cls = getattr(tape.optimizers.schedules, name)
        sched = cls(0.1, 10) if name == "CosineDecay" else cls([2], [0.1, 0.01])
        assert sched(tape.tensor(3, dtype="int64").to(device)).device == w.device


def test_recurrent_regularized_and_noise_shaped_layers_make_their_constants_on_the_device(
        device):
    """Zero initial states, a regularizer's zero, a noise-shaped dropout mask and default
    layer-norm parameters are made by library code beside the user's tensor."""
    x = tape.tensor(np.random.default_rng(1).normal(size=(2, 5, 3)), dtype="float32")
    x = x.to(device)
    model = tape.models.Sequential([
        tape.layers.LSTM(4, return_sequences=True,
                         kernel_regularizer=tape.regularizers.L2(0.01)),
        tape.layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=3),
        tape.layers.GRU(2)])
    with tape.GradientTape() as g:
        out = model(x, training=True)
        loss = tape.sum(out) + model.losses[0]
    assert out.device == x.device and loss.device == x.device
    grads = g.gradient(loss, model.trainable_weights)
    assert all(gr.device == x.device for gr in grads)
    assert tape.nn.layer_norm(x, axis=-1).device == x.device
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)  # a host mask
    assert model.layers[0](x, mask=mask).device == x.device


def test_attention_takes_host_values_and_masks_beside_a_device_query(device):
    rng = np.random.default_rng(2)
    query = tape.tensor(rng.normal(size=(2, 3, 4)), dtype="float32").to(device)
    value = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = rng.uniform(size=(2, 3, 5)) > 0.3
    layer = tape.layers.MultiHeadAttention(num_heads=2, key_dim=2)
    out = layer(query, value, attention_mask=mask, use_causal_mask=False)
    assert out.device == query.device
    scores = tape.nn.scaled_dot_product_attention(query, query, query, mask=np.tril(
        np.ones((3, 3), bool)))
    assert scores.device == query.device


def test_shuffles_and_onnx_export_of_a_device_model(device, tmp_path):
    x = tape.tensor(np.arange(5.0)).to(device)
    shuffled = tape.random.permutation(x, seed=4)
    assert shuffled.device == x.device
    assert sorted(shuffled.numpy().tolist()) == list(range(5))
    onnx = pytest.importorskip("onnx")
    model = tape.models.Sequential([tape.layers.Dense(3, activation="relu", input_dim=4)])
    model.to(device)
    scale = tape.tensor([1.0, 2.0, 3.0]).to(device)  # a constant of the graph, on the device
    predict = tape.trace(lambda x: model(x) * scale,
                         input_signature=[tape.TensorSpec((None, 4), "float32")])
    predict(tape.ones((2, 4)).to(device))
    path = tmp_path / "m.onnx"
    tape.trace.export_onnx(predict, path)
    weights = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]
    kernel = model.weights[0].numpy()
    assert any(w.shape == kernel.shape and np.array_equal(w, kernel) for w in weights)
    assert any(np.array_equal(w, [1.0, 2.0, 3.0]) for w in weights)


def test_a_seed_gives_the_same_draws_and_weights_on_every_device(device):
    def draws():
        layer = tape.layers.Dense(
            4, kernel_initializer=tape.initializers.GlorotNormal(seed=2),
            bias_initializer=tape.initializers.RandomUniform(seed=3))
        layer.build((None, 3))
        return [tape.random.normal((2, 3), seed=7), tape.random.randint(9, shape=(5,), seed=8),
                *layer.weights]

    on_cpu = draws()
    with tape.device(device):
        there = draws()
    for here, other in zip(on_cpu, there):
        assert other.device == tape.backend.parse_device(device)
        np.testing.assert_array_equal(other.numpy(), here.numpy())


def test_a_traced_draw_replays_the_numbers_its_seed_draws_eagerly(device):
    """A replay on the GPU draws from the host generator too (it drew with CuPy's, so a
    seeded noise step traced on the GPU gave other numbers than the eager run)."""
    def noisy(x):  # draws from the global seed's streams: random_key nodes, never folded
        return (x + tape.random.normal((3,)) + tape.random.uniform((3,))
                + tape.cast(tape.random.randint(9, shape=(3,)), "float32"))

    with tape.device(device):
        x = tape.ones(3)
        tape.random.seed(5)
        want = noisy(x).numpy()
        traced = tape.trace(noisy)
        tape.random.seed(5)
        first = traced(x).numpy()
        tape.random.seed(5)
        replayed = traced(x).numpy()
    assert traced.trace_count == 1
    np.testing.assert_array_equal(first, want)
    np.testing.assert_array_equal(replayed, want)
