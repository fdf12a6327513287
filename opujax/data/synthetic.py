"""Synthetic stand-ins for the shipped datasets, made in memory from a fixed seed and of
the same shapes, named as a user's own dataset is (``config.dataset =
"opujax.data.synthetic:digits"``): a run, a test or a smoke check on a new machine that
needs no file at all. They are learnable (a model's loss falls, its accuracy rises) and
say nothing about how a model does on real data.
"""

import numpy as np

from opujax.data.tfds_arrays import Dataset

WORDS = ("the", "king", "queen", "lord", "my", "thou", "thy", "good", "sir", "what",
         "shall", "not", "love", "death", "night", "come", "speak", "hence", "sweet", "o")


def _images(rng, templates_KxHxW, n: int) -> tuple[np.ndarray, np.ndarray]:
  labels = rng.integers(0, len(templates_KxHxW), n)
  noise = rng.integers(0, 96, (n, *templates_KxHxW.shape[1:]), dtype=np.uint8)
  x = np.maximum(templates_KxHxW[labels], noise)
  return x[..., None], labels.astype(np.int64)


def digits(train: int = 60_000, test: int = 2_000, seed: int = 0) -> Dataset:
  """MNIST-shaped images: (N, 28, 28, 1) uint8, labels in [0, 10). Each class is a fixed
  random pattern of bright 4x4 blocks (a quarter of them lit, 255), each image its
  class's pattern under uniform noise in [0, 96): a linear model separates them, a
  small MLP within a few hundred steps. No validation split."""
  rng = np.random.default_rng(seed)
  blocks = rng.random((10, 7, 7)) < 0.25
  templates = np.kron(blocks, np.ones((4, 4))).astype(np.uint8) * 255
  train_x, train_y = _images(rng, templates, train)
  test_x, test_y = _images(rng, templates, test)
  empty = np.zeros((0,), np.int64)
  return Dataset(train_x, train_y, test_x, test_y, np.zeros((0, 28, 28, 1), np.uint8), empty)


def text(train: int = 200_000, test: int = 20_000, seed: int = 0) -> Dataset:
  """Characters as tiny_shakespeare's are held: the symbols of a small vocabulary and
  each split's ids. The text is words of `WORDS` drawn at random, separated by a space or
  (one time in eight) a newline: within a word the next character is certain, so a
  model's loss falls well below the characters' unigram entropy."""
  rng = np.random.default_rng(seed)

  def split(chars: int) -> str:
    words = rng.choice(np.asarray(WORDS), chars // 3)
    seps = np.where(rng.random(len(words)) < 0.125, "\n", " ")
    return "".join(w + s for w, s in zip(words, seps))[:chars]

  parts = [split(n) for n in (train, test, test)]
  vocab = "".join(sorted(set("".join(parts))))
  ids = [np.frombuffer(p.encode(), np.uint8) for p in parts]
  lookup = np.zeros(256, np.int32)
  lookup[np.frombuffer(vocab.encode(), np.uint8)] = np.arange(len(vocab))
  train_x, test_x, val_x = (lookup[i] for i in ids)
  empty = np.zeros((0,), np.int32)
  return Dataset(train_x, empty, test_x, empty, val_x, empty, vocab=vocab)
