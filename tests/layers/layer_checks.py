"""Shared checks for layer tests: layers inside a functional model and a Sequential model
that train a step, are saved with ``model.save``, reloaded with ``load_model``, and predict
the same."""

import numpy as np

from tape.layers import Dense, Flatten, Input
from tape.models import Model, Sequential, load_model


def assert_models_round_trip(make_layers, x, tmp_path):
    """``make_layers()`` returns fresh layers to stack on inputs like ``x`` (a Flatten and a
    Dense(2) head are added). Returns the two trained models."""
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(len(x), 2)).astype(np.float32)
    models = []
    for kind in ("functional", "sequential"):
        stack = [*make_layers(), Flatten(), Dense(2)]
        if kind == "functional":
            inputs = h = Input(shape=x.shape[1:], dtype=x.dtype)
            for layer in stack:
                h = layer(h)
            model = Model(inputs, h)
        else:
            model = Sequential([Input(shape=x.shape[1:], dtype=x.dtype), *stack])
        model.compile("adam", "mse")
        model.fit(x, targets, epochs=1, batch_size=len(x), verbose=0)
        path = tmp_path / f"{kind}.safetensors"
        model.save(path)
        loaded = load_model(path)
        assert [type(layer).__name__ for layer in loaded.layers] == [
            type(layer).__name__ for layer in model.layers]
        assert [layer.get_config() for layer in loaded.layers] == [
            layer.get_config() for layer in model.layers]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        models.append(model)
    return models
