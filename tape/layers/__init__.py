"""Keras-style layers: the ``Layer`` base, core and merge layers, and symbolic ``Input`` for
the functional API; ``serialize``/``deserialize`` turn a layer into a config dict and back.

Example:
    >>> import tape
    >>> from tape import layers
    >>> x = layers.Input(shape=(4,))
    >>> y = layers.Dense(2, activation="softmax")(layers.Dropout(0.1)(x))
    >>> y.shape
    (None, 2)
"""

from __future__ import annotations

import contextvars

from .._config import check_serialized
from ..errors import names_user_line
from ._nest import reset_names
from .base import InputSpec, Layer
from .convolutional import Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D
from .core import Activation, Dense, Dropout, Flatten, Lambda, Reshape
from .input_layer import Input, InputLayer
from .merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Merge,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .symbolic import KerasHistory, KerasTensor, Node, nodes_in_order

__all__ = [
    "Activation", "Add", "Average", "Concatenate", "Dense", "Dropout", "Flatten", "Input",
    "InputLayer", "InputSpec", "KerasHistory", "KerasTensor", "Lambda", "Layer", "Maximum",
    "Merge", "Minimum", "Multiply", "Node", "Reshape", "Subtract", "add", "average",
    "concatenate", "deserialize", "get", "maximum", "minimum", "multiply", "nodes_in_order",
    "reset_names", "serialize", "subtract",
]

ALL_LAYERS = {cls.__name__: cls for cls in (
    Activation, Add, Average, Concatenate, Dense, Dropout, Flatten, InputLayer, Lambda, Maximum,
    Minimum, Multiply, Reshape, Subtract)}

# Sequence layers: normalization, embeddings, recurrent, attention.
from .attention import MultiHeadAttention  # noqa: E402
from .base import get_mask, set_mask  # noqa: E402
from .embedding import Embedding  # noqa: E402
from .normalization import BatchNormalization, LayerNormalization  # noqa: E402
from .recurrent import (  # noqa: E402
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    TimeDistributed,
)

_SEQUENCE_LAYERS = (BatchNormalization, Bidirectional, Embedding, GRU, GRUCell, LayerNormalization,
                    LSTM, LSTMCell, MultiHeadAttention, RNN, SimpleRNN, SimpleRNNCell,
                    TimeDistributed)
__all__ += [cls.__name__ for cls in _SEQUENCE_LAYERS] + ["get_mask", "set_mask"]
ALL_LAYERS.update({cls.__name__: cls for cls in _SEQUENCE_LAYERS})

# Convolution and pooling (Keras' short aliases too: MaxPool2D is MaxPooling2D...).
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, \
    AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
_CONV_AND_POOLING = (
    AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
    MaxPooling1D, MaxPooling2D)
__all__ += [cls.__name__ for cls in _CONV_AND_POOLING] + [
    "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "MaxPool1D", "MaxPool2D"]
ALL_LAYERS.update({cls.__name__: cls for cls in _CONV_AND_POOLING})

# Activation layers with arguments, shape layers, training-time noise and Rescaling.
from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: E402
from .noise import GaussianNoise, Rescaling, SpatialDropout1D, SpatialDropout2D  # noqa: E402
from .reshaping import (  # noqa: E402
    Cropping1D,
    Cropping2D,
    Identity,
    Permute,
    RepeatVector,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)

_ACTIVATION_SHAPE_AND_NOISE = (
    Cropping1D, Cropping2D, ELU, GaussianNoise, Identity, LeakyReLU, Permute, PReLU, ReLU,
    RepeatVector, Rescaling, Softmax, SpatialDropout1D, SpatialDropout2D, UpSampling1D,
    UpSampling2D, ZeroPadding1D, ZeroPadding2D)
__all__ += [cls.__name__ for cls in _ACTIVATION_SHAPE_AND_NOISE]
ALL_LAYERS.update({cls.__name__: cls for cls in _ACTIVATION_SHAPE_AND_NOISE})


def serialize(layer: Layer) -> dict:
    """``{'class_name': ..., 'config': layer.get_config()}``.

    Example:
        >>> from tape import layers
        >>> layers.serialize(layers.Dense(2, name="out"))["config"]["units"]
        2
    """
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


@names_user_line
def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """A new layer from ``serialize``'s dict; ``custom_objects`` maps names of your own
    Layer classes to the classes. They stay known while the layer's ``from_config`` runs,
    so a model, an RNN's cell or a wrapper's layer inside it finds them too (as Keras'
    custom object scope does).

    Example:
        >>> from tape import layers
        >>> layers.deserialize(layers.serialize(layers.Dense(2, name="out"))).name
        'out'
    """
    check_serialized(config, "layers.deserialize")
    custom = {**(_custom_objects.get() or {}), **(custom_objects or {})}
    classes = {**ALL_LAYERS, **custom}
    name = config.get("class_name")
    if name not in classes:
        raise ValueError(f"Unknown layer class {name!r}; known: {', '.join(sorted(classes))} "
                         "(pass your own classes in custom_objects)")
    token = _custom_objects.set(custom)
    try:
        return classes[name].from_config(dict(config.get("config", {})))
    finally:
        _custom_objects.reset(token)


# The custom_objects of the deserialize calls under way (the outermost's and nested ones').
_custom_objects: contextvars.ContextVar = contextvars.ContextVar("custom_objects",
                                                                default=None)


@names_user_line
def get(identifier, custom_objects: dict | None = None) -> Layer:
    """A layer from a Layer instance (returned as is) or a ``serialize`` dict."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    raise ValueError(f"Could not interpret layer identifier: {identifier!r}")
