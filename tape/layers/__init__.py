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

from .. import _config, activations
from .._config import check_serialized
from ..errors import names_user_line
from ._nest import reset_names, serialize_config
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
from .embedding import Embedding  # noqa: E402
from .masks import get_mask, set_mask  # noqa: E402
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
    """``{'class_name': ..., 'config': layer.get_config()}`` (and ``registered_name`` for a
    class registered with ``tape.keras.saving.register_keras_serializable``). Layers and
    other objects that a ``get_config`` returns inside its dict are serialized too, and a
    registered or custom layer gets them back as objects in ``from_config``.

    Example:
        >>> from tape import layers
        >>> layers.serialize(layers.Dense(2, name="out"))["config"]["units"]
        2
    """
    out = {"class_name": type(layer).__name__, "config": serialize_config(layer.get_config())}
    registered = _config.registered_name(type(layer))
    if registered is not None:
        out["registered_name"] = registered
    return out


@names_user_line
def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """A new layer from ``serialize``'s dict; ``custom_objects`` maps names of your own
    Layer classes to the classes. They stay known while the layer's ``from_config`` runs,
    so a model, an RNN's cell or a wrapper's layer inside it finds them too (as Keras'
    custom object scope does), and so do classes registered with
    ``tape.keras.saving.register_keras_serializable``.

    Example:
        >>> from tape import layers
        >>> layers.deserialize(layers.serialize(layers.Dense(2, name="out"))).name
        'out'
    """
    if isinstance(config, Layer):  # already an object (a custom config's nested layer)
        return config
    check_serialized(config, "layers.deserialize")
    name = config.get("class_name")
    with _config.custom_object_scope(custom_objects):
        custom = _config.lookup(name, config.get("registered_name"))
        cls = custom if isinstance(custom, type) else ALL_LAYERS.get(name)
        if cls is None:
            known = sorted({*ALL_LAYERS, *_config.custom_objects()})
            raise ValueError(f"Unknown layer class {name!r}; known: {', '.join(known)} "
                             "(pass your own classes in custom_objects)")
        inner = dict(config.get("config", {}))
        if custom is not None:  # your own class gets the objects its get_config returned
            inner = {k: _deserialize_nested(v) for k, v in inner.items()}
        return cls.from_config(inner)


def _deserialize_nested(value):
    """A layer (or other object) that ``serialize_config`` wrote inside a config, as an
    object again; other values unchanged."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] == "function":
            return activations.function_from_config(value)
        found = _config.lookup(value["class_name"], value.get("registered_name"))
        if found is not None or value["class_name"] in ALL_LAYERS:
            return deserialize(value)
    return value


@names_user_line
def get(identifier, custom_objects: dict | None = None) -> Layer:
    """A layer from a Layer instance (returned as is) or a ``serialize`` dict."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    raise ValueError(f"Could not interpret layer identifier: {identifier!r}")
