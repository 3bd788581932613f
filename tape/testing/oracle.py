"""The JAX oracle: an independent reference for values and VJPs, in float64 on the CPU.

JAX is optional. Where it is missing, ``require_jax`` skips the running pytest test (or
raises ImportError outside pytest) with the command that installs it.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np

__all__ = ["jax_vjp", "require_jax"]

_MISSING = "jax is not installed: pip install 'tape[test]'"


def require_jax():
    """The ``jax`` module with ``jax_enable_x64`` on; skips the pytest test without JAX.

    Imported lazily; defaults ``JAX_PLATFORMS`` to ``cpu`` (the oracle is a CPU reference,
    also on a GPU machine) unless that is already set.

    Raises:
        ImportError: JAX is missing and pytest is not running (under pytest: a skip).

    Example:
        >>> from tape.testing.oracle import require_jax
        >>> jax = require_jax()
        >>> jax.numpy.ones(2).dtype
        dtype('float64')
    """
    if "jax" not in sys.modules:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        jax = importlib.import_module("jax")
    except ImportError as e:
        if "pytest" in sys.modules:
            import pytest

            pytest.skip(_MISSING, allow_module_level=True)
        raise ImportError(_MISSING) from e
    jax.config.update("jax_enable_x64", True)
    return jax


def jax_vjp(fn_jax, args, v) -> tuple:
    """Float64 NumPy gradients of ``<v, fn_jax(*args)>`` with respect to each of ``args``.

    Args:
        fn_jax: A function of JAX arrays (written with ``jax.numpy``).
        args: The point: arrays, tensors or lists, converted to float64.
        v: The upstream gradient, the shape of ``fn_jax``'s output.

    Returns:
        A tuple of float64 NumPy arrays, one per argument.

    Example:
        >>> import numpy as np
        >>> from tape.testing.oracle import jax_vjp
        >>> (dx,) = jax_vjp(lambda x: x ** 2, [np.array([1.0, 2.0])], np.ones(2))
        >>> dx.tolist()
        [2.0, 4.0]
    """
    jax = require_jax()
    jnp = jax.numpy
    primals = [jnp.asarray(np.asarray(a, dtype=np.float64)) for a in args]
    out, vjp = jax.vjp(fn_jax, *primals)
    cotangent = jnp.asarray(np.asarray(v, dtype=np.float64), dtype=out.dtype).reshape(out.shape)
    return tuple(np.asarray(g, dtype=np.float64) for g in vjp(cotangent))
