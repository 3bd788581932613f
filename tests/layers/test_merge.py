"""Merge layers: values against NumPy, gradients, shape checks, symbolic shapes, configs."""

import numpy as np
import pytest

import tape
from tape import layers
from tape.layers import Add, Average, Concatenate, Input, Maximum, Minimum, Multiply, Subtract
from tape.testing import check_gradients

RNG = np.random.default_rng(0)

ELEMENTWISE = [
    (Add, lambda a, b: a + b),
    (Subtract, lambda a, b: a - b),
    (Multiply, lambda a, b: a * b),
    (Average, lambda a, b: (a + b) / 2),
    (Maximum, np.maximum),
    (Minimum, np.minimum),
]


@pytest.mark.parametrize(("cls", "reference"), ELEMENTWISE)
def test_elementwise_merge_values_and_gradients(cls, reference):
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    out = cls()([a.astype(np.float32), b.astype(np.float32)])
    np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-5, atol=1e-6)
    layer = cls(dtype="float64")
    check_gradients(lambda x, y: layer([x, y]), a, b)


def test_add_three_inputs_with_broadcast():
    a, b, c = np.ones((2, 3)), np.full((2, 1), 2.0), np.full((3,), 3.0)
    out = Add()([a, b, c])
    np.testing.assert_array_equal(out.numpy(), np.full((2, 3), 6.0))


def test_concatenate_values_axis_and_gradients():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 5))
    np.testing.assert_allclose(Concatenate()([a, b]).numpy(), np.concatenate([a, b], -1),
                               rtol=1e-6)
    c, d = RNG.normal(size=(2, 3)), RNG.normal(size=(4, 3))
    np.testing.assert_allclose(Concatenate(axis=0)([c, d]).numpy(),
                               np.concatenate([c, d], 0), rtol=1e-6)
    layer = Concatenate(dtype="float64")
    check_gradients(lambda x, y: layer([x, y]) ** 2, a, b)


def test_merge_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="'cat'.*match except on the concatenation axis"):
        Concatenate(name="cat")([tape.ones((2, 3)), tape.ones((3, 3))])
    with pytest.raises(ValueError, match="'plus'.*cannot be merged"):
        Add(name="plus")([tape.ones((2, 3)), tape.ones((2, 4))])
    with pytest.raises(ValueError, match="list of inputs"):
        Add()(tape.ones((2, 3)))
    with pytest.raises(ValueError, match="exactly two"):
        Subtract()([tape.ones((1,))] * 3)


def test_symbolic_merge_shapes_and_history():
    a, b = Input(shape=(4,)), Input(shape=(6,))
    c = layers.concatenate([a, b])
    assert c.shape == (None, 10)
    assert c.node.parents == (a, b) and c.node.arguments == [a, b]
    s = Add()([layers.Dense(3)(c), layers.Dense(3)(a)])
    assert s.shape == (None, 3) and len(s.node.parents) == 2
    seq = Input(shape=(None, 4))
    assert Concatenate(axis=1)([seq, Input(shape=(5, 4))]).shape == (None, None, 4)
    assert Multiply()([Input(shape=(2, 1)), Input(shape=(1, 5))]).shape == (None, 2, 5)
    with pytest.raises(ValueError, match="cannot be merged"):
        Add()([a, b])


def test_functional_helpers_and_config_round_trip():
    x = [tape.ones((1, 2)), tape.ones((1, 2))]
    for helper in (layers.add, layers.subtract, layers.multiply, layers.average,
                   layers.maximum, layers.minimum):
        assert helper(x).shape == (1, 2)
    merges = [cls(name=cls.__name__) for cls, _ in ELEMENTWISE]
    for layer in (Concatenate(axis=1, name="c"), *merges):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
        assert layers.deserialize(layers.serialize(layer)).get_config() == layer.get_config()
