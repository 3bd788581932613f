"""check_layer: the contract every Keras-shaped layer keeps, checked in one call (the role of
Keras' own ``layer_test``), for tape's layers and for yours.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

import tape

from .gradcheck import check_gradients


def check_layer(layer_cls, kwargs=None, input_shape=(2, 3), *, input_data=None,
                expected_output=None, custom_objects=None, gradients=True, seed=0):
    """Check that ``layer_cls(**kwargs)`` keeps the layer contract, in float64:

    1. an eager call on ``input_data`` (normal draws of ``input_shape`` by default) builds
       it and gives ``expected_output`` when that is given; ``count_params()`` is the size
       of its weights, which are its trainable plus its non-trainable weights;
    2. ``compute_output_shape`` (the layer's own or the default) agrees with the output;
    3. ``from_config(get_config())`` rebuilds it: with the same weights, the same output;
    4. on an ``Input`` with an unknown batch size, the symbolic output has the eager shape
       with ``None`` for the batch, and a functional model of it predicts the same values,
       also after ``save`` and ``tape.models.load_model`` (with ``custom_objects``);
    5. a ``tape.trace`` of the call gives the eager output;
    6. gradients in its inputs and trainable weights match finite differences
       (``check_gradients``; ``gradients=False`` skips this for layers with kinks);
    7. one SGD step of ``fit`` towards a random target changes every trainable weight.

    Returns the eager output. Raises AssertionError naming the broken clause.

    Example:
        >>> import tape
        >>> from tape.testing import check_layer
        >>> check_layer(tape.layers.Dense, {"units": 2, "activation": "tanh"}, (3, 4)).shape
        (3, 2)
    """
    kwargs = {"dtype": "float64", **(kwargs or {})}
    name = f"check_layer({layer_cls.__name__})"
    x = (np.random.default_rng(seed).standard_normal(input_shape) if input_data is None
         else np.asarray(input_data))
    layer = layer_cls(**kwargs)
    y = layer(x)
    out = y.numpy()
    if expected_output is not None:
        np.testing.assert_allclose(out, expected_output, rtol=1e-6, atol=1e-9,
                                   err_msg=f"{name}: output differs from expected_output")
    sizes = sum(w.size for w in layer.weights)
    _require(layer.count_params() == sizes, name,
             f"count_params() is {layer.count_params()}, its weights hold {sizes}")
    _require(len(layer.trainable_weights) + len(layer.non_trainable_weights)
             == len(layer.weights), name, "trainable + non-trainable weights != weights")
    shape = tuple(layer.compute_output_shape(tuple(x.shape)))
    _require(_matches(shape, out.shape), name,
             f"compute_output_shape gives {shape}, the call gave {out.shape}")

    clone = layer_cls.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    _same(clone(x), out, f"{name}: from_config(get_config()) with the same weights")

    inputs = tape.layers.Input(batch_shape=(None, *x.shape[1:]), dtype=x.dtype.name)
    symbolic = layer_cls.from_config(layer.get_config())(inputs)
    _require(tuple(symbolic.shape) == (None, *out.shape[1:]), name,
             f"the symbolic output has shape {symbolic.shape}, the eager one {out.shape}")
    model = tape.models.Model(inputs, symbolic)
    model.set_weights(layer.get_weights())
    _same(model(x), out, f"{name}: a functional model of the layer")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        model.save(path)
        loaded = tape.models.load_model(path, custom_objects=custom_objects)
    _same(loaded(x), out, f"{name}: the model after save and load_model")

    _same(tape.trace(lambda t: layer(t))(tape.tensor(x)), out, f"{name}: a traced call")

    if gradients:
        check_gradients(lambda t, *weights: layer(t), x, *layer.trainable_weights)

    if model.trainable_weights:
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(optimizer=tape.optimizers.SGD(0.1), loss="mse")
        target = np.random.default_rng(seed + 1).standard_normal(out.shape)
        model.fit(x, target, batch_size=len(x), epochs=1, verbose=0)
        for w, value in zip(model.trainable_weights, before):
            _require(not np.array_equal(w.numpy(), value), name,
                     f"a training step left the trainable weight {w.name} unchanged")
    return y


def _matches(shape, actual) -> bool:
    return len(shape) == len(actual) and all(s is None or s == a for s, a in zip(shape, actual))


def _same(got, want, what: str) -> None:
    got = got.numpy() if isinstance(got, tape.Tensor) else np.asarray(got)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{what} differs")


def _require(ok: bool, name: str, what: str) -> None:
    if not ok:
        raise AssertionError(f"{name}: {what}")
