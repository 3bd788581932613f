"""Optimizer: the Keras 3 template (``build`` + ``update_step``) and the shared ``apply``.

``apply`` does the bookkeeping every optimizer shares (lazy build, dropping missing
gradients, clipping, decoupled weight decay, the iteration counter); a subclass only
creates its slot variables in ``build`` and states its rule once in ``update_step``.
Applying gradients is kept apart from computing them (DESIGN.md, "Scaling out"): any
code that produced a list of gradients (a tape, an all-reduce) can hand it to ``apply``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from .. import _state, backend, ops
from ..autodiff import GradientTape
from ..errors import DeviceError, ShapeError, user_line
from ..tensor import Tensor, Variable
from . import schedules
from .fused import fused_apply
from .schedules import LearningRateSchedule


class Optimizer:
    """Base class of the optimizers: subclasses fill ``build`` and ``update_step``.

    Args:
        learning_rate: A float, a ``LearningRateSchedule`` (called with ``iterations``
            before each update), or a zero-argument callable returning the rate.
        weight_decay: If set, decoupled weight decay: before the update, every variable
            (except those excluded with ``exclude_from_weight_decay``) becomes
            ``v - v * weight_decay * learning_rate``.
        clipnorm: If set, each gradient is scaled so its L2 norm is at most this value:
            ``g * clipnorm / max(norm(g), clipnorm)``.
        clipvalue: If set, each gradient is clipped elementwise to ``[-clipvalue, clipvalue]``.
        global_clipnorm: If set, all gradients are scaled together so that the norm of
            their concatenation is at most this value (NaN for all when that norm is not
            finite, as Keras). At most one of the three clipping arguments may be set.
        name: Prefix of the optimizer's variable names (``"adam/iteration"``).

    State lives in non-trainable Variables, listed in ``variables`` in creation order:
    ``{name}/iteration`` (int64), ``{name}/learning_rate`` (float32; absent when the
    rate is a schedule or a callable), then the slots that ``build`` creates, each named
    ``{name}/{slot}/{variable name with '/' replaced by '_'}`` (a ``_1``, ``_2``...
    suffix keeps names unique).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0, 2.0], name="w")
        >>> opt = optimizers.SGD(learning_rate=0.5)
        >>> _ = opt.apply_gradients([(tape.tensor([1.0, 1.0]), w)])
        >>> w.numpy().tolist(), int(opt.iterations)
        ([0.5, 1.5], 1)
    """

    def __init__(
        self,
        learning_rate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        name = name if name is not None else _snake_case(type(self).__name__)
        if "/" in name:
            raise ValueError(f"Argument `name` cannot contain '/'. Received: name={name!r}")
        clip_args = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                     "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clip_args.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        for arg, value in clip_args.items():
            if value is not None and not value > 0:
                raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value}")
        if weight_decay is not None and not weight_decay >= 0:
            raise ValueError(
                f"Argument `weight_decay` must be >= 0. Received: weight_decay={weight_decay}"
            )
        self.name = name
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.built = False
        self._variables: list[Variable] = []
        self._names: set[str] = set()
        self._trainable_variables: list[Variable] = []
        self._index: dict[int, int] = {}  # id(model variable) -> position in build's list
        self._exclude_ids: set[int] = set()
        self._exclude_pattern = None
        self._warned_missing: set[tuple] = set()
        self._iterations = self.add_variable((), initializer="zeros", dtype=np.int64,
                                             name="iteration")
        self._learning_rate = None
        self._set_learning_rate(learning_rate)

    # ---- state --------------------------------------------------------------------------
    @property
    def iterations(self) -> Variable:
        """How many times ``apply`` has updated the variables (an int64 Variable)."""
        return self._iterations

    @property
    def variables(self) -> list[Variable]:
        """All optimizer state, in a stable order with unique names (see the class doc)."""
        return list(self._variables)

    @property
    def learning_rate(self) -> Tensor:
        """The rate the next update uses: the learning-rate Variable itself, or the
        schedule evaluated at ``iterations``. Setting a number assigns the Variable, so a
        traced step sees the change (ReduceLROnPlateau-style callbacks do this)."""
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate) -> None:
        self._set_learning_rate(learning_rate)

    def _set_learning_rate(self, learning_rate) -> None:
        current = self._learning_rate
        if isinstance(learning_rate, LearningRateSchedule) or (
            callable(learning_rate) and not isinstance(learning_rate, Tensor)
        ):
            if isinstance(current, Variable):  # the rate is no longer state
                self._variables.remove(current)
                self._names.discard(current.name)
            self._learning_rate = learning_rate
            return
        if current is not None and not isinstance(current, Variable):
            raise TypeError(
                f"This optimizer was created with a {type(current).__name__} as its "
                "`learning_rate`, hence its learning rate is not settable to a number. "
                "Create the optimizer with a float `learning_rate` to make it settable."
            )
        try:
            value = float(learning_rate)
        except (TypeError, ValueError):
            raise ValueError(
                "Argument `learning_rate` should be a float, a LearningRateSchedule or a "
                f"callable. Received: learning_rate={learning_rate!r}"
            ) from None
        if current is None:
            self._learning_rate = self.add_variable((), initializer=value, dtype=np.float32,
                                                    name="learning_rate")
        else:
            current.assign(value)

    def _current_learning_rate(self) -> Tensor:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return ops.convert(lr(self._iterations))
        if not isinstance(lr, Tensor):
            return ops.convert(lr())
        return lr

    def add_variable(self, shape, initializer="zeros", dtype=None, name: str | None = None,
                     device: str = "cpu") -> Variable:
        """Create and track a non-trainable state Variable named ``{self.name}/{name}``.

        ``initializer`` is ``"zeros"``, ``"ones"``, a number, or ``fn(shape, dtype)``.
        """
        dtype = np.dtype(dtype if dtype is not None else np.float32)
        if callable(initializer):
            with _state.init_scope():  # an initial value is state, never part of a trace
                value = np.asarray(initializer(shape, dtype), dtype=dtype)
        else:
            fill = {"zeros": 0, "ones": 1}.get(initializer, initializer)
            value = np.full(shape, fill, dtype=dtype)
        variable = Variable(value, trainable=False, name=self._unique_name(name or "var"))
        # State lives where its model variable lives, so that updates never mix devices.
        variable.move_to(device)
        self._variables.append(variable)
        return variable

    def add_variable_from_reference(self, reference_variable: Variable, name: str | None = None,
                                    initializer="zeros") -> Variable:
        """A slot shaped like ``reference_variable``, named ``{self.name}/{name}/{its name}``."""
        ref = str(reference_variable.name).replace("/", "_").replace(":", "_")
        return self.add_variable(reference_variable.shape, initializer, reference_variable.dtype,
                                 name=f"{name or 'var'}/{ref}", device=reference_variable.device)

    def add_optimizer_variables(self, var_list, names, initializer="zeros"):
        """One slot per variable for each of ``names`` (a str or a list), created variable
        by variable as Keras does; returns a list of slots, or a tuple of lists."""
        single = isinstance(names, str)
        names = [names] if single else list(names)
        slots = tuple([] for _ in names)
        for variable in var_list:
            for kind, slot_name in zip(slots, names):
                kind.append(self.add_variable_from_reference(variable, slot_name, initializer))
        return slots[0] if single else slots

    def _unique_name(self, name: str) -> str:
        base = candidate = f"{self.name}/{name}"
        n = 0
        while candidate in self._names:
            n += 1
            candidate = f"{base}_{n}"
        self._names.add(candidate)
        return candidate

    def _get_variable_index(self, variable) -> int:
        return self._index[id(variable)]

    # ---- the template -------------------------------------------------------------------
    def build(self, var_list) -> None:
        """Remember the variables to update; subclasses then create their slots.

        A subclass starts with ``if self.built: return`` and ``super().build(var_list)``.
        Optimizer state moves to the device of the variables.
        """
        var_list = list(var_list)
        devices = {v.device for v in var_list}
        if len(devices) > 1:
            raise ValueError(f"{self.name}: variables live on several devices {sorted(devices)}; "
                             "one optimizer updates variables on one device")
        device = devices.pop() if devices else "cpu"
        if device != "cpu":
            for state in self._variables:
                state.move_to(device)
        self._trainable_variables = var_list
        self._index = {id(v): i for i, v in enumerate(var_list)}
        self.built = True

    def to(self, device: str) -> Optimizer:
        """Move all optimizer state (iterations, learning rate, slots) to ``device`` in
        place; returns the optimizer. ``apply`` does this by itself when the variables it
        updates have moved (``layer.to('gpu')``)."""
        device = backend.parse_device(device)
        for state in self._variables:
            state.move_to(device)
        return self

    def _fusable(self) -> bool:
        """Whether ``_fused_update`` (where a subclass has one) covers this configuration."""
        return True

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        """Update one variable. ``gradient`` and ``learning_rate`` arrive already cast to the
        variable's dtype, and ``iterations`` still counts the updates before this one."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step()")

    def _backend_update_step(self, grads, variables, lr_by_dtype: dict) -> None:
        """``update_step`` for each variable (the generic path). A subclass with state that
        all variables share, updated once per step (Nadam's ``u_product``), updates it here
        before calling this, as Keras does."""
        for g, v in zip(grads, variables):
            self.update_step(g, v, lr_by_dtype[v.dtype])

    def apply_gradients(self, grads_and_vars) -> Variable:
        """``apply`` on ``(gradient, variable)`` pairs; returns ``iterations`` as Keras does."""
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads, trainable_variables=None) -> None:
        """Update ``trainable_variables`` (default: those ``build`` was given) from ``grads``.

        Steps, in order: build on first use; drop ``None`` gradients (all ``None`` raises
        ValueError naming the variables; some ``None`` warns once per set of names); clip
        (clipvalue, clipnorm or global_clipnorm); decoupled weight decay; ``update_step``
        per variable; ``iterations += 1``. Updates are not recorded by GradientTapes.
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{self.name}: when passing `grads` without `variables`, the optimizer "
                    "must already be built; call `optimizer.build(trainable_variables)` first"
                )
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
            if not self.built:
                self.build(variables)
            for v in variables:
                if id(v) not in self._index:
                    raise ValueError(
                        f"Unknown variable: {getattr(v, 'name', v)!r}. This optimizer can only "
                        "be called for the variables it was built with; create a new "
                        "optimizer for a new set of variables."
                    )
        if len(grads) != len(variables):
            raise ValueError(f"{self.name}: got {len(grads)} gradients for "
                             f"{len(variables)} variables")
        grads, variables = self._filter_empty_gradients(grads, variables)
        if variables[0].device != self._iterations.device:  # the model moved since build
            self.to(variables[0].device)
        with _state.without_tapes():  # updates are not differentiated (a trace's recorder
            # is not a tape: it still captures them)
            grads = [_as_gradient(g, v) for g, v in zip(grads, variables)]
            grads = self._clip_gradients(grads)
            lr = self._current_learning_rate()
            if lr.device != variables[0].device:  # a rate or schedule set since the build
                lr = lr.to(variables[0].device)
            lr_by_dtype = {}
            for v in variables:
                if v.dtype not in lr_by_dtype:
                    lr_by_dtype[v.dtype] = ops.cast(lr, dtype=v.dtype)
            if not fused_apply(self, grads, variables, lr_by_dtype):  # the GPU eager path
                self._apply_weight_decay(variables, lr_by_dtype)
                self._backend_update_step(grads, variables, lr_by_dtype)
            self._iterations.assign_add(1)

    def scale_loss(self, loss):
        """The loss to differentiate: ``loss`` itself (``LossScaleOptimizer`` scales it)."""
        return loss

    def minimize(self, loss, var_list, tape: GradientTape | None = None) -> Tensor:
        """Compute the gradients of ``loss`` and apply them; returns the loss value.

        ``loss`` is a zero-argument callable (run under a fresh GradientTape that watches
        ``var_list``), or a Tensor computed under ``tape``. ``var_list`` may be a callable
        returning the variables (called after ``loss``, so lazily built layers exist).
        """
        if isinstance(loss, Tensor) or not callable(loss):
            if tape is None:
                raise ValueError("`tape` is required when a Tensor loss is passed. "
                                 f"Received: loss={loss!r}, tape=None")
            value = loss
        else:
            tape = GradientTape()
            with tape:
                if not callable(var_list):
                    tape.watch(list(var_list))
                value = loss()
        if callable(var_list):
            var_list = var_list()
        var_list = list(var_list)
        grads = tape.gradient(value, var_list)
        self.apply(grads, var_list)
        return value

    # ---- the shared steps ---------------------------------------------------------------
    def _filter_empty_gradients(self, grads, variables):
        kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
        missing = tuple(v.name for g, v in zip(grads, variables) if g is None)
        if not kept:
            raise ValueError(f"No gradients provided for any variable: {list(missing)} "
                             f"[at {user_line()}]")
        if missing and missing not in self._warned_missing:
            self._warned_missing.add(missing)
            warnings.warn(
                f"Gradients do not exist for variables {list(missing)} when minimizing the "
                "loss; they are not updated. If using `model.compile()`, did you forget to "
                f"provide a `loss` argument? [at {user_line()}]",
                UserWarning, stacklevel=4,
            )
        return [g for g, _ in kept], [v for _, v in kept]

    def _clip_gradients(self, grads: list) -> list:
        if self.clipvalue is not None:
            c = self.clipvalue
            return [ops.clip(g, min=-c, max=c) for g in grads]
        if self.clipnorm is not None:
            c = self.clipnorm
            return [g * c / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), c) for g in grads]
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in grads])))
            # `+ (norm - norm)` is 0 for a finite norm and NaN otherwise (Keras' behaviour:
            # an inf/NaN gradient poisons the whole step instead of silently zeroing it).
            scale = c / ops.maximum(norm, c) + (norm - norm)
            return [g * ops.cast(scale, dtype=g.dtype) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exclude variables (or those whose name matches one of ``var_names``, as regular
        expressions) from weight decay; call before the optimizer is built."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(var_names)) if var_names else None

    def _use_weight_decay(self, variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        pattern = self._exclude_pattern
        return pattern is None or pattern.search(variable.name) is None

    def _apply_weight_decay(self, variables, lr_by_dtype: dict) -> None:
        if not self.weight_decay:
            return
        for v in variables:
            if self._use_weight_decay(v):
                v.assign(v - v * self.weight_decay * lr_by_dtype[v.dtype])

    # ---- configuration ------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments (the learning rate as a float or a schedule config)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif isinstance(lr, Variable):
            lr = float(lr.numpy())
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        """A new optimizer (without state) from ``get_config()``'s output."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class MomentsOptimizer(Optimizer):
    """The constructor and config that Nadam and Adamax share with Adam: ``beta_1``,
    ``beta_2``, ``epsilon`` (Adam keeps its own, so that its fused GPU update reaches Adam and
    AdamW only). The default name is the class name in snake_case."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name: str | None = None):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


def _as_gradient(g, variable: Variable) -> Tensor:
    if type(g) is Tensor and g._data.dtype == variable._data.dtype \
            and g._data.shape == variable._data.shape:
        if type(g._data) is type(variable._data):
            return g  # the common case, checked without the properties
    if not isinstance(g, Tensor):  # host data (NumPy, lists) goes where the variable lives
        g = ops.convert(g, like=variable)
    elif g.device != variable.device:  # as an op's inputs on two devices
        raise DeviceError(
            f"gradient for variable {variable.name!r} lives on {g.device}, but the variable "
            f"on {variable.device}; move it with .to({variable.device!r}) [at {user_line()}]"
        )
    if g.shape != variable.shape:
        raise ShapeError(
            f"gradient for variable {variable.name!r} has shape {g.shape}, but the variable "
            f"has shape {variable.shape} [at {user_line()}]"
        )
    return g if g.dtype == variable.dtype else ops.cast(g, dtype=variable.dtype)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
