"""``Input`` and ``InputLayer``: where a functional model's graph of ``KerasTensor`` s
starts (the symbolic tensors themselves are in ``symbolic``).

Example:
    >>> from tape.layers import Input
    >>> Input(shape=(4,), name="features").shape
    (None, 4)
"""

from __future__ import annotations

from ._nest import is_shape
from .base import Layer
from .symbolic import KerasHistory, KerasTensor, Node


class InputLayer(Layer):
    """The layer behind ``Input``: it holds one KerasTensor, ``output``, and passes data through.

    Args:
        shape: Shape of one example, without the batch (None for unknown sizes).
        batch_size: Fixed batch size, or None.
        dtype: Dtype of the input (float32 by default; int for token ids).
        batch_shape: The full shape, batch included, instead of ``shape``/``batch_size``.
        name: The layer's (and the tensor's) name; ``input_layer``, ``input_layer_1``...

    Example:
        >>> from tape.layers import InputLayer
        >>> InputLayer(shape=(8,), dtype="int32").output.shape
        (None, 8)
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError(f"InputLayer '{self.name}': pass shape= (or batch_shape=)")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size, *shape)
        if not is_shape(batch_shape) or any(d is not None and d < 0 for d in batch_shape):
            raise ValueError(f"InputLayer '{self.name}': invalid shape. Received: "
                             f"batch_shape={batch_shape!r}")
        self.batch_shape = tuple(batch_shape)
        self.built = True
        output = KerasTensor(self.batch_shape, self.dtype, self.name,
                                  KerasHistory(self, 0, 0))
        self._inbound_nodes.append(Node(self, None, (), {}, [output], output))
        self._input_shape = self._output_shape = self.batch_shape

    is_input_layer = True  # its Node starts a graph (no parents)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "batch_shape": self.batch_shape}


def Input(shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None):  # noqa: N802
    """A symbolic input for the functional API: a KerasTensor of shape ``(batch_size, *shape)``.

    Example:
        >>> from tape.layers import Input
        >>> x = Input(shape=(28, 28), name="image")
        >>> x.shape, str(x.dtype), x.name
        ((None, 28, 28), 'float32', 'image')
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                      name=name).output
