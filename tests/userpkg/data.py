"""A user's own datasets, loaded by ``dataset = "userpkg.data:<function>"``."""

import numpy as np

from opujax.data import Dataset


def blobs(n: int = 2400, d: int = 12, classes: int = 4, seed: int = 0) -> Dataset:
  """Gaussian blobs: ``classes`` centres in R^d, float32 feature vectors (N, d) around
  them; the last sixth of the examples is the test split, no validation split."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(0.0, 2.0, (classes, d))
  y = rng.integers(0, classes, n).astype(np.int32)
  x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
  cut = n - n // 6
  empty_x, empty_y = np.zeros((0, d), np.float32), np.zeros((0,), np.int32)
  return Dataset(x[:cut], y[:cut], x[cut:], y[cut:], empty_x, empty_y)


def float_labels() -> Dataset:
  ds = blobs()
  return ds._replace(train_y=ds.train_y.astype(np.float32))


def short_test_labels() -> Dataset:
  ds = blobs()
  return ds._replace(test_y=ds.test_y[:-1])


def not_a_dataset():
  return {"train_x": np.zeros((2, 2))}


def waves(n: int = 1920, d: int = 8, seed: int = 0) -> Dataset:
  """Regression: float32 inputs (N, d) in [-1, 1] and two smooth targets (N, 2) of them,
  ``sin(pi x . u)`` and ``(x . v)^2``; the last sixth is the test split."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1.0, 1.0, (n, d)).astype(np.float32)
  u, v = rng.normal(0.0, 1.0 / np.sqrt(d), (2, d))
  y = np.stack([np.sin(np.pi * x @ u), (x @ v) ** 2], -1).astype(np.float32)
  cut = n - n // 6
  return Dataset(x[:cut], y[:cut], x[cut:], y[cut:], x[:0], y[:0])


def narrow_test_targets() -> Dataset:
  ds = waves()
  return ds._replace(test_y=ds.test_y[:, :1])


def text_targets() -> Dataset:
  ds = blobs()
  return ds._replace(train_y=np.full(len(ds.train_y), "a"))


def squares(n: int = 1440, seed: int = 0) -> Dataset:
  """8x8 uint8 images, one bright 4x4 quadrant each on a dim noisy background; the label
  is the quadrant (4 classes). The last sixth is the test split."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 4, n).astype(np.int32)
  x = rng.integers(0, 40, (n, 8, 8, 1))
  for i, q in enumerate(y):
    r, c = divmod(int(q), 2)
    x[i, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 200
  x = x.astype(np.uint8)
  cut = n - n // 6
  return Dataset(x[:cut], y[:cut], x[cut:], y[cut:], x[:0], y[:0])
