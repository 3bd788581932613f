"""Save, serialize and export models, after keras-io's guides/serialization_and_saving.py:
save/load a whole model, registered custom functions and layers, a custom layer holding a
sublayer in its config, custom_objects and custom_object_scope, configs and JSON, clone_model,
and weights transfer and files.

Port: `import keras` -> `from tape import keras`; `from keras import ops` ->
`from tape.keras import ops`. Nothing else changed (the guide uses random data).
"""

import numpy as np

from tape import keras
from tape.keras import ops


def get_model():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


model = get_model()
test_input = np.random.random((128, 32))
test_target = np.random.random((128, 1))
model.fit(test_input, test_target)
model.save("my_model.keras")
reconstructed_model = keras.models.load_model("my_model.keras")
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))


# ---- custom objects ----
@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


@keras.saving.register_keras_serializable(package="my_package", name="custom_loss")
def custom_loss(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


inputs = keras.Input(shape=(4,))
x = CustomLayer(2.0)(inputs)
x = keras.layers.Dense(8, activation=custom_fn)(x)
outputs = keras.layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss=custom_loss)
model.fit(np.random.random((64, 4)), np.random.random((64, 1)), verbose=0)
model.save("custom_model.keras")
reconstructed = keras.models.load_model("custom_model.keras")
probe = np.random.random((8, 4))
np.testing.assert_allclose(model.predict(probe), reconstructed.predict(probe), rtol=1e-6)
print("Registered:", sorted(k for k in keras.saving.get_custom_objects() if "my_" in k))


# ---- a layer with a sublayer in its config ----
@keras.saving.register_keras_serializable(package="Nested")
class WrappedDense(keras.layers.Layer):
    def __init__(self, sublayer, **kwargs):
        super().__init__(**kwargs)
        self.sublayer = sublayer

    def call(self, x):
        return self.sublayer(x)

    def get_config(self):
        base_config = super().get_config()
        config = {"sublayer": keras.saving.serialize_keras_object(self.sublayer)}
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        sublayer_config = config.pop("sublayer")
        sublayer = keras.saving.deserialize_keras_object(sublayer_config)
        return cls(sublayer, **config)


inputs = keras.Input(shape=(4,))
outputs = WrappedDense(keras.layers.Dense(3, name="inner"))(inputs)
wrapped_model = keras.Model(inputs, outputs)
wrapped_model.save("wrapped.keras")
wrapped_again = keras.models.load_model("wrapped.keras")
np.testing.assert_allclose(wrapped_model.predict(probe), wrapped_again.predict(probe),
                           rtol=1e-6)


# ---- custom_objects and custom_object_scope ----
class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x + 1.0


inputs = keras.Input(shape=(4,))
plain = keras.Model(inputs, Unregistered()(inputs))
plain.save("plain.keras")
loaded_a = keras.models.load_model("plain.keras", custom_objects={"Unregistered": Unregistered})
with keras.saving.custom_object_scope({"Unregistered": Unregistered}):
    loaded_b = keras.models.load_model("plain.keras")
np.testing.assert_allclose(loaded_b.predict(probe), probe + 1.0, rtol=1e-6)

# ---- configs, JSON and cloning ----
layer = keras.layers.Dense(3, activation="relu")
layer_config = layer.get_config()
new_layer = keras.layers.Dense.from_config(layer_config)

model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
config = model.get_config()
new_model = keras.Sequential.from_config(config)

inputs = keras.Input((32,))
outputs = keras.layers.Dense(1)(inputs)
model = keras.Model(inputs, outputs)
config = model.get_config()
new_model = keras.Model.from_config(config)
json_config = model.to_json()
new_model = keras.models.model_from_json(json_config)
new_model = keras.models.clone_model(model)
assert len(new_model.weights) == len(model.weights)


# ---- weights ----
def create_layer():
    layer = keras.layers.Dense(64, activation="relu", name="dense_2")
    layer.build((None, 784))
    return layer


layer_1 = create_layer()
layer_2 = create_layer()
layer_2.set_weights(layer_1.get_weights())


def create_simple_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


functional_model = create_simple_model()
functional_model.save_weights("simple.weights.h5")
another = create_simple_model()
another.load_weights("simple.weights.h5")
digits = np.random.random((2, 784))
np.testing.assert_allclose(functional_model.predict(digits), another.predict(digits))
