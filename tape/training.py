"""Trainer: ``compile``, ``fit``, ``evaluate``, ``predict`` and the per-batch steps
(``train_step``/``test_step``/``predict_step``) that users may override, as Keras 3.

``make_train_function`` returns the step the loop calls: ``train_step`` traced (one graph
per batch shape, replayed), or as plain Python under ``run_eagerly``.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from . import _state, backend, losses, mixed_precision, ops, optimizers
from . import callbacks as callbacks_module
from . import metrics as metrics_module
from .autodiff import GradientTape
from .data import DataAdapter, class_sample_weights, to_numpy, unpack_x_y_sample_weight
from .distribute import get_strategy
from .errors import names_user_line
from .layers._nest import flatten, map_structure
from .optimizers.loss_scale import overflow_is_expected
from .tensor import Tensor
from .trace import trace

__all__ = ["Trainer"]


def _is_sparse_loss(loss) -> bool:
    return isinstance(loss, losses.SparseCategoricalCrossentropy)


class Trainer:
    """The training half of ``Model`` (``models.Model(Trainer, Layer)``)."""

    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self._compile_args: dict = {}
        self._run_eagerly = False
        self._step_functions: dict = {}  # "train"/"test"/"predict" -> traced step
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers: list = []
        self._metric_specs = None
        self._compiled_metrics: list | None = None  # (output index, Metric), built lazily
        self._in_fit = False
        self._device = "cpu"  # where Model.to put the weights; batches follow them
        self._distribute = None  # the tape.distribute strategy whose scope compile ran in

    # ---- compile ---------------------------------------------------------------------
    @names_user_line
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                run_eagerly=None, auto_scale_loss: bool = True, **kwargs):
        """Set the optimizer, loss(es) and metrics (names, config dicts or objects).

        For several outputs, ``loss`` and ``metrics`` may be one for all, a list in output
        order, or a dict keyed by output name; ``loss_weights`` likewise. ``'accuracy'``
        becomes the accuracy matching the loss (``tape.metrics.resolve_accuracy``). Unknown
        names are errors listing the valid ones. ``fit``, ``evaluate`` and ``predict`` run
        their steps traced (``tape.trace``: captured once per batch shape, then replayed);
        ``run_eagerly=True`` runs them as plain Python, for debugging. Under a
        ``mixed_float16`` policy the optimizer is wrapped in a ``LossScaleOptimizer``
        (unless ``auto_scale_loss=False`` or it is one already), as in Keras.
        """
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword arguments {sorted(kwargs)}")
        self._compile_args = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                              "loss_weights": loss_weights}
        self.optimizer = optimizers.get(optimizer)
        if auto_scale_loss and mixed_precision.is_mixed_float16(self.dtype_policy) \
                and not isinstance(self.optimizer, optimizers.LossScaleOptimizer):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)
        names = self._output_names()
        self._losses = self._per_output(loss, names, "loss", _resolve_loss)
        weights = self._per_output(loss_weights, names, "loss_weights", lambda w: w)
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        if metrics is not None and not isinstance(metrics, list | tuple | dict):
            raise TypeError(f"`metrics` must be a list or a dict, got {metrics!r}")
        self._metric_specs = self._metric_spec_per_output(metrics, names)
        for specs in self._metric_specs:  # unknown names fail here, not at the first batch
            for spec in specs:
                if not _is_accuracy(spec):
                    _ = metrics_module.get(spec)
        self._compiled_metrics = None
        if not any(_is_accuracy(spec) and metrics_module._loss_kind(self._losses[i]) is None
                   for i, specs in enumerate(self._metric_specs) for spec in specs):
            # Built now, so that a train_step of your own finds them in self.metrics (as in
            # Keras); an 'accuracy' whose kind only the data's shapes decide waits for them.
            self._build_metrics(None, None)
        self._output_loss_trackers = ([metrics_module.Mean(name=f"{n}_loss") for n in names]
                                      if len(names) > 1 else [])
        self._run_eagerly = False if run_eagerly is None else bool(run_eagerly)
        self._step_functions = {}
        self._distribute = get_strategy()
        self.compiled = True

    @property
    def run_eagerly(self) -> bool:
        return self._run_eagerly

    def _output_names(self) -> list[str]:
        """Names of the model outputs (one name for a single output)."""
        return list(getattr(self, "output_names", None) or ["output"])

    @staticmethod
    def _per_output(value, names: list[str], what: str, resolve) -> list:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"compile: {what} names {unknown} are not outputs of the "
                                 f"model; outputs: {names}")
            return [resolve(value[n]) if value.get(n) is not None else None for n in names]
        if isinstance(value, list | tuple):
            if len(value) != len(names):
                raise ValueError(f"compile: {len(value)} {what} given for {len(names)} "
                                 f"outputs {names}")
            return [resolve(v) if v is not None else None for v in value]
        one = resolve(value) if value is not None else None
        return [one] * len(names)

    @staticmethod
    def _metric_spec_per_output(spec, names: list[str]) -> list[list]:
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(f"compile: metrics for {unknown}, which are not outputs of "
                                 f"the model; outputs: {names}")
            return [_as_list(spec.get(n)) for n in names]
        if len(names) > 1 and spec and all(isinstance(s, list | tuple) or s is None
                                           for s in spec):
            if len(spec) != len(names):
                raise ValueError(f"compile: {len(spec)} metric lists for {len(names)} outputs")
            return [_as_list(s) for s in spec]
        return [list(spec) for _ in names]

    def _build_metrics(self, y_true, y_pred) -> None:
        """Resolve the metric specs (with the targets' and predictions' shapes when given:
        an 'accuracy' beside a loss that does not name its kind needs them)."""
        names = self._output_names()
        built = []
        for i, specs in enumerate(self._metric_specs or []):
            for spec in specs:
                if _is_accuracy(spec):
                    shapes = (None, None) if y_true is None else (tuple(y_true[i].shape),
                                                                  tuple(y_pred[i].shape))
                    metric = metrics_module.resolve_accuracy(self._losses[i], *shapes,
                                                             name=spec)
                else:
                    metric = metrics_module.get(spec)
                    if isinstance(spec, str):
                        metric.name = spec
                if len(names) > 1:
                    metric.name = f"{names[i]}_{metric.name}"
                built.append((i, metric))
        self._compiled_metrics = built

    @property
    def metrics(self) -> list:
        """The loss tracker(s), then the compiled metrics (empty before the first batch)."""
        out = [self._loss_tracker, *self._output_loss_trackers]
        return out + [m for _, m in self._compiled_metrics or []]

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    # ---- the steps -------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The weighted sum of the per-output losses plus the model's ``losses``
        (regularizers, ``add_loss``). Updates the per-output loss trackers."""
        self._check_compiled()
        outputs, targets = self._flat_outputs(y_pred), self._flat_targets(y)
        total = None
        for i, (loss_fn, weight) in enumerate(zip(self._losses, self._loss_weights)):
            if loss_fn is None:
                continue
            if targets[i] is None:
                raise ValueError(f"The model has a loss for output '{self._output_names()[i]}' "
                                 "but no target was given for it")
            value = loss_fn(targets[i], outputs[i], sample_weight)
            if self._output_loss_trackers:
                with _unrecorded():
                    self._output_loss_trackers[i].update_state(value,
                                                               sample_weight=_rows(outputs[i]))
            value = value if weight == 1.0 else ops.multiply(value, weight)
            total = value if total is None else ops.add(total, value)
        extra = list(getattr(self, "losses", []))
        if extra:
            penalty = _sum(extra)
            total = penalty if total is None else ops.add(total, penalty)
        if total is None:
            raise ValueError("No loss to compute: compile() the model with a loss, or override "
                             "train_step/compute_loss")
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with this batch; return ``get_metrics_result()``."""
        if y is not None:
            outputs, targets = self._flat_outputs(y_pred), self._flat_targets(y)
            if self._compiled_metrics is None:
                with backend.device(self._device):  # their state lives where the model does
                    self._build_metrics(targets, outputs)
            for i, metric in self._compiled_metrics:
                if targets[i] is not None:
                    metric.update_state(targets[i], outputs[i], sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict:
        """``{name: current result}`` for every metric that has seen data."""
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data) -> dict:
        """One optimizer step on a batch ``(x, y[, sample_weight])``; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as g:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
            scaled = self.optimizer.scale_loss(loss)  # a LossScaleOptimizer's: loss * scale
        variables = self.trainable_variables
        if self._distribute is None:
            grads = g.gradient(scaled, variables)
        else:  # averaged over the ranks, weighted by their rows; buckets leave during the walk
            rows = _rows(flatten(x)[0])
            with self._distribute._overlapping(variables, rows):
                grads = self._distribute.all_reduce(g.gradient(scaled, variables), weight=rows)
        self.optimizer.apply_gradients(zip(grads, variables))
        self._loss_tracker.update_state(loss, sample_weight=_rows(flatten(x)[0]))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        """Loss and metrics on a batch, without updating the weights."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss, sample_weight=_rows(flatten(x)[0]))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def make_train_function(self):
        """The function ``fit`` calls per batch: ``train_step``, traced unless
        ``run_eagerly`` (one trace per batch shape, kept until the next ``compile``)."""
        step = self._step_function("train", self.train_step)
        if isinstance(self.optimizer, optimizers.LossScaleOptimizer):
            return overflow_is_expected(step)
        return step

    def make_test_function(self):
        return self._step_function("test", self.test_step)

    def make_predict_function(self):
        return self._step_function("predict", self.predict_step)

    def _step_function(self, kind: str, step):
        if self._run_eagerly:
            return step
        functions = self.__dict__.setdefault("_step_functions", {})
        if kind not in functions:
            functions[kind] = trace(step)
        return functions[kind]

    # ---- loops -----------------------------------------------------------------------
    @names_user_line
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns the ``History`` callback (per-epoch logs in
        ``history.history``; ``val_*`` keys when there is validation data)."""
        self._check_compiled()
        self._state_to_device()
        if class_weight is not None:
            sample_weight = class_sample_weights(class_weight, y, sample_weight)
        batch_size = 32 if batch_size is None else batch_size
        data = DataAdapter(x, y, sample_weight, batch_size, shuffle=bool(shuffle),
                           steps=steps_per_epoch)
        _require_samples(data, "fit")
        if validation_split and validation_data is None:
            data, validation_data = data.split(validation_split)
        if data.arrays is not None:
            self._check_targets(data.arrays[1], data.arrays[0])
        val = None
        if validation_data is not None:
            val = self._validation_adapter(validation_data, validation_batch_size or batch_size,
                                           validation_steps)
        if self._distribute is not None:  # this rank's shard of each batch, rank 0's weights
            data = self._distribute._fit_data(self, data)
        callback_list = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=epochs, steps=data.num_batches)
        if self._distribute is not None:  # global logs, one stop decision, rank-0 writers
            self._distribute._fit_callbacks(self, callback_list)
        train_function = self.make_train_function()
        self.stop_training = False
        self._in_fit = True
        callback_list.on_train_begin()
        logs = epoch_logs = {}
        try:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                callback_list.on_epoch_begin(epoch)
                seen = 0
                for step, batch in enumerate(data.epoch()):
                    callback_list.on_train_batch_begin(step)
                    # Only the step runs in training mode: a callback calling the model
                    # gets inference behaviour, as in Keras.
                    with _state.using(_state.training, True):
                        logs = train_function(self._on_device(batch))
                    logs = callbacks_module.python_logs(logs)
                    callback_list.on_train_batch_end(step, logs)
                    seen += 1
                    if self.stop_training:
                        break
                if seen == 0:
                    warnings.warn("fit: the training data ran out (a generator without "
                                  "steps_per_epoch is read once); stopping", stacklevel=2)
                    break
                epoch_logs = dict(logs)
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_adapter(val, None)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callback_list.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        finally:
            self._in_fit = False
        callback_list.on_train_end(epoch_logs)
        return self.history

    def _validation_adapter(self, validation_data, batch_size, steps):
        if isinstance(validation_data, tuple | list):
            vx, vy, vsw = unpack_x_y_sample_weight(tuple(validation_data))
            return DataAdapter(vx, vy, vsw, batch_size, steps=steps)
        return DataAdapter(validation_data, batch_size=batch_size, steps=steps)

    @names_user_line
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss then the metrics, in ``metrics_names`` order (a scalar when there are
        no metrics; a dict with ``return_dict``). Called from a callback during ``fit``,
        it leaves the training metrics as they were."""
        self._check_compiled()
        self._state_to_device()
        data = DataAdapter(x, y, sample_weight, 32 if batch_size is None else batch_size,
                           steps=steps)
        _require_samples(data, "evaluate")
        if data.arrays is not None:
            self._check_targets(data.arrays[1], data.arrays[0])
        logs = self._evaluate_adapter(data, verbose, callbacks)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_adapter(self, data: DataAdapter, verbose, callbacks=None) -> dict:
        saved = self._metric_states() if self._in_fit else None
        callback_list = callbacks_module.CallbackList(
            callbacks, add_progbar=verbose not in (0, None), model=self, verbose=verbose,
            steps=data.num_batches, mode="test")
        test_function = self.make_test_function()
        self.reset_metrics()
        callback_list.on_test_begin()
        logs = {}
        for step, batch in enumerate(data.epoch()):
            callback_list.on_test_batch_begin(step)
            with _state.using(_state.training, False):
                logs = callbacks_module.python_logs(test_function(self._on_device(batch)))
            callback_list.on_test_batch_end(step, logs)
        logs = callbacks_module.python_logs(self.get_metrics_result()) if not logs else logs
        callback_list.on_test_end(logs)
        if saved is not None:
            self._restore_metric_states(saved)
        return logs

    @names_user_line
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x``, batch by batch, as NumPy arrays (the outputs' structure)."""
        data = DataAdapter(x, None, None, 32 if batch_size is None else batch_size, steps=steps)
        _require_samples(data, "predict")
        self._state_to_device()
        callback_list = callbacks_module.CallbackList(
            callbacks, add_progbar=verbose not in (0, None), model=self, verbose=verbose,
            steps=data.num_batches, mode="predict")
        predict_function = self.make_predict_function()
        callback_list.on_predict_begin()
        outputs = []
        for step, batch in enumerate(data.epoch()):
            callback_list.on_predict_batch_begin(step)
            with _state.using(_state.training, False):
                out = predict_function(self._on_device(batch))
            outputs.append(map_structure(np.asarray, out))  # GPU outputs come to the host
            callback_list.on_predict_batch_end(step, {"outputs": out})
        callback_list.on_predict_end()
        if not outputs:
            raise ValueError("predict: the input is empty")
        return map_structure(lambda *parts: np.concatenate(parts), *outputs)

    @names_user_line
    def train_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                       return_dict=False):
        """One ``train_step`` on the given batch; returns the loss (and metrics)."""
        self._check_compiled()
        self._state_to_device()
        data = DataAdapter(x, y, sample_weight, batch_size=max(1, _length(x)))
        self._check_targets(data.arrays[1], data.arrays[0])
        if reset_metrics:
            self.reset_metrics()
        with _state.using(_state.training, True):
            batch = self._on_device(next(iter(data.epoch())))
            logs = callbacks_module.python_logs(self.make_train_function()(batch))
        return _logs_result(logs, return_dict)

    @names_user_line
    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        """One ``test_step`` on the given batch; returns the loss (and metrics)."""
        self._check_compiled()
        self._state_to_device()
        data = DataAdapter(x, y, sample_weight, batch_size=max(1, _length(x)))
        if reset_metrics:
            self.reset_metrics()
        with _state.using(_state.training, False):
            batch = self._on_device(next(iter(data.epoch())))
            logs = callbacks_module.python_logs(self.make_test_function()(batch))
        return _logs_result(logs, return_dict)

    @names_user_line
    def predict_on_batch(self, x):
        return map_structure(np.asarray, self(to_numpy(x), training=False))

    # ---- helpers ---------------------------------------------------------------------
    def _state_to_device(self) -> None:
        """Find where the model lives (its weights' device: ``to()``, or a build under
        ``tape.device(...)``; unbuilt, the default device unless ``to()`` named one); metric
        state made since (by a compile after it) joins it, as the optimizer's state does when
        it is built. Batches follow it (``_on_device``)."""
        device = self._weights_device()
        if device is not None:
            self._device = device
        elif backend.default_device() != "cpu":
            self._device = backend.default_device()
        if self._device == "cpu":
            return
        for metric in self.metrics:
            for v in metric.variables:
                if v.device != self._device:
                    v.move_to(self._device)

    def _on_device(self, batch):
        if self._device == "cpu":
            return batch
        return map_structure(lambda t: t.to(self._device) if isinstance(t, Tensor) else t,
                             batch)

    def _check_compiled(self) -> None:
        if not self.compiled:
            raise RuntimeError("You must call compile() on the model before fit/evaluate/"
                               "train_on_batch")

    def _flat_outputs(self, y_pred) -> list:
        if isinstance(y_pred, dict):
            return [y_pred[n] for n in self._output_names()]
        return flatten(y_pred) if isinstance(y_pred, list | tuple) else [y_pred]

    def _flat_targets(self, y) -> list:
        names = self._output_names()
        if y is None:
            return [None] * len(names)
        if isinstance(y, dict):
            return [y.get(n) for n in names]
        if isinstance(y, list | tuple) and len(names) > 1:
            if len(y) != len(names):
                raise ValueError(f"The model has {len(names)} outputs {names} but {len(y)} "
                                 "targets were given")
            return list(y)
        if len(names) > 1:
            raise ValueError(f"The model has {len(names)} outputs {names}: give y as a list "
                             "or a dict of targets")
        return [y]

    def _check_targets(self, y, x=None) -> None:
        """Sparse-label checks on the whole target array, before any step runs (the traced
        step cannot read values): labels are whole numbers (float ones like 1.0 are taken,
        as Keras casts them; 0.5 would be truncated) in range (the class count comes from
        the output shape, or from one example run through the model when that shape is not
        known yet)."""
        if y is None or not any(_is_sparse_loss(fn) for fn in getattr(self, "_losses", [])):
            return
        for loss_fn, target in zip(self._losses, self._flat_targets(y)):
            target = None if target is None else np.asarray(target)
            if _is_sparse_loss(loss_fn) and target is not None and target.dtype.kind == "f":
                fractional = target[target != np.round(target)]
                if fractional.size:
                    raise ValueError(
                        f"Labels for {type(loss_fn).__name__} must be integer class indices; "
                        f"got {fractional.size} with a fractional part (e.g. {fractional[0]}),"
                        " which would be truncated")
        shapes = getattr(self, "_output_shapes", lambda: None)()
        if shapes is None and x is not None:
            with _unrecorded(), _state.using(_state.training, False):
                first = self._on_device(map_structure(lambda a: ops.convert(a[:1]), x))
                shapes = [tuple(o.shape) for o in self._flat_outputs(self(first))]
        if shapes is None:
            return
        for loss_fn, target, shape in zip(self._losses, self._flat_targets(y), shapes):
            if not _is_sparse_loss(loss_fn) or target is None or not shape or shape[-1] is None:
                continue
            target = np.asarray(target)
            classes = shape[-1]
            if target.dtype.kind in "iuf" and target.size and (
                    target.min() < 0 or target.max() >= classes):
                raise ValueError(
                    f"Labels for {type(loss_fn).__name__} must be in [0, {classes}) for a "
                    f"model output of {classes} classes; got labels in "
                    f"[{target.min()}, {target.max()}]")

    def _metric_states(self) -> list:
        return [[np.array(v.numpy()) for v in m.variables] for m in self.metrics]

    def _restore_metric_states(self, saved) -> None:
        for metric, values in zip(self.metrics, saved):
            for v, value in zip(metric.variables, values):
                v.assign(value)


@contextlib.contextmanager
def _unrecorded():
    """Updates are not differentiated, so GradientTapes pause (a trace's recorder is not a
    tape: it still captures them)."""
    with _state.without_tapes():
        yield


def _require_samples(data: DataAdapter, api: str) -> None:
    """Arrays with no samples are an error, as in Keras (whose fit raises "Unexpected result
    of `train_function` (Empty logs)"): an epoch of no steps would return nothing silently."""
    if data.arrays is not None and data.size == 0:
        shapes = [tuple(a.shape) for part in data.arrays if part is not None
                  for a in flatten(part)]
        raise ValueError(f"{api}: the data has 0 samples (shapes {shapes}); give at least one "
                         "sample")


def _is_accuracy(spec) -> bool:
    return isinstance(spec, str) and spec.lower() in ("accuracy", "acc")


def _resolve_loss(identifier):
    """A Loss for ``compile``: a function of your own is wrapped (reduction and
    ``sample_weight`` stay with the wrapper), so it is called as ``fn(y_true, y_pred)``, as
    in Keras."""
    loss = losses.get(identifier)
    if callable(loss) and not isinstance(loss, losses.Loss):
        loss = losses.LossFunctionWrapper(loss, name=getattr(loss, "__name__", "loss"))
    return loss


def _as_list(spec) -> list:
    if spec is None:
        return []
    return list(spec) if isinstance(spec, list | tuple) else [spec]


def _rows(x) -> int:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else 1


def _length(x) -> int:
    leaves = flatten(to_numpy(x))
    return len(leaves[0]) if leaves and leaves[0].ndim else 1


def _sum(values):
    total = values[0]
    for v in values[1:]:
        total = ops.add(total, v)
    return total


def _logs_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
