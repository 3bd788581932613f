"""CUDA-graph replay of traced functions (tape/trace/cuda_graph.py), on the CuPy double in
CI (it records a capture and replays it at launch, as strict as CUDA: tests/cupy_double/
capture.py) and on a real GPU in .ci/gpu. The reference is the same traced function with
graphs off (TAPE_CUDA_GRAPHS=0), which replays op by op as before."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tape

pytestmark = pytest.mark.gpu


@pytest.fixture
def graphs_off(monkeypatch):
    def turn_off(off: bool = True):
        if off:
            monkeypatch.setenv("TAPE_CUDA_GRAPHS", "0")
        else:
            monkeypatch.delenv("TAPE_CUDA_GRAPHS", raising=False)
    turn_off(False)
    return turn_off


def _without_and_with(graphs_off, run):
    """(``run()`` with TAPE_CUDA_GRAPHS=0, ``run()`` with graphs): the reference first."""
    graphs_off(True)
    want = run()
    graphs_off(False)
    return want, run()


def _gpu(array):
    return tape.tensor(np.asarray(array)).to("gpu")


def _dropout_step(seed: int):
    """A traced step with state, a constant and dropout: w <- w - 0.1 * grad of
    sum(dropout(tanh(x * w)))."""
    tape.random.seed(seed)
    w = tape.Variable(np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)).move_to("gpu")
    drop = tape.layers.Dropout(0.5)

    @tape.trace
    def step(x):
        with tape.GradientTape() as t:
            y = drop(tape.tanh(x * w), training=True)
            loss = tape.sum(y)
        g = t.gradient(loss, w)
        w.assign_sub(0.1 * g)
        return loss

    return step, w


def _run(step, w, xs):
    return [step(x).numpy() for x in xs], w.numpy()


def test_graphs_on_and_off_give_the_same_steps_dropout_included(graphs_off):
    rng = np.random.default_rng(0)
    xs = [_gpu(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(8)]
    graphs_off(True)
    step, w = _dropout_step(7)
    want_losses, want_w = _run(step, w, xs)
    assert "CUDA graphs are off" in step.explain()
    graphs_off(False)
    step, w = _dropout_step(7)
    losses, got_w = _run(step, w, xs)
    assert "replayed as one CUDA graph (launched 6 times" in step.explain(), step.explain()
    np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6)
    assert len({float(a) for a in losses}) == len(losses)  # each step its own mask


def test_a_steady_launch_copies_nothing_between_host_and_device():
    double = sys.modules.get("cupy_double")
    if double is None:
        pytest.skip("counts transfers through the CuPy double (TAPE_CUPY_DOUBLE=1)")
    step, w = _dropout_step(1)
    x = _gpu(np.ones((3, 4), np.float32))
    for _ in range(4):  # trace, warm-up and capture, two launches (the keys' step learnt)
        step(x)
    with double.count_transfers() as transfers:
        losses = [step(x) for _ in range(3)]
    assert (transfers.h2d, transfers.d2h) == (0, 0), transfers.log
    assert "CUDA graph" in step.explain() and "without" not in step.explain()
    assert all(np.isfinite(loss.numpy()) for loss in losses)


def test_a_variable_assigned_outside_the_graph_is_seen_by_the_next_launch(graphs_off):
    w = tape.Variable(np.ones(3, np.float32)).move_to("gpu")

    @tape.trace
    def f(x):
        w.assign(w * 2.0)
        return tape.sum(x * w)

    x = _gpu(np.arange(3, dtype=np.float32))
    for _ in range(3):
        f(x)  # trace, capture, launch: w = 8
    w.assign(_gpu(np.full(3, 10.0, np.float32)))
    np.testing.assert_allclose(f(x).numpy(), 3 * 20.0)
    np.testing.assert_allclose(w.numpy(), np.full(3, 20.0))
    with tape.GradientTape(persistent=True) as t:  # it keeps w's array (w * w saves it)
        t.watch(w)
        square = tape.sum(w * w)
    np.testing.assert_allclose(f(x).numpy(), 3 * 40.0)  # a launch must not write that array
    np.testing.assert_allclose(t.gradient(square, w).numpy(), np.full(3, 2 * 20.0))
    del t, square
    np.testing.assert_allclose(f(x).numpy(), 3 * 80.0)
    assert "replayed as one CUDA graph" in f.explain()


def test_a_step_that_reads_on_the_host_falls_back_and_says_why():
    @tape.trace
    def f(x):
        with tape.device("gpu"):
            return x + tape.random.normal((3,))  # drawn on the host, copied to the GPU

    x = _gpu(np.zeros(3, np.float32))
    values = [f(x).numpy() for _ in range(3)]
    assert "without a CUDA graph: random_normal" in f.explain(), f.explain()
    assert "cannot be captured" in f.explain()
    assert not np.array_equal(values[1], values[2])  # still a new draw per call


def test_a_new_shape_captures_anew_and_never_launches_a_stale_graph():
    @tape.trace(input_signature=[tape.TensorSpec((None, 2))])
    def f(x):
        return tape.sum(tape.exp(x), axis=0)

    for n in (3, 5, 3, 5, 4):
        x = np.arange(2 * n, dtype=np.float32).reshape(n, 2) / 10
        np.testing.assert_allclose(f(_gpu(x)).numpy(), np.exp(x).sum(0), rtol=1e-6)
    assert f.trace_count == 1


def _fits_with_and_without_graphs(graphs_off, layers, x, y, policy="float32", batch=16):
    """(without graphs, with graphs) of the same seeded run on the GPU (every tensor and
    weight made there): fit for 3 epochs, evaluate and predict, under ``policy``. Each is
    (losses, weights, evaluation, predictions, the train step)."""
    from tape import _state, keras

    def run():
        keras.mixed_precision.set_global_policy(policy)
        try:
            tape.random.seed(3)
            with _state.using(_state.default_device, "gpu:0"):
                model = keras.Sequential(layers())
                model.compile(optimizer="adam", loss=keras.losses.
                              SparseCategoricalCrossentropy(from_logits=True))
                history = model.fit(x, y, epochs=3, batch_size=batch, verbose=0)
                evaluation = model.evaluate(x, y, verbose=0)
                predictions = model.predict(x, verbose=0)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        return (history.history["loss"], model.get_weights(), evaluation, predictions,
                model.make_train_function())

    return _without_and_with(graphs_off, run)


def _assert_same_run(got, want, rtol, atol):
    assert "replayed as one CUDA graph" in got[-1].explain(), got[-1].explain()
    for a, b in zip([got[0], *got[1], got[2], got[3]], [want[0], *want[1], want[2], want[3]]):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=rtol, atol=atol)


def _mlp():
    from tape import keras

    return [keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.3),
            keras.layers.Dense(3)]


def test_fit_evaluate_and_predict_launch_graphs_that_match_replay_without_them(graphs_off):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)  # two batches of 16, one of 8
    want, got = _fits_with_and_without_graphs(graphs_off, _mlp, x, rng.integers(0, 3, 40))
    _assert_same_run(got, want, rtol=1e-6, atol=1e-7)


def test_a_traced_cnn_step_is_captured_with_its_convolutions(graphs_off):
    # the second convolution's input gradient: a GEMM with broadcast batches
    from tape import keras

    def layers():
        return [keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                keras.layers.Conv2D(4, 2, activation="relu"), keras.layers.Flatten(),
                keras.layers.Dense(3)]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8, 8, 1)).astype(np.float32)
    want, got = _fits_with_and_without_graphs(graphs_off, layers, x, rng.integers(0, 3, 16),
                                              batch=8)
    _assert_same_run(got, want, rtol=1e-5, atol=1e-6)  # cuBLAS's products against NumPy's


def test_out_of_memory_in_the_capture_says_so_and_the_step_still_runs(graphs_off,
                                                                        monkeypatch):
    from tape.trace import cuda_graph

    rng = np.random.default_rng(1)
    xs = [_gpu(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(4)]
    graphs_off(True)
    want = _run(*_dropout_step(2), xs)
    graphs_off(False)

    def out_of_memory(self):  # what CuPy raises when the capture's pool cannot grow
        raise MemoryError("Out of memory allocating 1,048,576 bytes (allocated so far: "
                          "2,097,152 bytes).")

    monkeypatch.setattr(cuda_graph.Captured, "capture", out_of_memory)
    step, w = _dropout_step(2)
    got = _run(step, w, xs)
    assert "without a CUDA graph" in step.explain()
    assert "Out of memory allocating 1,048,576 bytes" in step.explain()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_graphs_that_share_a_variable_all_keep_launching(graphs_off):
    """Train, test and predict graphs hold the same weights: none may take the others' holds
    for a tensor of an old value (fit with validation alternates them every epoch)."""
    def run():
        w = tape.Variable(np.ones(3, np.float32)).move_to("gpu")
        steps = [tape.trace(lambda x: (w.assign(w * 0.5 + x), tape.sum(w))[1]),
                 tape.trace(lambda x: tape.sum(x * w)), tape.trace(lambda x: x * w - 1.0)]
        x = _gpu(np.arange(3, dtype=np.float32))
        calls = [f for f in steps for _ in range(3)] + steps * 2  # each captured in turn
        return [f(x).numpy() for f in calls], steps

    (want, _), (got, steps) = _without_and_with(graphs_off, run)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for f in steps:
        assert "(launched 3 times so far)" in f.explain(), f.explain()


def test_a_swap_of_variables_reads_their_start_values(graphs_off):
    """The capture writes Variables in place: a start value still wanted after its array is
    written (assigned to the other Variable, returned) must be read before."""
    def run():
        a = tape.Variable(np.array([1.0, 2.0], np.float32)).move_to("gpu")
        b = tape.Variable(np.array([10.0, 20.0], np.float32)).move_to("gpu")

        @tape.trace
        def swap():
            old_a = a + 0.0  # folded away: the graph assigns b the read of a itself
            a.assign(b)
            b.assign(old_a)
            return old_a

        returned = [swap().numpy() for _ in range(4)]
        return returned, a.numpy(), b.numpy(), swap

    want, got = _without_and_with(graphs_off, run)
    assert "replayed as one CUDA graph (launched 2 times" in got[3].explain(), got[3].explain()
    for g, w in zip(got[:3], want[:3]):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(want[1], [1.0, 2.0])  # four swaps: back where it started


def test_past_max_graphs_new_signatures_replay_without_one(monkeypatch):
    from tape.trace import cuda_graph

    monkeypatch.setattr(cuda_graph, "MAX_GRAPHS", 2)

    @tape.trace(input_signature=[tape.TensorSpec((None,))])
    def f(x):
        return tape.exp(x) * 2.0

    for call, n in enumerate((2, 3, 4, 2, 3, 4, 3)):  # traced at 2; graphs for 3 and 4
        x = np.arange(n, dtype=np.float32) / 4
        np.testing.assert_allclose(f(_gpu(x)).numpy(), np.exp(x) * 2.0, rtol=1e-6)
        if call == 3:
            assert "2 signatures already have a graph" in f.explain(), f.explain()
            assert "(2,)" in f.explain()
    assert "replayed as one CUDA graph (launched 2 times" in f.explain(), f.explain()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_steps_launch_graphs_that_match_replay_without_them(graphs_off,
                                                                           policy):
    """bfloat16/float16 products go through tape.cublas in the capture; float16's loss
    scaling (a skipped step restores its values by ``where``) is captured too."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 5)).astype(np.float32)
    want, got = _fits_with_and_without_graphs(graphs_off, _mlp, x, rng.integers(0, 3, 48),
                                              policy=policy)
    assert "(launched 7 times" in got[-1].explain(), got[-1].explain()
    _assert_same_run(got, want, rtol=1e-6, atol=1e-7)


def test_callbacks_batch_norm_and_validation_see_the_same_run_as_without_graphs(graphs_off):
    """A learning-rate schedule assigns the rate between launches, BatchNormalization
    assigns its moving statistics inside them, and validation alternates the test graph
    with the train graph every epoch."""
    from tape import _state, keras

    def run():
        tape.random.seed(3)
        with _state.using(_state.default_device, "gpu:0"):
            model = keras.Sequential([keras.layers.Dense(16, activation="relu"),
                                      keras.layers.BatchNormalization(), keras.layers.Dense(3)])
            model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            rng = np.random.default_rng(0)
            x = rng.standard_normal((64, 5)).astype(np.float32)
            y = rng.integers(0, 3, 64)
            schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
            history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[schedule],
                                validation_data=(x[:32], y[:32]))
        return history.history, model.get_weights(), model.make_train_function()

    want, got = _without_and_with(graphs_off, run)
    assert "(launched 14 times" in got[2].explain(), got[2].explain()
    assert got[0].keys() == want[0].keys()
    for key in want[0]:
        np.testing.assert_allclose(got[0][key], want[0][key], rtol=1e-6, err_msg=key)
    for w_got, w_want in zip(got[1], want[1]):
        np.testing.assert_allclose(w_got, w_want, rtol=1e-6, atol=1e-7)
