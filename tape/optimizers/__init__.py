"""Optimizers (Keras 3 names, defaults and update rules) and ``get`` to resolve them.

Example:
    >>> import tape
    >>> from tape import optimizers
    >>> x = tape.Variable([3.0, -2.0], name="x")
    >>> opt = optimizers.get("adam")
    >>> opt.learning_rate = 0.1
    >>> for _ in range(200):
    ...     _ = opt.minimize(lambda: tape.sum(x * x), [x])
    >>> bool(tape.max(tape.abs(x)) < 0.05)
    True
"""

from __future__ import annotations

from .._config import check_serialized
from ..errors import names_user_line
from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import Optimizer
from .lion import Lion
from .loss_scale import LossScaleOptimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
            "nadam": Nadam, "adamax": Adamax, "adadelta": Adadelta, "lion": Lion}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``, the form ``deserialize`` and ``get`` read."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


_WRAPPERS = {"lossscaleoptimizer": LossScaleOptimizer}  # by deserialize only: they wrap one


@names_user_line
def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """A new optimizer from ``serialize``'s output (custom classes via ``custom_objects``)."""
    check_serialized(config, "optimizers.deserialize")
    known = {cls.__name__.lower(): cls for cls in _BY_NAME.values()}
    known.update({name.lower(): cls for name, cls in (custom_objects or {}).items()})
    name = str(config.get("class_name", "")).lower()
    if name in _WRAPPERS:  # the wrapped optimizer first
        inner = dict(config.get("config", {}))
        inner["inner_optimizer"] = deserialize(inner.get("inner_optimizer"), custom_objects)
        return _WRAPPERS[name].from_config(inner, custom_objects)
    if name not in known:
        raise ValueError(f"Unknown optimizer {config.get('class_name')!r}; known: "
                         f"{sorted(_BY_NAME)} (pass others in `custom_objects`)")
    return known[name].from_config(config.get("config", {}), custom_objects)


@names_user_line
def get(identifier) -> Optimizer:
    """An optimizer from a name (``'adam'``, case-insensitive, Keras defaults), a
    ``serialize`` dict, or an Optimizer instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}; valid names: "
                             f"{', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} (use a name "
                     f"among {', '.join(sorted(_BY_NAME))}, a config dict or an Optimizer)")


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Adamax",
           "Adadelta", "Lion", "LossScaleOptimizer", "schedules", "get", "serialize", "deserialize"]
