"""opujax.data.synthetic: shaped as the shipped datasets, deterministic, and learnable."""

import numpy as np

from opujax import data
from opujax.data import synthetic


def test_digits_are_mnist_shaped_and_a_linear_model_separates_them():
  ds = data.load("opujax.data.synthetic:digits")
  assert ds.train_x.shape == (60_000, 28, 28, 1) and ds.train_x.dtype == np.uint8
  assert ds.test_x.shape == (2_000, 28, 28, 1) and len(ds.val_x) == 0
  assert set(np.unique(ds.train_y)) == set(range(10))
  np.testing.assert_array_equal(ds.train_x[:50], synthetic.digits().train_x[:50])
  x = ds.train_x[:5000].reshape(5000, -1) / 255.0
  w, *_ = np.linalg.lstsq(np.c_[x, np.ones(5000)], np.eye(10)[ds.train_y[:5000]], rcond=None)
  test = ds.test_x.reshape(len(ds.test_x), -1) / 255.0
  accuracy = np.mean((np.c_[test, np.ones(len(test))] @ w).argmax(1) == ds.test_y)
  assert accuracy > 0.95, accuracy


def test_text_is_predictable_within_words():
  ds = data.load("opujax.data.synthetic:text")
  assert ds.train_x.ndim == 1 and len(ds.test_x) == len(ds.val_x) == 20_000
  assert "".join(ds.vocab[i] for i in ds.train_x[:200]).split()[0] in synthetic.WORDS

  def entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return -np.sum(p * np.log(p))

  x, k = ds.train_x, len(ds.vocab)
  unigram = entropy(np.bincount(x, minlength=k).astype(float))
  pairs = np.bincount(x[:-1] * k + x[1:], minlength=k * k).reshape(k, k).astype(float)
  conditional = sum(row.sum() / pairs.sum() * entropy(row) for row in pairs if row.sum())
  assert conditional < unigram - 1.0, (conditional, unigram)
