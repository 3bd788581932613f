"""Two ranks for real: ``mpiexec -n 2 python -m pytest -p no:xdist tests/distribute -m mpi``
(``make test`` runs it). The reference for every equivalence is the same training in one
process with the whole global batch, computed here on each rank with no strategy."""

from __future__ import annotations

import contextlib
import csv
import os

import numpy as np
import pytest

import tape
from tape import callbacks, layers

from .common import data, loss, max_difference, mlp

pytestmark = pytest.mark.mpi
TOL = 1e-10  # float64 weights: only the order of additions differs


@pytest.fixture(scope="module")
def strategy():
    strategy = tape.distribute.DataParallel()
    assert strategy.size == 2, "run these tests under mpiexec -n 2"
    return strategy


def same_on_every_rank(strategy, value) -> list:
    return strategy._group.allgather_json(value)


# ---- equivalence with one process --------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("eager", [True, False], ids=["eager", "traced"])
def test_fit_on_two_ranks_equals_one_process(strategy, optimizer, eager):
    # 40 samples in global batches of 15: shards of 7 and 8 rows, then 5 and 5, so the
    # average must weight each rank by its rows to equal the one-process step.
    x, y = data(40)
    validation = data(12, seed=1)
    reference = mlp()
    reference.compile(optimizer, loss(), metrics=["accuracy"], run_eagerly=eager)
    expected = reference.fit(x, y, batch_size=15, epochs=3, shuffle=False, verbose=0,
                             validation_data=validation)
    with strategy.scope():
        model = mlp()
        model.compile(optimizer, loss(), metrics=["accuracy"], run_eagerly=eager)
    calls = strategy._group.calls
    history = model.fit(x, y, batch_size=15, epochs=3, shuffle=False, verbose=0,
                        validation_data=validation)
    assert strategy._group.calls > calls  # the ranks did exchange
    # Each rank saw its own rows of the last epoch: 7 + 7 + 5 on rank 0, 8 + 8 + 5 on rank 1
    # (the loss tracker's count, which the global logs leave as this rank's).
    assert float(model.metrics[0].count.numpy()) == [19, 21][strategy.rank]
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL
    # The logs are those of the global batch (one rank's accuracy alone would differ).
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(history.history[key], expected.history[key], rtol=1e-6)
    weights = [w.tolist() for w in model.get_weights()]
    assert same_on_every_rank(strategy, weights)[1] == weights


def test_shuffled_fit_on_two_ranks_equals_one_process_from_the_same_seed(strategy):
    # The ranks agree on tape.random's seed, so they draw the one process's order.
    x, y = data(40)
    tape.random.seed(5)
    reference = mlp()
    reference.compile("sgd", loss())
    reference.fit(x, y, batch_size=16, epochs=2, verbose=0)
    tape.random.seed(5)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL


def test_fit_on_a_dataset_of_global_batches_equals_one_process(strategy):
    x, y = data(36)
    batches = tape.data.Dataset.from_tensor_slices((x, y)).batch(12)
    reference = mlp()
    reference.compile("adam", loss())
    reference.fit(batches, epochs=2, verbose=0)
    with strategy.scope():
        model = mlp()
        model.compile("adam", loss())
    model.fit(batches, epochs=2, verbose=0)
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_custom_loop_on_two_ranks_equals_one_process(strategy, optimizer, traced):
    x, y = data(48)
    steps, batch = 6, 8

    def train(model, dataset, all_reduce):
        opt = tape.optimizers.get(optimizer)

        def step(xb, yb):
            with tape.GradientTape() as g:
                value = loss()(yb, model(xb, training=True))
            grads = all_reduce(g.gradient(value, model.trainable_variables))
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return value

        step = tape.trace(step) if traced else step
        for xb, yb in dataset.take(steps):
            step(xb, yb)
        return model

    full = tape.data.Dataset.from_tensor_slices((x, y))
    reference = train(mlp(), full.batch(batch), lambda g: g)
    # tf.data's idiom: each rank takes every other sample, in half batches; a global batch
    # of rows 0..7 is rows 0, 2, 4, 6 on rank 0 and 1, 3, 5, 7 on rank 1.
    shard = full.shard(strategy.size, strategy.rank).batch(batch // strategy.size)
    calls = strategy._group.calls
    model = train(mlp(), shard, strategy.all_reduce)
    assert strategy._group.calls - calls == steps  # one bucket per step, replays included
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL


# ---- the all-reduce overlaps the backward walk ---------------------------------------------------


@pytest.fixture
def small_buckets(strategy):
    strategy.bucket_bytes = 64  # the MLP's 4 gradients in 4 buckets (float64: 8 values each)
    yield strategy
    strategy.bucket_bytes = 25 << 20


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "traced"])
def test_overlapped_fit_gives_the_blocking_paths_weights_bit_for_bit(small_buckets, eager,
                                                                      monkeypatch):
    strategy = small_buckets
    x, y = data(40)

    def train():
        with strategy.scope():
            model = mlp()
            model.compile("adam", loss(), run_eagerly=eager)
        model.fit(x, y, batch_size=15, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    overlapped = train()
    with monkeypatch.context() as m:  # the blocking path: all_reduce after the walk
        m.setattr(strategy, "_overlapping", lambda *a: contextlib.nullcontext())
        blocking = train()
    for a, b in zip(overlapped, blocking):
        np.testing.assert_array_equal(a, b)


def test_each_bucket_leaves_while_the_walk_goes_on(small_buckets, monkeypatch):
    # Events on each rank: walk pieces (entries left to walk) and bucket starts. The first
    # bucket (the last layer's bias) must leave before the walk reaches the first layer.
    strategy, events = small_buckets, []
    run = tape.autodiff.BackwardWalk.run
    monkeypatch.setattr(tape.autodiff.BackwardWalk, "run",
                        lambda walk, stack: events.append(("walk", len(stack)))
                        or run(walk, stack))
    start = strategy._group.all_reduce_start
    monkeypatch.setattr(strategy._group, "all_reduce_start",
                        lambda a: events.append(("start", a.size)) or start(a))
    x, y = data(20)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss(), run_eagerly=True)
    model.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0)
    starts = [i for i, (kind, _) in enumerate(events) if kind == "start"]
    # the gradients' 4 buckets, last layer first (each with this rank's rows as one more value)
    assert [events[i][1] for i in starts[:4]] == [3 + 1, 8 * 3 + 1, 8 + 1, 5 * 8 + 1]
    assert any(kind == "walk" and left > 0 for kind, left in events[starts[0]:starts[3]])
    assert not strategy._group._in_flight and tape.autodiff.gradient_ready.get() is None


def test_a_traced_step_starts_buckets_in_the_middle_of_its_backward(small_buckets):
    strategy = small_buckets
    x, y = data(20)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    model.fit(x, y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    names = [n.op.name for n in model.make_train_function().graph.nodes]
    starts = [i for i, name in enumerate(names) if name == "all_reduce_start"]
    waits = [i for i, name in enumerate(names) if name == "all_reduce_wait"]
    assert len(starts) == len(waits) == 4 and starts[-1] < waits[0]
    # backward matmuls (the first layer's gradients) run after the first bucket has left
    assert "matmul" in names[starts[0]:starts[-1]]


@pytest.mark.parametrize("bucket_bytes", [1, 64, 25 << 20], ids=["per-tensor", "64B", "one"])
def test_all_reduce_values_against_numbers_by_hand(strategy, bucket_bytes):
    # Rank r holds r + 1 everywhere (float64 and float32 tensors, None, a dict): the sum over
    # the 2 ranks is 3, the mean 1.5, the mean weighted by r + 1 is (1*1 + 2*2) / 3 = 5/3.
    strategy.bucket_bytes = bucket_bytes
    try:
        r = strategy.rank + 1.0
        values = {"a": tape.tensor(np.full((3, 2), r)), "b": None,
                  "c": tape.tensor(np.full(5, r, np.float32)), "d": tape.tensor(np.full(4, r))}
        for reduce, weight, want in (("sum", None, 3.0), ("mean", None, 1.5),
                                     ("mean", strategy.rank + 1, 5 / 3)):
            out = strategy.all_reduce(values, reduce=reduce, weight=weight)
            assert out["b"] is None
            for key in "acd":
                assert out[key].shape == values[key].shape
                assert out[key].dtype == values[key].dtype
                np.testing.assert_allclose(out[key].numpy(), want, rtol=1e-6)
    finally:
        strategy.bucket_bytes = 25 << 20


def test_a_traced_step_runs_the_all_reduce_at_every_replay(strategy):
    w = tape.Variable(np.zeros(3))

    @tape.trace
    def step(g):
        (g,) = strategy.all_reduce([g], reduce="sum")
        w.assign_add(g)

    for i in range(4):
        step(tape.tensor(np.full(3, float(strategy.rank + 1 + i))))
    names = [node.op.name for node in step.graph.nodes]
    assert "all_reduce_start" in names and "all_reduce_wait" in names
    # sum over ranks of (rank + 1 + i), summed over i = 0..3: (1+2) * 4 + 2 * (0+1+2+3)
    np.testing.assert_array_equal(w.numpy(), np.full(3, 24.0))


# ---- same start ----------------------------------------------------------------------------------


def test_broadcast_gives_every_rank_rank_zeros_values(strategy):
    weights = [tape.Variable(np.full((2, 3), 10.0 + strategy.rank)),
               tape.Variable(np.array([strategy.rank], np.int64))]
    strategy.broadcast(weights)
    np.testing.assert_array_equal(weights[0].numpy(), np.full((2, 3), 10.0))
    np.testing.assert_array_equal(weights[1].numpy(), [0])


def test_fit_starts_from_rank_zeros_weights_and_optimizer_state(strategy):
    x, y = data(20)
    reference = mlp()
    reference.compile("adam", loss())
    reference.fit(x[:10], y[:10], batch_size=10, epochs=1, shuffle=False, verbose=0)
    expected_state = [np.array(v.numpy()) for v in reference.optimizer.variables]
    reference.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    with strategy.scope():
        model = mlp()
        model.compile("adam", loss())
    model.fit(x[:10], y[:10], batch_size=10, epochs=1, shuffle=False, verbose=0)
    # Rank 1 drifts (weights and Adam's moments); fit must start again from rank 0's.
    assert max_difference([v.numpy() for v in model.optimizer.variables], expected_state) < TOL
    if strategy.rank == 1:
        for v in model.weights + model.optimizer.variables:
            v.assign(v.numpy() + 1)
    model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL


def test_an_unbuilt_model_is_built_then_started_from_rank_zeros_weights(strategy):
    x, y = data(24)

    def unbuilt():
        return tape.models.Sequential([layers.Dense(6, activation="tanh", dtype="float64"),
                                       layers.Dense(3, dtype="float64")])

    tape.random.seed(100)  # the one process's initial weights: rank 0's draws
    reference = unbuilt()
    reference.compile("sgd", loss())
    reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    tape.random.seed(100 + strategy.rank)  # each rank would draw other weights
    with strategy.scope():
        model = unbuilt()
        model.compile("sgd", loss())
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert max_difference(model.get_weights(), reference.get_weights()) < TOL
    tape.random.seed(0)  # the ranks' streams agree again for the tests that follow


def test_initializers_agree_and_dropout_differs_between_ranks(strategy):
    tape.random.seed(strategy.rank)  # the ranks' streams differ...
    tape.distribute.DataParallel()  # ...until a strategy is made: rank 0's seed everywhere
    unseeded = layers.Dense(4)
    unseeded.build((None, 3))
    kernels = same_on_every_rank(strategy, unseeded.kernel.numpy().tolist())
    assert kernels[0] == kernels[1]
    masks = same_on_every_rank(strategy, (layers.Dropout(0.5)(
        tape.ones((200,)), training=True).numpy() > 0).tolist())
    assert masks[0] != masks[1]


# ---- what fit writes and decides ---------------------------------------------------------------


def test_rank_zero_writes_one_checkpoint_and_one_log(strategy, tmp_path, capsys):
    folder = same_on_every_rank(strategy, str(tmp_path))[0]  # rank 0's folder, shared
    x, y = data(40)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    checkpoint = os.path.join(folder, "model.weights.safetensors")
    log = os.path.join(folder, "log.csv")
    model.fit(x, y, batch_size=20, epochs=2, shuffle=False, verbose=2,
              callbacks=[callbacks.ModelCheckpoint(checkpoint, monitor="loss",
                                                   save_weights_only=True),
                         callbacks.CSVLogger(log)])
    printed = capsys.readouterr().out
    assert ("Epoch 2/2" in printed) == (strategy.rank == 0)  # one progress report
    same_on_every_rank(strategy, 0)  # rank 0 has closed its files
    assert sorted(os.listdir(folder)) == ["log.csv", "model.weights.safetensors"]
    restored = mlp()
    restored.load_weights(checkpoint)
    assert max_difference(restored.get_weights(), model.get_weights()) == 0
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows] == ["epoch", "0", "1"]
    same_on_every_rank(strategy, 0)  # both have read before the folder goes


def test_a_stop_in_the_middle_of_an_epoch_leaves_no_hook_and_nothing_in_flight(strategy):
    class StopAfterOneBatch(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    x, y = data(30)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss(), run_eagerly=True)
    calls = strategy._group.calls
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[StopAfterOneBatch()])
    assert strategy._group.calls > calls
    assert tape.autodiff.gradient_ready.get() is None and not strategy._group._in_flight


def test_a_stop_on_one_rank_stops_every_rank(strategy):
    class StopOnRankOne(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if strategy.rank == 1:
                self.model.stop_training = True

    x, y = data(20)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[StopOnRankOne()])
    assert same_on_every_rank(strategy, len(history.history["loss"])) == [1, 1]


def test_early_stopping_decides_the_same_on_every_rank(strategy):
    x, y = data(40)
    with strategy.scope():
        model = mlp()
        model.compile(tape.optimizers.SGD(5.0), loss())  # too large: the loss goes up
    stop = callbacks.EarlyStopping(monitor="loss", patience=1)
    history = model.fit(x, y, batch_size=10, epochs=30, verbose=0, callbacks=[stop])
    epochs = same_on_every_rank(strategy, len(history.history["loss"]))
    assert epochs[0] == epochs[1] < 30


# ---- bad input and faults ----------------------------------------------------------------------


def test_ranks_with_different_models_get_an_error_naming_both(strategy):
    x, y = data(20)
    with strategy.scope():
        model = mlp(units=8 + strategy.rank)
        model.compile("sgd", loss())
    with pytest.raises(tape.ShapeError, match=r"rank 0 has item 0: \[\[5, 8\].*rank 1 has "
                                              r"\[\[5, 9\]"):
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)


def test_all_reduce_of_different_shapes_is_an_error_naming_both(strategy):
    with pytest.raises(tape.ShapeError, match=r"rank 0 has item 0: \[\[2\], 'float64'\].*"
                                              r"rank 1 has \[\[3\], 'float64'\]"):
        strategy.all_reduce([tape.tensor(np.zeros(2 + strategy.rank))])


def test_ranks_with_different_data_get_an_error_naming_both(strategy):
    x, y = data(20 + 10 * strategy.rank)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    with pytest.raises(tape.ShapeError, match=r"fit: the data \(samples, batches per epoch\) "
                                              r"differ between ranks: rank 0 has item 0: 20, "
                                              r"rank 1 has 30"):
        model.fit(x, y, batch_size=10, verbose=0)


def test_a_dataset_smaller_than_the_ranks_is_an_error(strategy):
    x, y = data(21)
    with strategy.scope():
        model = mlp()
        model.compile("sgd", loss())
    with pytest.raises(ValueError, match="1 samples for 2 ranks"):
        model.fit(x[:1], y[:1], batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="batch 2 has 1 samples for 2 ranks"):
        model.fit(x, y, batch_size=10, shuffle=False, verbose=0)
