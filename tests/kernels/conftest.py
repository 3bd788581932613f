"""Shared pieces of the kernel tests: the emulated runtime, drawn device properties, and the
tolerance of a kernel result against its op's NumPy forward, per dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import tape
from tape import dtypes
from tape.kernels import DeviceProps

from .emulator import EmuRuntime, gxx

if gxx() is None:  # pragma: no cover - every CI machine has g++
    pytest.skip("no C++ compiler (g++) to build the emulated kernels", allow_module_level=True)

dtypes.bfloat16()  # registers ml_dtypes' bfloat16 with NumPy: np.dtype("bfloat16") works
DTYPES = ("float32", "float64", "float16", "bfloat16")
LOW = ("float16", "bfloat16")  # stored in 16 bits, computed in float32 by the kernels
# How far a kernel result may be from the op's forward on the same inputs: float32 and
# float64 against the same-dtype NumPy forward; float16 and bfloat16 (stored in 16 bits,
# computed in float32 by the kernel) against the float64 forward of the same 16-bit inputs:
# a few roundings of the stored values (float16 keeps 11 significant bits, bfloat16 8).
TOLERANCE = {"float32": (2e-5, 2e-6), "float64": (1e-12, 1e-13), "float16": (4e-3, 2e-3),
             "bfloat16": (3.2e-2, 1.6e-2)}
# Relative error of one rounding to the dtype, with a margin (8 units of the last bit):
# for kernels whose only error is the final store.
STORE_RTOL = {"float32": 1e-6, "float64": 1e-6, "float16": 2e-3, "bfloat16": 1.6e-2}


@st.composite
def device_props(draw):
    """Small devices, so grids are small and the grid-stride loops really loop."""
    block = draw(st.sampled_from([32, 64, 128]))
    return DeviceProps(draw(st.integers(1, 3)), block,
                       draw(st.sampled_from([block, 2 * block, 4 * block])))


def runtime(draw) -> EmuRuntime:
    return EmuRuntime(draw(device_props()))


def reference(forward, dtype, *arrays, **params):
    """The op's NumPy forward: in ``dtype``, or in float64 for 16-bit floats (TOLERANCE)."""
    ref_dtype = reference_dtype(dtype)
    out = forward(np, *[a.astype(ref_dtype) for a in arrays], **params)
    return np.asarray(out, dtype=np.float64)


def reference_dtype(dtype):
    """float64 for the 16-bit floats (an oracle well above their precision), else dtype."""
    return np.float64 if dtype in LOW else dtype


def assert_close(got, want, dtype, what):
    rtol, atol = TOLERANCE[dtype]
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, err_msg=what)


def tape_gradient(fn, inputs, g, wrt, dtype):
    """The tape gradient (CPU, NumPy) of ``fn(*inputs)`` with upstream ``g``, in
    ``reference_dtype(dtype)``, with respect to ``inputs[wrt]``."""
    ref_dtype = reference_dtype(dtype)
    ts = [tape.Tensor(a.astype(ref_dtype)) for a in inputs]
    with tape.GradientTape() as t:
        t.watch(ts)
        out = fn(*ts)
    return t.gradient(out, ts[wrt], output_gradients=tape.Tensor(g.astype(ref_dtype))).numpy()
