"""The one place that knows NumPy from CuPy: devices, array modules, transfers.

``import tape`` never needs CuPy; asking for a GPU without one raises DeviceError that
says why (CuPy missing, or no device/driver).
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import DeviceError


@functools.cache
def _cupy():
    """Return the cupy module, or None when it cannot be imported."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA library that fails to load
        return None
    return cupy


def why_unavailable() -> str | None:
    """Why no GPU can be used, or None when one can."""
    cupy = _cupy()
    if cupy is None:
        return "CuPy is not installed (pip install 'tape[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
    except Exception as e:
        return f"CuPy found no usable CUDA device or driver: {e}"
    return "CuPy found no CUDA device"


def is_gpu_available() -> bool:
    return why_unavailable() is None


def parse_device(device: str) -> str:
    """Normalise ``'cpu'``, ``'gpu'``, ``'gpu:N'`` (and ``'cuda'`` spellings)."""
    name = str(device).lower().replace("cuda", "gpu")
    if name == "cpu":
        return "cpu"
    if name == "gpu":
        name = "gpu:0"
    if name.startswith("gpu:") and name[4:].isdigit():
        reason = why_unavailable()
        if reason is not None:
            raise DeviceError(f"device {device!r} was asked for, but {reason}")
        return name
    raise DeviceError(f"unknown device {device!r}; use 'cpu', 'gpu' or 'gpu:N'")


def device_of(array) -> str:
    """The device string of a raw array."""
    if isinstance(array, np.ndarray):
        return "cpu"
    return f"gpu:{array.device.id}"


def get_array_module(*arrays):
    """NumPy for CPU arrays, CuPy when any array lives on a GPU (Chainer's rule)."""
    for a in arrays:
        if not isinstance(a, np.ndarray | np.generic):
            cupy = _cupy()
            if cupy is not None and isinstance(a, cupy.ndarray):
                return cupy
    return np


def special_module(xp):
    """``scipy.special`` for NumPy, ``cupyx.scipy.special`` for CuPy (erf and friends)."""
    if xp is np:
        import scipy.special

        return scipy.special
    import cupyx.scipy.special

    return cupyx.scipy.special


def to_device(array, device: str):
    """Copy ``array`` to ``device`` (a normalised device string); no copy if already there."""
    if device == "cpu":
        return array if isinstance(array, np.ndarray) else _cupy().asnumpy(array)
    cupy = _cupy()
    with cupy.cuda.Device(int(device.split(":")[1])):
        return cupy.asarray(array)
