"""A small CNN step on digits-sized images (8x8x1, channels last), batch 64: conv 3x3x16
('same') + ReLU, 2x2 max pool, conv 3x3x32 ('same') + ReLU, flatten, dense 10, mean
softmax cross-entropy, one SGD update.

The floor does the convolutions by hand with im2col (one GEMM per convolution and per
gradient) and routes the pool's gradient through a mask of the maxima (ties occur only
between ReLU zeros, whose gradient is zero anyway, so every framework's tie rule agrees).
PyTorch gets the same HWIO kernels and NHWC images and permutes them (views) to its NCHW.
autograd and MyGrad have no channels-last convolution, so they sit this one out.
"""

from __future__ import annotations

import functools

import numpy as np

from . import floor, peers
from .harness import Trial, Unavailable, Workload

LR = 0.1


def make_problem(batch, channels=(16, 32), classes=10, size=8, seed=0):
    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in, fan_out):
        limit = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    c1, c2 = channels
    flat = (size // 2) ** 2 * c2
    init = {"K1": uniform((3, 3, 1, c1), 9, 9 * c1),
            "b1": rng.normal(0, 0.01, c1).astype(np.float32),
            "K2": uniform((3, 3, c1, c2), 9 * c1, 9 * c2),
            "b2": rng.normal(0, 0.01, c2).astype(np.float32),
            "W3": uniform((flat, classes), flat, classes),
            "b3": rng.normal(0, 0.01, classes).astype(np.float32)}
    x = rng.uniform(0, 1, (batch, size, size, 1)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    return init, (x, y)


# ---- the floor: convolution by im2col --------------------------------------------------

def im2col(x: np.ndarray) -> np.ndarray:
    """(B, H, W, C) -> (B*H*W, 9*C): each 3x3 'same' window as a row, ordered (kh, kw, c)
    like a kernel (3, 3, C, O) reshaped to (9*C, O)."""
    b, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(b * h * w, 9 * c)


def col2im(cols: np.ndarray, shape: tuple) -> np.ndarray:
    """The adjoint of im2col: sums each window row back onto the image it was cut from."""
    b, h, w, c = shape
    windows = cols.reshape(b, h, w, 3, 3, c)
    padded = np.zeros((b, h + 2, w + 2, c), cols.dtype)
    for i in range(3):
        for j in range(3):
            padded[:, i:i + h, j:j + w] += windows[:, :, :, i, j]
    return padded[:, 1:-1, 1:-1]


def numpy_step(p: dict, x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, backward and SGD update by hand; updates ``p`` in place."""
    b, size = x.shape[0], x.shape[1]
    c1, c2 = p["K1"].shape[-1], p["K2"].shape[-1]
    k1, k2 = p["K1"].reshape(-1, c1), p["K2"].reshape(-1, c2)
    cols1 = im2col(x)
    r1 = np.maximum(cols1 @ k1 + p["b1"], 0).reshape(b, size, size, c1)
    windows = r1.reshape(b, size // 2, 2, size // 2, 2, c1)
    pooled = windows.max(axis=(2, 4))
    cols2 = im2col(pooled)
    r2 = np.maximum(cols2 @ k2 + p["b2"], 0)  # (B*H*W, c2), rows in NHWC order
    flat = r2.reshape(b, -1)
    loss, dz = floor.softmax_cross_entropy(flat @ p["W3"] + p["b3"], y)
    grads = {"W3": flat.T @ dz, "b3": dz.sum(axis=0)}
    da2 = (dz @ p["W3"].T).reshape(r2.shape) * (r2 > 0)
    grads["K2"] = (cols2.T @ da2).reshape(p["K2"].shape)
    grads["b2"] = da2.sum(axis=0)
    dpooled = col2im(da2 @ k2.T, pooled.shape)
    is_max = windows == pooled[:, :, None, :, None, :]
    da1 = (is_max * dpooled[:, :, None, :, None, :]).reshape(-1, c1) * (r1.reshape(-1, c1) > 0)
    grads["K1"] = (cols1.T @ da1).reshape(p["K1"].shape)
    grads["b1"] = da1.sum(axis=0)
    floor.sgd(p, grads, lr)
    return loss


def numpy_trial(init, data, lr=LR) -> Trial:
    params = {name: value.copy() for name, value in init.items()}
    return Trial(lambda: numpy_step(params, *data, lr), lambda: floor.updates(params, init))


# ---- the same model in each framework: loss(params, x, y) -------------------------------

def tape_loss():
    import tape

    missing = [f for f in ("conv2d", "max_pool2d") if not hasattr(tape.nn, f)]
    if missing:
        raise Unavailable(f"tape.nn.{' and tape.nn.'.join(missing)} not available yet")

    def loss(p, x, y):
        h = tape.nn.relu(tape.nn.conv2d(x, p["K1"], padding="same") + p["b1"])
        h = tape.nn.max_pool2d(h, 2)
        h = tape.nn.relu(tape.nn.conv2d(h, p["K2"], padding="same") + p["b2"])
        logits = tape.reshape(h, (h.shape[0], -1)) @ p["W3"] + p["b3"]
        return tape.mean(tape.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    return loss


def torch_loss():
    torch = peers.load_torch()
    F = torch.nn.functional

    def loss(p, x, y):
        h = x.permute(0, 3, 1, 2)  # NHWC -> NCHW (a view)
        h = F.relu(F.conv2d(h, p["K1"].permute(3, 2, 0, 1), p["b1"], padding=1))
        h = F.max_pool2d(h, 2)
        h = F.relu(F.conv2d(h, p["K2"].permute(3, 2, 0, 1), p["b2"], padding=1))
        flat = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order
        return F.cross_entropy(flat @ p["W3"] + p["b3"], y)

    return loss


def jax_loss():
    jax = peers.load_jax()
    jnp, lax = jax.numpy, jax.lax

    def conv(h, k, b):
        return lax.conv_general_dilated(h, k, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    def loss(p, x, y):
        h = jax.nn.relu(conv(x, p["K1"], p["b1"]))
        n, size, _, c = h.shape
        h = h.reshape(n, size // 2, 2, size // 2, 2, c).max(axis=(2, 4))
        h = jax.nn.relu(conv(h, p["K2"], p["b2"]))
        log_probs = jax.nn.log_softmax(h.reshape(n, -1) @ p["W3"] + p["b3"])
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    return loss


def tf_loss():
    tf = peers.load_tensorflow()

    def loss(p, x, y):
        h = tf.nn.relu(tf.nn.conv2d(x, p["K1"], 1, "SAME") + p["b1"])
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.nn.relu(tf.nn.conv2d(h, p["K2"], 1, "SAME") + p["b2"])
        logits = tf.reshape(h, (h.shape[0], -1)) @ p["W3"] + p["b3"]
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    return loss


LOSSES = {"tape": tape_loss, "torch": torch_loss, "jax": jax_loss, "tf": tf_loss}


def build(name: str, quick: bool) -> Workload:
    batch, channels = (8, (4, 8)) if quick else (64, (16, 32))
    init, data = make_problem(batch, channels)
    systems = {"numpy (floor)": lambda: numpy_trial(init, data),
               **peers.train_systems(LOSSES, init, data, LR)}
    title = (f"CNN on 8x8x1 images, batch {batch}: conv 3x3x{channels[0]}, max pool 2, "
             f"conv 3x3x{channels[1]}, dense 10; SGD step")
    return Workload(name, title, "numpy (floor)", systems)


WORKLOADS = {"cnn": functools.partial(build, "cnn")}
