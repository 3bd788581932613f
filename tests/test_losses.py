"""tape.losses against NumPy by hand and scikit-learn; reductions, sample weights, gradients,
the fused softmax/sigmoid path, get() and its errors."""

import gc
import weakref

import numpy as np
import pytest
import sklearn.metrics as skm

import tape
from tape import losses
from tape.testing import check_gradients

RNG = np.random.default_rng(0)
Y_TRUE = RNG.normal(size=(6, 3))
Y_PRED = RNG.normal(size=(6, 3))
LOGITS = RNG.normal(size=(5, 4))
LABELS = np.array([0, 3, 1, 2, 3])
ONE_HOT = np.eye(4)[LABELS]
BIN_TRUE = np.array([[1.0], [0.0], [1.0], [1.0], [0.0]])
BIN_PROB = np.array([[0.9], [0.2], [0.4], [0.7], [0.55]])


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def value(t):
    return np.asarray(t.numpy(), dtype=np.float64)


# ---- values against scikit-learn and NumPy ------------------------------------------------
def test_mse_and_mae_match_sklearn():
    assert value(losses.MeanSquaredError()(Y_TRUE, Y_PRED)) == pytest.approx(
        skm.mean_squared_error(Y_TRUE, Y_PRED), rel=1e-12)
    assert value(losses.MeanAbsoluteError()(Y_TRUE, Y_PRED)) == pytest.approx(
        skm.mean_absolute_error(Y_TRUE, Y_PRED), rel=1e-12)
    per_sample = losses.mean_squared_error(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(value(per_sample), ((Y_TRUE - Y_PRED) ** 2).mean(-1), rtol=1e-12)


def test_crossentropies_match_sklearn_log_loss():
    probs = softmax(LOGITS)
    expected = skm.log_loss(LABELS, probs, labels=range(4))
    assert value(losses.CategoricalCrossentropy()(ONE_HOT, probs)) == pytest.approx(expected)
    assert value(losses.SparseCategoricalCrossentropy()(LABELS, probs)) == pytest.approx(expected)
    assert value(losses.BinaryCrossentropy()(BIN_TRUE, BIN_PROB)) == pytest.approx(
        skm.log_loss(BIN_TRUE.ravel(), BIN_PROB.ravel()))


def test_huber_and_kld_by_hand():
    err = np.abs(Y_PRED - Y_TRUE)
    delta = 0.7
    hub = np.where(err <= delta, 0.5 * err**2, delta * err - 0.5 * delta**2).mean(-1)
    np.testing.assert_allclose(value(losses.huber(Y_TRUE, Y_PRED, delta)), hub, rtol=1e-12)
    assert value(losses.Huber(delta)(Y_TRUE, Y_PRED)) == pytest.approx(hub.mean())
    p, q = softmax(Y_TRUE), softmax(Y_PRED)
    np.testing.assert_allclose(value(losses.kl_divergence(p, q)),
                               (p * np.log(p / q)).sum(-1), rtol=1e-10)
    assert value(losses.KLDivergence()(p, q)) == pytest.approx((p * np.log(p / q)).sum(-1).mean())


def test_probabilities_are_clipped_like_keras():
    # p = 0 for the true class: -log(1e-7), not inf.
    loss = losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, 1.0]])
    assert value(loss)[0] == pytest.approx(-np.log(1e-7), rel=1e-4)
    assert np.isfinite(value(losses.binary_crossentropy([[1.0]], [[0.0]]))).all()


def test_label_smoothing():
    probs = softmax(LOGITS)
    smooth = ONE_HOT * 0.8 + 0.2 / 4
    expected = -(smooth * np.log(probs)).sum(-1).mean()
    loss = losses.CategoricalCrossentropy(label_smoothing=0.2)(ONE_HOT, probs)
    assert value(loss) == pytest.approx(expected)
    yt = BIN_TRUE * 0.9 + 0.05
    expected = -(yt * np.log(BIN_PROB) + (1 - yt) * np.log(1 - BIN_PROB)).mean()
    assert value(losses.BinaryCrossentropy(label_smoothing=0.1)(BIN_TRUE, BIN_PROB)) == \
        pytest.approx(expected)


# ---- reductions and sample weights ----------------------------------------------------------
def test_every_reduction_mode():
    per = ((Y_TRUE - Y_PRED) ** 2).mean(-1)
    w = RNG.uniform(size=6)
    cases = {
        "none": per * w, None: per * w, "sum": (per * w).sum(),
        "sum_over_batch_size": (per * w).mean(), "mean": (per * w).mean(),
        "mean_with_sample_weight": (per * w).sum() / w.sum(),
    }
    for reduction, expected in cases.items():
        got = losses.MeanSquaredError(reduction=reduction)(Y_TRUE, Y_PRED, sample_weight=w)
        np.testing.assert_allclose(value(got), expected, rtol=1e-12, err_msg=str(reduction))
    assert value(losses.MeanSquaredError(reduction="sum")(Y_TRUE, Y_PRED)) == \
        pytest.approx(per.sum())


def test_sample_weight_shapes_and_zero_weights():
    per = ((Y_TRUE - Y_PRED) ** 2).mean(-1)
    w = np.arange(6.0)
    mse = losses.MeanSquaredError()
    # (N,) and (N, 1) weights are the same thing; a scalar scales everything.
    assert value(mse(Y_TRUE, Y_PRED, w)) == pytest.approx((per * w).mean())
    assert value(mse(Y_TRUE, Y_PRED, w[:, None])) == pytest.approx((per * w).mean())
    assert value(mse(Y_TRUE, Y_PRED, 2.0)) == pytest.approx(2 * per.mean())
    zero = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    assert value(zero(Y_TRUE, Y_PRED, np.zeros(6))) == 0.0


def test_invalid_reduction_lists_the_valid_ones():
    with pytest.raises(ValueError, match="sum_over_batch_size"):
        losses.MeanSquaredError(reduction="average")


def test_rank_1_targets_against_column_predictions():
    # Keras' squeeze_or_expand_to_same_rank: y_true (N,) against y_pred (N, 1).
    y, p = np.array([1.0, 2.0, 3.0]), np.array([[1.5], [2.0], [2.0]])
    assert value(losses.MeanSquaredError()(y, p)) == pytest.approx((0.25 + 0 + 1) / 3)


# ---- gradients -------------------------------------------------------------------------------
LOSS_CASES = [
    ("mse", losses.MeanSquaredError(), Y_TRUE, Y_PRED),
    ("mae", losses.MeanAbsoluteError(), Y_TRUE, Y_PRED),
    ("huber", losses.Huber(0.7), Y_TRUE, Y_PRED),
    ("kld", losses.KLDivergence(), softmax(Y_TRUE), softmax(Y_PRED)),
    ("bce", losses.BinaryCrossentropy(), BIN_TRUE, BIN_PROB),
    ("bce_logits", losses.BinaryCrossentropy(from_logits=True), BIN_TRUE, LOGITS[:, :1]),
    ("cce", losses.CategoricalCrossentropy(), ONE_HOT, softmax(LOGITS)),
    ("cce_logits", losses.CategoricalCrossentropy(from_logits=True), ONE_HOT, LOGITS),
    ("scce_logits", losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS),
    ("scce", losses.SparseCategoricalCrossentropy(), LABELS, softmax(LOGITS)),
]


@pytest.mark.parametrize("name,loss,y_true,y_pred", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_gradients(name, loss, y_true, y_pred):
    w = RNG.uniform(0.5, 1.5, size=len(y_pred))
    check_gradients(lambda p: loss(y_true, p, sample_weight=w), y_pred)


def test_from_logits_agrees_with_probabilities():
    cce = losses.CategoricalCrossentropy
    assert value(cce(from_logits=True)(ONE_HOT, LOGITS)) == pytest.approx(
        value(cce()(ONE_HOT, softmax(LOGITS))), rel=1e-10)
    scce = losses.SparseCategoricalCrossentropy
    assert value(scce(from_logits=True)(LABELS, LOGITS)) == pytest.approx(
        value(scce()(LABELS, softmax(LOGITS))), rel=1e-10)
    x = LOGITS[:, :1]
    bce = losses.BinaryCrossentropy
    assert value(bce(from_logits=True)(BIN_TRUE, x)) == pytest.approx(
        value(bce()(BIN_TRUE, 1 / (1 + np.exp(-x)))), rel=1e-10)


# ---- the fused path through softmax_with_logits / sigmoid_with_logits ------------------------
def test_fused_softmax_is_exact_for_huge_logits():
    logits = tape.tensor(np.array([[1e4, 0.0, -1e4], [-3e4, 2e4, 5.0]]))
    labels = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    fused = losses.CategoricalCrossentropy()(labels, losses.softmax_with_logits(logits))
    exact = losses.CategoricalCrossentropy(from_logits=True)(labels, logits)
    assert np.isfinite(value(fused))
    assert value(fused) == value(exact) == pytest.approx((1e4 + 5e4) / 2)
    # A plain softmax has no logits attached: the probabilities are clipped instead.
    clipped = losses.CategoricalCrossentropy()(labels, tape.nn.softmax(logits))
    assert value(clipped) == pytest.approx(-np.log(1e-7), rel=1e-4)
    sparse = losses.SparseCategoricalCrossentropy()([1, 0], losses.softmax_with_logits(logits))
    assert value(sparse) == value(exact)


def test_fused_sigmoid_is_exact_for_huge_logits():
    logits = tape.tensor(np.array([[-1e4], [3e4]]))
    labels = np.array([[1.0], [0.0]])
    fused = losses.BinaryCrossentropy()(labels, losses.sigmoid_with_logits(logits))
    assert value(fused) == pytest.approx(2e4)
    exact = losses.BinaryCrossentropy(from_logits=True)(labels, logits)
    assert value(fused) == value(exact)


def test_fused_gradient_reaches_the_logits():
    logits = tape.tensor(np.array([[1e4, 0.0, -1e4]]))
    with tape.GradientTape() as g:
        g.watch(logits)
        loss = losses.categorical_crossentropy([[0.0, 1.0, 0.0]],
                                               losses.softmax_with_logits(logits))
    np.testing.assert_allclose(value(g.gradient(loss, logits)), [[1.0, -1.0, 0.0]])
    check_gradients(lambda x: losses.CategoricalCrossentropy()(ONE_HOT,
                                                               losses.softmax_with_logits(x)),
                    LOGITS)
    check_gradients(lambda x: losses.BinaryCrossentropy()(BIN_TRUE,
                                                          losses.sigmoid_with_logits(x)),
                    LOGITS[:, :1])


def test_logits_registry_matches_activation_and_axis_and_forgets():
    x = tape.tensor(LOGITS)
    probs = losses.softmax_with_logits(x, axis=0)
    assert losses.logits_of(probs) is x
    assert losses.logits_of(probs, "softmax", axis=0) is x
    assert losses.logits_of(probs, "softmax", axis=-1) is None  # another axis: not fused
    assert losses.logits_of(probs, "sigmoid") is None
    assert losses.logits_of(tape.tensor(LOGITS)) is None
    # The logits live as long as the probabilities do, and no longer: nothing else holds them.
    logits_ref = weakref.ref(x)
    del x, probs
    gc.collect()
    assert logits_ref() is None


def test_from_logits_true_on_fused_probabilities_warns_and_uses_logits():
    probs = losses.softmax_with_logits(tape.tensor(LOGITS))
    with pytest.warns(UserWarning, match="softmax"):
        loss = losses.CategoricalCrossentropy(from_logits=True)(ONE_HOT, probs)
    assert value(loss) == pytest.approx(skm.log_loss(LABELS, softmax(LOGITS), labels=range(4)))


# ---- labels and errors -----------------------------------------------------------------------
def test_sparse_labels_out_of_range_name_the_range():
    for bad in ([0, 1, 4, 2, 1], [0, -1, 1, 2, 3]):
        with pytest.raises(ValueError, match=r"\[0, 4\) for 4 classes"):
            losses.SparseCategoricalCrossentropy(from_logits=True)(bad, LOGITS)


def test_nn_sparse_xent_rejects_out_of_range_labels_instead_of_a_zero_loss():
    # A one-hot of label 4 among 4 classes is all zeros: the loss would silently be 0.
    logits = tape.tensor(LOGITS)
    for bad in ([0, 1, 4, 2, 1], [0, -1, 1, 2, 3]):
        with pytest.raises(ValueError, match=r"\[0, 4\) for 4 classes.*test_losses.py"):
            # on a GPU the labels are checked there and the error comes at the host read
            tape.nn.sparse_softmax_cross_entropy_with_logits(tape.tensor(bad), logits).numpy()


def test_sparse_label_forms():
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = value(scce(LABELS, LOGITS))
    assert value(scce(LABELS[:, None], LOGITS)) == expected  # (N, 1) labels
    assert value(scce(LABELS.astype(np.float32), LOGITS)) == expected  # integral floats
    with pytest.raises(ValueError, match="integer class indices"):
        scce(LABELS + 0.5, LOGITS)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        scce(ONE_HOT, LOGITS)


def test_integer_labels_for_categorical_point_to_sparse():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(LABELS, softmax(LOGITS))


@pytest.mark.parametrize("name,cls", [
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("huber", losses.Huber), ("kld", losses.KLDivergence),
    ("kl_divergence", losses.KLDivergence), ("binary_crossentropy", losses.BinaryCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("MeanSquaredError", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
])
def test_get_resolves_keras_names(name, cls):
    assert type(losses.get(name)) is cls


def test_get_other_identifiers_and_unknown_names():
    mse = losses.MeanSquaredError()
    assert losses.get(mse) is mse
    assert type(losses.get(losses.Huber)) is losses.Huber
    assert type(losses.get(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    custom = lambda y_true, y_pred: y_pred  # noqa: E731
    assert losses.get(custom) is custom
    assert losses.get(None) is None
    with pytest.raises(ValueError, match="mean_squared_error") as info:
        losses.get("mean_sqared_error")
    assert "sparse_categorical_crossentropy" in str(info.value)


def test_config_round_trip():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum")
    config = loss.get_config()
    assert config["from_logits"] is True and config["reduction"] == "sum"
    again = losses.CategoricalCrossentropy.from_config(config)
    assert again.get_config() == config
    assert value(again(ONE_HOT, LOGITS)) == value(loss(ONE_HOT, LOGITS))
    huber = losses.get({"class_name": "Huber", "config": {"delta": 2.0}})
    assert huber.get_config()["delta"] == 2.0 and huber.name == "huber_loss"


def test_custom_loss_subclass_gets_reduction_and_weights():
    class Cube(losses.Loss):
        def call(self, y_true, y_pred):
            return tape.mean((y_pred - y_true) ** 3, axis=-1)

    loss = Cube(reduction="sum")
    assert loss.name == "cube"
    assert value(loss([[0.0], [0.0]], [[1.0], [2.0]], sample_weight=[1.0, 0.5])) == 5.0
