"""Shared pieces of the kernel tests: the emulated runtime, drawn device properties, and the
tolerance of a kernel result against its op's NumPy forward, per dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from tape.kernels import DeviceProps

from .emulator import EmuRuntime, gxx

if gxx() is None:  # pragma: no cover - every CI machine has g++
    pytest.skip("no C++ compiler (g++) to build the emulated kernels", allow_module_level=True)

DTYPES = ("float32", "float64", "float16")
# How far a kernel result may be from the op's forward on the same inputs: float32 and
# float64 against the same-dtype NumPy forward; float16 (stored as float16, computed in
# float32 by the kernel) against the float64 forward of the same float16 inputs.
TOLERANCE = {"float32": (2e-5, 2e-6), "float64": (1e-12, 1e-13), "float16": (4e-3, 2e-3)}


@st.composite
def device_props(draw):
    """Small devices, so grids are small and the grid-stride loops really loop."""
    block = draw(st.sampled_from([32, 64, 128]))
    return DeviceProps(draw(st.integers(1, 3)), block,
                       draw(st.sampled_from([block, 2 * block, 4 * block])))


def runtime(draw) -> EmuRuntime:
    return EmuRuntime(draw(device_props()))


def reference(forward, dtype, *arrays, **params):
    """The op's NumPy forward: in ``dtype``, or in float64 for float16 (see TOLERANCE)."""
    ref_dtype = np.float64 if dtype == "float16" else dtype
    out = forward(np, *[a.astype(ref_dtype) for a in arrays], **params)
    return np.asarray(out, dtype=np.float64)


def assert_close(got, want, dtype, what):
    rtol, atol = TOLERANCE[dtype]
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, err_msg=what)
