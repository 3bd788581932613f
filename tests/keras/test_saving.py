"""keras.saving: registered and custom objects reach every deserializer; models with your
own layers, activation functions and nested layers save, load and clone."""

import json

import numpy as np
import pytest

import tape
from tape import keras
from tape.keras import layers, ops, saving

X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)


@saving.register_keras_serializable(package="Tests")
class Scale(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Unregistered(Scale):
    pass


def half_relu(x):
    return ops.nn.relu(x) * 0.5


class WithSublayer(layers.Layer):
    """A layer whose get_config returns a layer object (Keras serializes it)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        return self.inner(x) + 1.0

    def get_config(self):
        return {**super().get_config(), "inner": self.inner}


def test_register_names_the_class_package_first():
    assert saving.get_registered_name(Scale) == "Tests>Scale"
    assert saving.get_custom_objects()["Tests>Scale"] is Scale
    assert saving.get_registered_object("Tests>Scale") is Scale
    config = saving.serialize_keras_object(Scale(3.0))
    assert config["registered_name"] == "Tests>Scale" and config["config"]["factor"] == 3.0


def test_registered_layer_loads_without_custom_objects(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(2)(Scale(3.0)(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[1]) is Scale and loaded.layers[1].factor == 3.0
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_custom_object_scope_and_from_config_custom_objects():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Unregistered(4.0)(inputs))
    config = model.get_config()
    with pytest.raises(ValueError, match="Unknown layer class 'Unregistered'"):
        keras.Model.from_config(config)
    rebuilt = keras.Model.from_config(config, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_allclose(rebuilt.predict(X, verbose=0), X * 4.0)
    with saving.custom_object_scope({"Unregistered": Unregistered}):
        again = keras.Model.from_config(config)
    assert type(again.layers[1]) is Unregistered


def test_custom_activation_function_saves_and_loads(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(4, activation=half_relu)(inputs))
    model.save(tmp_path / "act.keras")
    loaded = keras.saving.load_model(tmp_path / "act.keras",
                                     custom_objects={"half_relu": half_relu})
    assert loaded.layers[1].activation is half_relu
    expected = 0.5 * np.maximum(X @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy(),
                                0)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_unknown_function_at_load_says_what_to_do():
    config = {"class_name": "function", "config": "no_such_fn", "module": "nowhere"}
    with pytest.raises(ValueError, match="custom_objects"):
        saving.deserialize_keras_object(config)


def test_layer_returned_inside_get_config_saves_and_comes_back_as_a_layer(tmp_path):
    inputs = keras.Input((3,))
    block = WithSublayer(layers.Dense(2, name="inner_dense"))
    model = keras.Model(inputs, block(inputs))
    path = tmp_path / "nested.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"WithSublayer": WithSublayer})
    inner = loaded.layers[1].inner
    assert isinstance(inner, layers.Dense) and inner.name == "inner_dense"
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)


def test_serialize_deserialize_round_trips_keras_objects():
    for obj in (keras.losses.Huber(delta=2.0), keras.optimizers.Adam(learning_rate=0.01),
                keras.initializers.RandomNormal(stddev=0.3), keras.regularizers.L2(0.1),
                keras.metrics.AUC()):
        back = saving.deserialize_keras_object(saving.serialize_keras_object(obj))
        assert type(back) is type(obj) and back.get_config() == obj.get_config()
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(
        layers.Dense(3, activation="relu", name="d")))
    assert isinstance(dense, layers.Dense) and dense.units == 3 and dense.name == "d"
    fn = saving.deserialize_keras_object(saving.serialize_keras_object(half_relu),
                                         custom_objects={"half_relu": half_relu})
    assert fn is half_relu
    assert saving.deserialize_keras_object({"a": [1, 2], "b": None}) == {"a": [1, 2], "b": None}


def test_clone_model_has_new_weights_and_the_same_architecture():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="relu"),
                              layers.Dense(1)])
    clone = keras.models.clone_model(model)
    assert [type(la) for la in clone.layers] == [type(la) for la in model.layers]
    assert all(a is not b for a, b in zip(clone.weights, model.weights))
    assert not np.allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0))
    wide = keras.models.clone_model(
        model, clone_function=lambda la: layers.Dense(8) if la.name == model.layers[0].name
        else la.__class__.from_config(la.get_config()))
    assert wide.layers[0].units == 8


def test_model_from_json_rebuilds_the_functional_graph():
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="y")(inputs), name="tiny")
    again = keras.models.model_from_json(model.to_json())
    assert again.name == "tiny" and [la.name for la in again.layers] == ["x", "y"]
    assert json.loads(model.to_json())["class_name"] == "Model"
    assert isinstance(again, tape.models.Model)


class NamelessConfig(layers.Layer):
    """get_config without the base config (no name), as the Functional API guide writes it."""

    def __init__(self, units=2):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

    def call(self, x):
        return ops.matmul(x, self.w)

    def get_config(self):
        return {"units": self.units}


def test_from_config_with_a_layer_whose_config_has_no_name():
    keras.backend.clear_session()
    inputs = keras.Input((3,))
    model = keras.Model(inputs, NamelessConfig(4)(NamelessConfig(3)(inputs)))
    rebuilt = keras.Model.from_config(model.get_config(),
                                      custom_objects={"NamelessConfig": NamelessConfig})
    assert [la.units for la in rebuilt.layers[1:]] == [3, 4]
    np.testing.assert_allclose(rebuilt.predict(X, verbose=0), X.sum(1, keepdims=True) * 3
                               * np.ones((1, 4)), rtol=1e-5)


@saving.register_keras_serializable(package="Tests")
def squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def test_compile_with_a_registered_loss_function_saves_and_loads_compiled(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile("adam", loss=squared_error, metrics=[squared_error])
    model.save(tmp_path / "fn_loss.keras")
    loaded = keras.saving.load_model(tmp_path / "fn_loss.keras")
    assert loaded.compiled and loaded._losses[0].fn is squared_error
    y = np.ones((5, 1), np.float32)
    expected = float(np.mean((loaded.predict(X, verbose=0) - y) ** 2))
    loss, metric = loaded.evaluate(X, y, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-5) and metric == pytest.approx(expected,
                                                                               rel=1e-5)
