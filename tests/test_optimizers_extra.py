"""Nadam, Adamax, Adadelta and Lion beyond their update rules (which tests/test_optimizers.py
checks step by step): Keras defaults and slot names, the generic path on every device path
(the fused kernels cover only SGD and Adam), float32 state and compile() by name. Their
state surviving save -> load is checked in tests/test_saving.py."""

import numpy as np
import pytest

import tape
from tape import optimizers
from tape.layers import Dense
from tape.models import Sequential
from tape.optimizers.fused import fused_apply

NEW = {"nadam": optimizers.Nadam, "adamax": optimizers.Adamax,
       "adadelta": optimizers.Adadelta, "lion": optimizers.Lion}


def test_defaults_are_keras_defaults():
    nadam, adamax = optimizers.Nadam(), optimizers.Adamax()
    adadelta, lion = optimizers.Adadelta(), optimizers.Lion()
    f32 = float(np.float32(0.001))
    assert all(float(o.learning_rate) == f32 for o in (nadam, adamax, adadelta, lion))
    assert (nadam.beta_1, nadam.beta_2, nadam.epsilon) == (0.9, 0.999, 1e-7)
    assert (adamax.beta_1, adamax.beta_2, adamax.epsilon) == (0.9, 0.999, 1e-7)
    assert (adadelta.rho, adadelta.epsilon) == (0.95, 1e-7)
    assert (lion.beta_1, lion.beta_2) == (0.9, 0.99)
    assert [o.name for o in (nadam, adamax, adadelta, lion)] == list(NEW)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="beta_1"):
            optimizers.Lion(beta_1=bad)


def test_slot_names_follow_keras():
    kernel = tape.Variable(np.ones((2, 3)), name="dense/kernel")
    bias = tape.Variable(np.zeros(3), name="dense/bias")
    expected = {
        "nadam": ["momentum/dense_kernel", "momentum/dense_bias", "velocity/dense_kernel",
                  "velocity/dense_bias", "u_product"],
        "adamax": ["momentum/dense_kernel", "norm/dense_kernel", "momentum/dense_bias",
                   "norm/dense_bias"],
        "adadelta": ["accumulated_grad/dense_kernel", "accumulated_grad/dense_bias",
                     "accumulated_delta_var/dense_kernel", "accumulated_delta_var/dense_bias"],
        "lion": ["momentum/dense_kernel", "momentum/dense_bias"],
    }
    for name, slots in expected.items():
        opt = optimizers.get(name)
        opt.build([kernel, bias])
        assert [v.name for v in opt.variables] == [
            f"{name}/iteration", f"{name}/learning_rate", *(f"{name}/{s}" for s in slots)]
        assert all(not v.trainable for v in opt.variables)


@pytest.mark.parametrize("name", NEW)
def test_the_fused_kernel_path_never_takes_them(name):
    # A bogus kernel runtime: were the fused path to pick the optimizer up, launching with
    # it would fail. Both optimizers must take the generic path and agree exactly.
    opt, plain = NEW[name](0.1), NEW[name](0.1)
    opt._kernel_runtime = object()
    assert not hasattr(opt, "_fused_update")
    a = tape.Variable(np.array([1.0, -2.0, 0.5]), name="a")
    b = tape.Variable(np.array([1.0, -2.0, 0.5]), name="a")
    g = tape.tensor(np.array([0.3, -0.1, 2.0]))
    lr = {a.dtype: opt.learning_rate}
    opt.build([a])
    assert fused_apply(opt, [g], [a], lr) is False
    for _ in range(3):
        opt.apply_gradients([(g, a)])
        plain.apply_gradients([(g, b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), [1.0, -2.0, 0.5])


def test_nadam_state_follows_the_first_variable_dtype_and_counts_steps():
    w = tape.Variable(np.array([1.0, 2.0], dtype=np.float32), name="w")
    opt = optimizers.Nadam(0.01)
    for _ in range(3):
        opt.apply_gradients([(tape.tensor(np.array([0.5, -0.5], np.float32)), w)])
    u_product = opt.variables[-1]
    assert u_product.name == "nadam/u_product" and u_product.dtype == np.float32
    expected = np.prod([0.9 * (1 - 0.5 * 0.96**t) for t in (1, 2, 3)])
    assert float(u_product.numpy()) == pytest.approx(expected, rel=1e-6)
    assert w.dtype == np.float32


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    return x, rng.integers(0, 3, 40)


@pytest.mark.parametrize("name", NEW)
def test_compile_by_name_trains_a_small_model(name):
    tape.random.seed(0)
    x, y = _data()
    model = Sequential([Dense(16, activation="relu", input_dim=5),
                        Dense(3, activation="softmax")])
    model.compile(name, "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 1.0 if name == "adadelta" else 0.01
    assert type(model.optimizer) is NEW[name]
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before - 0.05
