"""Hypothesis: traced replays, after every pass (fusion included, on both CPU engines),
equal eager execution on new inputs, for values and gradients, and random MLPs train the
same traced as eagerly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tape
from tape.trace import passes
from tape.trace.replay import compile_graph

UNARY = {
    "tanh": tape.tanh,
    "sigmoid": tape.sigmoid,
    "sin": tape.sin,
    "relu": tape.relu,
    "negative": tape.negative,
    "exp_tanh": lambda v: tape.exp(tape.tanh(v)),
    "log1p_square": lambda v: tape.log1p(tape.square(v)),
    "sqrt_1_plus_square": lambda v: tape.sqrt(tape.square(v) + 1.0),
    "times_one": lambda v: v * 1.0,  # algebraic simplification
    "plus_zero": lambda v: v + 0.0,
    "same_reshape": lambda v: tape.reshape(v, v.shape),
    "scale": lambda v: v * 0.5 - 0.25,
}
BINARY = {
    "add": tape.add,
    "subtract": tape.subtract,
    "multiply": tape.multiply,
    "maximum": tape.maximum,
    "minimum": tape.minimum,
    "divide_safe": lambda a, b: a / (tape.square(b) + 1.0),
    "where_greater": lambda a, b: tape.where(tape.greater(a, b), a, b * 2.0),
}
REDUCE = {
    "sum": lambda v, axis: tape.sum(v, axis=axis, keepdims=True),
    "mean": lambda v, axis: tape.mean(v, axis=axis, keepdims=True),
}

step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 99),
              st.integers(0, 99)),
    st.tuples(st.just("reduce"), st.sampled_from(sorted(REDUCE)), st.integers(0, 99),
              st.integers(0, 1)),
    st.tuples(st.just("matmul"), st.integers(0, 99)),
    st.tuples(st.just("again"), st.integers(0, 99)),  # the same op twice: CSE
)


def run_program(program, x, y, w):
    """Apply ``program`` to a pool that starts as [x, y, w]; steps whose shapes do not
    fit are skipped (the same way eagerly and while tracing: shapes are static)."""
    pool, last = [x, y, w], None
    for s in program:
        kind = s[0]
        if kind == "again":
            if last is None:
                continue
            s = last
            kind = s[0]
        v = pool[s[2] % len(pool)] if kind != "matmul" else pool[s[1] % len(pool)]
        if kind == "unary":
            out = UNARY[s[1]](v)
        elif kind == "binary":
            u = pool[s[3] % len(pool)]
            try:
                np.broadcast_shapes(v.shape, u.shape)
            except ValueError:
                continue
            out = BINARY[s[1]](v, u)
        elif kind == "reduce":
            if v.ndim == 0:
                continue
            out = REDUCE[s[1]](v, s[3] % v.ndim)
        else:  # matmul by w, where the inner sizes fit
            if v.ndim != 2 or v.shape[1] != w.shape[0]:
                continue
            out = tape.matmul(v, w)
        pool.append(out)
        last = s
    return pool


def loss_and_grads(program, x, y, w):
    with tape.GradientTape() as g:
        g.watch([x, y, w])
        values = forward(program, x, y, w)
    return [*values, *g.gradient(values[0], [x, y, w], unconnected_gradients="zero")]


def forward(program, x, y, w):
    """A loss and the last value (a forward alone: more elementwise trees to fuse than
    with a backward pass, which reads the activations again)."""
    pool = run_program(program, x, y, w)
    return [tape.sum(pool[-1]) + 0.1 * tape.sum(tape.tanh(pool[len(pool) // 2])), pool[-1]]


def _inputs(rng, m, n, k):
    return [rng.uniform(-2, 2, size).astype(np.float64) for size in ((m, n), (n,), (n, k))]


def _assert_close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * scale)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(step, min_size=1, max_size=12),
       sizes=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
       seed=st.integers(0, 2**16))
def test_traced_values_and_gradients_equal_eager_on_new_inputs(program, sizes, seed):
    rng = np.random.default_rng(seed)
    first, new = _inputs(rng, *sizes), _inputs(rng, *sizes)
    for fn in (forward, loss_and_grads):
        traced = tape.trace(lambda x, y, w, fn=fn: fn(program, x, y, w), optimize=False)
        traced(*[tape.tensor(a) for a in first])  # traces on these
        graph = traced.unoptimized_graph
        eager = [t.numpy() for t in fn(program, *[tape.tensor(a) for a in new])]
        for optimized in (passes.optimize(graph),
                          passes.optimize(graph, fuse=True, cpu_engine="numpy"),
                          passes.optimize(graph, fuse=True, cpu_engine="numexpr")):
            got = compile_graph(optimized)(list(new))
            assert len(got) == len(eager)
            for g_, e in zip(got, eager):
                _assert_close(g_, e)


@pytest.mark.parametrize("engine", [None, "numexpr"])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow,
                                              HealthCheck.function_scoped_fixture])
@given(units=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", None]),
       optimizer=st.sampled_from(["sgd", "momentum", "adam"]),
       batch=st.integers(1, 8), features=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_random_mlps_train_the_same_traced_and_eagerly(
        engine, units, activation, optimizer, batch, features, seed, monkeypatch):
    if engine is not None:
        monkeypatch.setenv("TAPE_FUSION_CPU", engine)  # fusion on, numexpr engine
    rng = np.random.default_rng(seed)
    data = [(rng.normal(size=(batch, features)), rng.integers(0, 3, batch))
            for _ in range(3)]

    def train(traced: bool):
        tape.random.seed(seed)
        layers = [tape.layers.Dense(u, activation=activation, dtype="float64") for u in units]
        model = tape.models.Sequential([*layers, tape.layers.Dense(3, dtype="float64")])
        opt = {"sgd": lambda: tape.optimizers.SGD(0.1),
               "momentum": lambda: tape.optimizers.SGD(0.1, momentum=0.9),
               "adam": lambda: tape.optimizers.Adam(0.01)}[optimizer]()
        loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)

        def train_step(x, y):
            with tape.GradientTape() as g:
                loss = loss_fn(y, model(x, training=True))
            grads = g.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        fn = tape.trace(train_step) if traced else train_step
        losses = [fn(x, y).numpy() for x, y in data]
        return fn, losses, model.get_weights()

    fn, traced_losses, traced_weights = train(True)
    _, eager_losses, eager_weights = train(False)
    assert fn.trace_count == 1
    for a, b in zip(traced_losses + traced_weights, eager_losses + eager_weights):
        _assert_close(a, b)
