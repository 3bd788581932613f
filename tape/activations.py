"""Keras activations by name: ``get('relu')`` returns the function, ``serialize`` the name back.

Every activation is a named function of one tensor built from tape ops, so it is
differentiable to any order. ``softmax`` and ``sigmoid`` go through
``tape.logits.softmax_with_logits``/``sigmoid_with_logits``: the output then remembers its
logits, and a crossentropy loss on it is computed fused and stable (as Keras' TensorFlow
backend does with ``_keras_logits``).
"""

from __future__ import annotations

import sys

from . import _config, logits, nn, ops
from .errors import names_user_line

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def linear(x):
    """The identity (``activation=None`` means this)."""
    return ops.convert(x)


def relu(x):
    """``max(x, 0)``."""
    return nn.relu(x)


def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return nn.leaky_relu(x, negative_slope)


def elu(x, alpha: float = 1.0):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    return nn.elu(x, alpha)


def selu(x):
    """Scaled ELU with the self-normalizing constants of Klambauer et al. (2017)."""
    return ops.multiply(nn.elu(x, _SELU_ALPHA), _SELU_SCALE)


def gelu(x, approximate: bool = False):
    """Gaussian error linear unit (exact erf form unless ``approximate``)."""
    return nn.gelu(x, approximate)


def silu(x):
    """``x * sigmoid(x)``; ``'swish'`` is the same function."""
    return nn.silu(x)


def mish(x):
    """``x * tanh(softplus(x))``, one op (one GPU kernel)."""
    return nn.mish(x)


def softplus(x):
    """``log(1 + exp(x))``, computed stably."""
    return nn.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = ops.convert(x)
    return ops.divide(x, ops.add(ops.abs(x), 1))


def tanh(x):
    """Hyperbolic tangent."""
    return nn.tanh(x)


def exponential(x):
    """``exp(x)``."""
    return ops.exp(x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``; binary crossentropy of the result can use ``x`` directly."""
    return logits.sigmoid_with_logits(x)


def softmax(x, axis: int = -1):
    """Softmax along ``axis``; categorical crossentropy of the result can use ``x`` directly.

    Example:
        >>> import tape
        >>> from tape import activations
        >>> activations.get("softmax")(tape.tensor([[0.0, 0.0]])).numpy().tolist()
        [[0.5, 0.5]]
    """
    return logits.softmax_with_logits(x, axis=axis)


ALL = {
    "linear": linear, "relu": relu, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "gelu": gelu, "silu": silu, "swish": silu, "mish": mish, "softplus": softplus,
    "softsign": softsign, "tanh": tanh, "exponential": exponential, "sigmoid": sigmoid,
    "softmax": softmax,
}


@names_user_line
def get(identifier):
    """Resolve an activation: a name from ``ALL``, ``None`` (linear) or any callable.

    Example:
        >>> import tape
        >>> from tape import activations
        >>> activations.get("relu")(tape.tensor([-1.0, 2.0])).numpy().tolist()
        [0.0, 2.0]
        >>> activations.get(None) is activations.linear
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        found = ALL.get(identifier) or ALL.get(identifier.lower()) or _config.lookup(identifier)
        if found is None:
            raise ValueError(f"Unknown activation {identifier!r}; valid names: "
                             f"{', '.join(sorted(ALL))}, or None, or a callable")
        return found
    if isinstance(identifier, dict) and isinstance(identifier.get("config"), str):
        return function_from_config(identifier)  # {'class_name': 'function', 'config': name}
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation identifier: {identifier!r}; expected "
                     f"one of {', '.join(sorted(ALL))}, None or a callable")


def serialize(activation):
    """The name of a built-in activation (for ``get_config``); other callables unchanged.

    Example:
        >>> from tape import activations
        >>> activations.serialize(activations.get("swish"))
        'silu'
    """
    for name, fn in ALL.items():
        if fn is activation:
            return name
    return function_config(activation)


def function_config(fn):
    """Keras 3's config of a named function of your own (an activation, a loss):
    ``{'module', 'class_name': 'function', 'config': name, 'registered_name'}``; anything
    else (a lambda, a callable object) is returned unchanged.

    Example:
        >>> from tape import activations
        >>> def mish(x): return x
        >>> activations.function_config(mish)["config"]
        'mish'
    """
    name = getattr(fn, "__name__", None)
    if not callable(fn) or isinstance(fn, type) or not name or name == "<lambda>":
        return fn
    return {"module": getattr(fn, "__module__", None), "class_name": "function", "config": name,
            "registered_name": _config.registered_name(fn) or name}


def function_from_config(config: dict):
    """The function ``function_config`` described: a built-in activation, a registered or
    custom object (``custom_objects``, ``custom_object_scope``), or the function of that name
    in its module when that module is already imported (no file ever makes tape import one).
    """
    name, registered = config["config"], config.get("registered_name")
    found = ALL.get(name) or _config.lookup(name, registered)
    module = sys.modules.get(config.get("module") or "")
    if found is None and module is not None:
        found = getattr(module, name, None)
    if found is None:
        raise ValueError(f"Unknown function {registered or name!r} (module "
                         f"{config.get('module')!r}): pass it in custom_objects, or register "
                         "it with tape.keras.saving.register_keras_serializable()")
    return found
