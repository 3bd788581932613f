"""Layer base: lazy build, weights and names, freezing, get/set_weights, losses, training flag,
input checks and configs."""

import numpy as np
import pytest

import tape
from tape import layers
from tape.layers import Dense, Layer


class Scale(Layer):
    """A layer with one trainable and one non-trainable weight, and an activity loss."""

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), initializer="ones",
                                 regularizer=tape.regularizers.L2(0.5))
        self.count = self.add_weight("count", (), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        self.seen_training = training
        self.add_loss(tape.sum(x))
        return x * self.w


class Block(Layer):
    """Sublayers in an attribute and in a list; one shared twice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = Dense(4)
        self.rest = [Dense(3), Scale()]
        self.again = self.first

    def call(self, x):
        return self.rest[1](self.rest[0](self.first(x)))


def test_lazy_build_creates_weights_from_first_input():
    layer = Dense(3)
    assert not layer.built and layer.weights == []
    layer(tape.ones((2, 5)))
    assert layer.built
    assert [w.shape for w in layer.weights] == [(5, 3), (3,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    assert layer.count_params() == 18
    assert layer.input_shape == (2, 5) and layer.output_shape == (2, 3)


def test_unique_snake_case_names():
    layers.reset_names()
    names = [Dense(1).name, Dense(1).name, Scale().name, Dense(1, name="mine").name,
             layers.InputLayer(shape=(1,)).name, Dense(1).name]
    assert names == ["dense", "dense_1", "scale", "mine", "input_layer", "dense_2"]


def test_sublayer_weights_in_creation_order_deduplicated():
    block = Block()
    block(tape.ones((2, 5)))
    first, dense, scale = block.first, block.rest[0], block.rest[1]
    expected = [first.kernel, first.bias, dense.kernel, dense.bias, scale.w, scale.count]
    assert [id(w) for w in block.weights] == [id(w) for w in expected]
    assert [id(w) for w in block.trainable_weights] == [id(w) for w in expected[:5]]
    assert [id(w) for w in block.non_trainable_variables] == [id(scale.count)]


def test_freezing_makes_weights_invisible_to_tapes_and_unfreezing_restores():
    block = Block()
    x = tape.ones((2, 5))
    block(x)
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 6
    assert not block.first.trainable
    with tape.GradientTape() as g:
        y = tape.sum(block(x))
    assert g.gradient(y, block.first.kernel) is None
    block.trainable = True
    assert len(block.trainable_weights) == 5  # 'count' was created non-trainable
    with tape.GradientTape() as g:
        y = tape.sum(block(x))
    assert g.gradient(y, block.first.kernel).shape == (5, 4)


def test_weights_created_while_frozen_are_not_trainable():
    layer = Dense(2, trainable=False)
    layer(tape.ones((1, 3)))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_get_set_weights_round_trip_and_shape_errors():
    a, b = Dense(3), Dense(3)
    a(tape.ones((1, 4)))
    b(tape.ones((1, 4)))
    b.set_weights(a.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    copies = a.get_weights()
    copies[0][...] = 7.0  # a copy: the layer is unchanged
    assert not np.any(a.get_weights()[0] == 7.0)
    with pytest.raises(ValueError, match=rf"'{b.name}'.*'{b.name}/kernel'.*\(4, 3\).*\(3, 3\)"):
        b.set_weights([np.zeros((3, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match=rf"'{b.name}': expected 2 weights"):
        b.set_weights([np.zeros((4, 3))])


def test_wrong_feature_size_names_layer_expected_and_received():
    layer = Dense(2, name="head")
    layer(tape.ones((3, 4)))
    with pytest.raises(ValueError, match=r"layer 'head'.*value 4.*shape \(3, 5\)"):
        layer(tape.ones((3, 5)))
    with pytest.raises(ValueError, match=r"layer 'head'.*min_ndim=2"):
        layer(tape.ones((4,)))


def test_training_flag_explicit_then_context_then_default():
    layer = Scale()
    x = tape.ones((1, 2))
    layer(x)
    assert layer.seen_training is False
    layer(x, training=True)
    assert layer.seen_training is True
    with tape._state.using(tape._state.training, True):
        layer(x)
        assert layer.seen_training is True
        layer(x, training=False)
        assert layer.seen_training is False


def test_training_flag_reaches_sublayers_whose_parent_does_not_forward_it():
    class Outer(Layer):
        def __init__(self):
            super().__init__()
            self.inner = Scale()

        def call(self, x):  # no training parameter
            return self.inner(x)

    outer = Outer()
    outer(tape.ones((1, 2)), training=True)
    assert outer.inner.seen_training is True


def test_losses_regularizers_fresh_and_call_losses_from_last_call():
    layer = Scale()
    layer(tape.ones((2, 3)))
    call_loss, penalty = layer.losses
    assert call_loss.item() == 6.0 and penalty.item() == pytest.approx(0.5 * 3)
    layer.w.assign([2.0, 0.0, 0.0])
    assert layer.losses[1].item() == pytest.approx(0.5 * 4)  # recomputed from the new value
    layer(tape.zeros((2, 3)))
    assert layer.losses[0].item() == 0.0 and len(layer.losses) == 2  # last call only
    layer.add_loss(lambda: tape.sum(layer.w))
    assert [v.item() for v in layer.losses] == [0.0, 2.0, pytest.approx(2.0)]
    layer.trainable = False
    assert len(layer.losses) == 2  # frozen weights are not regularized


def test_regularizer_loss_is_differentiable():
    layer = Dense(2, kernel_regularizer=tape.regularizers.L2(0.1), bias_regularizer="l1")
    layer(tape.ones((1, 3)))
    with tape.GradientTape() as g:
        loss = tape.add(*layer.losses)
    grad_kernel, grad_bias = g.gradient(loss, [layer.kernel, layer.bias])
    np.testing.assert_allclose(grad_kernel.numpy(), 0.2 * layer.kernel.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad_bias.numpy(), 0.01 * np.sign(layer.bias.numpy()))


def test_activity_regularizer_divides_by_batch_and_nested_calls_keep_losses():
    layer = Dense(2, kernel_initializer="ones", activity_regularizer=tape.regularizers.L1(1.0))
    y = layer(tape.ones((4, 3)))
    assert len(layer.losses) == 1
    assert layer.losses[0].item() == pytest.approx(np.abs(y.numpy()).sum() / 4)
    block = Block()
    block(tape.ones((2, 5)))
    assert len(block.losses) == 2  # Scale's add_loss (this call) + its L2 penalty


class ComparedScale(Scale):
    """A layer class that defines ``__eq__`` (so it is unhashable), as user code may."""

    def __eq__(self, other):
        return isinstance(other, ComparedScale) and other.name == self.name


def test_an_outer_call_keeps_only_its_sublayers_losses_of_that_call():
    block = Block()
    block(tape.ones((2, 5)))
    first = block.losses[0].item()
    block(tape.zeros((2, 5)))  # Scale's add_loss is now sum(zeros... @ ...) = 0
    losses = block.losses
    assert len(losses) == 2 and losses[0].item() == 0.0 and first != 0.0
    inner = block.rest[1]
    inner(tape.ones((1, 3)))  # the sublayer called on its own: its own last call
    assert [v.item() for v in inner.losses][:1] == [3.0]
    assert block.losses[0].item() == 3.0  # what the sublayer holds is what the block reports
    unhashable = ComparedScale()
    assert type(unhashable).__hash__ is None
    unhashable(tape.ones((1, 2)))
    unhashable(tape.ones((1, 2)) * 2.0)
    assert [v.item() for v in unhashable.losses][:1] == [4.0]


def test_numpy_inputs_converted_and_floats_cast_to_layer_dtype():
    layer = Dense(2)
    y = layer(np.ones((1, 3)))  # float64 array into a float32 layer
    assert isinstance(y, tape.Tensor) and y.dtype == np.float32
    layer64 = Dense(2, dtype="float64")
    assert layer64(np.ones((1, 3), np.float32)).dtype == np.float64
    assert layer64.kernel.dtype == np.float64


def test_unknown_kwargs_and_missing_super_init_are_errors():
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Dense"):
        Dense(2, unit=3)

    class Broken(Layer):
        def __init__(self):
            pass

        def call(self, x):
            return x

    with pytest.raises(RuntimeError, match="super"):
        Broken()(tape.ones((1,)))


def test_input_shape_arguments_give_batch_input_shape_and_config():
    assert Dense(2, input_shape=(3,)).batch_input_shape == (None, 3)
    assert Dense(2, input_dim=5, batch_size=8).batch_input_shape == (8, 5)
    layer = Dense(2, input_dim=5)
    assert layer.get_config()["batch_input_shape"] == (None, 5)
    assert Dense.from_config(layer.get_config()).batch_input_shape == (None, 5)


def test_serialize_deserialize_and_custom_objects():
    layer = Dense(3, activation="tanh", name="d")
    clone = layers.deserialize(layers.serialize(layer))
    assert type(clone) is Dense and clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="custom_objects"):
        layers.deserialize({"class_name": "Scale", "config": {}})
    assert type(layers.deserialize({"class_name": "Scale", "config": {}},
                                   {"Scale": Scale})) is Scale


def test_compute_output_shape_default_probes_call():
    class Pairs(Layer):
        def call(self, x):
            return tape.reshape(x, (x.shape[0], -1, 2))

    assert Pairs().compute_output_shape((None, 6)) == (None, 3, 2)
    assert Pairs().compute_output_shape((5, 6)) == (5, 3, 2)


def test_input_spec_is_checked_before_building():
    layer = Dense(2)
    with pytest.raises(ValueError, match="min_ndim=2"):
        layer(tape.ones((3,)))
    assert not layer.built and layer.weights == []


def test_add_weight_defaults_and_name_check():
    layer = Layer(dtype="float64")
    w = layer.add_weight("w", (3, 2))
    steps = layer.add_weight("steps", (), dtype="int64", trainable=False)
    assert w.dtype == np.float64 and np.abs(w.numpy()).max() <= np.sqrt(6 / 5)  # glorot
    assert steps.dtype == np.int64 and steps.item() == 0
    assert [id(v) for v in layer.weights] == [id(w), id(steps)]
    # Keras 3's order: a shape first is the shape (and the next argument the initializer).
    keras3 = layer.add_weight((3, 2), "ones")
    assert keras3.shape == (3, 2) and keras3.name.endswith("/variable")
    assert np.array_equal(keras3.numpy(), np.ones((3, 2)))
    with pytest.raises(TypeError, match="name must be a string"):
        layer.add_weight(object())


def test_a_layer_called_on_a_dict_of_tensors():
    class Pick(tape.layers.Layer):
        def call(self, inputs):
            return inputs["a"] * 2.0

    out = Pick()({"a": tape.ones((1, 2)), "b": tape.zeros((1, 3))})
    np.testing.assert_array_equal(out.numpy(), [[2.0, 2.0]])
