"""``tape.cuda``: is a GPU usable, why not, and its memory. Never imports CuPy eagerly.

Example:
    >>> import tape
    >>> ok = tape.cuda.is_available()
    >>> ok == (tape.cuda.why_unavailable() is None)
    True
"""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy is installed and finds a CUDA device and driver (cheap: CuPy caches
    ``cupy.cuda.is_available()``)."""
    return backend.why_unavailable() is None


def why_unavailable() -> str | None:
    """None when a GPU can be used, else why not: CuPy missing, or no device or driver.

    Example:
        >>> import tape
        >>> reason = tape.cuda.why_unavailable()
        >>> reason is None or isinstance(reason, str)
        True
    """
    return backend.why_unavailable()


def device_count() -> int:
    """How many GPUs CuPy can use (0 without CuPy or a driver)."""
    return backend.device_count()


def memory_info(device: str | None = None) -> dict:
    """``{'device', 'free', 'total', 'pool_used', 'pool_held'}`` in bytes for ``device``
    (default ``'gpu:0'``); DeviceUnavailableError without a GPU."""
    return backend.memory_info(device)


def empty_cache() -> None:
    """Give the blocks cached by CuPy's memory pools back to the driver (no-op without a
    GPU), as ``torch.cuda.empty_cache``."""
    backend.empty_cache()


def synchronize(device: str | None = None) -> None:
    """Wait for all work queued on ``device`` (default ``'gpu:0'``); for timing."""
    name = backend.parse_device(device or "gpu")
    if name != backend.CPU:
        cupy = backend._cupy()
        with cupy.cuda.Device(int(name.split(":")[1])):
            cupy.cuda.Device().synchronize()
