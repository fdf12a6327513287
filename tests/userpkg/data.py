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
