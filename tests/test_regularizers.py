"""tape.regularizers: penalties by hand, gradients, get() and configs."""

import numpy as np
import pytest

import tape
from tape import regularizers
from tape.testing import check_gradients

W = np.random.default_rng(0).normal(size=(4, 3))


def test_penalties_by_hand():
    assert regularizers.L1(0.1)(W).item() == pytest.approx(0.1 * np.abs(W).sum())
    assert regularizers.L2(0.2)(W).item() == pytest.approx(0.2 * (W**2).sum())
    both = regularizers.L1L2(l1=0.3, l2=0.4)(W).item()
    assert both == pytest.approx(0.3 * np.abs(W).sum() + 0.4 * (W**2).sum())
    assert regularizers.L1L2()(W).item() == 0.0  # Keras 3 defaults: l1 = l2 = 0
    assert regularizers.L1()(W).item() == pytest.approx(0.01 * np.abs(W).sum())  # default


def test_penalty_is_a_scalar_in_the_weight_dtype():
    out = regularizers.L2()(tape.Variable(W.astype(np.float32)))
    assert isinstance(out, tape.Tensor) and out.shape == () and out.dtype == np.float32


@pytest.mark.parametrize("reg", [regularizers.L1(0.1), regularizers.L2(0.2),
                                 regularizers.L1L2(0.3, 0.4)], ids=repr)
def test_gradients(reg):
    check_gradients(reg, W)


def test_gradient_through_a_variable():
    w = tape.Variable(W)
    with tape.GradientTape() as g:
        penalty = regularizers.L1L2(0.5, 0.25)(w)
    np.testing.assert_allclose(g.gradient(penalty, w).numpy(), 0.5 * np.sign(W) + 0.5 * W)


@pytest.mark.parametrize("name,cls", [("l1", regularizers.L1), ("l2", regularizers.L2),
                                      ("l1_l2", regularizers.L1L2), ("L2", regularizers.L2)])
def test_get(name, cls):
    assert type(regularizers.get(name)) is cls


def test_get_other_identifiers_and_errors():
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg
    assert regularizers.get(None) is None
    assert regularizers.l2(1e-4).l2 == 1e-4  # Keras' lowercase alias
    fn = lambda w: tape.sum(w)  # noqa: E731
    assert regularizers.get(fn) is fn
    with pytest.raises(ValueError, match="l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="l2=-1"):
        regularizers.L2(-1)


def test_config_round_trip():
    for reg in (regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.2)):
        again = regularizers.get({"class_name": type(reg).__name__, "config": reg.get_config()})
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
        assert type(reg).from_config(reg.get_config())(W).item() == reg(W).item()
