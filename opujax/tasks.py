"""What a run learns, and how it is measured: each task owns its preprocessing, batching,
augmentation, loss, metrics and evaluation splits; the training loop hard-codes none of
them. Shipped: `Classification` (images or feature vectors) and `Text` (next-token
prediction); a user's own task implements `Task` (most simply by subclassing `Supervised`)
and is named in the config (``task = "package.module:attr"``, `build.task`).
"""

import dataclasses
import math
from typing import ClassVar, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from opujax import data

Array = jax.Array


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
  """What the loop asks of a task. ``out`` is the model's output on a batch, ``y`` the
  batch's targets; every method but `outputs` and `splits` runs inside jit. A task may
  also have ``final(predict, workdir) -> dict``: figures of the trained model computed
  once at the end by every process (``predict(x) -> out``, no dropout), logged and kept
  in the summary, and pictures written to ``workdir`` (None but on the first process;
  e.g. a generative model's samples)."""

  eval_batch: int  # examples per evaluation call
  score: tuple[str, str]  # (metric, "max" | "min"): the figure a run's best is taken of

  def outputs(self, ds: data.Dataset) -> int:
    """The model's output features (classes; vocabulary size; regression targets)."""

  def rows(self, batch_size: int) -> int:
    """Error vectors a batch projects: examples, or examples x positions."""

  def splits(self, ds: data.Dataset, batch_size: int) -> Splits: ...

  def batch(self, train_x: Array, train_y: Array, idx: Array) -> tuple[Array, Array]: ...

  def augment(self, key: Array, x: Array, y: Array) -> tuple[Array, Array]:
    """A training batch's random transformation (each step its own ``key``): of the
    inputs (shifts, flips), or of both (a diffusion model's noise and its target)."""

  def preprocess(self, x: Array) -> Array: ...

  def loss(self, out: Array, y: Array) -> Array:
    """The scalar the rule trains on; DFA projects its gradient at ``out``."""

  def metrics(self, out: Array, y: Array) -> dict[str, Array]:
    """Per-target values, ``"loss"`` among them: averaged over a training window and
    over every target of an evaluation split (logged as ``train/<k>``, ``test/<k>``)."""


def _evals(test, validation, train_eval) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  return {"test": test, "validation": validation, "train_eval": train_eval}


@dataclasses.dataclass(frozen=True)
class Supervised:
  """Examples (x, y) held in memory, drawn one by one; inputs standardised with
  ``stats``, the (mean, std) of the training inputs (`input_stats`). Subclasses give
  `outputs`, `loss`, `metrics` and ``score`` (a regression task: a few lines)."""

  stats: tuple[float, float]
  eval_batch: ClassVar[int] = 1000

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

  def augment(self, key, x, y):
    del key
    return x, y

  def preprocess(self, x):
    return standardise(x, self.stats)


class Classifies:
  """Softmax cross-entropy over the last axis of ``out`` against integer labels; the
  metrics ``loss`` and ``accuracy``, the best run the one of highest test accuracy."""

  score: ClassVar[tuple[str, str]] = ("accuracy", "max")

  def loss(self, out, y):
    return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

  def metrics(self, out, y):
    return {"loss": optax.softmax_cross_entropy_with_integer_labels(out, y),
            "accuracy": jnp.argmax(out, -1) == y}


@dataclasses.dataclass(frozen=True)
class Classification(Classifies, Supervised):
  """Image (or feature-vector) classification; uint8 pixels divided by 255 before
  standardising; each training image translated by up to ``shift`` pixels, with
  ``flip`` mirrored left-right with probability 1/2, then with probability ``erase`` a
  rectangle of it erased (`erase`); trained against labels smoothed by
  ``label_smoothing`` (the metrics stay against the labels themselves)."""

  shift: int = 0
  flip: bool = False
  label_smoothing: float = 0.0
  erase: float = 0.0

  def loss(self, out, y):
    """Cross-entropy against (1 - α) one-hot(y) + α / C, α = ``label_smoothing``."""
    if not self.label_smoothing:
      return super().loss(out, y)
    target = optax.smooth_labels(jax.nn.one_hot(y, out.shape[-1]), self.label_smoothing)
    return optax.softmax_cross_entropy(out, target).mean()

  def outputs(self, ds: data.Dataset) -> int:
    return int(ds.train_y.max()) + 1

  def augment(self, key, x, y):
    if self.shift:
      x = shift(key, x, self.shift)
    if self.flip:
      x = mirror(jax.random.fold_in(key, 1), x)
    return (erase(jax.random.fold_in(key, 2), x, self.erase) if self.erase else x), y


@dataclasses.dataclass(frozen=True)
class Text(Classifies):
  """Next-character prediction over windows of ``context`` characters."""

  context: int
  eval_batch: ClassVar[int] = 64

  def outputs(self, ds: data.Dataset) -> int:
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

  def augment(self, key, x, y):
    del key
    return x, y

  def preprocess(self, x):
    return x


def standardise(x, stats: tuple[float, float]):
  """Inputs to zero mean, unit variance over the training inputs: ``stats`` their (mean,
  std), of pixel values in [0, 1] for uint8 images (divided by 255 here)."""
  mean, std = stats
  x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)
  return (x - mean) / std


def input_stats(ds: data.Dataset) -> tuple[float, float]:
  """The (mean, std) inputs are standardised with (which keeps a tanh network's first
  layer in its linear range): the dataset's own ``stats`` (the shipped and TFDS ones), or
  those of its training inputs (uint8: of the pixels divided by 255), computed here."""
  if ds.stats is not None:
    return ds.stats
  scale = 255.0 if ds.train_x.dtype == np.uint8 else 1.0
  return (float(ds.train_x.mean(dtype=np.float64)) / scale,
          float(ds.train_x.std(dtype=np.float64)) / scale or 1.0)


def windows(text: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
  """Non-overlapping (inputs, next characters) windows of ``context`` over ``text``."""
  n = (len(text) - 1) // context
  x = text[:n * context].reshape(n, context).astype(np.int32)
  return x, text[1:n * context + 1].reshape(n, context).astype(np.int32)


def mirror(key, x_BxHxWxC):
  """Each image mirrored left-right with probability 1/2."""
  flipped_Bx1x1x1 = jax.random.bernoulli(key, 0.5, (x_BxHxWxC.shape[0], 1, 1, 1))
  return jnp.where(flipped_Bx1x1x1, x_BxHxWxC[:, :, ::-1], x_BxHxWxC)


ERASED_AREA = (0.02, 0.4)  # Zhong et al.'s s_l, s_h: the rectangle's share of the image
ERASED_ASPECT = 0.3  # r_1: aspect ratios (height / width) in [r_1, 1 / r_1]


def erase(key, x_BxHxWxC, probability: float):
  """Random erasing (Zhong et al. 2020): with ``probability``, a rectangle of each image
  filled with noise uniform over the batch's range of values (rounded for integer
  pixels). Its area is U(`ERASED_AREA`) of the image's, its aspect ratio log-uniform in
  [r_1, 1 / r_1] (`ERASED_ASPECT`), each side clipped to [1, the image's] (where Zhong
  et al. draw again), its corner uniform over the places it fits."""
  b, h, w, _ = x_BxHxWxC.shape
  k_on, k_area, k_aspect, k_top, k_left, k_fill = jax.random.split(key, 6)
  on_B = jax.random.bernoulli(k_on, probability, (b,))
  area_B = jax.random.uniform(k_area, (b,), minval=ERASED_AREA[0],
                              maxval=ERASED_AREA[1]) * h * w
  log_r = math.log(ERASED_ASPECT)
  aspect_B = jnp.exp(jax.random.uniform(k_aspect, (b,), minval=log_r, maxval=-log_r))
  side = lambda v, n: jnp.clip(jnp.round(v), 1, n).astype(jnp.int32)
  tall_B, wide_B = side(jnp.sqrt(area_B * aspect_B), h), side(jnp.sqrt(area_B / aspect_B), w)
  corner = lambda k, n, s: jnp.floor(jax.random.uniform(k, (b,)) * (n - s + 1)).astype(jnp.int32)
  top_B, left_B = corner(k_top, h, tall_B), corner(k_left, w, wide_B)
  rows_BxH = jnp.arange(h) - top_B[:, None]
  cols_BxW = jnp.arange(w) - left_B[:, None]
  in_BxH = (rows_BxH >= 0) & (rows_BxH < tall_B[:, None])
  in_BxW = (cols_BxW >= 0) & (cols_BxW < wide_B[:, None])
  erased_BxHxWx1 = (on_B[:, None, None] & in_BxH[:, :, None] & in_BxW[:, None, :])[..., None]
  lo, hi = jnp.min(x_BxHxWxC).astype(jnp.float32), jnp.max(x_BxHxWxC).astype(jnp.float32)
  noise = jax.random.uniform(k_fill, x_BxHxWxC.shape, jnp.float32, lo, hi)
  if jnp.issubdtype(x_BxHxWxC.dtype, jnp.integer):
    noise = jnp.round(noise)
  return jnp.where(erased_BxHxWx1, noise.astype(x_BxHxWxC.dtype), x_BxHxWxC)


def shift(key, x_BxHxWxC, pixels: int):
  """Each image translated by its own random offset in [-pixels, pixels]^2, zero fill."""
  p = pixels
  pad = jnp.pad(x_BxHxWxC, ((0, 0), (p, p), (p, p), (0, 0)))
  offsets = jax.random.randint(key, (x_BxHxWxC.shape[0], 2), 0, 2 * p + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), x_BxHxWxC.shape[1:])
  return jax.vmap(crop)(pad, offsets)
