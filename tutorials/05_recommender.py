"""A recommender by matrix factorization: Embedding layers on a ratings matrix of known rank.

Teaches: ``Embedding`` layers as learned lookup tables; a functional model with two inputs
(user id, item id) whose prediction is the dot product of their vectors plus biases; training
on the observed entries only; measuring what was recovered against the truth we planted.

The data is synthetic with a known answer: ratings = U @ V.T + noise (rank 4, noise std
0.1), of which 25% are observed. A good factorization predicts held-out ratings with an
error near the noise level, and its item vectors span the same subspace as the true V.

Prints: held-out RMSE next to the noise std and the predict-the-mean baseline, and the
largest principal angle between the learned and the true item subspaces.

Run: python tutorials/05_recommender.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os

import numpy as np

import tape
from tape.layers import Add, Embedding, Flatten, Input, Lambda, Multiply
from tape.models import Model

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
rng = np.random.default_rng(0)
USERS, ITEMS, RANK, NOISE = 300, 200, 4, 0.1

true_u = rng.normal(size=(USERS, RANK)) / np.sqrt(RANK)
true_v = rng.normal(size=(ITEMS, RANK))
ratings = true_u @ true_v.T + NOISE * rng.normal(size=(USERS, ITEMS))
observed = rng.random((USERS, ITEMS)) < 0.25
users, items = np.nonzero(observed)
order = rng.permutation(len(users))
users, items = users[order], items[order]
split = int(0.8 * len(users))
train = (users[:split], items[:split])
test = (users[split:], items[split:])
print(f"{USERS} users x {ITEMS} items, rank {RANK}: {split} training ratings, "
      f"{len(users) - split} held out")

# ---- the model: one vector and one bias per user and per item ------------------------------
tape.random.seed(0)
user_id = Input(shape=(1,), dtype="int64", name="user")
item_id = Input(shape=(1,), dtype="int64", name="item")
user_vec = Flatten()(Embedding(USERS, 8, name="user_vectors")(user_id))
item_vec = Flatten()(Embedding(ITEMS, 8, name="item_vectors")(item_id))
user_bias = Flatten()(Embedding(USERS, 1, embeddings_initializer="zeros")(user_id))
item_bias = Flatten()(Embedding(ITEMS, 1, embeddings_initializer="zeros")(item_id))
dot = Lambda(lambda t: tape.sum(t, axis=-1, keepdims=True))(Multiply()([user_vec, item_vec]))
rating = Flatten()(Add()([dot, user_bias, item_bias]))
model = Model(inputs=[user_id, item_id], outputs=rating)
model.compile(optimizer=tape.optimizers.Adam(0.01), loss="mse")


def columns(pairs):
    return [pairs[0][:, None].astype(np.int64), pairs[1][:, None].astype(np.int64)]


model.fit(columns(train), ratings[train].astype(np.float32), epochs=8 if FAST else 60,
          batch_size=256, verbose=0)
predicted = model.predict(columns(test), verbose=0).ravel()  # (n, 1) -> (n,)
rmse = float(np.sqrt(np.mean((predicted - ratings[test]) ** 2)))
baseline = float(np.sqrt(np.mean((ratings[train].mean() - ratings[test]) ** 2)))
print(f"held-out RMSE {rmse:.3f}  (noise std {NOISE}, predicting the mean: {baseline:.3f})")

# ---- did it recover the planted structure? --------------------------------------------------
learned_v = model.get_layer("item_vectors").get_weights()[0]
q_true, _ = np.linalg.qr(true_v)
u, s, _ = np.linalg.svd(learned_v, full_matrices=False)
q_learned = u[:, :RANK]  # the learned vectors' top-RANK subspace
cosines = np.linalg.svd(q_true.T @ q_learned, compute_uv=False)
angle = float(np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))))
print(f"largest principal angle between learned and true item subspaces: {angle:.1f} degrees")
print(f"RESULT rmse={rmse:.4f} baseline={baseline:.4f} subspace_angle_deg={angle:.1f}")
