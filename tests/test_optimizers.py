"""Optimizers and schedules against their published rules, written out here in NumPy.

Each reference below is the textbook statement of the rule (Keras 3's placement of epsilon
and bias correction), kept independent of tape: the tests feed both the same gradients of a
small quadratic and compare the float64 variables after every step.
"""

import math
import warnings

import numpy as np
import pytest

import tape
import tape.optimizers
from tape import optimizers
from tape.optimizers import schedules

RTOL, ATOL = 1e-6, 1e-12
STEPS = 6

# Two variables of different shapes (so slots are looked up per variable), one quadratic:
# loss = 0.5 x^T A x - b^T x + 1.5 * sum((y - T)^2).
A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 1.0]])
B = np.array([1.0, -2.0, 0.5])
T = np.array([[0.5, -1.0], [2.0, 0.0]])
X0 = np.array([1.0, 2.0, -1.5])
Y0 = np.array([[0.0, 0.3], [-0.7, 1.2]])


def quadratic_grads(x, y):
    return [A @ x - B, 3.0 * (y - T)]


def f32(value: float) -> float:
    """The learning rate as the optimizer stores it (a float32 Variable, as Keras)."""
    return float(np.float32(value))


# ---- the rules, step by step --------------------------------------------------------------
# Each takes (g, x, t, s): gradient, value, 1-based step number, a per-variable state dict.


def sgd_rule(lr, momentum=0.0, nesterov=False):
    def step(g, x, t, s):
        if momentum == 0:
            return x - lr * g
        s["m"] = momentum * s.get("m", 0.0) - lr * g
        if nesterov:
            return x + momentum * s["m"] - lr * g
        return x + s["m"]

    return step


def adam_rule(lr, beta_1=0.9, beta_2=0.999, eps=1e-7, amsgrad=False, weight_decay=None):
    def step(g, x, t, s):
        if weight_decay is not None:
            x = x - x * weight_decay * lr
        s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
        s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g**2
        v = s["v"]
        if amsgrad:
            s["v_hat"] = np.maximum(s.get("v_hat", 0.0), s["v"])
            v = s["v_hat"]
        alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        return x - alpha * s["m"] / (np.sqrt(v) + eps)

    return step


def rmsprop_rule(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    def step(g, x, t, s):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
        if centered:
            s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
            increment = lr * g / np.sqrt(s["v"] - s["a"] ** 2 + eps)
        else:
            increment = lr * g / np.sqrt(s["v"] + eps)
        if momentum > 0:
            s["m"] = momentum * s.get("m", 0.0) + increment
            return x - s["m"]
        return x - increment

    return step


def adagrad_rule(lr, initial=0.1, eps=1e-7):
    def step(g, x, t, s):
        s["acc"] = s.get("acc", initial) + g**2
        return x - lr * g / np.sqrt(s["acc"] + eps)

    return step


def nadam_rule(lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    # Dozat (2016) with Keras 3's momentum schedule mu(t) = beta_1 * (1 - 0.5 * 0.96**t);
    # the product of the mu's is shared by all variables, so it is kept outside `s`.
    mu = lambda t: beta_1 * (1 - 0.5 * 0.96**t)  # noqa: E731
    product = {}

    def step(g, x, t, s):
        prod_t = product.setdefault(t, math.prod(mu(i) for i in range(1, t + 1)))
        s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
        s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g**2
        m_hat = mu(t + 1) * s["m"] / (1 - prod_t * mu(t + 1)) + (1 - mu(t)) * g / (1 - prod_t)
        return x - lr * m_hat / (np.sqrt(s["v"] / (1 - beta_2**t)) + eps)

    return step


def adamax_rule(lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    # Kingma & Ba (2015), section 7.1, with Keras' epsilon added to the infinity norm.
    def step(g, x, t, s):
        s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
        s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
        return x - lr / (1 - beta_1**t) * s["m"] / (s["u"] + eps)

    return step


def adadelta_rule(lr, rho=0.95, eps=1e-7):
    # Zeiler (2012), Algorithm 1, with the update scaled by the learning rate (Keras).
    def step(g, x, t, s):
        s["eg2"] = rho * s.get("eg2", 0.0) + (1 - rho) * g**2
        dx = -np.sqrt(s.get("edx2", 0.0) + eps) / np.sqrt(s["eg2"] + eps) * g
        s["edx2"] = rho * s.get("edx2", 0.0) + (1 - rho) * dx**2
        return x + lr * dx

    return step


def lion_rule(lr, beta_1=0.9, beta_2=0.99):
    # Chen et al. (2023), Algorithm 2 (without its weight decay term).
    def step(g, x, t, s):
        m = s.get("m", 0.0)
        s["m"] = beta_2 * m + (1 - beta_2) * g
        return x - lr * np.sign(beta_1 * m + (1 - beta_1) * g)

    return step


def clipped(rule, clipnorm):
    return lambda g, x, t, s: rule(g * clipnorm / max(np.linalg.norm(g), clipnorm), x, t, s)


def run_against(opt, rule, steps=STEPS):
    """Step ``opt`` and ``rule`` side by side on the quadratic; compare after each step."""
    variables = [tape.Variable(X0.copy(), name="x"), tape.Variable(Y0.copy(), name="dense/kernel")]
    expected = [X0.copy(), Y0.copy()]
    states = [{}, {}]
    for t in range(1, steps + 1):
        grads = quadratic_grads(*expected)
        opt.apply_gradients(zip([tape.tensor(g) for g in grads], variables))
        expected = [rule(g, x, t, s) for g, x, s in zip(grads, expected, states)]
        for v, e in zip(variables, expected):
            assert v.dtype == np.float64
            np.testing.assert_allclose(v.numpy(), e, rtol=RTOL, atol=ATOL, err_msg=f"step {t}")
    assert int(opt.iterations) == steps
    return variables


CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), sgd_rule(f32(0.1))),
    "sgd-momentum": (lambda: optimizers.SGD(0.1, momentum=0.9), sgd_rule(f32(0.1), 0.9)),
    "sgd-nesterov": (lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True),
                     sgd_rule(f32(0.05), 0.8, nesterov=True)),
    "adam": (lambda: optimizers.Adam(0.1), adam_rule(f32(0.1))),
    "adam-eps": (lambda: optimizers.Adam(0.1, beta_1=0.5, beta_2=0.8, epsilon=0.3),
                 adam_rule(f32(0.1), 0.5, 0.8, eps=0.3)),
    "adam-amsgrad": (lambda: optimizers.Adam(0.2, beta_2=0.5, amsgrad=True),
                     adam_rule(f32(0.2), beta_2=0.5, amsgrad=True)),
    "adamw": (lambda: optimizers.AdamW(0.1, weight_decay=0.3),
              adam_rule(f32(0.1), weight_decay=0.3)),
    "adamw-amsgrad": (lambda: optimizers.AdamW(0.1, weight_decay=0.2, beta_2=0.5, amsgrad=True),
                      adam_rule(f32(0.1), beta_2=0.5, amsgrad=True, weight_decay=0.2)),
    "rmsprop": (lambda: optimizers.RMSprop(0.01), rmsprop_rule(f32(0.01))),
    "rmsprop-eps": (lambda: optimizers.RMSprop(0.01, rho=0.5, epsilon=0.2),
                    rmsprop_rule(f32(0.01), rho=0.5, eps=0.2)),
    "rmsprop-momentum": (lambda: optimizers.RMSprop(0.01, momentum=0.9),
                         rmsprop_rule(f32(0.01), momentum=0.9)),
    "rmsprop-centered": (lambda: optimizers.RMSprop(0.01, rho=0.8, centered=True),
                         rmsprop_rule(f32(0.01), rho=0.8, centered=True)),
    "rmsprop-centered-momentum": (
        lambda: optimizers.RMSprop(0.02, rho=0.7, momentum=0.5, epsilon=1e-3, centered=True),
        rmsprop_rule(f32(0.02), rho=0.7, momentum=0.5, eps=1e-3, centered=True)),
    "adagrad": (lambda: optimizers.Adagrad(0.1), adagrad_rule(f32(0.1))),
    "adagrad-init": (lambda: optimizers.Adagrad(0.5, initial_accumulator_value=2.0, epsilon=0.1),
                     adagrad_rule(f32(0.5), initial=2.0, eps=0.1)),
    "sgd-weight-decay": (lambda: optimizers.SGD(0.1, weight_decay=0.5),
                         lambda g, x, t, s: sgd_rule(f32(0.1))(g, x - x * 0.5 * f32(0.1), t, s)),
    "nadam": (lambda: optimizers.Nadam(0.1), nadam_rule(f32(0.1))),
    "nadam-betas": (lambda: optimizers.Nadam(0.05, beta_1=0.5, beta_2=0.8, epsilon=0.01),
                    nadam_rule(f32(0.05), 0.5, 0.8, eps=0.01)),
    "nadam-clipnorm": (lambda: optimizers.Nadam(0.1, clipnorm=1.0),
                       clipped(nadam_rule(f32(0.1)), 1.0)),
    "adamax": (lambda: optimizers.Adamax(0.1), adamax_rule(f32(0.1))),
    "adamax-betas": (lambda: optimizers.Adamax(0.2, beta_1=0.5, beta_2=0.7, epsilon=0.1),
                     adamax_rule(f32(0.2), 0.5, 0.7, eps=0.1)),
    "adamax-clipvalue": (lambda: optimizers.Adamax(0.1, clipvalue=0.5),
                         lambda g, x, t, s: adamax_rule(f32(0.1))(np.clip(g, -0.5, 0.5), x, t, s)),
    "adadelta": (lambda: optimizers.Adadelta(1.0), adadelta_rule(1.0)),
    "adadelta-rho": (lambda: optimizers.Adadelta(0.5, rho=0.7, epsilon=1e-3),
                     adadelta_rule(0.5, rho=0.7, eps=1e-3)),
    "adadelta-weight-decay": (
        lambda: optimizers.Adadelta(1.0, epsilon=1e-3, weight_decay=0.1),
        lambda g, x, t, s: adadelta_rule(1.0, eps=1e-3)(g, x - x * 0.1, t, s)),
    # A schedule is evaluated at iterations = t - 1; the rules keep their state in `s`.
    "nadam-schedule": (lambda: optimizers.Nadam(schedules.ExponentialDecay(0.1, 2, 0.5)),
                       lambda g, x, t, s: nadam_rule(f32(0.1 * 0.5 ** ((t - 1) / 2)))(g, x, t, s)),
    "adamax-schedule": (
        lambda: optimizers.Adamax(schedules.PiecewiseConstantDecay([2], [0.1, 0.02])),
        lambda g, x, t, s: adamax_rule(f32(0.1 if t <= 3 else 0.02))(g, x, t, s)),
    "lion": (lambda: optimizers.Lion(0.1), lion_rule(f32(0.1))),
    "lion-betas": (lambda: optimizers.Lion(0.05, beta_1=0.5, beta_2=0.8),
                   lion_rule(f32(0.05), 0.5, 0.8)),
    # Large steps overshoot, so momentum and gradient disagree in sign: the order of Lion's
    # two lines (update with the old momentum, then decay it) matters here.
    "lion-overshoot": (lambda: optimizers.Lion(1.5, beta_1=0.99, beta_2=0.5),
                       lion_rule(1.5, 0.99, 0.5)),
    "lion-global-clipnorm": (lambda: optimizers.Lion(0.1, global_clipnorm=1.0),
                             lion_rule(f32(0.1))),  # sign() ignores a common positive scale
}


@pytest.mark.parametrize("case", CASES)
def test_update_rule_matches_reference(case):
    make, rule = CASES[case]
    run_against(make(), rule)


def test_defaults_are_keras_defaults():
    sgd, adam, adamw = optimizers.SGD(), optimizers.Adam(), optimizers.AdamW()
    rms, ada = optimizers.RMSprop(), optimizers.Adagrad()
    assert (float(sgd.learning_rate), sgd.momentum, sgd.nesterov) == (f32(0.01), 0.0, False)
    assert (float(adam.learning_rate), adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (
        f32(0.001), 0.9, 0.999, 1e-7, False)
    assert adamw.weight_decay == 0.004 and adam.weight_decay is None
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert (ada.initial_accumulator_value, ada.epsilon) == (0.1, 1e-7)
    assert [o.name for o in (sgd, adam, adamw, rms, ada)] == [
        "SGD", "adam", "adamw", "rmsprop", "adagrad"]


def test_argument_validation():
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="name"):
        optimizers.Adam(name="a/b")


# ---- clipping -----------------------------------------------------------------------------


def sgd_step_with(grads, **kwargs):
    """One SGD step with learning rate 1 from zeros: the variables become -clipped(grads)."""
    variables = [tape.Variable(np.zeros_like(g), name=f"v{i}") for i, g in enumerate(grads)]
    opt = optimizers.SGD(learning_rate=1.0, **kwargs)
    opt.apply_gradients(zip([tape.tensor(g) for g in grads], variables))
    return [-v.numpy() for v in variables]


def test_clipvalue():
    (out,) = sgd_step_with([np.array([3.0, -0.5, -7.0])], clipvalue=1.0)
    np.testing.assert_allclose(out, [1.0, -0.5, -1.0])


def test_clipnorm_is_per_gradient():
    big, small = np.array([3.0, 4.0]), np.array([[0.3, 0.4]])  # norms 5 and 0.5
    out_big, out_small = sgd_step_with([big, small], clipnorm=1.0)
    np.testing.assert_allclose(out_big, big / 5.0, rtol=RTOL)
    np.testing.assert_allclose(out_small, small, rtol=RTOL)  # under the limit: unchanged
    (zero,) = sgd_step_with([np.zeros(3)], clipnorm=1.0)
    np.testing.assert_array_equal(zero, 0.0)


def test_global_clipnorm_scales_all_gradients_together():
    g1, g2 = np.array([3.0, 0.0]), np.array([[0.0], [4.0]])  # global norm 5
    out1, out2 = sgd_step_with([g1, g2], global_clipnorm=2.0)
    np.testing.assert_allclose(out1, g1 * 2.0 / 5.0, rtol=RTOL)
    np.testing.assert_allclose(out2, g2 * 2.0 / 5.0, rtol=RTOL)
    out1, out2 = sgd_step_with([g1, g2], global_clipnorm=10.0)
    np.testing.assert_allclose(out1, g1, rtol=RTOL)
    np.testing.assert_allclose(out2, g2, rtol=RTOL)


def test_global_clipnorm_of_infinite_gradient_is_nan_everywhere():
    with np.errstate(invalid="ignore"):
        out1, out2 = sgd_step_with([np.array([np.inf, 1.0]), np.array([2.0])], global_clipnorm=1.0)
    assert np.isnan(out1).all() and np.isnan(out2).all()


def test_clipping_then_adam_matches_reference():
    def rule(g, x, t, s):
        return adam_rule(f32(0.1))(g * 1.0 / max(np.linalg.norm(g), 1.0), x, t, s)

    run_against(optimizers.Adam(0.1, clipnorm=1.0), rule)


# ---- schedules ----------------------------------------------------------------------------


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = schedules.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.6, staircase=staircase)
    for step in [0, 1, 3, 7, 10, 14, 100]:
        p = step // 7 if staircase else step / 7
        assert float(s(step)) == pytest.approx(0.1 * 0.6**p, rel=RTOL)


def test_cosine_decay():
    s = schedules.CosineDecay(0.5, decay_steps=20, alpha=0.1)
    for step in [0, 1, 5, 10, 19, 20, 35]:
        k = min(step, 20)
        cosine = 0.5 * (1 + math.cos(math.pi * k / 20))
        assert float(s(step)) == pytest.approx(0.5 * ((1 - 0.1) * cosine + 0.1), rel=RTOL)


def test_cosine_decay_with_warmup():
    s = schedules.CosineDecay(0.0, decay_steps=10, alpha=0.0, warmup_target=1.0, warmup_steps=4)
    for step in [0, 1, 2, 3, 4, 5, 9, 14, 30]:
        if step < 4:
            expected = 0.0 + (1.0 - 0.0) * step / 4
        else:
            k = min(step, 14) - 4
            expected = 1.0 * 0.5 * (1 + math.cos(math.pi * k / 10))
        assert float(s(step)) == pytest.approx(expected, rel=RTOL, abs=1e-7)
    no_warmup = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=2.0)
    assert float(no_warmup(0)) == pytest.approx(2.0)


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([5, 10, 20], [1.0, 0.5, 0.2, 0.05])
    for step, expected in [(0, 1.0), (5, 1.0), (6, 0.5), (10, 0.5), (11, 0.2), (20, 0.2),
                           (21, 0.05), (1000, 0.05)]:
        assert float(s(step)) == pytest.approx(expected, rel=RTOL)
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5])


def test_schedule_validation_and_config_round_trip():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    for s in [schedules.ExponentialDecay(0.1, 7, 0.6, staircase=True),
              schedules.CosineDecay(0.5, 20, alpha=0.1, warmup_target=1.0, warmup_steps=3),
              schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1])]:
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again.get_config() == s.get_config()
        assert float(again(6)) == float(s(6))


def test_optimizer_evaluates_schedule_at_iterations():
    s = schedules.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=s)
    x = tape.Variable(np.array([1.0, -1.0]), name="x")
    expected = x.numpy().copy()
    g = np.array([1.0, 2.0])
    for t in range(5):
        assert float(opt.learning_rate) == pytest.approx(0.2 * 0.5 ** (t / 2), rel=RTOL)
        opt.apply_gradients([(tape.tensor(g), x)])
        expected = expected - f32(0.2 * 0.5 ** (t / 2)) * g  # the rate at iterations == t
        np.testing.assert_allclose(x.numpy(), expected, rtol=RTOL)
    assert not any("learning_rate" in v.name for v in opt.variables)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


# ---- apply_gradients bookkeeping ----------------------------------------------------------


def test_all_none_gradients_raise_naming_the_variables():
    a, b = tape.Variable([1.0], name="alpha"), tape.Variable([2.0], name="beta")
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match=r"No gradients provided.*'alpha'.*'beta'"):
        opt.apply_gradients([(None, a), (None, b)])
    assert int(opt.iterations) == 0


def test_some_none_gradients_warn_once_and_update_the_rest():
    a, b = tape.Variable([1.0], name="alpha"), tape.Variable([2.0], name="beta")
    opt = optimizers.SGD(0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.apply_gradients([(tape.tensor([1.0]), a), (None, b)])
        opt.apply_gradients([(tape.tensor([1.0]), a), (None, b)])
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'beta'" in messages[0] and "'alpha'" not in messages[0]
    assert a.numpy().tolist() == [0.0] and b.numpy().tolist() == [2.0]
    assert int(opt.iterations) == 2


def test_iterations_is_a_non_trainable_int_variable_that_counts_updates():
    opt = optimizers.RMSprop()
    assert isinstance(opt.iterations, tape.Variable) and not opt.iterations.trainable
    assert opt.iterations.dtype.kind == "i" and int(opt.iterations) == 0
    x = tape.Variable([1.0, 2.0], name="x")
    for n in range(1, 4):
        returned = opt.apply_gradients([(tape.tensor([0.1, 0.1]), x)])
        assert returned is opt.iterations and int(opt.iterations) == n


def test_apply_checks_variables_and_shapes():
    x, y = tape.Variable([1.0, 2.0], name="x"), tape.Variable([3.0], name="y")
    opt = optimizers.SGD()
    with pytest.raises(ValueError, match="without `variables`"):
        opt.apply([tape.tensor([1.0, 1.0])])
    with pytest.raises(tape.ShapeError, match="'x'"):
        opt.apply_gradients([(tape.tensor([1.0, 1.0, 1.0]), x)])
    opt.apply([np.array([1.0, 1.0])], [x])  # NumPy gradients are accepted
    with pytest.raises(ValueError, match="Unknown variable: 'y'"):
        opt.apply_gradients([(tape.tensor([1.0]), y)])
    opt.apply([tape.tensor([1.0, 1.0])])  # the built variables by default
    np.testing.assert_allclose(x.numpy(), [1.0 - 2 * f32(0.01), 2.0 - 2 * f32(0.01)])


def test_gradient_dtype_follows_the_variable():
    x = tape.Variable(np.array([1.0, 2.0], dtype=np.float32), name="x")
    optimizers.Adam(0.1).apply_gradients([(tape.tensor(np.array([1.0, -1.0])), x)])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), [0.9, 2.1], rtol=1e-5)


def test_updates_are_not_recorded_by_an_active_tape():
    x = tape.Variable([1.0, 2.0], name="x")
    opt = optimizers.Adam(0.1)
    with tape.GradientTape() as g:
        opt.apply_gradients([(tape.tensor([1.0, 1.0]), x)])
    assert g.watched_variables() == ()


def test_exclude_from_weight_decay():
    kernel = tape.Variable(np.array([1.0, 2.0]), name="dense/kernel")
    bias = tape.Variable(np.array([1.0]), name="dense/bias")
    other = tape.Variable(np.array([4.0]), name="other")
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[other], var_names=["bias"])
    zero = [tape.tensor(np.zeros(v.shape)) for v in (kernel, bias, other)]
    opt.apply_gradients(zip(zero, [kernel, bias, other]))
    np.testing.assert_allclose(kernel.numpy(), [1.0 - 0.5 * f32(0.1), 2.0 - 2 * 0.5 * f32(0.1)])
    assert bias.numpy().tolist() == [1.0] and other.numpy().tolist() == [4.0]
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


# ---- minimize -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam",
                                  "adamax", "adadelta", "lion"])
def test_minimize_reduces_a_quadratic(name):
    x = tape.Variable(X0.copy(), name="x")
    a, b = tape.tensor(A), tape.tensor(B)

    def loss():
        return 0.5 * tape.sum(x * (a @ x)) - tape.sum(b * x)

    opt = optimizers.get(name)
    opt.learning_rate = 0.1
    if name == "adadelta":  # its steps start at about sqrt(epsilon), whatever the rate
        opt = optimizers.Adadelta(1.0, epsilon=1e-3)
    start = float(loss())
    for _ in range(50):
        value = opt.minimize(loss, [x])
    assert float(value) < start - 1.0
    assert int(opt.iterations) == 50


def test_minimize_with_a_tensor_loss_needs_its_tape():
    x = tape.Variable([2.0], name="x")
    opt = optimizers.SGD(0.25)
    with tape.GradientTape() as g:
        loss = tape.sum(x * x)
    opt.minimize(loss, [x], tape=g)
    np.testing.assert_allclose(x.numpy(), [1.0])  # 2 - 0.25 * 4
    with pytest.raises(ValueError, match="tape"):
        opt.minimize(tape.sum(x * x), [x])


def test_minimize_watches_non_trainable_variables_and_takes_a_callable_var_list():
    x = tape.Variable([2.0], name="x", trainable=False)
    opt = optimizers.SGD(0.25)
    opt.minimize(lambda: tape.sum(x * x), [x])
    np.testing.assert_allclose(x.numpy(), [1.0])
    y = tape.Variable([2.0], name="y")
    opt2 = optimizers.SGD(0.25)
    opt2.minimize(lambda: tape.sum(y * y), lambda: [y])
    np.testing.assert_allclose(y.numpy(), [1.0])


# ---- state, learning rate, config -----------------------------------------------------------


def test_variables_are_named_ordered_and_unique():
    kernel = tape.Variable(np.ones((2, 3)), name="dense/kernel")
    bias = tape.Variable(np.zeros(3), name="dense/bias")
    twin = tape.Variable(np.zeros(3), name="dense/bias")  # same name: slots stay unique
    opt = optimizers.Adam(amsgrad=True)
    opt.build([kernel, bias, twin])
    assert [v.name for v in opt.variables] == [
        "adam/iteration", "adam/learning_rate",
        "adam/momentum/dense_kernel", "adam/velocity/dense_kernel",
        "adam/momentum/dense_bias", "adam/velocity/dense_bias",
        "adam/momentum/dense_bias_1", "adam/velocity/dense_bias_1",
        "adam/velocity_hat/dense_kernel", "adam/velocity_hat/dense_bias",
        "adam/velocity_hat/dense_bias_1",
    ]
    assert all(isinstance(v, tape.Variable) and not v.trainable for v in opt.variables)
    slots = opt.variables[2:]
    assert [v.shape for v in slots[:2]] == [(2, 3), (2, 3)]
    assert all(v.dtype == np.float64 for v in slots)
    opt.build([kernel])  # building again changes nothing
    assert len(opt.variables) == 11


@pytest.mark.parametrize("name, slots", [("sgd", 0), ("adam", 2), ("adamw", 2), ("rmsprop", 1),
                                         ("adagrad", 1), ("nadam", 3), ("adamax", 2),
                                         ("adadelta", 2), ("lion", 1)])
def test_slot_counts(name, slots):
    opt = optimizers.get(name)
    opt.build([tape.Variable([1.0], name="w")])
    assert len(opt.variables) == 2 + slots
    momentum = optimizers.SGD(momentum=0.5)
    momentum.build([tape.Variable([1.0], name="w")])
    assert [v.name for v in momentum.variables][-1] == "SGD/momentum/w"


@pytest.mark.parametrize("make", [lambda: optimizers.Adam(0.1, amsgrad=True),
                                  lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                                  lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.Adagrad(0.1),
                                  lambda: optimizers.Nadam(0.1), lambda: optimizers.Adamax(0.1),
                                  lambda: optimizers.Adadelta(1.0), lambda: optimizers.Lion(0.1)])
def test_state_is_restored_by_assigning_variables(make):
    def fresh():
        return [tape.Variable(X0.copy(), name="x"), tape.Variable(Y0.copy(), name="y")]

    first, variables = make(), fresh()
    for _ in range(3):
        grads = quadratic_grads(*(v.numpy() for v in variables))
        first.apply_gradients(zip(map(tape.tensor, grads), variables))
    # A new optimizer on copies of the model, its state assigned from the first one's.
    second, copies = make(), fresh()
    for v, c in zip(variables, copies):
        c.assign(v.numpy())
    second.build(copies)
    assert [v.name for v in second.variables] == [v.name for v in first.variables]
    for mine, theirs in zip(second.variables, first.variables):
        mine.assign(theirs.numpy())
    assert int(second.iterations) == 3
    for _ in range(2):
        for opt, vs in ((first, variables), (second, copies)):
            grads = quadratic_grads(*(v.numpy() for v in vs))
            opt.apply_gradients(zip(map(tape.tensor, grads), vs))
    for v, c in zip(variables, copies):
        np.testing.assert_array_equal(v.numpy(), c.numpy())


def test_learning_rate_is_a_settable_variable():
    opt = optimizers.SGD(learning_rate=0.5)
    lr_var = opt.learning_rate
    assert isinstance(lr_var, tape.Variable) and lr_var in opt.variables
    opt.learning_rate = 0.25
    assert opt.learning_rate is lr_var and float(lr_var) == 0.25  # same Variable, new value
    x = tape.Variable([1.0], name="x")
    opt.apply_gradients([(tape.tensor([1.0]), x)])
    assert x.numpy().tolist() == [0.75]
    # A zero-argument callable is evaluated at each step.
    rates = iter([0.5, 0.25])
    opt2 = optimizers.SGD(learning_rate=lambda: next(rates))
    y = tape.Variable([1.0], name="y")
    opt2.apply_gradients([(tape.tensor([1.0]), y)])
    opt2.apply_gradients([(tape.tensor([1.0]), y)])
    assert y.numpy().tolist() == [0.25]


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.3, momentum=0.5, nesterov=True, clipvalue=2.0),
    lambda: optimizers.Adam(0.2, beta_1=0.8, amsgrad=True, global_clipnorm=1.0, name="opt"),
    lambda: optimizers.AdamW(0.1, weight_decay=0.01, clipnorm=3.0),
    lambda: optimizers.RMSprop(0.1, rho=0.8, momentum=0.1, centered=True),
    lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.5),
    lambda: optimizers.Adam(schedules.CosineDecay(0.1, 100, alpha=0.1)),
    lambda: optimizers.Nadam(0.2, beta_1=0.8, epsilon=1e-3, clipnorm=2.0, name="nd"),
    lambda: optimizers.Adamax(schedules.ExponentialDecay(0.1, 10, 0.5), beta_2=0.9),
    lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6, weight_decay=0.01),
    lambda: optimizers.Lion(1e-4, beta_1=0.95, beta_2=0.98, global_clipnorm=1.0),
])
def test_config_round_trip(make):
    opt = make()
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    restored = optimizers.deserialize(optimizers.serialize(opt))
    assert type(restored) is type(opt) and restored.get_config() == config


def test_get_resolves_names_instances_and_configs():
    for name, cls in [("sgd", optimizers.SGD), ("Adam", optimizers.Adam),
                      ("ADAMW", optimizers.AdamW), ("rmsprop", optimizers.RMSprop),
                      ("adagrad", optimizers.Adagrad), ("nadam", optimizers.Nadam),
                      ("adamax", optimizers.Adamax), ("Adadelta", optimizers.Adadelta),
                      ("lion", optimizers.Lion)]:
        assert type(optimizers.get(name)) is cls
    opt = optimizers.Adam()
    assert optimizers.get(opt) is opt
    from_dict = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.2}})
    assert float(from_dict.learning_rate) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="adadelta, adagrad, adam, adamax, adamw, lion, nadam"):
        optimizers.get("adafactor")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(3)


def test_custom_optimizer_fills_build_and_update_step():
    class SignSGD(optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, name="sign_sgd"):
            super().__init__(learning_rate, name=name)

        def update_step(self, gradient, variable, learning_rate):
            variable.assign_sub(learning_rate * tape.sign(gradient))

    x = tape.Variable(np.array([1.0, -1.0, 0.0]), name="x")
    opt = SignSGD(0.5)
    opt.apply_gradients([(tape.tensor([3.0, -0.1, 0.0]), x)])
    np.testing.assert_allclose(x.numpy(), [0.5, -0.5, 0.0])
    assert [v.name for v in opt.variables] == ["sign_sgd/iteration", "sign_sgd/learning_rate"]
