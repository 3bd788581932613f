"""Character-level language models: an LSTM, then a small Transformer encoder.

Teaches: ``Embedding`` for characters; ``LSTM(return_sequences=True)`` predicting the next
character at every position; a causal Transformer block (``MultiHeadAttention`` with
``use_causal_mask=True``, residual connections, ``LayerNormalization``, a feed-forward
layer, learned position embeddings) built with the functional API; sampling text from a
trained model one character at a time.

Data: the help texts that ship with Python itself (``pydoc_data.topics``), no download.

Prints: each model's validation loss per character (in bits) next to the unigram baseline
(what knowing only character frequencies gives), and a sample of generated text from each.

Run: python tutorials/04_text_rnn_and_transformer.py   (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import pydoc_data.topics

import numpy as np

import tape
from tape.layers import (
    LSTM,
    Add,
    Dense,
    Embedding,
    Input,
    Layer,
    LayerNormalization,
    MultiHeadAttention,
)
from tape.models import Model, Sequential

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
WINDOW = 32
rng = np.random.default_rng(0)

text = " ".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
text = " ".join(text.split())[: 20_000 if FAST else 300_000]  # one space between words
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
ids = np.array([index[c] for c in text], dtype=np.int64)
vocab = len(chars)
starts = np.arange(0, len(ids) - WINDOW - 1, WINDOW // 2)
x = np.stack([ids[s:s + WINDOW] for s in starts])
y = np.stack([ids[s + 1:s + WINDOW + 1] for s in starts])  # the next character, everywhere
split = int(0.9 * len(x))
print(f"{len(text)} characters, {vocab} distinct; {split} training windows of {WINDOW}")
counts = np.bincount(ids[: split * WINDOW // 2], minlength=vocab) + 1
unigram_bits = float(-(counts / counts.sum() * np.log2(counts / counts.sum())).sum())
loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)
epochs = 1 if FAST else 8


def train(model, name):
    model.compile(optimizer=tape.optimizers.Adam(3e-3), loss=loss_fn)
    model.fit(x[:split], y[:split], epochs=epochs, batch_size=64, verbose=0)
    bits = model.evaluate(x[split:], y[split:], verbose=0) / np.log(2)
    print(f"{name}: validation {bits:.2f} bits/char (unigram baseline {unigram_bits:.2f})")
    return bits


def sample(model, prompt="The ", length=120, temperature=0.7):
    out = [index[c] for c in prompt]
    for _ in range(length):
        window = np.array(out[-WINDOW:], dtype=np.int64)
        window = np.pad(window, (WINDOW - len(window), 0))[None]  # left-pad to a full window
        logits = model.predict(window, verbose=0)[0, -1] / temperature
        p = np.exp(logits - logits.max())
        out.append(int(rng.choice(vocab, p=p / p.sum())))
    return "".join(chars[i] for i in out)


# ---- an LSTM --------------------------------------------------------------------------------
tape.random.seed(0)
lstm = Sequential([Embedding(vocab, 32), LSTM(128, return_sequences=True), Dense(vocab)])
lstm_bits = train(lstm, "LSTM")
print("LSTM sample:", repr(sample(lstm)))

# ---- a small causal Transformer encoder -----------------------------------------------------


class PositionEmbedding(Layer):
    """Adds a learned vector per position (a layer written by subclassing)."""

    def build(self, input_shape):
        self.table = self.add_weight("table", (input_shape[-2], input_shape[-1]),
                                     initializer="random_normal")

    def call(self, inputs):
        return inputs + self.table


tape.random.seed(0)
tokens = Input(shape=(WINDOW,), dtype="int64")
h = PositionEmbedding()(Embedding(vocab, 64)(tokens))
attended = MultiHeadAttention(num_heads=4, key_dim=16)(h, h, use_causal_mask=True)
h = LayerNormalization()(Add()([h, attended]))  # residual, then normalize
feed_forward = Dense(64)(Dense(128, activation="relu")(h))
h = LayerNormalization()(Add()([h, feed_forward]))
transformer = Model(tokens, Dense(vocab)(h))
transformer_bits = train(transformer, "Transformer")
print("Transformer sample:", repr(sample(transformer)))
print(f"RESULT lstm_bits={lstm_bits:.3f} transformer_bits={transformer_bits:.3f} "
      f"unigram_bits={unigram_bits:.3f}")
