"""check_layer: tape's own layers keep the layer contract, and a layer that breaks any clause
of it fails with a message naming that clause."""

from __future__ import annotations

import numpy as np
import pytest

import tape
from tape.layers import Layer
from tape.testing import check_layer

L = tape.layers
CONTRACT = [
    (L.Dense, {"units": 3, "activation": "tanh"}, (4, 2)),
    (L.Activation, {"activation": "gelu"}, (2, 3)),
    (L.Dropout, {"rate": 0.5}, (2, 3)),
    (L.Flatten, {}, (2, 3, 2)),
    (L.Reshape, {"target_shape": (6,)}, (2, 3, 2)),
    (L.Conv1D, {"filters": 2, "kernel_size": 2}, (2, 5, 3)),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "padding": "same"}, (2, 5, 5, 3)),
    (L.DepthwiseConv2D, {"kernel_size": 2}, (2, 4, 4, 2)),
    (L.Conv2DTranspose, {"filters": 2, "kernel_size": 2, "strides": 2}, (1, 3, 3, 2)),
    (L.MaxPooling2D, {}, (2, 4, 4, 2)),
    (L.AveragePooling1D, {}, (2, 4, 3)),
    (L.GlobalAveragePooling2D, {}, (2, 3, 3, 2)),
    (L.GlobalMaxPooling1D, {}, (2, 4, 3)),
    (L.BatchNormalization, {}, (4, 3)),
    (L.LayerNormalization, {}, (4, 3)),
    (L.SimpleRNN, {"units": 2}, (2, 3, 2)),
    (L.LSTM, {"units": 3}, (2, 4, 2)),
    (L.GRU, {"units": 3, "return_sequences": True}, (2, 4, 2)),
    (L.ReLU, {"max_value": 1.0, "negative_slope": 0.1}, (2, 3)),
    (L.LeakyReLU, {}, (2, 3)),
    (L.ELU, {}, (2, 3)),
    (L.Softmax, {}, (2, 3)),
    (L.PReLU, {"alpha_initializer": "random_normal"}, (2, 3, 2)),
    (L.ZeroPadding1D, {"padding": 2}, (2, 3, 2)),
    (L.ZeroPadding2D, {"padding": ((1, 0), (0, 2))}, (2, 3, 3, 2)),
    (L.Cropping1D, {"cropping": (1, 0)}, (2, 4, 2)),
    (L.Cropping2D, {"cropping": ((1, 1), (0, 1))}, (2, 4, 4, 2)),
    (L.UpSampling1D, {}, (2, 3, 2)),
    (L.UpSampling2D, {"size": (2, 3)}, (2, 2, 2, 2)),
    (L.RepeatVector, {"n": 3}, (2, 4)),
    (L.Permute, {"dims": (2, 1)}, (2, 3, 4)),
    (L.Identity, {}, (2, 3)),
    (L.TimeDistributed, {"layer": L.Dense(2, dtype="float64")}, (2, 3, 4)),
    (L.GaussianNoise, {"stddev": 0.5}, (2, 3)),
    (L.SpatialDropout1D, {"rate": 0.5}, (2, 3, 4)),
    (L.SpatialDropout2D, {"rate": 0.5}, (2, 3, 3, 4)),
    (L.Rescaling, {"scale": 0.5, "offset": 1.0}, (2, 3)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", CONTRACT,
                         ids=[c[0].__name__ for c in CONTRACT])
def test_tape_layers_keep_the_contract(layer_cls, kwargs, input_shape):
    out = check_layer(layer_cls, kwargs, input_shape)
    assert isinstance(out, tape.Tensor) and out.dtype == np.float64


def test_an_integer_input_layer_and_expected_output():
    ids = np.array([[1, 2, 3], [0, 4, 1]])
    layer = L.Embedding(5, 3, embeddings_initializer="ones")
    check_layer(L.Embedding, {"input_dim": 5, "output_dim": 3,
                              "embeddings_initializer": "ones"},
                input_data=ids, expected_output=np.ones((2, 3, 3)), gradients=False)
    assert layer.get_config()["input_dim"] == 5


class Scale(Layer):
    """y = x * w: one weight per feature. The subclasses below each break one clause."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class ForgetsItsConfig(Scale):
    def get_config(self):
        return Layer.get_config(self)  # factor is lost


class WrongShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


@tape.custom_gradient
def _doubled_weight_grad(x, w):
    return x * w, lambda g: (g * w, 2.0 * tape.sum(g * x, axis=0))


class WrongGradient(Scale):
    def call(self, x):
        return _doubled_weight_grad(x, self.w)


class DeadWeight(Scale):
    def build(self, input_shape):
        super().build(input_shape)
        self.unused = self.add_weight("unused", (2,), initializer="ones")


@pytest.mark.filterwarnings("ignore:Gradients do not exist:UserWarning")  # DeadWeight's
@pytest.mark.parametrize("layer_cls, clause", [
    (ForgetsItsConfig, "from_config"),
    (WrongShape, "compute_output_shape gives"),
    (WrongGradient, "order-1 gradient does not match"),
    (DeadWeight, "left the trainable weight .*unused unchanged"),
])
def test_a_layer_breaking_a_clause_fails_naming_it(layer_cls, clause):
    objects = {layer_cls.__name__: layer_cls}
    check_layer(Scale, {"factor": 3.0}, (3, 2), custom_objects={"Scale": Scale})
    with pytest.raises(AssertionError, match=clause):
        check_layer(layer_cls, {"factor": 3.0}, (3, 2), custom_objects=objects)


def test_a_wrong_expected_output_fails():
    with pytest.raises(AssertionError, match="expected_output"):
        check_layer(Scale, {"factor": 2.0}, input_data=np.ones((2, 2)),
                    expected_output=np.ones((2, 2)), custom_objects={"Scale": Scale})
