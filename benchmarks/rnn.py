"""A tanh RNN, input 32, hidden 64, 50 time steps, batch 16: forward, backpropagation
through time and one SGD update.

``h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b)`` from ``h_0 = 0``; the last state goes through a
dense layer to 10 logits and a mean softmax cross-entropy. Every system writes the time
loop in Python over its own ops (JAX uses ``lax.scan``, its idiom); PyTorch also runs its
fused ``nn.RNN``. The floor is the same loop, its BPTT and the update written by hand.
"""

from __future__ import annotations

import functools

import numpy as np

from . import floor, peers
from .harness import Trial, Workload

LR = 0.1


def make_problem(inputs, hidden, steps, batch, classes=10, seed=0):
    rng = np.random.default_rng(seed)

    def uniform(n_in, n_out):
        limit = np.sqrt(6 / (n_in + n_out))
        return rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)

    init = {"Wx": uniform(inputs, hidden), "Wh": uniform(hidden, hidden),
            "b": rng.normal(0, 0.01, hidden).astype(np.float32),
            "Wo": uniform(hidden, classes), "bo": rng.normal(0, 0.01, classes).astype(np.float32)}
    x = rng.normal(size=(steps, batch, inputs)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    return init, (x, y)


def numpy_step(p: dict, x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, BPTT and SGD update by hand; updates ``p`` in place."""
    steps, batch, _ = x.shape
    h = np.zeros((batch, p["Wh"].shape[0]), np.float32)
    states = [h]
    for t in range(steps):
        h = np.tanh(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
        states.append(h)
    loss, dz = floor.softmax_cross_entropy(h @ p["Wo"] + p["bo"], y)
    grads = {"Wo": h.T @ dz, "bo": dz.sum(axis=0),
             "Wx": np.zeros_like(p["Wx"]), "Wh": np.zeros_like(p["Wh"]),
             "b": np.zeros_like(p["b"])}
    dh = dz @ p["Wo"].T
    for t in reversed(range(steps)):
        da = dh * (1 - states[t + 1] ** 2)
        grads["Wx"] += x[t].T @ da
        grads["Wh"] += states[t].T @ da
        grads["b"] += da.sum(axis=0)
        if t:
            dh = da @ p["Wh"].T
    floor.sgd(p, grads, lr)
    return loss


def numpy_trial(init, data, lr=LR) -> Trial:
    params = {name: value.copy() for name, value in init.items()}
    return Trial(lambda: numpy_step(params, *data, lr), lambda: floor.updates(params, init))


# ---- the same model in each framework: loss(params, x, y) -------------------------------

def tape_loss():
    import tape

    def loss(p, x, y):
        h = tape.zeros((x.shape[1], p["Wh"].shape[0]))
        for t in range(x.shape[0]):
            h = tape.tanh(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
        logits = h @ p["Wo"] + p["bo"]
        return tape.mean(tape.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    return loss


def torch_loss():
    torch = peers.load_torch()

    def loss(p, x, y):
        h = torch.zeros((x.shape[1], p["Wh"].shape[0]))
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
        return torch.nn.functional.cross_entropy(h @ p["Wo"] + p["bo"], y)

    return loss


def torch_rnn_trial(init, data, lr=LR) -> Trial:
    """PyTorch's fused ``nn.RNN`` holding the same weights (transposed, as it stores them;
    its second bias is frozen at zero so the model is the same)."""
    torch = peers.load_torch()
    inputs, hidden = init["Wx"].shape
    rnn = torch.nn.RNN(inputs, hidden, nonlinearity="tanh")
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(init["Wx"].T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(init["Wh"].T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(init["b"]))
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)
    wo, bo = (torch.tensor(init[k], requires_grad=True) for k in ("Wo", "bo"))
    optimizer = torch.optim.SGD([rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, wo, bo],
                                lr=lr)
    x, y = (torch.from_numpy(d) for d in data)

    def step():
        optimizer.zero_grad(set_to_none=True)
        _, h = rnn(x)
        value = torch.nn.functional.cross_entropy(h[0] @ wo + bo, y)
        value.backward()
        optimizer.step()
        return value

    def read():
        now = {"Wx": rnn.weight_ih_l0.T, "Wh": rnn.weight_hh_l0.T, "b": rnn.bias_ih_l0,
               "Wo": wo, "bo": bo}
        return floor.updates({k: v.detach().numpy() for k, v in now.items()}, init)

    return Trial(step, read)


def jax_loss():
    jax = peers.load_jax()
    jnp = jax.numpy

    def loss(p, x, y):
        def cell(h, x_t):
            return jnp.tanh(x_t @ p["Wx"] + h @ p["Wh"] + p["b"]), None

        h, _ = jax.lax.scan(cell, jnp.zeros((x.shape[1], p["Wh"].shape[0])), x)
        log_probs = jax.nn.log_softmax(h @ p["Wo"] + p["bo"])
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    return loss


def autograd_loss():
    peers.load_autograd()
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def loss(p, x, y):
        h = anp.zeros((x.shape[1], p["Wh"].shape[0]), np.float32)
        for t in range(x.shape[0]):
            h = anp.tanh(anp.dot(x[t], p["Wx"]) + anp.dot(h, p["Wh"]) + p["b"])
        z = anp.dot(h, p["Wo"]) + p["bo"]
        return anp.mean(logsumexp(z, axis=1) - z[anp.arange(len(y)), y])

    return loss


def mygrad_loss():
    mg = peers.load_mygrad()

    def loss(p, x, y):
        h = np.zeros((x.shape[1], p["Wh"].shape[0]), np.float32)
        for t in range(x.shape[0]):
            h = mg.tanh(mg.matmul(x[t], p["Wx"]) + mg.matmul(h, p["Wh"]) + p["b"])
        return mg.nnet.losses.softmax_crossentropy(mg.matmul(h, p["Wo"]) + p["bo"], y)

    return loss


def tf_loss():
    tf = peers.load_tensorflow()

    def loss(p, x, y):
        h = tf.zeros((x.shape[1], p["Wh"].shape[0]))
        for t in range(x.shape[0]):
            h = tf.tanh(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
        logits = h @ p["Wo"] + p["bo"]
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    return loss


LOSSES = {"tape": tape_loss, "torch": torch_loss, "jax": jax_loss, "autograd": autograd_loss,
          "mygrad": mygrad_loss, "tf": tf_loss}


def build(name: str, quick: bool) -> Workload:
    sizes = (8, 16, 5, 4) if quick else (32, 64, 50, 16)
    init, data = make_problem(*sizes)
    systems = {"numpy (floor)": lambda: numpy_trial(init, data)}
    for system, factory in peers.train_systems(LOSSES, init, data, LR).items():
        systems[system] = factory
        if system == "pytorch eager":  # the loop; the fused nn.RNN next to it
            systems["pytorch nn.RNN"] = lambda: torch_rnn_trial(init, data)
    title = ("tanh RNN I{} H{} T{} B{}, forward + BPTT + SGD update (Python time loop)"
             .format(*sizes))
    return Workload(name, title, "numpy (floor)", systems,
                    targets=(("tape eager", 4.0), ("tape traced", 1.2)))


WORKLOADS = {"rnn": functools.partial(build, "rnn")}
