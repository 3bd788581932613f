"""Python launchers of the kernels in ``KERNELS``: shapes to (rows, cols), launch sizes from
the device's properties, outputs allocated, inputs made C-contiguous (a strided view is
copied, never read as its base buffer), dtypes checked with an error naming the kernel.

Every launcher takes ``runtime``: the CuPy runtime of the first array's device by default,
or a CPU emulation runtime in tests (tests/kernels), which runs the same code on NumPy.
The ops' GPU overrides (tape/ops/gpu.py) call these; the math each kernel implements is
stated once, in the op's xp forward, and the kernel is tested against it.
"""

from __future__ import annotations

import functools

import numpy as np

from . import FLOATS, GROUP, KERNELS, check_device, elementwise_launch, row_launch, runtime_for

# Activation codes of bias_act.cu.
ACTIVATIONS = {"relu": 0, "gelu": 1, "silu": 2, "tanh": 3, "sigmoid": 4}
KERNEL_DTYPES = FLOATS  # by name: bfloat16 (ml_dtypes) is never imported here
CHUNK = 8192  # elements per block-sized chunk of a fused optimizer launch


def _prepare(name: str, rt, *arrays, dtypes=KERNEL_DTYPES, label=None):
    """The arrays as C-contiguous arrays of one supported float dtype on ``rt``'s device; a
    clear error otherwise (the ops fall back to their generic forward before it comes to
    that, and a host array is a DeviceError naming the argument: ``label[index]``, or its
    index)."""
    for index, a in enumerate(arrays):
        if rt.device_of(a) != rt.device:  # the message is built only for a failure
            check_device(f"{name}: argument {f'{label}[{index}]' if label else index}", a, rt)
    dtype = arrays[0].dtype
    for a in arrays:
        if a.dtype != dtype:
            raise TypeError(f"{name}: all arrays must have one dtype, got "
                            f"{', '.join(str(a.dtype) for a in arrays)}")
    if dtype.name not in dtypes or not dtype.isnative:  # the kernel reads native bytes
        raise TypeError(f"{name}: no kernel for {dtype} (supported: {', '.join(dtypes)})")
    return [a if a.flags.c_contiguous else rt.xp.ascontiguousarray(a) for a in arrays]


def _rows_cols(name: str, x) -> tuple[int, int]:
    if x.ndim == 0:
        raise ValueError(f"{name}: needs an array with a last axis, got a 0-d array")
    cols = x.shape[-1]
    return (x.size // cols if cols else 0), cols


def _launch_rows(rt, kernel: str, rows: int, cols: int, *args) -> None:
    """Launch a one-block-per-row kernel over (rows, cols), templated on the dtype of its
    first argument; nothing to do when either is 0."""
    if rows and cols:
        grid, block = row_launch(rows, cols, rt.props)
        rt.launch(KERNELS[kernel], args[0].dtype, grid, block, args)


def bias_act_forward(x, bias, activation: str, runtime=None):
    """``act(x + bias)``, ``bias`` of shape ``x.shape[-1:]``."""
    rt = runtime or runtime_for(x)
    x, bias = _prepare("bias_act", rt, x, bias)
    _check_bias("bias_act", x, bias)
    y = rt.xp.empty_like(x)
    if x.size:
        grid, block = elementwise_launch(x.size, rt.props)
        rt.launch(KERNELS["bias_act_forward"], x.dtype, grid, block,
                  (x, bias, y, x.size, x.shape[-1], ACTIVATIONS[activation]))
    return y


def bias_act_backward(x, bias, g, activation: str, runtime=None):
    """``g * act'(x + bias)``."""
    rt = runtime or runtime_for(x)
    x, bias, g = _prepare("bias_act_grad", rt, x, bias, g)
    _check_bias("bias_act_grad", x, bias)
    if g.shape != x.shape:
        raise ValueError(f"bias_act_grad: g of shape {g.shape} for x of shape {x.shape}")
    dx = rt.xp.empty_like(x)
    if x.size:
        grid, block = elementwise_launch(x.size, rt.props)
        rt.launch(KERNELS["bias_act_backward"], x.dtype, grid, block,
                  (x, bias, g, dx, x.size, x.shape[-1], ACTIVATIONS[activation]))
    return dx


def _check_bias(name: str, x, bias) -> None:
    if x.ndim == 0 or bias.shape != x.shape[-1:]:
        raise ValueError(f"{name}: bias of shape {bias.shape} for x of shape {x.shape} "
                         "(expected the shape of x's last axis)")


def softmax_forward(x, log: bool = False, runtime=None):
    """Softmax (or log-softmax) of ``x`` along its last axis."""
    rt = runtime or runtime_for(x)
    (x,) = _prepare("softmax", rt, x)
    rows, cols = _rows_cols("softmax", x)
    y = rt.xp.empty_like(x)
    _launch_rows(rt, "softmax_forward", rows, cols, x, y, rows, cols, int(log))
    return y


def softmax_backward(y, g, log: bool = False, runtime=None):
    """The input gradient of softmax (or log-softmax) from its output ``y`` and ``g``."""
    rt = runtime or runtime_for(y)
    y, g = _prepare("softmax_grad", rt, y, g)
    _same_shape("softmax_grad", y, g)
    rows, cols = _rows_cols("softmax_grad", y)
    dx = rt.xp.empty_like(y)
    _launch_rows(rt, "softmax_backward", rows, cols, y, g, dx, rows, cols, int(log))
    return dx


def softmax_xent_forward(labels, logits, runtime=None):
    """Per-row cross-entropy of ``labels`` (probabilities) against ``logits``."""
    rt = runtime or runtime_for(logits)
    labels, logits = _prepare("softmax_xent", rt, labels, logits)
    _same_shape("softmax_xent", labels, logits)
    rows, cols = _rows_cols("softmax_xent", logits)
    loss = rt.xp.zeros(logits.shape[:-1], dtype=logits.dtype)
    _launch_rows(rt, "softmax_xent_forward", rows, cols, labels, logits, loss, rows, cols)
    return loss


def softmax_xent_backward(labels, logits, g, runtime=None):
    """``g[..., None] * (softmax(logits) * sum(labels) - labels)``."""
    rt = runtime or runtime_for(logits)
    labels, logits, g = _prepare("softmax_xent_grad", rt, labels, logits, g)
    _same_shape("softmax_xent_grad", labels, logits)
    if g.shape != logits.shape[:-1]:
        raise ValueError(f"softmax_xent_grad: g of shape {g.shape} for logits of shape "
                         f"{logits.shape}")
    rows, cols = _rows_cols("softmax_xent_grad", logits)
    dlogits = rt.xp.empty_like(logits)
    _launch_rows(rt, "softmax_xent_backward", rows, cols, labels, logits, g, dlogits, rows, cols)
    return dlogits


def layer_norm_forward(x, gamma, beta, epsilon: float, runtime=None):
    """Layer normalization of ``x`` over its last axis, scaled by gamma, shifted by beta."""
    rt = runtime or runtime_for(x)
    x, gamma, beta = _prepare("layer_norm", rt, x, gamma, beta)
    _check_bias("layer_norm", x, gamma)
    _check_bias("layer_norm", x, beta)
    rows, cols = _rows_cols("layer_norm", x)
    y = rt.xp.empty_like(x)
    _launch_rows(rt, "layer_norm_forward", rows, cols,
                 x, gamma, beta, y, rows, cols, float(epsilon))
    return y


def layer_norm_backward(x, gamma, g, epsilon: float, runtime=None):
    """The gradient of layer normalization with respect to ``x``."""
    rt = runtime or runtime_for(x)
    x, gamma, g = _prepare("layer_norm_grad", rt, x, gamma, g)
    _check_bias("layer_norm_grad", x, gamma)
    _same_shape("layer_norm_grad", x, g)
    rows, cols = _rows_cols("layer_norm_grad", x)
    dx = rt.xp.empty_like(x)
    _launch_rows(rt, "layer_norm_backward", rows, cols, x, gamma, g, dx, rows, cols, float(epsilon))
    return dx


def dropout(x, key, rate: float, runtime=None):
    """``x`` with elements dropped by the Philox mask of ``key = [seed, stream]`` (uint64,
    read on the device; see dropout.cu)."""
    rt = runtime or runtime_for(x)
    (x,) = _prepare("dropout", rt, x)
    key = rt.xp.ascontiguousarray(rt.xp.asarray(key).reshape(-1))  # 1-d: no 0-d promotion
    if key.dtype != np.uint64 or key.shape != (2,):
        raise TypeError(f"dropout: key must be uint64 [seed, stream], got {key.shape} "
                        f"{key.dtype}")
    if not 0 <= rate <= 1:
        raise ValueError(f"dropout: rate must be in [0, 1], got {rate}")
    y = rt.xp.empty_like(x)
    if x.size:
        grid, block = elementwise_launch(-(-x.size // 4), rt.props)
        rt.launch(KERNELS["dropout"], x.dtype, grid, block, (x, y, x.size, key, float(rate)))
    return y


def _same_shape(name: str, a, b) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} differ")


# ---- fused optimizer updates ----------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _chunks(sizes: tuple) -> np.ndarray:
    """(tensor index, first element, count) per chunk of at most CHUNK elements."""
    rows = [(t, start, min(CHUNK, n - start)) for t, n in enumerate(sizes)
            for start in range(0, n, CHUNK)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


@functools.lru_cache(maxsize=256)
def _device_table(rt, decays: tuple, sizes: tuple):
    """The int64 table of optim.cu for one launch: the decays, then the chunks. It depends
    only on the model (its tensors' sizes and decays), so it is copied to the device once
    and kept; a steady training step copies nothing."""
    host = np.concatenate([np.asarray(decays, dtype=np.float64).view(np.int64),
                           _chunks(sizes).ravel()])
    return rt.xp.asarray(host)


_NO_ADDRESS = np.uint64(0)


def _launch_update(rt, kernel: str, lists, decays, scalars) -> None:
    """Launch the fused update ``kernel`` once per GROUP tensors of ``lists`` (arrays that
    ``_check_update`` checked, outputs included): its table, the tensor and chunk counts,
    ``scalars``, then the tensors' device addresses list by list, each list padded to
    GROUP with 0 (never read)."""
    dtype = lists[0][0].dtype
    count = len(lists[0])
    for first in range(0, count, GROUP):
        last = min(first + GROUP, count)
        sizes = tuple(int(a.size) for a in lists[0][first:last])
        nchunks = len(_chunks(sizes))
        if not nchunks:
            continue
        table = _device_table(rt, tuple(float(d) for d in decays[first:last]), sizes)
        padding = [_NO_ADDRESS] * (GROUP - (last - first))
        addresses = []
        for arrays in lists:
            addresses += [np.uint64(rt.pointer(a)) for a in arrays[first:last]]
            addresses += padding
        grid, block = _update_launch(nchunks, rt)
        rt.launch(KERNELS[kernel], dtype, grid, block,
                  (table, last - first, nchunks, *scalars, *addresses))


def _check_update(name: str, rt, lists: dict, lr):
    """One float dtype throughout, shapes matching per tensor, contiguous arrays on the
    launch's device (``lists``: name -> arrays; a host array is a DeviceError naming it,
    e.g. ``grads[0]``: its address would be passed to the kernel and fault on the GPU)."""
    first = next(iter(lists.values()))
    dtype = first[0].dtype
    for arrays in lists.values():
        if len(arrays) != len(first):
            raise ValueError(f"{name}: lists of different lengths")
    prepared = [_prepare(name, rt, *arrays, dtypes=KERNEL_DTYPES[:2], label=key)
                if arrays else [] for key, arrays in lists.items()]
    for arrays in prepared:
        for a, p in zip(arrays, prepared[0]):
            if a.dtype != dtype or a.shape != p.shape:
                raise ValueError(f"{name}: got {a.shape} {a.dtype} beside {p.shape} {p.dtype}")
    check_device(f"{name}: argument lr", lr, rt)
    (lr,) = _prepare(name, rt, rt.xp.reshape(lr, (1,)), dtypes=(dtype.name,))
    return prepared, lr


def sgd_update(params, grads, momentums, lr, decays, momentum: float, nesterov: bool,
               runtime=None):
    """One SGD step over all tensors, one launch per GROUP of them; returns (new params, new
    momentums). ``lr`` is a device scalar; ``decays`` one decoupled weight decay per tensor."""
    rt = runtime or runtime_for(params[0])
    use_momentum = momentum != 0
    lists = {"params": params, "grads": grads,
             "momentums": momentums if use_momentum else params}
    (params, grads, momentums), lr = _check_update("sgd_update", rt, lists, lr)
    new_params = [rt.xp.empty_like(p) for p in params]
    new_momentums = [rt.xp.empty_like(m) for m in momentums] if use_momentum else new_params
    _launch_update(rt, "sgd_update", [params, grads, momentums, new_params, new_momentums],
                   decays, (lr, float(momentum), int(bool(nesterov))))
    return new_params, (new_momentums if use_momentum else [])


def adam_update(params, grads, ms, us, lr, iterations, decays, beta_1: float, beta_2: float,
                epsilon: float, runtime=None):
    """One Adam step over all tensors, one launch per GROUP of them; returns (new params,
    new m, new u). ``lr`` and ``iterations`` (int64, the updates so far) are device
    scalars."""
    rt = runtime or runtime_for(params[0])
    (params, grads, ms, us), lr = _check_update("adam_update", rt,
                                               {"params": params, "grads": grads, "ms": ms,
                                                "us": us}, lr)
    check_device("adam_update: argument iterations", iterations, rt)
    iterations = rt.xp.ascontiguousarray(rt.xp.reshape(iterations, (1,)), dtype=np.int64)
    outs = [[rt.xp.empty_like(p) for p in params] for _ in range(3)]
    _launch_update(rt, "adam_update", [params, grads, ms, us, *outs], decays,
                   (lr, iterations, float(beta_1), float(beta_2), float(epsilon)))
    return tuple(outs)


def _update_launch(nchunks: int, rt) -> tuple[int, int]:
    grid, block = elementwise_launch(nchunks * 256, rt.props)
    return min(grid, nchunks), block
