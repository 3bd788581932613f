"""``InputSpec``: what a layer accepts (rank, fixed sizes), checked by ``Layer.__call__``
against every input, with an error that names the layer and both shapes (Keras' InputSpec)."""

from __future__ import annotations

from ..errors import ShapeError, user_line


class InputSpec:
    """What a layer accepts: exact ``ndim`` or ``min_ndim``, and fixed sizes ``axes={axis: n}``.

    A layer sets ``self.input_spec`` (usually in ``build``); ``__call__`` then checks every
    later input against it, and names the layer, the expected and the received shape.

    Example:
        >>> from tape.layers import Dense, InputSpec
        >>> InputSpec(min_ndim=2, axes={-1: 4}).check((None, 4), Dense(1))  # passes: None
    """

    def __init__(self, ndim: int | None = None, min_ndim: int | None = None,
                 axes: dict | None = None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def check(self, shape: tuple, layer, index: int = 0) -> None:
        where = f"Input {index} of layer '{layer.name}' is incompatible with the layer:"
        if self.ndim is not None and len(shape) != self.ndim:
            raise ShapeError(f"{where} expected ndim={self.ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {shape} [at {user_line()}]")
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ShapeError(f"{where} expected min_ndim={self.min_ndim}, found "
                             f"ndim={len(shape)}. Full shape received: {shape} [at {user_line()}]")
        for axis, size in self.axes.items():
            if -len(shape) <= axis < len(shape) and shape[axis] not in (None, size):
                raise ShapeError(
                    f"{where} expected axis {axis} of the input shape to have value {size}, "
                    f"but received input with shape {shape} [at {user_line()}]")
