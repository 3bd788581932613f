"""Issue 20's matmul-bound training steps for benchmarks.gpu: each step timed under float32,
float32 with TF32 (``tape.config.set_tf32``), and Keras' ``mixed_bfloat16`` policy, against
PyTorch in float32 and under ``torch.autocast(bfloat16)`` on the same GPU, in one run.

- MLP 4096-4096-4096 at batch 8192 (two Dense layers, ReLU between), SGD, sparse softmax
  cross-entropy over the 4096 outputs;
- a transformer encoder block (post-norm: multi-head self-attention with 16 heads, then a
  4x GELU feed-forward, each with a residual and LayerNormalization) at d_model 1024, seq 512,
  batch 32, SGD, mean squared error against a random target.

Both are eager steps (forward, backward, SGD update): at these sizes the matrix products
are the time. Targets (issue 20): mixed_bfloat16 >= 5x faster than float32, and <= 1.1x
PyTorch autocast(bfloat16).
"""

from __future__ import annotations

import contextlib

import tape

SIZES = {  # (batch, width) of the MLP; (batch, seq, d_model, heads) of the block
    "full": ((8192, 4096), (32, 512, 1024, 16)),
    "quick": ((1024, 1024), (8, 128, 256, 4)),
    "smoke": ((4, 16), (2, 4, 8, 2)),
}
CONFIGS = ("float32", "float32+tf32", "mixed_bfloat16")


@contextlib.contextmanager
def _policy(config: str):
    """Layers made inside compute under ``config``'s policy (Keras' global policy)."""
    from tape import mixed_precision

    mixed_precision.set_global_policy("mixed_bfloat16" if config == "mixed_bfloat16"
                                      else "float32")
    try:
        yield
    finally:
        mixed_precision.set_global_policy("float32")


def _sgd_step(model, loss_fn, x, y):
    opt = tape.optimizers.SGD(1e-3)

    def step():
        with tape.GradientTape() as g:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(g.gradient(loss, model.trainable_weights), model.trainable_weights)

    return step


def tape_mlp(config: str, batch: int, width: int):
    from tape.layers import Dense
    from tape.models import Sequential

    with _policy(config), tape.device("gpu"):
        model = Sequential([Dense(width, activation="relu"), Dense(width)])
        model.build((None, width))
        x = tape.random.normal((batch, width))
        y = tape.random.randint(0, width, (batch,))
    return _sgd_step(model, tape.losses.SparseCategoricalCrossentropy(from_logits=True), x, y)


class EncoderBlock(tape.models.Model):
    """Post-norm transformer encoder block (as ``torch.nn.TransformerEncoderLayer``)."""

    def __init__(self, d_model: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        from tape import layers

        self.attention = layers.MultiHeadAttention(heads, d_model // heads)
        self.norm1, self.norm2 = layers.LayerNormalization(), layers.LayerNormalization()
        self.up = layers.Dense(4 * d_model, activation="gelu")
        self.down = layers.Dense(d_model)

    def call(self, x, training=False):
        h = self.norm1(x + self.attention(x, x, training=training))
        return self.norm2(h + self.down(self.up(h)))


def tape_block(config: str, batch: int, seq: int, d_model: int, heads: int):
    with _policy(config), tape.device("gpu"):
        model = EncoderBlock(d_model, heads)
        x = tape.random.normal((batch, seq, d_model))
        y = tape.random.normal((batch, seq, d_model))
        model(x)  # builds the weights
    return _sgd_step(model, tape.losses.MeanSquaredError(), x, y)


def _torch_step(model, loss_fn, x, y, autocast: bool):
    import torch

    opt = torch.optim.SGD(model.parameters(), 1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def torch_mlp(autocast: bool, batch: int, width: int):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, width)).cuda()
    x = torch.randn(batch, width, device="cuda")
    y = torch.randint(0, width, (batch,), device="cuda")
    return _torch_step(model, torch.nn.functional.cross_entropy, x, y, autocast)


def torch_block(autocast: bool, batch: int, seq: int, d_model: int, heads: int):
    import torch

    model = torch.nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                             activation="gelu", batch_first=True).cuda()
    x = torch.randn(batch, seq, d_model, device="cuda")
    y = torch.randn(batch, seq, d_model, device="cuda")
    return _torch_step(model, torch.nn.functional.mse_loss, x, y, autocast)


def run(size: str, repeat: int, wall, torch_reason: str | None) -> dict:
    """Print and return the ratios (``wall(step, repeat)``: median seconds of a step)."""
    mlp_size, block_size = SIZES[size]
    cases = [(f"mlp {'-'.join([str(mlp_size[1])] * 3)} b{mlp_size[0]}", tape_mlp, torch_mlp,
              mlp_size),
             (f"encoder block d{block_size[2]} s{block_size[1]} b{block_size[0]}", tape_block,
              torch_block, block_size)]
    results = {}
    for name, ours, theirs, args in cases:
        times = {}
        for config in CONFIGS:
            tape.config.set_tf32(config == "float32+tf32")  # while the step is timed
            try:
                times[config] = wall(ours(config, *args), repeat)
            finally:
                tape.config.set_tf32(False)
        line = ", ".join(f"{c} {t * 1e3:.3f} ms" for c, t in times.items())
        print(f"{name}: tape {line}")
        results[f"{name}: float32/mixed_bfloat16"] = times["float32"] / times["mixed_bfloat16"]
        results[f"{name}: float32/tf32"] = times["float32"] / times["float32+tf32"]
        print(f"{name}: float32/mixed_bfloat16 {results[f'{name}: float32/mixed_bfloat16']:.2f}x"
              f" (target >= 5), float32/tf32 {results[f'{name}: float32/tf32']:.2f}x")
        if torch_reason is not None:
            print(f"{name}: PyTorch: {torch_reason}")
            continue
        t32, tbf = (wall(theirs(autocast, *args), repeat) for autocast in (False, True))
        results[f"{name}: tape/torch bf16"] = times["mixed_bfloat16"] / tbf
        print(f"{name}: PyTorch float32 {t32 * 1e3:.3f} ms, autocast(bfloat16) {tbf * 1e3:.3f} "
              f"ms; tape mixed_bfloat16 / PyTorch autocast "
              f"{results[f'{name}: tape/torch bf16']:.2f}x (target <= 1.1)")
    return results
