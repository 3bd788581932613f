"""``keras.layers``: tape's layers (the same classes), with a clear error for the Keras
layers tape does not have.

Example:
    >>> from tape.keras import layers
    >>> from tape import layers as tape_layers
    >>> layers.Dense is tape_layers.Dense
    True
"""

from ..layers import *  # noqa: F403 - the same classes, re-exported
from ..layers import __all__ as _all
from ._reach import missing

__all__ = list(_all)

_PREPROCESSING = ("TextVectorization", "StringLookup", "IntegerLookup", "Normalization",
                  "Discretization", "CategoryEncoding", "Hashing", "Resizing", "CenterCrop",
                  "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                  "RandomContrast", "RandomCrop", "RandomBrightness")


def __getattr__(name):
    why = {n: "Keras' preprocessing layers are not in tape; preprocess the arrays with NumPy "
              "before fit" for n in _PREPROCESSING}
    raise missing("keras.layers", name, why)
