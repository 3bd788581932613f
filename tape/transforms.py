"""The functional forms of the tape, as in JAX: ``grad``, ``value_and_grad``, ``jacobian``
and ``hessian`` turn a function of tensors into a function of its derivatives. Each runs
the function under its own GradientTape, so they nest for higher orders.
"""

from __future__ import annotations

import functools

from .autodiff import GradientTape
from .dtypes import is_float
from .errors import GradientError, user_line
from .ops.registry import convert
from .tensor import Tensor


def _watched_call(what, f, argnums, args, kwargs, persistent=False):
    """``(tape, value, args)``: ``f(*args)`` run under a tape watching ``args[argnums]``
    (converted to tensors; each must be float)."""
    args = list(args)
    for i in argnums:
        if i >= len(args):
            raise TypeError(f"argnums={argnums} but {f.__name__} got {len(args)} arguments")
        if not isinstance(args[i], Tensor):
            args[i] = convert(args[i])
        if not is_float(args[i].dtype):
            raise GradientError(
                f"{what} of {f.__name__} with respect to argument {i}: it is a "
                f"{args[i].dtype} tensor, and only float tensors have gradients "
                f"[at {user_line()}]"
            )
    with GradientTape(persistent=persistent, watch_accessed_variables=False) as g:
        for i in argnums:
            g.watch(args[i])
        value = f(*args, **kwargs)
    return g, value, args


def _argnums(argnums) -> tuple[bool, tuple]:
    single = isinstance(argnums, int)
    return single, ((argnums,) if single else tuple(argnums))


def value_and_grad(f, argnums=0):
    """``f -> (lambda *args: (f(*args), df/dargs[argnums]))``; ``f`` must return a scalar.

    Example:
        >>> import tape
        >>> value, dx = tape.value_and_grad(lambda x: tape.sum(x ** 2))(tape.tensor([1.0, 2.0]))
        >>> value.item(), dx.numpy().tolist()
        (5.0, [2.0, 4.0])
    """
    single, nums = _argnums(argnums)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        g, value, args = _watched_call("grad", f, nums, args, kwargs)
        if not isinstance(value, Tensor) or value.size != 1:
            shape = getattr(value, "shape", type(value).__name__)
            raise GradientError(
                f"grad of {f.__name__}: the function must return a scalar tensor, got {shape} "
                "(tape.jacobian takes functions with tensor outputs)"
            )
        grads = g.gradient(value, [args[i] for i in nums], unconnected_gradients="zero")
        return value, (grads[0] if single else tuple(grads))

    return wrapper


def grad(f, argnums=0):
    """``f -> df/dargs[argnums]`` as a function (JAX's ``grad``); nests for higher orders.

    Example:
        >>> import tape
        >>> d2 = tape.grad(tape.grad(lambda x: x ** 3))
        >>> d2(tape.tensor(2.0)).item()
        12.0
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapper


def jacobian(f, argnums=0):
    """``f -> d f(*args) / d args[argnums]``, of shape ``f(...).shape + arg.shape`` (JAX's
    ``jacrev``; one backward pass per element of the output). A tuple ``argnums`` gives a
    tuple of Jacobians; an argument the output does not depend on gives zeros.

    Example:
        >>> import tape
        >>> tape.jacobian(lambda x: x ** 2)(tape.tensor([1.0, 2.0])).numpy().tolist()
        [[2.0, 0.0], [0.0, 4.0]]
    """
    single, nums = _argnums(argnums)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        g, value, args = _watched_call("jacobian", f, nums, args, kwargs,
                                       persistent=True)
        if not isinstance(value, Tensor) or not is_float(value.dtype):
            what = value.dtype if isinstance(value, Tensor) else type(value).__name__
            raise GradientError(f"jacobian of {f.__name__}: the function must return a float "
                                f"tensor, got {what} [at {user_line()}]")
        jacs = tuple(g.jacobian(value, args[i], unconnected_gradients="zero") for i in nums)
        return jacs[0] if single else jacs

    return wrapper


def hessian(f, argnum=0):
    """``f -> the matrix of second derivatives of a scalar f in args[argnum]``, of shape
    ``arg.shape + arg.shape`` (JAX's ``hessian``, ``jacobian(grad(f))``).

    Example:
        >>> import tape
        >>> h = tape.hessian(lambda x: tape.sum(x ** 3))(tape.tensor([1.0, 2.0]))
        >>> h.numpy().tolist()
        [[6.0, 0.0], [0.0, 12.0]]
    """
    if not isinstance(argnum, int):
        raise TypeError(f"hessian: argnum must be one int, got {argnum!r}")
    return jacobian(grad(f, argnum), argnum)
