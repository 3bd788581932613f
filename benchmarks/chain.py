"""Per-op overhead: a 200-op elementwise chain on 16 float32 numbers, forward + backward.

The chain repeats ``multiply(x, c)``, ``add(x, b)``, ``tanh``, ``sin``; every system
computes the gradient of ``sum(chain(x))`` with respect to ``x``. The floor is the NumPy
forward alone (issue 6's table), so the ratio is what autodiff costs per op on top of
NumPy's own call; the hand-written NumPy forward + backward is the reference gradient.
Times are per op of the forward chain.
"""

from __future__ import annotations

import functools

import numpy as np

from . import peers
from .harness import Trial, Workload

SIZE = 16


def make_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=SIZE).astype(np.float32)
    c = rng.uniform(0.5, 1.5, size=SIZE).astype(np.float32)
    b = (rng.normal(size=SIZE) * 0.1).astype(np.float32)
    return x, c, b


def numpy_forward(x, c, b, rounds):
    for _ in range(rounds):
        x = np.sin(np.tanh(np.add(np.multiply(x, c), b)))
    return x


def numpy_forward_backward(x, c, b, rounds):
    """The chain and its gradient, written out by hand."""
    saved = []
    for _ in range(rounds):
        t = np.tanh(np.add(np.multiply(x, c), b))
        saved.append(t)
        x = np.sin(t)
    g = np.ones_like(x)
    for t in reversed(saved):
        g = g * np.cos(t)
        g = g * (1 - t * t)
        g = g * c
    return g


def tape_systems(x, c, b, rounds) -> dict:
    def chain(tape, v, ct, bt):
        for _ in range(rounds):
            v = tape.sin(tape.tanh(tape.add(tape.multiply(v, ct), bt)))
        return v

    def build(mode):
        import tape

        xt, ct, bt = tape.tensor(x), tape.tensor(c), tape.tensor(b)
        if mode == "forward":
            return Trial(lambda: chain(tape, xt, ct, bt), output="y")

        def forward_backward(v, ct, bt):
            with tape.GradientTape() as g:
                g.watch(v)
                y = chain(tape, v, ct, bt)
            return g.gradient(y, v)

        step = peers.tape_trace()(forward_backward) if mode == "traced" else forward_backward
        return Trial(lambda: step(xt, ct, bt), output="grad")

    return {"tape eager, forward only": lambda: build("forward"),
            "tape eager": lambda: build("eager"),
            "tape traced": lambda: build("traced")}


def torch_trial(x, c, b, rounds):
    torch = peers.load_torch()
    tx, tc, tb = (torch.from_numpy(v.copy()) for v in (x, c, b))

    def step():
        v = tx.detach().requires_grad_(True)
        y = v
        for _ in range(rounds):
            y = torch.sin(torch.tanh(torch.add(torch.mul(y, tc), tb)))
        y.backward(torch.ones_like(y))
        return v.grad

    return Trial(step, output="grad")


def jax_trial(x, c, b, rounds):
    jax = peers.load_jax()
    jnp = jax.numpy

    def total(v, c, b):
        for _ in range(rounds):
            v = jnp.sin(jnp.tanh(v * c + b))
        return jnp.sum(v)

    grad = jax.jit(jax.grad(total))
    arrays = tuple(jax.device_put(v) for v in (x, c, b))
    return Trial(lambda: jax.block_until_ready(grad(*arrays)), output="grad")


def autograd_trial(x, c, b, rounds):
    autograd = peers.load_autograd()
    import autograd.numpy as anp

    def total(v):
        for _ in range(rounds):
            v = anp.sin(anp.tanh(anp.add(anp.multiply(v, c), b)))
        return anp.sum(v)

    grad = autograd.grad(total)
    return Trial(lambda: grad(x), output="grad")


def mygrad_trial(x, c, b, rounds):
    mg = peers.load_mygrad()

    def step():
        v = mg.tensor(x)
        y = v
        for _ in range(rounds):
            y = mg.sin(mg.tanh(mg.add(mg.multiply(y, c), b)))
        mg.sum(y).backward()
        return v.grad

    return Trial(step, output="grad")


def tf_trial(x, c, b, rounds, function=False):
    tf = peers.load_tensorflow()
    tx, tc, tb = (tf.constant(v) for v in (x, c, b))

    def forward_backward(v, ct, bt):
        with tf.GradientTape() as g:
            g.watch(v)
            y = v
            for _ in range(rounds):
                y = tf.sin(tf.tanh(tf.add(tf.multiply(y, ct), bt)))
        return g.gradient(y, v)

    step = tf.function(forward_backward) if function else forward_backward
    return Trial(lambda: step(tx, tc, tb), output="grad")


def build(name: str, quick: bool) -> Workload:
    length = 20 if quick else 200
    rounds = length // 4
    x, c, b = make_problem()
    args = (x, c, b, rounds)
    systems = {
        "numpy forward (floor)": lambda: Trial(lambda: numpy_forward(*args), output="y"),
        "numpy fwd+bwd (by hand)": lambda: Trial(lambda: numpy_forward_backward(*args),
                                                 output="grad"),
        **tape_systems(*args),
        "pytorch eager": lambda: torch_trial(*args),
        "jax jit": lambda: jax_trial(*args),
        "autograd": lambda: autograd_trial(*args),
        "mygrad": lambda: mygrad_trial(*args),
        "tf eager": lambda: tf_trial(*args),
        "tf.function": lambda: tf_trial(*args, function=True),
    }
    return Workload(
        name, f"{length}-op elementwise chain on {SIZE} float32, forward + backward, per op",
        "numpy forward (floor)", systems, references=("numpy fwd+bwd (by hand)",),
        per=length, unit="us", step="op", targets=(("tape eager", 4.0),))


WORKLOADS = {"chain": functools.partial(build, "chain")}
