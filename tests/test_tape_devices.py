"""Tape behaviour on each device (``device`` runs 'cpu' and 'gpu'; the GPU case is marked
``gpu`` by tests/conftest.py and skipped with the reason where no GPU is usable)."""

from __future__ import annotations

import numpy as np

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
