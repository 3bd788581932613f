"""The GPU eager path of the optimizers: one fused kernel launch updates every variable of a
dtype (kernels/optim.cu), in place of one ``update_step`` per variable (several CuPy
launches each). Traced steps and CPU variables keep the generic path, which is the
reference the kernels are tested against (tests/kernels/test_optim_kernels.py).
"""

from __future__ import annotations

import numpy as np

from .. import _state, backend
from ..tensor import Tensor

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fused_apply(optimizer, grads, variables, lr_by_dtype) -> bool:
    """Apply weight decay and the update rule of ``optimizer`` to ``variables`` with fused
    kernels; False (nothing done) where the generic path must run instead: while tracing,
    on the CPU, for dtypes without a kernel, or an optimizer without ``_fused_update``.

    ``optimizer._kernel_runtime`` (tests only) runs the kernels on another runtime, e.g.
    the CPU emulation, with NumPy variables."""
    runtime = getattr(optimizer, "_kernel_runtime", None)
    update = getattr(optimizer, "_fused_update", None)
    if update is None or _state.tracing.get():
        return False
    if runtime is None and not backend.is_gpu_array(variables[0]._data):
        return False
    if any(v.dtype not in _KERNEL_DTYPES for v in variables) or not optimizer._fusable():
        return False
    groups: dict = {}
    for g, v in zip(grads, variables):
        groups.setdefault(v.dtype, []).append((g, v))
    for dtype, pairs in groups.items():
        group_grads = [g._data for g, _ in pairs]
        group_vars = [v for _, v in pairs]
        decays = [optimizer.weight_decay if optimizer.weight_decay
                  and optimizer._use_weight_decay(v) else 0.0 for v in group_vars]
        update(group_grads, group_vars, lr_by_dtype[dtype]._data, decays, runtime)
    return True


def replace(variable, array) -> None:
    """``variable.assign`` of a fresh kernel output (no copy, shape checked, version bumped)."""
    variable.assign(Tensor._wrap(array))
