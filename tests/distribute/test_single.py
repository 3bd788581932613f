"""tape.distribute in one process (the normal suite): the strategy of one process, buckets,
the traced all-reduce, Dataset.shard, the NCCL path on the CuPy double, and what the ranks
of an ``mpiexec`` launch do when one of them fails (each test launches its own)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import tape
from tape.distribute.comm import Group

from .common import data, loss, max_difference, mlp

HERE = pathlib.Path(__file__).resolve().parent
MPIEXEC = pathlib.Path(sys.executable).parent / "mpiexec"
_LAUNCH = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_RANK")


def _plain_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH}
    return {**env, "JAX_PLATFORMS": "cpu", **extra}


def test_outside_mpiexec_it_is_one_process_and_mpi_is_not_loaded():
    code = ("import sys, tape; s = tape.distribute.DataParallel(); "
            "print(s.rank, s.size, 'mpi4py' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env=_plain_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.split() == ["0", "1", "False"], done.stderr


def test_one_process_all_reduce_and_broadcast_change_nothing():
    strategy = tape.distribute.DataParallel()
    grads = [tape.tensor([1.0, 2.0]), None]
    assert strategy.all_reduce(grads) is grads
    w = tape.Variable([3.0])
    strategy.broadcast([w])
    assert w.numpy().tolist() == [3.0]


def test_fit_in_a_scope_of_one_process_equals_fit_outside():
    x, y = data(30)
    reference = mlp()
    reference.compile("adam", loss())
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    with tape.distribute.DataParallel().scope():
        model = mlp()
        model.compile("adam", loss())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert max_difference(model.get_weights(), reference.get_weights()) == 0


def test_gradients_go_in_buckets_of_about_bucket_bytes():
    # float64: 80 + 24 bytes fit in 128; 160 needs its own; 8 more would pass 128 again;
    # the float32 tensor cannot share a float64 bucket: 4 collectives.
    strategy = tape.distribute.DataParallel(bucket_bytes=128, _group=Group(None))
    values = {"a": tape.tensor(np.arange(10.0)), "b": tape.tensor(np.ones((3, 1))),
              "c": tape.tensor(np.full((4, 5), 2.0)), "d": tape.tensor(np.array([7.0])),
              "e": tape.tensor(np.ones(2, np.float32)), "none": None}
    for reduce, weight in (("mean", None), ("sum", None), ("mean", 3)):
        calls = strategy._group.calls
        out = strategy.all_reduce(values, reduce=reduce, weight=weight)
        assert strategy._group.calls - calls == 4
        assert out["none"] is None
        for key in "abcde":  # over one rank, a sum or a (weighted) mean is the value itself
            assert out[key].dtype == values[key].dtype
            np.testing.assert_array_equal(out[key].numpy(), values[key].numpy())


def test_a_traced_step_keeps_the_all_reduce_and_runs_it_at_every_replay():
    strategy = tape.distribute.DataParallel(_group=Group(None))
    w = tape.Variable(np.zeros(2))

    @tape.trace
    def step(g):
        w.assign_add(strategy.all_reduce([g])[0])

    for i in range(3):
        step(tape.tensor(np.full(2, float(i + 1))))
    names = [n.op.name for n in step.graph.nodes]
    assert names.count("all_reduce_start") == names.count("all_reduce_wait") == 1
    assert strategy._group.calls == 3  # traced once, replayed twice
    np.testing.assert_array_equal(w.numpy(), [6.0, 6.0])


# ---- the overlap: the walk tells each gradient as soon as it is final ------------------------


def _two_layers():
    """loss = sum(tanh(x @ a) @ b) with an unused variable c, and its gradients written out
    in NumPy (the oracle)."""
    rng = np.random.default_rng(3)
    x, a0, b0 = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(5, 2))
    a, b, c = tape.Variable(a0), tape.Variable(b0), tape.Variable(np.ones(2))
    h = np.tanh(x @ a0)
    expected = [x.T @ ((1 - h ** 2) * (np.ones((4, 2)) @ b0.T)), h.T @ np.ones((4, 2)), None]
    return x, [a, b, c], expected


def test_the_walk_tells_each_gradient_once_it_is_final_last_layer_first():
    x, variables, expected = _two_layers()
    told = []

    def hook(sources):
        assert list(sources) == variables
        # the value at the moment it is told: nothing may add to it afterwards
        return lambda i, g: told.append((i, g, None if g is None else g.numpy().copy()))

    with tape.GradientTape() as tp:
        value = tape.sum(tape.tanh(tape.tensor(x) @ variables[0]) @ variables[1])
    token = tape.autodiff.gradient_ready.set(hook)
    try:
        grads = tp.gradient(value, variables)
    finally:
        tape.autodiff.gradient_ready.reset(token)
    # c (read by nothing) at once, then b (the last layer), then a; each told once.
    assert [i for i, _, _ in told] == [2, 1, 0]
    for i, g, value in told:
        assert g is grads[i]
        if expected[i] is None:
            assert g is None
        else:
            np.testing.assert_allclose(value, expected[i], rtol=1e-12)
            np.testing.assert_array_equal(value, grads[i].numpy())


def test_without_a_hook_the_walk_is_untouched_and_fit_installs_none(monkeypatch):
    # No strategy, or a strategy of one process: the walk never runs the telling path.
    def refuse(*args):
        raise AssertionError("the telling walk ran without a hook")

    monkeypatch.setattr(tape.autodiff, "_run_telling", refuse)
    x, variables, expected = _two_layers()
    with tape.GradientTape() as tp:
        value = tape.sum(tape.tanh(tape.tensor(x) @ variables[0]) @ variables[1])
    grads = tp.gradient(value, variables)
    np.testing.assert_allclose(grads[0].numpy(), expected[0], rtol=1e-12)
    assert grads[2] is None
    seen = []

    class Probe(tape.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(tape.autodiff.gradient_ready.get())

    xs, ys = data(16)
    for scope in (contextlib.nullcontext(), tape.distribute.DataParallel().scope()):
        with scope:
            model = mlp()
            model.compile("sgd", loss(), run_eagerly=True)
        model.fit(xs, ys, batch_size=8, epochs=1, verbose=0, callbacks=[Probe()])
    assert seen == [None] * 4


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "traced"])
def test_fit_over_a_group_of_one_starts_buckets_during_the_walk(monkeypatch, eager):
    # A group of one rank runs the overlapped path for real (copies instead of MPI): each
    # tensor its own bucket, the first started while entries remain to walk.
    events = []
    run = tape.autodiff.BackwardWalk.run
    monkeypatch.setattr(tape.autodiff.BackwardWalk, "run",
                        lambda walk, stack: events.append(("walk", len(stack)))
                        or run(walk, stack))
    x, y = data(30)
    reference = mlp()
    reference.compile("adam", loss(), run_eagerly=eager)
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    strategy = tape.distribute.DataParallel(bucket_bytes=1, _group=Group(None))
    start = strategy._group.all_reduce_start
    monkeypatch.setattr(strategy._group, "all_reduce_start",
                        lambda a: events.append(("start", a.size)) or start(a))
    with strategy.scope():
        model = mlp()
        model.compile("adam", loss(), run_eagerly=eager)
    events.clear()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    # the first step: the last layer's bias (3 values and its weight), then the first's
    sizes = [size for kind, size in events if kind == "start"][:4]
    assert sizes == [3 + 1, 8 * 3 + 1, 8 + 1, 5 * 8 + 1]  # each with this rank's weight
    starts = [i for i, (kind, _) in enumerate(events) if kind == "start"]
    between = events[starts[0]:starts[3]]  # the first step's first and last bucket
    assert any(kind == "walk" and left > 0 for kind, left in between)
    assert not strategy._group._in_flight
    # over one rank the weighted mean is (g * w) / w: the same to rounding
    assert max_difference(model.get_weights(), reference.get_weights()) < 1e-12


def test_an_overlap_leaves_none_for_a_variable_without_gradient_and_yields_to_other_values():
    strategy = tape.distribute.DataParallel(bucket_bytes=1, _group=Group(None))
    x, variables, expected = _two_layers()
    with strategy._overlapping(variables, 4):
        with tape.GradientTape() as tp:
            value = tape.sum(tape.tanh(tape.tensor(x) @ variables[0]) @ variables[1])
        grads = tp.gradient(value, variables)
        assert strategy._group.calls == 3  # every bucket left during the walk
        out = strategy.all_reduce(grads, weight=4)
    assert out[2] is None and not strategy._group._in_flight
    for got, want in zip(out[:2], expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # Other values (or another weight) go the blocking way, once the buckets have arrived.
    with strategy._overlapping(variables, 4):
        with tape.GradientTape() as tp:
            value = tape.sum(tape.tanh(tape.tensor(x) @ variables[0]) @ variables[1])
        grads = tp.gradient(value, variables)
        out = strategy.all_reduce([grads[1]], reduce="sum")
        assert not strategy._group._in_flight
    np.testing.assert_array_equal(out[0].numpy(), grads[1].numpy())


def test_waiting_for_an_array_that_is_no_all_reduce_in_flight_is_a_clear_error():
    group = Group(None)
    started = group.all_reduce_start(np.arange(3.0))
    np.testing.assert_array_equal(group.all_reduce_wait(started), [0.0, 1.0, 2.0])
    for array in (started, np.zeros(3)):  # waited already; never started
        with pytest.raises(tape.errors.DistributedError,
                           match=r"all_reduce_wait: this array is no all-reduce in flight "
                                 r"\(of 3 float64 values\) \[at .*test_single\.py:\d+"):
            group.all_reduce_wait(array)


def test_reduce_must_be_mean_or_sum():
    with pytest.raises(ValueError, match="reduce must be 'mean' or 'sum', got 'max'"):
        tape.distribute.DataParallel().all_reduce([tape.ones(1)], reduce="max")


@pytest.mark.parametrize("shards", [1, 3, 4, 9])
def test_dataset_shard_takes_every_nth_element_as_tf_data(shards):
    x = np.arange(10)
    dataset = tape.data.Dataset.from_tensor_slices(x)
    for index in range(shards):
        part = dataset.shard(shards, index)
        assert [int(e) for e in part] == x[index::shards].tolist()  # tf.data's rule
        assert len(part) == len(x[index::shards])


def test_dataset_shard_rejects_bad_arguments():
    dataset = tape.data.Dataset.from_tensor_slices(np.arange(4))
    with pytest.raises(ValueError, match=r"index must be in \[0, 2\)"):
        dataset.shard(2, 2)
    with pytest.raises(ValueError, match="num_shards must be a positive integer"):
        dataset.shard(0, 0)


# ---- NCCL, for GPU arrays ----------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_gradients_go_through_nccl_and_a_traced_step_replays_it():
    import cupy

    strategy = tape.distribute.DataParallel(_group=Group(None))  # a communicator of 1 rank
    with tape.device("gpu"):
        w = tape.Variable(np.zeros((2, 3)))
        g = tape.tensor(np.arange(6.0).reshape(2, 3))

    @tape.trace
    def step(g):
        (r,) = strategy.all_reduce([g], weight=4)
        w.assign_add(r)
        return r

    for _ in range(3):
        out = step(g)
    assert type(out._data) is cupy.ndarray and strategy._group._nccl is not None
    assert strategy._group.calls == 3
    np.testing.assert_array_equal(w.numpy(), 3 * np.arange(6.0).reshape(2, 3))


@pytest.mark.gpu
def test_fit_on_the_gpu_through_nccl_equals_fit_without_a_strategy():
    # A communicator of one rank runs the whole data-parallel path: shards, the weighted
    # all-reduce on NCCL, the global logs, the broadcast; over one rank it changes nothing.
    x, y = data(30)
    reference = mlp().to("gpu")
    reference.compile("adam", loss(), metrics=["accuracy"])
    expected = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    strategy = tape.distribute.DataParallel(_group=Group(None))
    with strategy.scope():
        model = mlp().to("gpu")
        model.compile("adam", loss(), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert strategy._group._nccl is not None and strategy._group.calls > 8
    assert model.weights[0].device.startswith("gpu")
    assert max_difference(model.get_weights(), reference.get_weights()) < 1e-12
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-6)
    assert history.history["accuracy"] == expected.history["accuracy"]


@pytest.mark.gpu
def test_nccl_is_given_device_memory_only():
    import cupy
    from cupy.cuda import nccl

    group = Group(None)
    out = group.all_reduce(cupy.arange(4.0))
    np.testing.assert_array_equal(out.get(), [0.0, 1.0, 2.0, 3.0])
    host = np.arange(4.0)
    with pytest.raises(Exception, match="INVALID_ARGUMENT|invalid"):
        group._nccl_comm().allReduce(host.ctypes.data, out.data.ptr, 4, nccl.NCCL_FLOAT64,
                                     nccl.NCCL_SUM, 0)


# ---- faults: a rank that dies or raises --------------------------------------------------------


def _launch(mode: str, *flags: str, timeout_s: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run([str(MPIEXEC), *flags, "-n", "2", sys.executable,
                           str(HERE / "faults.py"), mode], capture_output=True, text=True,
                          timeout=120, env=_plain_env(TAPE_DISTRIBUTE_TIMEOUT=timeout_s))
    return done, time.monotonic() - start


def test_a_rank_that_dies_makes_the_others_fail_within_the_timeout_with_a_message():
    # Without the launcher's clean-up (as across machines, or with other launchers), rank 0
    # must not wait forever: its collective gives up after TAPE_DISTRIBUTE_TIMEOUT.
    done, seconds = _launch("exit", "-disable-auto-cleanup", timeout_s="3")
    assert done.returncode != 0
    assert re.search(r"DistributedError: rank 0 of 2: .* waited 3 s for the other ranks; one "
                     r"of them has died.* \[at .*faults\.py:\d+: strategy\.all_reduce",
                     done.stderr), done.stderr[-2000:]
    assert "rank 0 finished" not in done.stdout
    assert seconds < 60


def test_a_rank_that_raises_stops_every_rank_at_once():
    # The uncaught error aborts the launch, long before rank 0's 100 s would pass.
    done, seconds = _launch("raise", timeout_s="100")
    assert done.returncode != 0
    assert "ValueError: rank 1 fails on purpose" in done.stderr
    assert "rank 0 finished" not in done.stdout
    assert seconds < 60
