"""The one place that knows NumPy from CuPy: devices, array modules, transfers.

``import tape`` never needs CuPy; asking for a GPU without one raises
DeviceUnavailableError that says why (CuPy missing, or no device/driver). The default
device of creation ops lives in ``_state.default_device``; ``device()`` sets it.
"""

from __future__ import annotations

import contextlib
import functools
import re

import numpy as np

from . import _state
from .errors import DeviceError, DeviceUnavailableError, OutOfMemoryError, user_line

CPU = "cpu"
_gpu_seen = False  # set once anything is placed on a GPU: until then host data stays put


def gpu_seen() -> bool:
    """Whether this process has placed anything on a GPU (a cheap test for code that would
    otherwise look for the device of a model's weights on every call)."""
    return _gpu_seen


@functools.cache
def _cupy():
    """Return the cupy module, or None when it cannot be imported."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA library that fails to load
        return None
    return cupy


def why_unavailable() -> str | None:
    """Why no GPU can be used, or None when one can (cheap after the first call: CuPy's
    ``is_available`` caches its answer)."""
    cupy = _cupy()
    if cupy is None:
        return ("CuPy is not installed (pip install 'tape[gpu]' for a CUDA 13 driver, "
                "'tape[gpu-cuda12]' for CUDA 12: nvidia-smi prints the driver's CUDA version)")
    try:
        if cupy.cuda.is_available():
            return None
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError: no driver, driver too old, no device
        return f"CuPy found no usable CUDA device or driver ({type(e).__name__}: {e})"
    if count == 0:
        return "CuPy found no CUDA device (the driver reports 0 devices)"
    return "CuPy reports that CUDA is not available"


def is_gpu_available() -> bool:
    return why_unavailable() is None


def device_count() -> int:
    """Number of CUDA devices CuPy can use (0 without CuPy or a driver)."""
    if why_unavailable() is not None:
        return 0
    return int(_cupy().cuda.runtime.getDeviceCount())


def parse_device(device: str) -> str:
    """Normalise ``'cpu'``, ``'gpu'``, ``'gpu:N'`` (and ``'cuda'`` spellings) to ``'cpu'`` or
    ``'gpu:N'``; a GPU that cannot be used raises DeviceUnavailableError saying why.

    Example:
        >>> from tape import backend
        >>> backend.parse_device("CPU")
        'cpu'
    """
    name = str(device).lower().replace("cuda", "gpu")
    if name == CPU:
        return CPU
    if name == "gpu":
        name = "gpu:0"
    if name.startswith("gpu:") and name[4:].isdigit():
        reason = why_unavailable()
        if reason is not None:
            raise DeviceUnavailableError(f"device {device!r} was asked for, but {reason} "
                                         f"[at {user_line()}]")
        count = device_count()
        if int(name[4:]) >= count:
            raise DeviceUnavailableError(
                f"device {device!r} was asked for, but CuPy sees {count} GPU(s): "
                f"{', '.join(f'gpu:{i}' for i in range(count))} [at {user_line()}]")
        return name
    raise DeviceError(f"unknown device {device!r}; use 'cpu', 'gpu' or 'gpu:N' "
                      f"[at {user_line()}]")


def default_device() -> str:
    """The device creation ops use now: ``'cpu'`` unless inside ``device(...)``."""
    return _state.default_device.get()


def device(name: str):
    """Make ``name`` ('cpu', 'gpu', 'gpu:N') the default device of creation ops (``tape.zeros``,
    ``tape.tensor``, ``tape.random.*``, new layer weights) inside a ``with`` block. Ops on
    existing tensors run where their inputs are. A GPU where there is none raises
    DeviceUnavailableError here, at the ``with`` line.

    Example:
        >>> import tape
        >>> with tape.device("cpu"):
        ...     tape.zeros((2,)).device
        'cpu'
    """
    return _on_device(parse_device(name))  # parsed now: the error names the user's line


@contextlib.contextmanager
def _on_device(parsed: str):
    global _gpu_seen
    with _state.using(_state.default_device, parsed):
        if parsed == CPU:
            yield parsed
        else:
            _gpu_seen = True
            with _cupy().cuda.Device(_index(parsed)):
                yield parsed


def _index(device: str) -> int:
    return int(device.split(":")[1])


def device_of(array) -> str:
    """The device string of a raw array."""
    if isinstance(array, np.ndarray | np.generic):
        return CPU
    return f"gpu:{array.device.id}"


def is_gpu_array(array) -> bool:
    """True for a CuPy array (never imports CuPy for a NumPy array)."""
    if isinstance(array, np.ndarray | np.generic):
        return False
    cupy = _cupy()
    return cupy is not None and isinstance(array, cupy.ndarray)


@functools.cache
def gpu_array_type() -> type | None:
    """``cupy.ndarray``, or None without CuPy (the ops' hot path compares types with it)."""
    cupy = _cupy()
    return None if cupy is None else cupy.ndarray


def get_array_module(*arrays):
    """NumPy for CPU arrays, CuPy when any array lives on a GPU (Chainer's rule)."""
    for a in arrays:
        if not isinstance(a, np.ndarray | np.generic):
            cupy = _cupy()
            if cupy is not None and isinstance(a, cupy.ndarray):
                return cupy
    return np


def array_module_of_device(device: str):
    """NumPy for ``'cpu'``, CuPy for a GPU device (checked: a clear error without one)."""
    if device == CPU:
        return np
    parse_device(device)
    return _cupy()


def special_module(xp):
    """``scipy.special`` for NumPy, ``cupyx.scipy.special`` for CuPy (erf and friends)."""
    if xp is np:
        import scipy.special

        return scipy.special
    import cupyx.scipy.special

    return cupyx.scipy.special


def to_device(array, device: str):
    """Copy ``array`` to ``device`` (a normalised device string); no copy if already there."""
    if device == CPU:
        if isinstance(array, np.ndarray | np.generic):
            return array
        report_device_checks()
        return _cupy().asnumpy(array)
    global _gpu_seen
    cupy = _cupy()
    if cupy is None:
        parse_device(device)  # raises DeviceUnavailableError saying why
    _gpu_seen = True
    if isinstance(array, cupy.ndarray) and device_of(array) == device:
        return array
    with cupy.cuda.Device(_index(device)):
        try:
            return cupy.asarray(array)
        except MemoryError as e:
            raise out_of_memory_error(f"copying {_nbytes(array)} to {device}", e) from e


# ---- value checks kept on the device ------------------------------------------------------------
# A check of the values of a GPU array (class labels, embedding ids in range) must not wait for
# the device at every step. It keeps a running min and max on the device instead, per check
# site, and they are read, all in one copy, at the next point where the host reads a value
# anyway (``to_device`` to the CPU, ``Tensor.item``/``bool``...), as PyTorch reports its
# device-side asserts at the next synchronizing call.
_device_checks: dict = {}


def check_range_on_device(what: str, values, size: int, error: type, message) -> None:
    """Check later that every value of the GPU integer array ``values`` lies in ``[0, size)``;
    ``message(low, high)`` says what was wrong, raised as ``error`` at the next host read
    (``report_device_checks``) with the line of the call that was checked."""
    key = (what, size, user_line())
    low, high = values.min(), values.max()
    seen = _device_checks.get(key)
    if seen is not None:
        xp = get_array_module(values)
        low, high = xp.minimum(seen[2], low), xp.maximum(seen[3], high)
    _device_checks[key] = (error, message, low, high)


def report_device_checks() -> None:
    """Read the pending device checks (one device-to-host copy) and raise the first that
    failed; nothing to do (and no copy) when none is pending."""
    if not _device_checks:
        return
    checks = list(_device_checks.items())
    _device_checks.clear()
    cupy = _cupy()
    bounds = cupy.asnumpy(cupy.stack([b.astype(cupy.int64) for _, (_, _, *pair) in checks
                                      for b in pair]))
    for index, ((_, size, line), (error, message, _, _)) in enumerate(checks):
        low, high = int(bounds[2 * index]), int(bounds[2 * index + 1])
        if low < 0 or high >= size:
            raise error(f"{message(low, high)} [at {line}; checked on the GPU, reported at "
                        "the next read of a value on the host]")


def filled_on_device(values, dtype, device: str):
    """A short 1-d array of ``values`` made on the GPU ``device`` by one fill per element,
    each value a kernel argument: no copy from the host (a random key every step)."""
    cupy = _cupy()
    with cupy.cuda.Device(_index(device)):
        out = cupy.empty(len(values), dtype=dtype)
        for i, value in enumerate(values):
            out[i] = np.dtype(dtype).type(value)
    return out


_DEVICE_SCALARS: dict = {}  # (device, dtype, value) -> a 0-d device array, never written


def device_scalar(value, dtype, device: str):
    """A 0-d array holding the Python number ``value`` on the GPU ``device``, made once by a
    fill (no copy from the host) and kept: ``x * 0.5`` or a loss's mean divides by a number
    every step, and each would otherwise copy it to the device. Ops never write into their
    inputs, so the kept arrays stay as made (-0.0 and 0.0 are told apart)."""
    dtype = np.dtype(dtype)
    key = (device, dtype.str, value.hex() if isinstance(value, float) else int(value))
    array = _DEVICE_SCALARS.get(key)
    if array is None:
        if len(_DEVICE_SCALARS) >= 4096:  # a loop over many distinct numbers: start over
            _DEVICE_SCALARS.clear()
        array = _DEVICE_SCALARS[key] = filled_on_device([value], dtype, device).reshape(())
    return array


def to_default_device(array):
    """``array`` on the default device (the creation ops' last step)."""
    device = _state.default_device.get()
    return array if device == CPU else to_device(array, device)


# ---- memory --------------------------------------------------------------------------------


def memory_info(device: str | None = None) -> dict:
    """Bytes on a GPU: ``free``/``total`` as the driver reports them, and ``pool_used``/
    ``pool_held`` for CuPy's memory pool (held includes cached free blocks)."""
    cupy = _cupy()
    reason = why_unavailable()
    if reason is not None:
        raise DeviceUnavailableError(f"memory_info() needs a GPU, but {reason} "
                                     f"[at {user_line()}]")
    device = parse_device(device or "gpu")
    with cupy.cuda.Device(_index(device)):
        free, total = cupy.cuda.runtime.memGetInfo()
        pool = cupy.get_default_memory_pool()
        return {"device": device, "free": int(free), "total": int(total),
                "pool_used": int(pool.used_bytes()), "pool_held": int(pool.total_bytes())}


def empty_cache() -> None:
    """Return the cached blocks of CuPy's memory pools to the driver (no-op without a GPU)."""
    cupy = _cupy()
    if cupy is None or why_unavailable() is not None:
        return
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def out_of_memory_error(what: str, error: BaseException) -> OutOfMemoryError:
    """An OutOfMemoryError for a failed GPU allocation while doing ``what``: the requested
    size (from CuPy's error) and ``memory_info()``, with what to try."""
    size = getattr(error, "_size", None)
    if size is None:
        found = re.search(r"allocating ([\d,]+) bytes", str(error))
        size = int(found.group(1).replace(",", "")) if found else None
    requested = "an unknown size" if size is None else f"{size:,} bytes ({_human(size)})"
    try:
        info = memory_info()
        memory = ", ".join(f"{k}={_human(v) if isinstance(v, int) else v}"
                           for k, v in info.items())
    except Exception as e:  # the report must not hide the original error
        memory = f"unavailable ({type(e).__name__}: {e})"
    return OutOfMemoryError(
        f"out of GPU memory {what}: requested {requested}; memory_info: {memory}. Free cached "
        f"blocks with tape.cuda.empty_cache(), or use a smaller batch [CuPy: {error}]")


def _nbytes(array) -> str:
    nbytes = getattr(array, "nbytes", None)
    return f"an array of {_human(nbytes)}" if nbytes is not None else "an array"


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"
