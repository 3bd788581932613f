"""What a layer call does with its inputs before ``call`` runs: their shapes for ``build``,
their float dtype (the layer's compute dtype), the device a first call builds on, and
whether any is symbolic (a functional-model ``KerasTensor``).

Example:
    >>> import tape
    >>> from tape.layers.call_inputs import cast_float, shape_for_build
    >>> x = tape.ones((2, 3))
    >>> cast_float(x, "float16").dtype.name, shape_for_build(x)
    ('float16', (2, 3))
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import backend, dtypes, ops
from ..nest import flatten
from ..tensor import Tensor
from .symbolic import KerasTensor


def shape_for_build(x):
    """``x``'s shape for build and the input-spec check. A tensor's array is asked, not the
    tensor: build runs once and makes state, which eager calls share, so a trace whose
    graph serves any batch size need not depend on the size seen here (a size the graph
    does use is read where it is used: see tape.trace.recorder)."""
    if isinstance(x, Tensor):
        return x._data.shape
    return tuple(x.shape) if hasattr(x, "shape") else None


def is_symbolic(x) -> bool:
    """True for a ``KerasTensor`` (a call that builds a functional model)."""
    if x is None or isinstance(x, Tensor | np.ndarray | np.generic | int | float | str):
        return False
    return isinstance(x, KerasTensor)


def cast_float(x, dtype):
    """A float tensor ``x`` in the float ``dtype``; anything else as it is."""
    if isinstance(x, Tensor) and dtypes.is_float(x.dtype) and x.dtype != dtype \
            and dtypes.is_float(dtype):
        return ops.cast(x, dtype)
    return x


def build_device(inputs):
    """Where a layer built by its first call makes its weights: the default device, or the
    GPU its inputs live on (as Keras places weights beside the computation), so that
    ``layer(gpu_tensor)`` needs no ``with tape.device(...)`` around it."""
    if backend.default_device() == backend.CPU:
        for x in flatten(inputs):
            if isinstance(x, Tensor) and x.device != backend.CPU:
                return backend.device(x.device)
    return contextlib.nullcontext()
