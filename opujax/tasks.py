"""What a run learns: images to classify or text to continue, each with its
preprocessing, batching, augmentation and evaluation splits (`build.task` picks one)."""

import dataclasses
from typing import ClassVar, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from opujax import data

Array = jax.Array
# Pixel mean and standard deviation over the training images (in [0, 1]); inputs are
# standardised with them, which keeps a tanh network's first layer in its linear range.
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}


class Splits(NamedTuple):
  """What a run draws from and evaluates on. ``items``: indices a batch draws from (an
  example, or the start of a text window); ``evals``: {split: (x, y)}, where
  ``train_eval`` is the first training examples (windows, for text), as many as the test
  split has, evaluated like it (no dropout, no augmentation): the train-test gap on
  equal footing."""

  train_x: np.ndarray
  train_y: np.ndarray
  items: int
  steps_per_epoch: int
  evals: dict[str, tuple[np.ndarray, np.ndarray]]


class Task(Protocol):
  eval_batch: int  # examples per evaluation call

  def classes(self, ds: data.Dataset) -> int: ...

  def rows(self, batch_size: int) -> int:
    """Error vectors a batch projects: examples, or examples x positions."""

  def splits(self, ds: data.Dataset, batch_size: int) -> Splits: ...

  def batch(self, train_x: Array, train_y: Array, idx: Array) -> tuple[Array, Array]: ...

  def augment(self, key: Array, x: Array) -> Array: ...

  def preprocess(self, x: Array) -> Array: ...


def _evals(test, validation, train_eval) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  return {"test": test, "validation": validation, "train_eval": train_eval}


@dataclasses.dataclass(frozen=True)
class Images:
  """Image (or feature-vector) classification; inputs standardised with ``stats``, the
  (mean, std) of the training inputs (uint8 pixels divided by 255 first, `standardise`);
  each training image translated by up to ``shift`` pixels and, with ``flip``, mirrored
  left-right with probability 1/2."""

  stats: tuple[float, float]
  shift: int = 0
  flip: bool = False
  eval_batch: ClassVar[int] = 1000

  def classes(self, ds: data.Dataset) -> int:
    return int(ds.train_y.max()) + 1

  def rows(self, batch_size: int) -> int:
    return batch_size

  def splits(self, ds: data.Dataset, batch_size: int) -> Splits:
    n = len(ds.test_x)
    evals = _evals((ds.test_x, ds.test_y), (ds.val_x, ds.val_y),
                   (ds.train_x[:n], ds.train_y[:n]))
    return Splits(ds.train_x, ds.train_y, len(ds.train_x), len(ds.train_x) // batch_size,
                  evals)

  def batch(self, train_x, train_y, idx):
    return train_x[idx], train_y[idx]

  def augment(self, key, x):
    if self.shift:
      x = shift(key, x, self.shift)
    return mirror(jax.random.fold_in(key, 1), x) if self.flip else x

  def preprocess(self, x):
    return standardise(x, self.stats)


@dataclasses.dataclass(frozen=True)
class Text:
  """Next-character prediction over windows of ``context`` characters."""

  context: int
  eval_batch: ClassVar[int] = 64

  def classes(self, ds: data.Dataset) -> int:
    return len(ds.vocab)

  def rows(self, batch_size: int) -> int:
    return batch_size * self.context

  def splits(self, ds: data.Dataset, batch_size: int) -> Splits:
    text, t = ds.train_x, self.context
    evals = _evals(windows(ds.test_x, t), windows(ds.val_x, t),
                   windows(text[:len(ds.test_x)], t))
    return Splits(text, ds.train_y, len(text) - t, len(text) // (batch_size * t), evals)

  def batch(self, train_x, train_y, idx):
    """The windows starting at ``idx`` (``train_y`` unused: the next characters are
    the text itself)."""
    del train_y
    w_BxT1 = train_x[idx[:, None] + jnp.arange(self.context + 1)].astype(jnp.int32)
    return w_BxT1[:, :-1], w_BxT1[:, 1:]

  def augment(self, key, x):
    del key
    return x

  def preprocess(self, x):
    return x


def standardise(x, stats: tuple[float, float]):
  """Inputs to zero mean, unit variance over the training inputs: ``stats`` their (mean,
  std), of pixel values in [0, 1] for uint8 images (divided by 255 here)."""
  mean, std = stats
  x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)
  return (x - mean) / std


def input_stats(dataset: str, train_x: np.ndarray) -> tuple[float, float]:
  """The shipped dataset's `PIXEL_STATS`, or the mean and standard deviation of a user's
  training inputs (uint8: of the pixels divided by 255), computed once."""
  if dataset in PIXEL_STATS:
    return PIXEL_STATS[dataset]
  scale = 255.0 if train_x.dtype == np.uint8 else 1.0
  return (float(train_x.mean(dtype=np.float64)) / scale,
          float(train_x.std(dtype=np.float64)) / scale or 1.0)


def windows(text: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
  """Non-overlapping (inputs, next characters) windows of ``context`` over ``text``."""
  n = (len(text) - 1) // context
  x = text[:n * context].reshape(n, context).astype(np.int32)
  return x, text[1:n * context + 1].reshape(n, context).astype(np.int32)


def mirror(key, x_BxHxWxC):
  """Each image mirrored left-right with probability 1/2."""
  flipped_Bx1x1x1 = jax.random.bernoulli(key, 0.5, (x_BxHxWxC.shape[0], 1, 1, 1))
  return jnp.where(flipped_Bx1x1x1, x_BxHxWxC[:, :, ::-1], x_BxHxWxC)


def shift(key, x_BxHxWxC, pixels: int):
  """Each image translated by its own random offset in [-pixels, pixels]^2, zero fill."""
  p = pixels
  pad = jnp.pad(x_BxHxWxC, ((0, 0), (p, p), (p, p), (0, 0)))
  offsets = jax.random.randint(key, (x_BxHxWxC.shape[0], 2), 0, 2 * p + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), x_BxHxWxC.shape[1:])
  return jax.vmap(crop)(pad, offsets)
