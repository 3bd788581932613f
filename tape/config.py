"""``tape.config``: process-wide numerics switches of the GPU path, as PyTorch's
``torch.backends.cuda.matmul.allow_tf32`` and TF's ``tf.config.experimental.
enable_tensor_float_32_execution``. Process-wide, not per context: CuPy's switches are.

TF32 (NVIDIA Ampere and later) rounds the float32 inputs of a matrix product to 10 mantissa
bits and multiplies them on tensor cores, accumulating in float32: several times faster than
float32 (issue 20 measured 51 TFLOP/s in float32 on an H200), about 3 decimal digits. Off by
default here, as in PyTorch. Switched on, tape's float32 products on CuPy run with it: CuPy's
float32 compute type becomes ``COMPUTE_TYPE_TF32`` (``cupy._core._routines_linalg.
set_compute_type``: the 2-d path, cuBLAS GemmEx with CUBLAS_COMPUTE_32F_FAST_TF32), and the
cuBLAS handle of each device gets the math mode ``CUBLAS_TF32_TENSOR_OP_MATH`` (the batched
path of an n-d ``matmul``, whose legacy compute type follows the handle's math mode, as
PyTorch's switch does). Convolutions in tape are products too (im2col), so they follow.
CuPy's own ``CUPY_TF32=1`` turns on the first half (read at its first float32 product); this
switch covers both.
CuPy keeps one cuBLAS handle per device and thread: switch in the thread that computes.

float16/bfloat16 products need no switch: CuPy accumulates them in float32 on tensor cores
(GemmEx with CUBLAS_COMPUTE_32F) whatever the compute type of float32.
"""

from __future__ import annotations

import numpy as np

from . import backend

_tf32 = {"enabled": False}


def set_tf32(enabled: bool) -> None:
    """Let float32 matrix products (and convolutions) on the GPU use TF32 tensor cores.

    Example:
        >>> import tape
        >>> tape.config.set_tf32(True)
        >>> tape.config.tf32_enabled()
        True
        >>> tape.config.set_tf32(False)

    Raises:
        TypeError: ``enabled`` is not a bool.
    """
    if not isinstance(enabled, bool | np.bool_):
        raise TypeError(f"tape.config.set_tf32 takes True or False; received "
                        f"{type(enabled).__name__} {enabled!r}")
    _tf32["enabled"] = bool(enabled)
    if backend.why_unavailable() is None:  # nothing to switch without a GPU
        _switch_cupy(bool(enabled))


def tf32_enabled() -> bool:
    """Whether float32 products on the GPU may use TF32 (``set_tf32``; False by default).

    Example:
        >>> import tape
        >>> tape.config.tf32_enabled()
        False
    """
    return _tf32["enabled"]


def _switch_cupy(enabled: bool) -> None:
    cupy = backend._cupy()
    from cupy._core import _routines_linalg as linalg
    from cupy_backends.cuda.libs import cublas

    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if enabled
                            else linalg.COMPUTE_TYPE_DEFAULT)
    mode = cublas.CUBLAS_TF32_TENSOR_OP_MATH if enabled else cublas.CUBLAS_DEFAULT_MATH
    for device_id in range(backend.device_count()):
        with cupy.cuda.Device(device_id):
            cublas.setMathMode(cupy.cuda.device.get_cublas_handle(), mode)
