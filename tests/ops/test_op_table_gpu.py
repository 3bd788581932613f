"""The op-table sweep on the GPU: every row's forward and VJP, run on CuPy tensors (through
the generic xp forwards and, where an op has one, its kernel override), against the same
JAX oracle as on the CPU. Marked ``gpu``: skipped with the reason where no GPU is usable."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tape

from .op_rows import DROPOUT_KEY, ROWS, Row
from .philox_reference import keep_mask
from .test_op_table import (
    Static,
    _as_tuple,
    _close,
    _ids,
    _inputs,
    _jax_out_structs,
    _jax_vjp,
    _random_like,
    cases,
)

# CuPy's transcendental functions may differ from XLA's CPU ones in the last bits.
GPU_RTOL, GPU_ATOL = 1e-8, 1e-10


def _dropout_ref_on_gpu(x, rate):
    """Dropout with the GPU's mask: Philox4x32-10 (tests/ops/philox_reference.py, checked
    against Random123's published vectors), where the CPU uses NumPy's Philox4x64."""
    seed, stream = (int(k) for k in DROPOUT_KEY)
    keep = keep_mask(x.size, seed, stream, rate).reshape(x.shape)
    return jnp.where(keep, x / (1 - rate), 0.0)


def _gpu_ref(row: Row):
    """The oracle on the GPU: the row's own, but dropout's mask is the GPU's."""
    return _dropout_ref_on_gpu if row.name == "dropout" else row.ref


def _on_gpu(value):
    """Boolean masks and conditions become GPU tensors (they are tensor inputs); index
    arrays and other parameters stay as they are."""
    if isinstance(value, np.ndarray) and value.dtype == np.bool_:
        return tape.Tensor(value).to("gpu")
    return value


def _tape_vjp_on_gpu(row: Row, params, xs, vs):
    xs_t = [tape.Tensor(x).to("gpu") for x in xs]
    params = {k: _on_gpu(v) for k, v in params.items()}
    with tape.GradientTape() as g:
        g.watch(xs_t)
        outs = _as_tuple(row.fn(*xs_t, **params))
    grads = g.gradient(list(outs), xs_t, output_gradients=[tape.Tensor(v).to("gpu") for v in vs],
                       unconnected_gradients="zero")
    return outs, grads


@pytest.mark.gpu
@pytest.mark.parametrize("row", ROWS, ids=_ids)
@settings(max_examples=3)
@given(data=st.data())
def test_forward_and_vjp_on_the_gpu_match_jax(row, data):
    shapes, params, seed = data.draw(cases(row))
    xs, rng = _inputs(row, shapes, seed)
    vs = _random_like(rng, _jax_out_structs(row, params, xs))
    want_outs, want_grads = _jax_vjp(_gpu_ref(row), Static(params), tuple(xs), vs)
    outs, grads = _tape_vjp_on_gpu(row, params, xs, vs)
    expected_device = "cpu" if row.name == "to_device" else "gpu:0"  # that row moves to cpu
    for i, (got, want) in enumerate(zip(outs, want_outs)):
        assert got.device == expected_device, f"{row.name} output {i} is on {got.device}"
        _close(f"{row.name} output {i} (gpu)", got, want, GPU_RTOL, GPU_ATOL)
    for i, (got, want) in enumerate(zip(grads, want_grads)):
        _close(f"{row.name} gradient of input {i} (gpu)", got, want, GPU_RTOL, GPU_ATOL)
