"""tape: eager reverse-mode autodiff on NumPy with a TensorFlow/Keras-shaped API.

Example:
    >>> import tape
    >>> x = tape.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> w = tape.Variable(tape.random.normal((2, 3), seed=0))
    >>> with tape.GradientTape() as g:
    ...     y = tape.sum(tape.tanh(x @ w) ** 2)
    >>> g.gradient(y, w).shape
    (2, 3)
"""

from . import (
    activations,
    callbacks,
    config,
    cuda,
    data,
    distribute,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    nn,
    ops,
    optimizers,
    regularizers,
    saving,
    training,
)
from .autodiff import GradientTape, custom_gradient, detect_anomaly, stop_gradient
from .backend import device
from .errors import (
    DeviceError,
    DeviceUnavailableError,
    DistributedError,
    DTypeError,
    GradientError,
    IndexOutOfRangeError,
    OutOfMemoryError,
    ShapeError,
    TapeError,
    TraceError,
)
from .ops import *  # noqa: F403 - the NumPy-named functions (tape.sum, tape.exp...)
from .ops import __all__ as _ops_all
from .ops import random
from .tensor import Tensor, Variable
from .trace import Session, TensorSpec, placeholder, run_eagerly, trace
from .transforms import grad, hessian, jacobian, value_and_grad

__version__ = "0.1.0"
__all__ = [
    "GradientTape", "Tensor", "Variable", "custom_gradient", "detect_anomaly", "grad",
    "hessian", "jacobian", "stop_gradient", "value_and_grad", "activations", "initializers",
    "layers", "losses", "metrics", "mixed_precision", "models", "callbacks", "data",
    "distribute", "saving", "training", "nn", "ops",
    "optimizers", "random", "regularizers", "TapeError",
    "DeviceError", "DeviceUnavailableError", "DistributedError", "OutOfMemoryError", "cuda",
    "config", "device", "DTypeError", "GradientError", "IndexOutOfRangeError", "ShapeError",
    "TraceError", "Session", "TensorSpec", "placeholder", "run_eagerly", "trace", *_ops_all,
]


def __getattr__(name: str):
    # Loaded on first use: tape.testing is built on the public API above (it imports tape),
    # and tape.keras / tape.tf are namespaces over it (``from tape import keras`` imports
    # them too).
    if name in ("testing", "keras", "tf"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tape' has no attribute {name!r}")
