"""``keras.backend`` and ``keras.config``: the settings Keras code reads (float type,
epsilon, image layout, the backend's name) and ``clear_session``.

Example:
    >>> from tape.keras import backend
    >>> backend.backend(), backend.floatx(), backend.image_data_format()
    ('tape', 'float32', 'channels_last')
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from ..mixed_precision import dtype_policy, set_dtype_policy  # noqa: F401 - keras.config's
from ._reach import OutOfReachError, missing

_EPSILON = [1e-7]


def backend() -> str:
    """The backend's name: ``'tape'``."""
    return "tape"


def floatx() -> str:
    """The default float type: ``'float32'`` (Python floats become float32 in tape)."""
    return "float32"


def set_floatx(value) -> None:
    """Only float32 is accepted: tape's default float type."""
    if np.dtype(value) != np.float32:
        raise OutOfReachError(f"keras.config.set_floatx({value!r}) is out of reach in tape: "
                              "the default float type is float32; pass dtype= to layers")


def epsilon() -> float:
    """The fuzz factor Keras code adds to denominators (1e-7)."""
    return _EPSILON[0]


def set_epsilon(value: float) -> None:
    """Set the value ``epsilon()`` returns."""
    _EPSILON[0] = float(value)


def image_data_format() -> str:
    """``'channels_last'``: tape's image layout, as Keras' default."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Only ``'channels_last'`` is accepted (tape's layout)."""
    if data_format != "channels_last":
        raise OutOfReachError("keras.config.set_image_data_format('channels_first') is out "
                              "of reach in tape: images are channels-last")


def clear_session() -> None:
    """Restart automatic layer names (``dense``, ``dense_1``...)."""
    _layers.reset_names()


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor of the functional API."""
    return isinstance(x, _layers.KerasTensor)


def int_shape(x) -> tuple:
    """The static shape of ``x`` as a tuple (Keras 2's name)."""
    return tuple(x.shape)


def standardize_dtype(dtype) -> str:
    """The NumPy name of ``dtype`` (``'float32'``...)."""
    return np.dtype(dtype).name


def enable_unsafe_deserialization() -> None:
    """Accepted for compatibility: tape never deserializes code, safe or not."""


def disable_interactive_logging() -> None:
    """Accepted for compatibility (pass ``verbose=0`` to fit for silence)."""


enable_interactive_logging = disable_interactive_logging


def __getattr__(name):
    raise missing("keras.backend", name)
