"""``tape.keras``: the Keras 3 public namespace over tape's own objects (the same classes
and functions, no copies), so Keras code runs by renaming its imports:
``import keras`` -> ``from tape import keras``; ``from keras import layers, ops`` ->
``from tape.keras import layers, ops``.

A Keras feature tape does not have (``keras.applications``' downloaded weights,
``keras.datasets``' downloads...) raises OutOfReachError saying so.

Example:
    >>> import numpy as np
    >>> from tape import keras
    >>> from tape.keras import layers
    >>> model = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> model.predict(np.zeros((3, 4)), verbose=0).shape
    (3, 2)
"""

import sys as _sys

from .. import activations, initializers, losses, metrics, mixed_precision, optimizers, regularizers
from ..initializers import Initializer
from ..layers import Input, InputSpec, KerasTensor, Layer
from ..losses import Loss
from ..metrics import Metric
from ..mixed_precision import DTypePolicy
from ..models import Model, Sequential
from ..optimizers import Optimizer
from ..regularizers import Regularizer
from ..tensor import Variable
from . import backend, callbacks, layers, models, ops, preprocessing, random, saving, utils
from ._reach import OutOfReachError, missing

config = backend  # keras.config: floatx, epsilon, image_data_format, backend()...
dtype_policies = mixed_precision  # keras.dtype_policies: DTypePolicy, get, serialize...
__version__ = "3.0.0-tape"

# `from tape.keras.losses import X` needs the module in sys.modules under that name: these
# namespaces are tape's own modules, registered (not copied) under their Keras names.
for _name, _module in {"activations": activations, "initializers": initializers,
                       "losses": losses, "metrics": metrics, "optimizers": optimizers,
                       "optimizers.schedules": optimizers.schedules,
                       "regularizers": regularizers, "config": backend,
                       "mixed_precision": mixed_precision,
                       "dtype_policies": mixed_precision}.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)


def version() -> str:
    """The Keras API version this namespace follows."""
    return __version__


_OUT_OF_REACH = {
    "applications": "its models' weights are downloaded, and tape makes no network requests; "
                    "build the architecture with tape.keras.layers",
    "datasets": "its data sets are downloaded, and tape makes no network requests; load "
                "arrays from disk (scikit-learn ships small data sets)",
    "distribution": "use tape.distribute for data-parallel training",
    "export": "use tape.trace.export_onnx to export a traced graph",
    "quantizers": "quantization is not implemented",
    "visualization": "not implemented; see keras.utils.plot_model",
    "wrappers": "the scikit-learn wrappers are not implemented",
    "tree": "keras.tree is not mapped",
    "StatelessScope": "stateless scopes are not implemented",
}


def __getattr__(name):
    raise missing("keras", name, _OUT_OF_REACH)
