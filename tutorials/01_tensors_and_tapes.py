"""Tensors and tapes: the eager core of tape in ten minutes.

Teaches: creating tensors, broadcasting and indexing as in NumPy; recording with
``tape.GradientTape`` (watched tensors, auto-watched Variables, persistent and nested
tapes); a Hessian-vector product; the functional ``tape.grad``.

Prints: each gradient next to its value by hand, and ``RESULT`` lines a reader can check
(d/dx x^3 at 2 is 12; the Hessian-vector product of sum(x^3) is 6 * x * v).

Run: python tutorials/01_tensors_and_tapes.py
"""

import numpy as np

import tape

# ---- tensors ------------------------------------------------------------------------------
x = tape.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # float32, like Keras
print("x:", x.shape, x.dtype)
row = tape.tensor([10.0, 20.0, 30.0])
print("broadcast x + row:\n", (x + row).numpy())  # (2, 3) + (3,) -> (2, 3), as in NumPy
print("x[:, 1]   :", x[:, 1].numpy())  # basic indexing
print("x[x > 2]  :", x[x > 2].numpy())  # boolean masks
print("sum over rows:", tape.sum(x, axis=0).numpy(), " mean:", x.mean().item())
print("NumPy functions accept tensors:", np.exp(tape.tensor([0.0])).numpy())

# ---- a first gradient ---------------------------------------------------------------------
a = tape.tensor(2.0)
with tape.GradientTape() as g:
    g.watch(a)  # a plain tensor is recorded only when watched
    y = a ** 3
dy = g.gradient(y, a)
print(f"d(a^3)/da at a=2: {dy.item()} (by hand: 3 * 2^2 = 12)")

# Variables (model weights) are watched automatically.
w = tape.Variable([[0.5], [-0.5], [1.0]])
with tape.GradientTape() as g:
    loss = tape.sum((x @ w) ** 2)
print("d loss / d w:", g.gradient(loss, w).numpy().ravel(),
      "(by hand: 2 * x.T @ (x @ w) =", (2 * x.numpy().T @ (x.numpy() @ w.numpy())).ravel(), ")")

# ---- persistent tapes: several gradients from one recording -------------------------------
with tape.GradientTape(persistent=True) as g:
    g.watch(a)
    y2, y3 = a ** 2, a ** 3
print("persistent:", g.gradient(y2, a).item(), g.gradient(y3, a).item(), "(4 and 12)")

# ---- nested tapes: higher orders ----------------------------------------------------------
with tape.GradientTape() as outer:
    outer.watch(a)
    with tape.GradientTape() as inner:
        inner.watch(a)
        y = a ** 3
    dy = inner.gradient(y, a)  # 3 a^2, itself recorded by the outer tape
d2y = outer.gradient(dy, a)
print(f"second derivative of a^3 at 2: {d2y.item()} (6 * a = 12)")

# ---- a Hessian-vector product without forming the Hessian ---------------------------------
v_np = np.array([1.0, 0.0, -1.0], dtype=np.float32)
xs = tape.tensor([1.0, 2.0, 3.0])
with tape.GradientTape() as outer:
    outer.watch(xs)
    with tape.GradientTape() as inner:
        inner.watch(xs)
        f = tape.sum(xs ** 3)
    grad = inner.gradient(f, xs)
    directional = tape.sum(grad * tape.tensor(v_np))
hvp = outer.gradient(directional, xs).numpy()
print("Hessian-vector product:", hvp, " by hand 6 * x * v:", 6 * xs.numpy() * v_np)

# ---- the functional form ------------------------------------------------------------------
df = tape.grad(lambda t: tape.sum(tape.sin(t)))
print("tape.grad(sum(sin)) at 0, pi:", df(tape.tensor([0.0, np.pi])).numpy(), "(cos: 1, -1)")

print(f"RESULT d(a^3)/da={dy.item():.1f} d2={d2y.item():.1f} hvp={hvp.tolist()}")
