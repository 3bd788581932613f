"""Local stand-ins for the downloads of the keras-io scripts: the same shapes and dtypes as
the data sets they fetch, made from scikit-learn's bundled digits or from a seeded generator
with a learnable rule, so the scripts run without a network.

Example:
    >>> (x_train, y_train), (x_test, y_test) = mnist_load_data()
    >>> x_train.shape[1:], x_train.dtype, sorted(set(y_train.tolist())) == list(range(10))
    ((28, 28), dtype('uint8'), True)
"""

from __future__ import annotations

import numpy as np


def mnist_load_data(test_fraction: float = 0.2):
    """``keras.datasets.mnist.load_data()``'s shapes: uint8 (n, 28, 28) images, uint8 labels.
    The images are scikit-learn's 1,797 real 8x8 digits, scaled to 0-255, each pixel drawn 3x3
    and padded by 2 (28 = 8 * 3 + 4)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    x = (images * 255).round().astype(np.uint8)
    y = digits.target.astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def imdb_load_data(num_words: int = 20000, n: int = 1200, seed: int = 0):
    """``keras.datasets.imdb.load_data(num_words=...)``'s shapes: object arrays of int lists
    (word ids from 1; 1 starts each review as Keras' start_char) and 0/1 labels. A review's
    label is whether it holds more words from a 'positive' id range than a 'negative' one."""
    rng = np.random.default_rng(seed)
    positive, negative = np.arange(10, 60), np.arange(60, 110)
    reviews, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        length = int(rng.integers(20, 200))
        words = rng.integers(110, num_words, size=length)
        hints = rng.choice(positive if label else negative, size=max(3, length // 8))
        words[rng.choice(length, size=len(hints), replace=False)] = hints
        reviews.append([1, *words.tolist()])
        labels.append(label)
    x = np.empty(n, dtype=object)
    x[:] = reviews
    y = np.array(labels, dtype=np.int64)
    cut = n // 2
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def ford_a(n_train: int = 360, n_test: int = 120, length: int = 500, seed: int = 0):
    """FordA's shapes (the UCR readucr() arrays): float (n, 500) series, labels -1/1. Class 1
    is a noisy sine of one period, class -1 of another."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = rng.choice([-1, 1], size=n)
        t = np.arange(length)
        freq = np.where(labels == 1, 1 / 40, 1 / 55)[:, None]
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
        series = np.sin(2 * np.pi * freq * t + phase) + rng.normal(scale=0.8, size=(n, length))
        return series, labels

    return make(n_train), make(n_test)


def movielens_ratings(n_users: int = 120, n_movies: int = 90, n_ratings: int = 6000,
                      seed: int = 0):
    """MovieLens' ratings table as arrays: user ids, movie ids, ratings 0.5-5 in steps of 0.5,
    from a rank-3 preference model plus noise."""
    rng = np.random.default_rng(seed)
    users, movies = rng.normal(size=(n_users, 3)), rng.normal(size=(n_movies, 3))
    user = rng.integers(n_users, size=n_ratings)
    movie = rng.integers(n_movies, size=n_ratings)
    score = (users[user] * movies[movie]).sum(1) + rng.normal(scale=0.3, size=n_ratings)
    rating = np.clip(np.round((score - score.min()) / np.ptp(score) * 9 + 1) / 2, 0.5, 5.0)
    return user, movie, rating
