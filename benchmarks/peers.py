"""The systems besides hand-written NumPy: import-guarded loaders (a peer that is not
installed becomes ``Unavailable`` with the reason) and one SGD training step per framework.

A workload writes its model once per framework as ``loss(params, *data)``, with ``params``
a dict of that framework's weights; ``train_trial`` turns it into a ``Trial`` whose step
computes the loss, its gradients, and ``params -= lr * gradients`` the way a user of that
framework would: tape's GradientTape + ``optimizers.SGD``, PyTorch's ``backward`` +
``torch.optim.SGD``, ``jax.jit`` over ``value_and_grad``, ``autograd.value_and_grad``,
MyGrad's ``backward``, TF's GradientTape + ``assign_sub`` (eager and in a ``tf.function``).
``read()`` gives each weight's change since the start, the thing the agreement check
compares (a wrong gradient shows there even when the loss agrees).
"""

from __future__ import annotations

import functools

from . import environment, floor
from .harness import Trial, Unavailable, to_numpy

BENCH_EXTRA = "`make bench` installs it (the bench extra)"


def _missing(name: str, e: ImportError, how: str = BENCH_EXTRA) -> Unavailable:
    return Unavailable(f"{name} not installed: {how}")


@functools.cache
def load_torch():
    try:
        import torch
    except ImportError as e:
        raise _missing("torch", e) from None
    torch.set_num_threads(environment.THREADS)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before torch's first parallel work
        pass
    return torch


@functools.cache
def load_jax():
    try:
        import jax
    except ImportError as e:
        raise _missing("jax", e) from None
    return jax


@functools.cache
def load_autograd():
    try:
        import autograd
    except ImportError as e:
        raise _missing("autograd", e) from None
    return autograd


@functools.cache
def load_mygrad():
    try:
        import mygrad
    except ImportError as e:
        raise _missing("mygrad", e) from None
    return mygrad


@functools.cache
def load_tensorflow():
    try:
        import tensorflow as tf
    except ImportError as e:
        raise _missing("tensorflow", e, "optional, `pip install tensorflow-cpu` (~270 MB)") \
            from None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(environment.THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised; the environment variables were set first
        pass
    return tf


def tape_trace():
    """``tape.trace``, or Unavailable until the trace issue lands."""
    import tape

    if not hasattr(tape, "trace"):
        raise Unavailable("tape.trace not available yet")
    return tape.trace


def _updates(params: dict, init: dict) -> dict:
    return floor.updates({name: to_numpy(value) for name, value in params.items()}, init)


def train_trial(framework: str, loss, init: dict, data: tuple, lr: float) -> Trial:
    """One SGD step of ``loss(params, *data)`` in ``framework`` (see the module doc)."""
    return _TRAINERS[framework](loss, init, data, lr)


def _tape(loss, init, data, lr, traced=False):
    import tape

    trace = tape_trace() if traced else None
    params = {name: tape.Variable(value.copy(), name=name) for name, value in init.items()}
    variables = list(params.values())
    optimizer = tape.optimizers.SGD(learning_rate=lr)
    tensors = tuple(tape.tensor(d) for d in data)

    def train_step(*batch):
        with tape.GradientTape() as g:
            value = loss(params, *batch)
        optimizer.apply_gradients(zip(g.gradient(value, variables), variables))
        return value

    step = trace(train_step) if traced else train_step
    return Trial(lambda: step(*tensors), lambda: _updates(params, init))


def _torch(loss, init, data, lr):
    torch = load_torch()
    params = {name: torch.tensor(value, requires_grad=True) for name, value in init.items()}
    optimizer = torch.optim.SGD(params.values(), lr=lr)
    tensors = tuple(torch.from_numpy(d) for d in data)

    def step():
        optimizer.zero_grad(set_to_none=True)
        value = loss(params, *tensors)
        value.backward()
        optimizer.step()
        return value

    return Trial(step, lambda: _updates(params, init))


def _jax(loss, init, data, lr):
    jax = load_jax()

    @jax.jit
    def update(params, *batch):
        value, grads = jax.value_and_grad(loss)(params, *batch)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), value

    state = {"params": {name: jax.device_put(value) for name, value in init.items()}}
    arrays = tuple(jax.device_put(d) for d in data)

    def step():
        state["params"], value = update(state["params"], *arrays)
        return jax.block_until_ready(value)  # dispatch is asynchronous

    return Trial(step, lambda: _updates(state["params"], init))


def _autograd(loss, init, data, lr):
    value_and_grad = load_autograd().value_and_grad(loss)
    params = {name: value.copy() for name, value in init.items()}

    def step():
        value, grads = value_and_grad(params, *data)
        for name, g in grads.items():
            params[name] -= lr * g
        return value

    return Trial(step, lambda: _updates(params, init))


def _mygrad(loss, init, data, lr):
    mg = load_mygrad()
    params = {name: mg.tensor(value.copy()) for name, value in init.items()}

    def step():
        value = loss(params, *data)
        value.backward()
        for p in params.values():
            p.data -= lr * p.grad
        return value

    return Trial(step, lambda: _updates(params, init))


def _tensorflow(loss, init, data, lr, function=False):
    tf = load_tensorflow()
    params = {name: tf.Variable(value) for name, value in init.items()}
    variables = list(params.values())
    tensors = tuple(tf.constant(d) for d in data)

    def train_step(*batch):
        with tf.GradientTape() as g:
            value = loss(params, *batch)
        for v, grad in zip(variables, g.gradient(value, variables)):
            v.assign_sub(lr * grad)
        return value

    step = tf.function(train_step) if function else train_step
    return Trial(lambda: step(*tensors), lambda: _updates(params, init))


_TRAINERS = {
    "tape": _tape,
    "tape traced": functools.partial(_tape, traced=True),
    "torch": _torch,
    "jax": _jax,
    "autograd": _autograd,
    "mygrad": _mygrad,
    "tf": _tensorflow,
    "tf.function": functools.partial(_tensorflow, function=True),
}


def torch_blas() -> str:
    """PyTorch brings its own BLAS (MKL on x86) and OpenMP; say which and how many threads."""
    try:
        torch = load_torch()
    except Unavailable:
        return ""
    info = torch.__config__.parallel_info().splitlines()
    mkl = next((line.strip() for line in info if "Math Kernel Library" in line), "")
    return f"torch: {mkl or 'BLAS unknown'}, {torch.get_num_threads()} threads"


# (table name, trainer above, the model family whose loss it runs)
TRAIN_SYSTEMS = (
    ("tape eager", "tape", "tape"),
    ("tape traced", "tape traced", "tape"),
    ("pytorch eager", "torch", "torch"),
    ("jax jit", "jax", "jax"),
    ("autograd", "autograd", "autograd"),
    ("mygrad", "mygrad", "mygrad"),
    ("tf eager", "tf", "tf"),
    ("tf.function", "tf.function", "tf"),
)


def train_systems(losses: dict, init: dict, data: tuple, lr: float) -> dict:
    """A factory per system for which the workload wrote a model: ``losses`` maps a family
    ("tape", "torch", "jax", "autograd", "mygrad", "tf") to a builder that loads the
    framework (``load_torch()``...) and returns ``loss(params, *data)``."""
    def factory(trainer, family):
        return lambda: train_trial(trainer, losses[family](), init, data, lr)

    return {name: factory(trainer, family) for name, trainer, family in TRAIN_SYSTEMS
            if family in losses}
