"""benchmarks.gpu's JAX rows: benchmarks.gpu's MLP and CNN training steps written in JAX, the
whole step (forward, backward, Adam written out as Keras' Adam computes it) under one
``jax.jit``, on JAX's GPU. Products and convolutions run at ``Precision.HIGHEST`` (float32,
as tape's do unless TF32 is set; JAX's GPU default would be TF32). Each step function
returns a thunk that runs one step and waits for it (``block_until_ready``), so
benchmarks.gpu times it as it times the others.

JAX_PLATFORMS=cpu (``make gpu-bench``, ``.ci/gpu``: JAX is the tests' oracle on the CPU) is
lifted here when JAX is not imported yet, so the benchmark runs JAX on the GPU; without a
JAX GPU backend, ``why_no_gpu()`` says why and benchmarks.gpu prints "n/a (why)".
"""

from __future__ import annotations

import os
import sys

import numpy as np

LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7  # Keras' Adam defaults


def _jax():
    if "jax" not in sys.modules:
        if os.environ.get("JAX_PLATFORMS") == "cpu":
            os.environ["JAX_PLATFORMS"] = ""  # every backend JAX has, its GPU included
        # XLA takes 75% of the GPU at start-up by default; tape and PyTorch share it here.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    return jax


def why_no_gpu() -> str | None:
    """None when JAX can run on a GPU here, else why not."""
    try:
        jax = _jax()
    except ImportError:
        return "JAX is not installed"
    try:
        jax.devices("gpu")
    except RuntimeError as e:
        return f"JAX has no GPU backend here ({str(e).splitlines()[0]})"
    return None


def _glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _train_step(forward, params, x, y, device):
    """A thunk running one jitted step (sparse softmax cross-entropy on logits, Adam) on
    ``device`` (default JAX's first GPU), parameters and Adam's moments kept there; it
    returns the step's loss."""
    jax = _jax()
    jnp = jax.numpy
    device = device or jax.devices("gpu")[0]

    def loss(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(params, m, v, t, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        t = t + 1
        lr = LR * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
        m = jax.tree_util.tree_map(lambda m, g: BETA_1 * m + (1 - BETA_1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: BETA_2 * v + (1 - BETA_2) * g * g, v, grads)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * m / (jnp.sqrt(v) + EPSILON), params, m, v)
        return params, m, v, t, value

    jitted = jax.jit(step, donate_argnums=(0, 1, 2))
    zeros = jax.tree_util.tree_map(np.zeros_like, params)
    state = jax.device_put((params, zeros, zeros, np.float32(0), x, y), device)

    def run():
        nonlocal state
        *new, loss = jitted(*state)
        state = (*new, *state[4:])
        return jax.block_until_ready(loss)

    return run


def mlp_step(batch: int, widths: tuple, device=None):
    """benchmarks.gpu's MLP (ReLU between Dense layers, logits out) at ``batch``."""
    jax = _jax()
    rng = np.random.default_rng(0)
    params = [(_glorot(rng, (a, b), a, b), np.zeros(b, np.float32))
              for a, b in zip(widths[:-1], widths[1:])]

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = jax.numpy.matmul(x, w, precision="highest") + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    x = rng.standard_normal((batch, widths[0]), dtype=np.float32)
    y = rng.integers(0, widths[-1], batch).astype(np.int32)
    return _train_step(forward, params, x, y, device)


def cnn_step(batch: int, side: int, filters: tuple, device=None):
    """benchmarks.gpu's CNN: Conv2D 3x3 + ReLU, MaxPooling 2, Conv2D 3x3 + ReLU, Flatten,
    Dense to 10 classes, NHWC with valid padding, on ``side`` x ``side`` one-channel images."""
    jax = _jax()
    lax, classes = jax.lax, 10
    rng = np.random.default_rng(0)
    f1, f2 = filters
    flat = f2 * ((side - 2) // 2 - 2) ** 2
    params = [(_glorot(rng, (3, 3, 1, f1), 9, 9 * f1), np.zeros(f1, np.float32)),
              (_glorot(rng, (3, 3, f1, f2), 9 * f1, 9 * f2), np.zeros(f2, np.float32)),
              (_glorot(rng, (flat, classes), flat, classes), np.zeros(classes, np.float32))]

    def conv(x, w, b):
        out = lax.conv_general_dilated(x, w, (1, 1), "VALID", precision="highest",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(out + b)

    def forward(params, x):
        (w1, b1), (w2, b2), (w3, b3) = params
        x = conv(x, w1, b1)
        x = lax.reduce_window(x, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x = conv(x, w2, b2)
        return jax.numpy.matmul(x.reshape(x.shape[0], -1), w3, precision="highest") + b3

    x = rng.standard_normal((batch, side, side, 1), dtype=np.float32)
    y = rng.integers(0, classes, batch).astype(np.int32)
    return _train_step(forward, params, x, y, device)
