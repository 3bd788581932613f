"""The JAX oracle helpers: x64 on, float64 VJPs that agree with tape's."""

from __future__ import annotations

import numpy as np

import tape
from tape.testing.oracle import jax_vjp, require_jax


def test_require_jax_enables_x64():
    jax = require_jax()
    assert jax.numpy.asarray(1.0).dtype == np.float64


def test_jax_vjp_agrees_with_tape():
    jnp = require_jax().numpy
    rng = np.random.default_rng(0)
    x, w, v = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    dx, dw = jax_vjp(lambda x, w: jnp.tanh(x @ w), [x, w], v)
    assert dx.dtype == np.float64 and dw.shape == (3, 4)
    xt, wt = tape.tensor(x), tape.tensor(w)
    with tape.GradientTape() as g:
        g.watch([xt, wt])
        y = tape.tanh(xt @ wt)
    gx, gw = g.gradient(y, [xt, wt], output_gradients=tape.tensor(v))
    np.testing.assert_allclose(gx.numpy(), dx, rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), dw, rtol=1e-12)
