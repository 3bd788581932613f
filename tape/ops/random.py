"""Random tensors from counter-based streams, as ops, so traced graphs draw anew.

Every draw takes a *key*, ``[seed, stream]`` as a uint64 tensor, and turns it into
numbers with the Philox counter-based generator: the same key gives the same numbers, on
any call, and nothing but the key is stored. ``random_key`` is an op that hands out the
next stream of a seed each time it runs, eagerly or in a graph's replay; that is why a
traced step gets a fresh dropout mask at every replay instead of the traced one.

``tape.random.seed(n)`` restarts the global seed's streams, so what follows repeats. A
per-call ``seed=`` fixes the key, so that call gives the same numbers every time.
"""

from __future__ import annotations

import secrets

import numpy as np

from .. import backend, dtypes
from ..tensor import Tensor
from . import gpu
from .creation import _float_or, _shape
from .registry import defop

# A fixed key's stream word: never reached by the global counters.
_FIXED_STREAM = 2**63
# "replica": this process's rank in a data-parallel run (tape.distribute), folded into the
# stream of per-replica draws (dropout) so that ranks drop different units; 0 otherwise.
_global = {"seed": secrets.randbits(63), "replica": 0}
_streams: dict = {}  # seed (None: the global seed) -> next stream number


def seed(value: int) -> None:
    """Restart the global streams from ``value``, so what follows is reproducible.

    Example:
        >>> import tape
        >>> tape.random.seed(0); a = tape.random.normal((2,))
        >>> tape.random.seed(0); b = tape.random.normal((2,))
        >>> bool(tape.all(a == b))
        True
    """
    _global["seed"] = int(value)
    _streams.clear()


class Streams:
    """The stream counter of one seeded owner (a Dropout layer with ``seed=``): two
    owners with the same seed each walk the same sequence of keys."""

    def __init__(self):
        self.next = 0

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def set_replica(rank: int) -> None:
    """Make per-replica draws (dropout) differ on each rank of a data-parallel run; draws
    that must agree (initializers, shuffles) are unaffected (``tape.distribute``)."""
    _global["replica"] = int(rank)


def next_key(seed=None, streams=None, device="cpu", per_replica=False) -> tuple:
    """``(seed, stream)`` of the next stream, advancing its counter: random_key's host part
    (its ``Op.host_key``, which a CUDA graph calls before each launch)."""
    if streams is not None:
        stream = streams.take()
    else:
        stream = _streams.get(seed, 0)
        _streams[seed] = stream + 1
    if per_replica:
        stream += _global["replica"] << 48
    return (_global["seed"] if seed is None else seed, stream)


@defop("random_key", nin=0, differentiable=False, stateful=True, host_key=next_key)
def random_key(xp, seed=None, streams=None, device="cpu", per_replica=False):
    """The key of the next stream: of the global seed, or of ``seed`` counted by
    ``streams`` (a ``Streams``; by a shared counter per seed when None), on ``device``
    (where the op that uses it runs: a GPU kernel reads it there). ``per_replica`` moves
    the stream by the process's data-parallel rank (``set_replica``): every rank still
    counts streams alike, but draws its own numbers."""
    key = next_key(seed, streams, device, per_replica)
    if device == "cpu":
        return np.array(key, dtype=np.uint64)
    return backend.filled_on_device(key, np.uint64, device)  # made there, not copied there


def generator(key):
    """NumPy's Philox generator for ``key``: its seed as the Philox key, its stream as the
    high counter words, so two streams never overlap. Always on the host, whatever array
    module runs the op (an eager call and a graph replay on the GPU alike), so a seed
    draws the same numbers on every device; the ops copy their samples to ``device``."""
    key = np.asarray(key.get() if hasattr(key, "get") else key)
    bits = np.random.Philox(key=int(key[0]), counter=[0, 0, int(key[1]), 0])
    return np.random.Generator(bits)


@defop("random_uniform", differentiable=False)
def _uniform(xp, key, shape, dtype, minval=0.0, maxval=1.0, device="cpu"):
    """Uniform samples from ``[minval, maxval)`` drawn from ``key``'s stream."""
    values = generator(key).uniform(minval, maxval, size=shape).astype(dtype, copy=False)
    return backend.to_device(values, device)


@defop("random_normal", differentiable=False)
def _normal(xp, key, shape, dtype, mean=0.0, stddev=1.0, device="cpu"):
    """Normal samples drawn from ``key``'s stream."""
    # NumPy's normal(mean, stddev) is this same mean + stddev * z, draw for draw.
    values = (generator(key).standard_normal(size=shape) * stddev + mean).astype(
        dtype, copy=False)
    return backend.to_device(values, device)


@defop("random_integers", differentiable=False)
def _integers(xp, key, low, high, shape, dtype, device="cpu"):
    """Integers from ``[low, high)`` drawn from ``key``'s stream."""
    values = generator(key).integers(low, high, size=shape).astype(dtype, copy=False)
    return backend.to_device(values, device)


@defop("random_permutation", differentiable=False)
def _permutation(xp, key, n):
    """A shuffled ``arange(n)`` drawn from ``key``'s stream."""
    permutation = generator(key).permutation(n)
    return permutation if xp is np else xp.asarray(permutation)


_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def philox_uniform(xp, key, n: int):
    """``n`` float uniforms in [0, 1) from Philox4x32-10, the dropout kernel's generator
    (kernels/dropout.cu): element ``i`` is word ``i % 4`` of the block at counter
    ``(i // 4, stream)`` under key ``seed``, as ``(word >> 8) * 2**-24``. Dropout on the
    GPU uses it; on the CPU NumPy's faster C Philox (so masks differ between devices)."""
    key = np.asarray(key.get() if hasattr(key, "get") else key, dtype=np.uint64)
    seed, stream = int(key[0]), int(key[1])
    mask = np.uint64(0xFFFFFFFF)
    block = xp.arange((n + 3) // 4, dtype=np.uint64)
    c0, c1 = block & mask, block >> np.uint64(32)
    c2 = xp.full_like(block, stream & 0xFFFFFFFF)
    c3 = xp.full_like(block, stream >> 32)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    m0, m1 = np.uint64(_PHILOX_M[0]), np.uint64(_PHILOX_M[1])
    for r in range(10):
        if r:
            k0, k1 = (k0 + _PHILOX_W[0]) & 0xFFFFFFFF, (k1 + _PHILOX_W[1]) & 0xFFFFFFFF
        p0, p1 = m0 * c0, m1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & mask)
    words = xp.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n]
    return (words >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)


@defop("dropout", nin=2, fresh=True)
def _dropout(xp, x, key, rate):
    """``x`` with a ``rate`` of its elements zeroed and the rest scaled by
    ``1 / (1 - rate)``; the mask is a function of ``key`` and the flat index alone."""
    if xp is np:  # NumPy's own Philox (4x64, in C): fast, reproducible from the key
        u = generator(key).random(size=x.shape, dtype=np.float32)
    else:  # the GPU's Philox4x32-10, which the dropout kernel computes in place of this
        u = philox_uniform(xp, key, x.size).reshape(x.shape)
    return xp.where(u >= rate, x * x.dtype.type(1 / (1 - rate)), x.dtype.type(0))


@_dropout.defvjp
def _dropout_vjp(ctx, g):
    # Linear in x for a given mask, and the mask comes back from the key: nothing stored.
    return _dropout(g, ctx.inputs[1], rate=ctx.params["rate"]), None


def _key(seed_value) -> Tensor:
    if seed_value is None:
        return random_key()
    return Tensor._wrap(np.array([int(seed_value), _FIXED_STREAM], dtype=np.uint64))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, key=None) -> Tensor:
    """Samples from a normal distribution (float32 by default); ``key`` (a ``random_key``
    result) names the stream instead of ``seed``.

    Example:
        >>> import tape
        >>> tape.random.normal((2, 3), seed=1).shape
        (2, 3)
    """
    return _normal(_key(seed) if key is None else key, shape=_shape(shape),
                   dtype=_float_or(dtype), mean=mean, stddev=stddev,
                   device=backend.default_device())


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None, key=None) -> Tensor:
    """Samples from ``[minval, maxval)`` (float32 by default; ``key`` as in ``normal``)."""
    return _uniform(_key(seed) if key is None else key, shape=_shape(shape),
                    dtype=_float_or(dtype), minval=minval, maxval=maxval,
                    device=backend.default_device())


def randint(low, high=None, shape=(), dtype="int64", seed=None, key=None) -> Tensor:
    """Integers from ``[low, high)`` (from ``[0, low)`` when ``high`` is omitted; ``key``
    as in ``normal``)."""
    if high is None:
        low, high = 0, low
    return _integers(_key(seed) if key is None else key, low=low, high=high, shape=_shape(shape),
                     dtype=dtypes.as_dtype(dtype), device=backend.default_device())


def permutation(x, seed=None, key=None) -> Tensor:
    """A shuffled ``arange(x)`` for an int, or ``x`` shuffled along its first axis (the
    gradient flows back through the shuffle; ``key`` as in ``normal``)."""
    key = _key(seed) if key is None else key
    if isinstance(x, int | np.integer):
        return _permutation(key, n=int(x))
    from .shape import getitem

    order = _permutation(key, n=len(x))  # drawn on the host (as every key is)
    device = getattr(x, "device", "cpu")
    return getitem(x, order if device == "cpu" else order.to(device))


def dropout(x, rate: float, seed=None, key=None) -> Tensor:
    """Inverted dropout: zero a ``rate`` of ``x`` at random, scale the rest up.

    ``seed`` gives a reproducible sequence of masks (a fresh one per call); ``key`` fixes
    the mask (a ``[seed, stream]`` uint64 tensor).

    Example:
        >>> import tape
        >>> y = tape.random.dropout(tape.ones((1000,)), 0.5)
        >>> sorted(set(y.numpy().tolist()))
        [0.0, 2.0]
    """
    from .registry import convert

    x = convert(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if key is None:
        key = random_key(seed=None if seed is None else int(seed), device=x.device,
                         per_replica=True)
    elif isinstance(key, Tensor) and key.device != x.device:
        key = key.to(x.device)  # two numbers naming a stream, not data: it goes where x is
    return _dropout(x, key, rate=float(rate))


_dropout.defkernel(gpu.dropout_kernel)
