"""Memory: a tape frees what it saved after a non-persistent gradient(), a long training
loop does not grow, and tensors kept across steps hold no graph."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np

import tape


def _forward_with_intermediate(x):
    """A loss whose backward needs the intermediate ``h`` (multiply saves its inputs)."""
    h = tape.exp(x) + 1.0
    return h, tape.sum(h * h)


def test_saved_array_is_released_after_non_persistent_gradient():
    x = tape.tensor(np.array([0.5, 1.0, 2.0]))
    with tape.GradientTape() as g:
        g.watch(x)
        h, loss = _forward_with_intermediate(x)
    saved = weakref.ref(h._data)
    del h
    gc.collect()
    assert saved() is not None  # the tape still holds it for backward
    dx = g.gradient(loss, x)
    del loss
    gc.collect()
    assert saved() is None
    np.testing.assert_allclose(dx.numpy(), 2 * (np.exp(x.numpy()) + 1) * np.exp(x.numpy()))


def test_persistent_tape_keeps_saved_arrays_until_it_is_dropped():
    x = tape.tensor(np.array([0.5, 1.0]))
    with tape.GradientTape(persistent=True) as g:
        g.watch(x)
        h, loss = _forward_with_intermediate(x)
    saved = weakref.ref(h._data)
    del h
    g.gradient(loss, x)
    gc.collect()
    assert saved() is not None  # a second gradient() may still need it
    del g
    gc.collect()
    assert saved() is None


def test_training_loop_memory_does_not_grow():
    w = tape.Variable(np.full(3, 0.5, dtype=np.float32))

    def step():
        # Kept tiny (tracemalloc slows every allocation several times): a recorded op that
        # saves its inputs, a backward pass (the vector loss is summed), an update.
        with tape.GradientTape() as g:
            loss = w * w
        w.assign_sub(g.gradient(loss, w) * 0.001)

    step()  # first-call caches (NumPy, warnings registries) are not a leak
    tracemalloc.start()
    try:
        for i in range(1, 10_001):
            step()
            if i == 1_000:
                gc.collect()
                at_1000 = tracemalloc.get_traced_memory()[0]
        gc.collect()
        at_10000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # One leaked 3-float tensor per step would add ~1.5 MB over the last 9,000 steps.
    assert at_10000 - at_1000 < 64 * 1024, (at_1000, at_10000)
    np.testing.assert_allclose(w.numpy(), 0.5 * (1 - 0.002) ** 10_002, rtol=1e-2)


def test_loss_accumulated_outside_the_tape_holds_no_graph():
    w = tape.Variable(np.array([1.0, 2.0]))
    total = tape.tensor(0.0, dtype="float64")
    intermediates = []
    for _ in range(20):
        with tape.GradientTape() as g:
            h = tape.tanh(w) * 3.0
            loss = tape.sum(h * h)
        intermediates.append(weakref.ref(h._data))
        del h
        g.gradient(loss, w)
        total = total + loss
    gc.collect()
    assert all(ref() is None for ref in intermediates)
    expected = 20 * np.sum((3 * np.tanh([1.0, 2.0])) ** 2)
    np.testing.assert_allclose(total.item(), expected, rtol=1e-12)
    # A new tape does not see the running total as something to differentiate.
    with tape.GradientTape() as g:
        y = total * tape.sum(w)
    assert g.watched_variables() == (w,)
    np.testing.assert_allclose(g.gradient(y, w).numpy(), [expected, expected], rtol=1e-12)


def test_backward_frees_each_saved_array_once_its_vjp_has_run():
    """STYLE P9: a non-persistent walk drops an entry right after its VJP, so arrays saved
    for later (earlier-in-forward) entries are not all held until the walk ends."""
    seen_alive = []
    ref = {}

    @tape.custom_gradient
    def probe(v):
        def grad_fn(g):
            gc.collect()
            seen_alive.append(ref["q"]() is not None)
            return g

        return v, grad_fn

    x = tape.tensor(np.linspace(0.0, 1.0, 1000))
    with tape.GradientTape() as g:
        g.watch(x)
        q = tape.exp(probe(x))
        r = tape.sum(q)
    ref["q"] = weakref.ref(q._data)
    del q
    (dx,) = g.gradient(r, [x])
    assert seen_alive == [False]
    np.testing.assert_allclose(dx.numpy(), np.exp(np.linspace(0.0, 1.0, 1000)))


def test_a_tape_keeps_only_the_values_its_vjps_read():
    rng = np.random.default_rng(0)
    x = tape.tensor(rng.normal(size=(256, 128)).astype(np.float32))
    w = tape.Variable(rng.normal(size=(128, 128)).astype(np.float32))
    b = tape.Variable(rng.normal(size=(128,)).astype(np.float32))
    with tape.GradientTape() as g:
        h = x @ w  # matmul's VJP reads its inputs, not h
        a = h + b  # add's VJP reads no values
        r = tape.relu(a)  # relu's VJP reads its output, not a
        dropped = [weakref.ref(h), weakref.ref(a)]
        del h, a
        loss = tape.sum(r * r)
    gc.collect()
    assert all(ref() is None for ref in dropped)  # freed while the tape is alive
    gw, gb = g.gradient(loss, [w, b])
    z = x.numpy() @ w.numpy() + b.numpy()
    dz = 2 * np.maximum(z, 0) * (z > 0)
    np.testing.assert_allclose(gw.numpy(), x.numpy().T @ dz, rtol=1e-4)
    np.testing.assert_allclose(gb.numpy(), dz.sum(0), rtol=1e-4)
