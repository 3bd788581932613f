"""The tape exception hierarchy, and the helper that finds the user's line for messages."""

from __future__ import annotations

import functools
import linecache
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TapeError(Exception):
    """Base class of every error tape raises on purpose."""


class DeviceError(TapeError):
    """Tensors on different devices, or a device that is not available."""


class DeviceUnavailableError(DeviceError):
    """A GPU was asked for where none can be used: CuPy is missing, or it finds no
    device or driver. The message says which."""


class OutOfMemoryError(DeviceError, MemoryError):
    """The GPU could not allocate what an op asked for; the message gives the size and the
    memory in use (``tape.cuda.memory_info()``)."""


class ShapeError(TapeError, ValueError):
    """Shapes that do not fit an op (broadcasting, matmul, reshape...)."""


class IndexOutOfRangeError(ShapeError, IndexError):
    """An index that does not fit a tensor's shape."""


class DTypeError(TapeError, TypeError):
    """A dtype an op cannot take (strings, objects, integers where floats are needed)."""


class GradientError(TapeError):
    """A gradient that cannot be computed, or (under detect_anomaly) is not finite."""


class TraceError(TapeError):
    """Something that cannot be baked into a traced graph."""


class DistributedError(TapeError):
    """The ranks of a data-parallel run cannot go on together (``tape.distribute``): one
    has died or stopped taking part in the collectives."""


class NoValue:
    """A symbol with no value (a KerasTensor, a placeholder, a Session's symbolic tensor):
    ops, NumPy and Python reads on it call ``_no_value()``, which raises an error saying what
    to do instead."""

    __slots__ = ()

    def _no_value(self):
        raise NotImplementedError

    def _read(self, *args, **kwargs):
        self._no_value()

    __array__ = __bool__ = __float__ = __int__ = __len__ = __iter__ = __getitem__ = _read
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = _read
    __rmatmul__ = __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _read


def user_line(skip_package: bool = True, frame=None) -> str:
    """Return ``'file:line: source'`` for the innermost frame outside the tape package, in
    the caller's stack or in the one ``frame`` heads (another thread's).

    Only called when an error is raised (or anomaly mode is on), so it costs nothing on
    the happy path.
    """
    frame = sys._getframe(1) if frame is None else frame
    while frame is not None and skip_package and _in_package(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno}" + (f": {source}" if source else "")


def user_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel, for a warning issued by the caller, that points
    at the innermost frame outside the tape package (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _in_package(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


# What an API entry point annotates: errors raised on purpose (their one argument the message).
# KeyError is left alone (its str() is the repr of its key), as are BaseExceptions.
_ANNOTATED = (TapeError, ValueError, TypeError, RuntimeError, IndexError, OSError)


def names_user_line(fn):
    """Decorate a Keras API entry point (``compile``, ``fit``, a layer's ``__init__``,
    ``add_weight``, ``load_model``...): an error it raises whose message does not name a line
    yet gets ``[at file:line: source]`` of the user's call, as op errors have. One place for
    every entry point; nested entry points annotate once (the outermost user frame).

    Example:
        >>> from tape.errors import names_user_line
        >>> @names_user_line
        ... def configure(units):
        ...     raise ValueError(f"units must be positive, received {units}")
        >>> try:
        ...     configure(-1)
        ... except ValueError as error:
        ...     print(str(error).split(" [at ")[0], "[at <doctest" in str(error))
        units must be positive, received -1 True
    """
    @functools.wraps(fn)
    def entry_point(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _ANNOTATED as error:
            if (len(error.args) == 1 and isinstance(error.args[0], str)
                    and " [at " not in error.args[0]):
                error.args = (f"{error.args[0]} [at {user_line()}]",)
            raise

    return entry_point


def _in_package(filename: str) -> bool:
    # tape/testing is a user-facing helper: frames there are not the user's line either.
    return filename.startswith(_PACKAGE_DIR) or filename.startswith("<frozen")


def describe(values) -> str:
    """Shapes and dtypes of op inputs, as ``(2, 3) float32, (4,) float32``."""
    parts = []
    for v in values:
        shape, dtype = getattr(v, "shape", None), getattr(v, "dtype", None)
        if shape is None:
            parts.append(f"{type(v).__name__} {v!r}")
        else:
            parts.append(f"{tuple(shape)} {dtype}")
    return ", ".join(parts)
