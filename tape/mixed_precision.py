"""Keras' dtype policies: what a layer computes in and what its weights are stored in.

``mixed_bfloat16`` and ``mixed_float16`` compute in the low dtype and keep float32 variables
(read through ``tape.tensor.AutocastVariable``, cast on read inside the layer's call); a
plain dtype name (``float32``, ``float64``, ``bfloat16``...) uses it for both. Layers take
their policy from ``dtype=`` or, by default, from the global policy when they are made.
``LossScaleOptimizer`` (tape.optimizers) keeps float16 gradients from underflowing.

Example:
    >>> import tape
    >>> from tape import mixed_precision
    >>> mixed_precision.set_global_policy("mixed_bfloat16")
    >>> layer = tape.layers.Dense(2)
    >>> y = layer(tape.ones((1, 3)))
    >>> layer.compute_dtype, layer.variable_dtype, y.dtype.name, layer.kernel.dtype.name
    ('bfloat16', 'float32', 'bfloat16', 'float32')
    >>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

from . import _config, dtypes
from .optimizers.loss_scale import LossScaleOptimizer  # noqa: F401 - Keras' place for it

MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
PLAIN = ("float16", "bfloat16", "float32", "float64")  # names of policies of one float dtype


class DTypePolicy:
    """A named pair of dtypes (Keras' ``DTypePolicy``; ``Policy`` is the same class).

    Args:
        name: ``'mixed_float16'``, ``'mixed_bfloat16'`` (compute in the low dtype, variables
            in float32) or a dtype name used for both (``'float32'``, ``'bfloat16'``,
            ``'int32'``...). None: the global policy's name.

    Example:
        >>> p = DTypePolicy("mixed_float16")
        >>> p.name, p.compute_dtype, p.variable_dtype
        ('mixed_float16', 'float16', 'float32')
    """

    def __init__(self, name: str | None = None):
        if name is None:
            name = global_policy().name
        if not isinstance(name, str):
            raise TypeError(f"DTypePolicy takes a policy name (a string); received {name!r}")
        if "bfloat16" in name:
            dtypes.bfloat16()  # a clear error when ml_dtypes is missing
        if name in MIXED:
            compute, variable = MIXED[name], "float32"
        else:
            try:
                compute = variable = dtypes.as_dtype(name).name
            except (TypeError, ValueError) as e:  # DTypeError is a TypeError
                raise ValueError(f"Unknown dtype policy {name!r}; known policies: "
                                 f"{', '.join([*MIXED, *PLAIN])}, or any dtype name") from e
        self._name, self._compute_dtype, self._variable_dtype = name, compute, variable
        # what ops read AutocastVariables in, inside a layer's call (None: as stored)
        self.autocast_dtype = dtypes.as_dtype(compute) if compute != variable else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in (and cast their float inputs to)."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layers' weights."""
        return self._variable_dtype

    @property
    def is_mixed(self) -> bool:
        """Computes in another dtype than its variables are stored in."""
        return self._compute_dtype != self._variable_dtype

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> DTypePolicy:
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'


Policy = DTypePolicy  # tf.keras.mixed_precision.Policy
_global = DTypePolicy("float32")


def get(identifier) -> DTypePolicy:
    """A policy from a name, a policy, a config dict (``{'name': ...}`` or serialize's
    ``{'class_name': 'DTypePolicy', 'config': {'name': ...}}``), a NumPy dtype, or None (the
    global policy).

    Example:
        >>> get("mixed_bfloat16").compute_dtype, get(None).name
        ('bfloat16', 'float32')
    """
    if identifier is None:
        return _global
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        if "config" in identifier:
            _config.check_serialized(identifier, "a dtype policy config")
            identifier = identifier["config"]
        if not isinstance(identifier.get("name"), str):
            raise TypeError(f"a dtype policy config needs a 'name'; received {identifier!r}")
        return DTypePolicy(identifier["name"])
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    return DTypePolicy(dtypes.as_dtype(identifier).name)  # np.float32, float...


def set_global_policy(policy) -> None:
    """The policy of layers made from now on without ``dtype=`` (None: back to float32).

    Example:
        >>> set_global_policy("mixed_float16"); global_policy().name
        'mixed_float16'
        >>> set_global_policy(None); global_policy().name
        'float32'
    """
    global _global
    policy = DTypePolicy("float32") if policy is None else get(policy)
    if not dtypes.is_float(policy.compute_dtype):
        raise ValueError(f"set_global_policy: the global policy must be a float policy; "
                         f"received {policy.name!r}")
    _global = policy


def global_policy() -> DTypePolicy:
    """The policy layers get when they are made without ``dtype=`` (Keras' name)."""
    return _global


set_dtype_policy, dtype_policy = set_global_policy, global_policy  # keras.config's names


def serialize(policy: DTypePolicy) -> dict:
    """``{'class_name': 'DTypePolicy', 'config': {'name': ...}}``, which ``get`` reads."""
    return {"class_name": "DTypePolicy", "config": policy.get_config()}


deserialize = get


def is_mixed_float16(policy) -> bool:
    """Whether ``policy`` computes in float16 with float32 weights: the case that needs loss
    scaling (``compile`` then wraps the optimizer in a ``LossScaleOptimizer``, as Keras)."""
    policy = get(policy)
    return policy.is_mixed and policy.compute_dtype == "float16"
