"""GPU overrides: adapters from an op's arrays to the launchers in ``tape.kernels.launch``.

Each op binds its adapter beside its declaration (``softmax.defkernel(gpu.softmax_kernel)``),
and ``Op.run`` calls it in place of the xp forward on CuPy arrays. An adapter returns
``NotImplemented`` for what its kernel does not cover (another axis, mixed dtypes, integer
inputs, a broadcast it does not do), and the op's generic xp forward runs instead; so an
override never changes what an op means, only how fast it runs. The kernels are tested
against the xp forwards (tests/kernels). ``runtime`` is for those tests: a CPU emulation
runtime in place of CuPy's. This module imports nothing of the op table.
"""

from __future__ import annotations

import numpy as np

# The kernels' float dtypes by name: bfloat16 is ml_dtypes' (CuPy 14 holds it), stored in
# 16 bits and computed in float32 as float16 is; never imported here.
_FLOATS = ("float32", "float64", "float16", "bfloat16")


def _launch():
    from ..kernels import launch  # CuPy is imported only when a kernel really runs

    return launch


def _floats(*arrays) -> bool:
    """One kernel dtype for all arrays."""
    dtype = arrays[0].dtype
    return (dtype.name in _FLOATS and dtype.isnative  # a byte-swapped array is read as is
            and all(a.dtype == dtype for a in arrays))


def _last_axis(x, axis) -> bool:
    return x.ndim >= 1 and isinstance(axis, int | np.integer) and axis in (-1, x.ndim - 1)


class ElementwiseKernel:
    """The GPU override of an elementwise op, generated from the CUDA template it declares
    for fused graph nodes (``Op.deffusion``): ``op.defkernel(ElementwiseKernel(op))``. The
    template's inputs become ``x``, ``x1``... and its literals the accumulation type ``A``
    (float for float16/bfloat16/float32), and ``tape.kernels.compile_elementwise`` makes the source
    (``code``), compiled at first use. Float inputs of one dtype and shape only (anything
    else runs the forward).

    Example:
        >>> import tape
        >>> from tape.ops.gpu import ElementwiseKernel
        >>> "tape_mish_f32" in ElementwiseKernel(tape.ops.REGISTRY["mish"]).code
        True
    """

    def __init__(self, op):
        _, cuda, typing, _ = op.fusion
        assert typing == "result", f"{op.name}: a generated kernel computes in the result type"
        self.name = f"tape_{op.name}"
        self.inputs = ("x",) + tuple(f"x{k}" for k in range(1, op.nin))
        literals = {"zero": "A(0)", "half": "A(0.5)", "one": "A(1)", "T": "A"}
        self.body = f"y = {cuda.format(*self.inputs, **literals)};"

    @property
    def code(self) -> str:
        """The generated CUDA source."""
        return self._compiled().code

    def _compiled(self):
        from ..kernels import compile_elementwise  # CuPy is imported only when it runs

        return compile_elementwise(self.name, self.body, self.inputs, ("y",))

    def __call__(self, xp, *arrays, runtime=None):
        if (len(arrays) != len(self.inputs) or not _floats(*arrays)
                or any(a.shape != arrays[0].shape for a in arrays)):
            return NotImplemented
        return self._compiled()(*arrays, runtime=runtime)[0]


def bias_act_kernel(xp, x, bias, activation="relu", runtime=None):
    launch = _launch()
    if (x.ndim == 0 or bias.shape != x.shape[-1:] or not _floats(x, bias)
            or activation not in launch.ACTIVATIONS):
        return NotImplemented
    return launch.bias_act_forward(x, bias, activation, runtime=runtime)


def bias_act_grad_kernel(xp, x, bias, g, activation="relu", runtime=None):
    launch = _launch()
    if (x.ndim == 0 or bias.shape != x.shape[-1:] or g.shape != x.shape
            or not _floats(x, bias, g) or activation not in launch.ACTIVATIONS):
        return NotImplemented
    return launch.bias_act_backward(x, bias, g, activation, runtime=runtime)


def softmax_kernel(xp, x, axis=-1, runtime=None):
    if not _last_axis(x, axis) or not _floats(x):
        return NotImplemented
    return _launch().softmax_forward(x, log=False, runtime=runtime)


def log_softmax_kernel(xp, x, axis=-1, runtime=None):
    if not _last_axis(x, axis) or not _floats(x):
        return NotImplemented
    return _launch().softmax_forward(x, log=True, runtime=runtime)


def softmax_grad_kernel(xp, y, g, axis=-1, runtime=None):
    if not _last_axis(y, axis) or y.shape != g.shape or not _floats(y, g):
        return NotImplemented
    return _launch().softmax_backward(y, g, log=False, runtime=runtime)


def log_softmax_grad_kernel(xp, y, g, axis=-1, runtime=None):
    if not _last_axis(y, axis) or y.shape != g.shape or not _floats(y, g):
        return NotImplemented
    return _launch().softmax_backward(y, g, log=True, runtime=runtime)


def _labels_like(xp, labels, logits):
    """``labels`` broadcast to ``logits``'s shape (materialized), or None if it is not."""
    if labels.shape == logits.shape:
        return labels
    try:
        if np.broadcast_shapes(labels.shape, logits.shape) != logits.shape:
            return None
    except ValueError:
        return None
    return xp.broadcast_to(labels, logits.shape)


def softmax_xent_kernel(xp, labels, logits, runtime=None):
    if logits.ndim == 0 or not _floats(labels, logits):
        return NotImplemented
    labels = _labels_like(xp, labels, logits)
    if labels is None:
        return NotImplemented
    return _launch().softmax_xent_forward(labels, logits, runtime=runtime)


def softmax_xent_grad_kernel(xp, labels, logits, g, runtime=None):
    if logits.ndim == 0 or g.shape != logits.shape[:-1] or not _floats(labels, logits, g):
        return NotImplemented
    labels = _labels_like(xp, labels, logits)
    if labels is None:
        return NotImplemented
    return _launch().softmax_xent_backward(labels, logits, g, runtime=runtime)


def layer_norm_kernel(xp, x, gamma, beta, epsilon=1e-3, runtime=None):
    if (x.ndim == 0 or gamma.shape != x.shape[-1:] or beta.shape != x.shape[-1:]
            or not _floats(x, gamma, beta)):
        return NotImplemented
    return _launch().layer_norm_forward(x, gamma, beta, epsilon, runtime=runtime)


def layer_norm_grad_kernel(xp, x, gamma, g, epsilon=1e-3, runtime=None):
    if (x.ndim == 0 or gamma.shape != x.shape[-1:] or g.shape != x.shape
            or not _floats(x, gamma, g)):
        return NotImplemented
    return _launch().layer_norm_backward(x, gamma, g, epsilon, runtime=runtime)


def dropout_kernel(xp, x, key, rate=0.5, runtime=None, **other):
    """For the op ``dropout(x, key, rate)`` with ``key = [seed, stream]`` (uint64); anything
    else the op takes (a noise shape...) runs the generic forward."""
    if other or not _floats(x) or not 0 <= rate <= 1:
        return NotImplemented
    key = xp.asarray(key)
    if key.dtype != np.uint64 or key.size != 2:
        return NotImplemented
    return _launch().dropout(x, key, float(rate), runtime=runtime)


def check_index_kernel(xp, indices, size, what="index"):
    """``check_index`` on the GPU: the range is checked on the device, without waiting for
    it, and an id outside ``[0, size)`` is raised at the next read of a value on the host
    (``backend.check_range_on_device``), naming ``what`` and the line of the call."""
    from .. import backend
    from ..errors import IndexOutOfRangeError

    if indices.dtype.kind not in "iu":
        return NotImplemented
    if indices.size:
        backend.check_range_on_device(
            what, indices, size, IndexOutOfRangeError,
            lambda low, high: f"{what}: every id must be in [0, {size}); received "
                              f"{low if low < 0 else high}")
    return indices


# ---- multi-tensor optimizer updates (the optimizers' fused GPU path) -------------------------
# Not op-table records: one launch updates every variable of a dtype and returns new arrays
# for several of them, where an op returns one tensor. They live here so that only ops load
# kernels (DESIGN.md); tape.optimizers.fused decides when they run.


def sgd_update(params, grads, momentums, lr, decays, momentum: float, nesterov: bool,
               runtime=None):
    """One SGD step over all tensors in one launch: (new params, new momentums)."""
    return _launch().sgd_update(params, grads, momentums, lr, decays, momentum, nesterov,
                                runtime=runtime)


def adam_update(params, grads, ms, us, lr, iterations, decays, beta_1: float, beta_2: float,
                epsilon: float, runtime=None):
    """One Adam step over all tensors in one launch: (new params, new m, new u)."""
    return _launch().adam_update(params, grads, ms, us, lr, iterations, decays, beta_1, beta_2,
                                 epsilon, runtime=runtime)
