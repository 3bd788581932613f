"""The differential fuzzer (tape.testing.fuzz): random programs agree eagerly, traced (with
a None batch dimension replayed at other sizes, graph passes on, off and fused, per shape)
and in JAX. The profile sets the budget: a few seconds by default, far more with
HYPOTHESIS_PROFILE=intense."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from tape.testing.fuzz import Program, Step, check_program, programs, run_tape


@given(programs())
def test_eager_and_traced_runs_agree_on_random_programs(program):
    check_program(program, jax_calls=0)


# Each JAX check compiles (~0.2 s): an eighth of the profile's examples, one call each by
# default; every call of every program under the intense profile.
_JAX_EXAMPLES = max(5, settings.default.max_examples // 8)
_JAX_CALLS = 1 if settings.default.max_examples < 200 else 3


@settings(max_examples=_JAX_EXAMPLES)
@given(programs())
def test_eager_runs_agree_with_jax_on_random_programs(program):
    pytest.importorskip("jax")
    check_program(program, jax_calls=_JAX_CALLS)


def _program(*steps, sizes=(4, 1), variable_argument=False):
    return Program((2,), tuple(steps), sizes, (True,) * len(sizes), 0, variable_argument, 2)


def test_the_checker_fails_on_a_difference(monkeypatch):
    # The checker itself: a traced variant that differs is reported by name, with the program.
    program = _program(Step("reduce", (0,), (("axis", None), ("fn", "mean"),
                                              ("keepdims", False))))
    eager = run_tape(program)
    assert len(eager) == 2 and eager[0][0].shape == () and eager[1][0].shape == ()
    # d/dx of mean(x) + 0.1 * mean(x) ** 2 over 8 elements, written out
    np.testing.assert_allclose(eager[0][2], np.full((4, 2), (1 + 0.2 * eager[0][0]) / 8))
    from tape.testing import fuzz

    def doubled_when_traced(p, trace=None, draws=None):
        results = run_tape(p, trace, draws)
        return results if trace is None else [[a * 2 for a in call] for call in results]

    monkeypatch.setattr(fuzz, "run_tape", doubled_when_traced)
    with pytest.raises(AssertionError, match=r"(?s)traced, None batch differs.*fn='mean'"):
        check_program(program, jax_calls=0)


def test_a_program_runs_its_variable_argument_and_every_kind_of_step():
    steps = (Step("shape_ones", (0,)), Step("index", (0,), (("column", 1),)),
             Step("var_mul", (2, 1)), Step("stride", (4,)), Step("shape_mean", (5,)),
             Step("noise", (6,)), Step("flatten", (2,), (("shape", (-1, 6)),)),
             Step("matmul", (8,), (("const", np.ones((6, 2))),)),
             Step("binary", (9, 3), (("fn", "divide"),)),
             Step("reduce", (10,), (("axis", 1), ("fn", "prod"), ("keepdims", True))),
             Step("unary", (11,), (("fn", "tanh"),)))
    program = Program((3, 2), steps, (3, 5, 3), (False, True, True), 7, True, 5)
    assert "v11 = reduce(v10, axis=1, fn='prod', keepdims=True)" in str(program)
    check_program(program, jax_calls=1 if _has_jax() else 0)
    w_after = run_tape(program)[-1][-1]
    assert w_after.shape == (2,) and not np.allclose(w_after, 0)


def _has_jax() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True
