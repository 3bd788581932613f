"""MLP SGD steps: 784-256-256-10 at batch 128 and 32, and 64-128-10 at batch 64 (the size
of scikit-learn's digits). ReLU hidden layers, mean softmax cross-entropy over integer
labels, one plain SGD update; every system starts from the same weights and batch.

The floor is the step written out by hand in NumPy: forward, backward and update.
"""

from __future__ import annotations

import functools

import numpy as np

from . import floor, peers
from .harness import Trial, Workload

LR = 0.1


def make_problem(sizes: tuple, batch: int, seed: int = 0) -> tuple[dict, tuple]:
    """Glorot-uniform weights, small random biases, a normal batch and integer labels."""
    rng = np.random.default_rng(seed)
    init = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        limit = np.sqrt(6 / (n_in + n_out))
        init[f"W{i}"] = rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)
        init[f"b{i}"] = rng.normal(0, 0.01, n_out).astype(np.float32)
    x = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return init, (x, y)


def numpy_step(params: dict, x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, backward and SGD update of the MLP, by hand; updates ``params`` in place."""
    layers = len(params) // 2
    activations = [x]
    for i in range(layers):
        z = activations[-1] @ params[f"W{i}"] + params[f"b{i}"]
        activations.append(np.maximum(z, 0) if i < layers - 1 else z)
    loss, g = floor.softmax_cross_entropy(activations[-1], y)
    grads = {}
    for i in reversed(range(layers)):
        grads[f"W{i}"] = activations[i].T @ g
        grads[f"b{i}"] = g.sum(axis=0)
        if i:
            g = (g @ params[f"W{i}"].T) * (activations[i] > 0)
    floor.sgd(params, grads, lr)
    return loss


def numpy_trial(init: dict, data: tuple, lr: float = LR) -> Trial:
    params = {name: value.copy() for name, value in init.items()}
    return Trial(lambda: numpy_step(params, *data, lr), lambda: floor.updates(params, init))


# ---- the same model in each framework: loss(params, x, y) -------------------------------

def tape_loss():
    import tape

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = h @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers - 1:
                h = tape.nn.relu(h)
        return tape.mean(tape.nn.sparse_softmax_cross_entropy_with_logits(y, h))

    return loss


def torch_loss():
    F = peers.load_torch().nn.functional

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = h @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers - 1:
                h = F.relu(h)
        return F.cross_entropy(h, y)

    return loss


def jax_loss():
    jax = peers.load_jax()
    jnp = jax.numpy

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = h @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers - 1:
                h = jax.nn.relu(h)
        log_probs = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    return loss


def autograd_loss():
    peers.load_autograd()
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = anp.dot(h, p[f"W{i}"]) + p[f"b{i}"]
            if i < layers - 1:
                h = anp.maximum(h, 0)
        return anp.mean(logsumexp(h, axis=1) - h[anp.arange(len(y)), y])

    return loss


def mygrad_loss():
    mg = peers.load_mygrad()

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = mg.matmul(h, p[f"W{i}"]) + p[f"b{i}"]
            if i < layers - 1:
                h = mg.nnet.activations.relu(h)
        return mg.nnet.losses.softmax_crossentropy(h, y)

    return loss


def tf_loss():
    tf = peers.load_tensorflow()

    def loss(p, x, y):
        h, layers = x, len(p) // 2
        for i in range(layers):
            h = h @ p[f"W{i}"] + p[f"b{i}"]
            if i < layers - 1:
                h = tf.nn.relu(h)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, h))

    return loss


LOSSES = {"tape": tape_loss, "torch": torch_loss, "jax": jax_loss, "autograd": autograd_loss,
          "mygrad": mygrad_loss, "tf": tf_loss}


def systems(init: dict, data: tuple, lr: float = LR) -> dict:
    """The floor first, then every framework's SGD step of the same MLP."""
    return {"numpy (floor)": lambda: numpy_trial(init, data, lr),
            **peers.train_systems(LOSSES, init, data, lr)}


def build(sizes: tuple, batch: int, quick_sizes: tuple, quick_batch: int, targets: tuple,
          name: str, quick: bool) -> Workload:
    if quick:
        sizes, batch = quick_sizes, quick_batch
    init, data = make_problem(sizes, batch)
    title = f"MLP {'-'.join(map(str, sizes))} SGD step, batch {batch}"
    return Workload(name, title, "numpy (floor)", systems(init, data), targets=targets)


WORKLOADS = {
    name: functools.partial(build, *spec, name=name)
    for name, spec in {
        "mlp-784-b128": ((784, 256, 256, 10), 128, (784, 32, 32, 10), 16,
                         (("tape eager", 1.15), ("tape traced", 1.0))),
        "mlp-784-b32": ((784, 256, 256, 10), 32, (784, 32, 32, 10), 8,
                        (("tape eager", 1.15), ("tape traced", 1.0))),
        "mlp-digits-b64": ((64, 128, 10), 64, (64, 16, 10), 8,
                           (("tape eager", 1.6), ("tape traced", 0.8))),
    }.items()
}
