"""opujax.tasks' batching and augmentation against NumPy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import data, tasks


def test_windows_pair_each_character_with_the_next():
  text = np.arange(23, dtype=np.uint8)
  x, y = tasks.windows(text, 5)
  assert x.shape == y.shape == (4, 5) and x.dtype == np.int32
  np.testing.assert_array_equal(x.ravel(), np.arange(20))
  np.testing.assert_array_equal(y.ravel(), np.arange(1, 21))


class GetBatchTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_windows_start_at_the_indices(self):
    text = jnp.asarray(np.random.default_rng(0).integers(0, 65, 1000), jnp.uint8)
    idx = jnp.array([0, 17, 990 - 8])
    x, y = self.variant(lambda i: tasks.Text(8).batch(text, None, i))(idx)
    ref = np.stack([np.asarray(text)[i:i + 9] for i in np.asarray(idx)])
    np.testing.assert_array_equal(x, ref[:, :-1])
    np.testing.assert_array_equal(y, ref[:, 1:])


def test_shift_matches_a_numpy_translation():
  rng = np.random.default_rng(1)
  imgs = rng.integers(1, 255, (6, 28, 28, 1)).astype(np.float32)
  key = jax.random.key(3)
  out = np.asarray(jax.jit(tasks.shift, static_argnums=2)(key, jnp.asarray(imgs), 2))
  offsets = np.asarray(jax.random.randint(key, (6, 2), 0, 5)) - 2
  for img, o, got in zip(imgs, offsets, out):
    ref = np.zeros_like(img)
    dy, dx = -o  # a crop starting at +o moves the content by -o
    src = img[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
    ref[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    np.testing.assert_array_equal(got, ref)
  assert (offsets != 0).any()


def test_mirror_flips_about_half_the_images_left_right():
  imgs = np.random.default_rng(2).normal(size=(64, 5, 7, 2)).astype(np.float32)
  out = np.asarray(jax.jit(tasks.mirror)(jax.random.key(4), jnp.asarray(imgs)))
  flipped = [np.array_equal(o, i[:, ::-1]) for i, o in zip(imgs, out)]
  kept = [np.array_equal(o, i) for i, o in zip(imgs, out)]
  assert all(f != k for f, k in zip(flipped, kept))
  assert 20 <= sum(flipped) <= 44  # Binomial(64, 1/2): mean 32, sd 4


def test_images_augment_shifts_then_mirrors():
  imgs = jnp.asarray(np.random.default_rng(5).normal(size=(8, 28, 28, 1)), jnp.float32)
  key = jax.random.key(6)
  got = tasks.Classification(data.PIXEL_STATS["fashion_mnist"], shift=2, flip=True).augment(key, imgs, None)[0]
  ref = tasks.mirror(jax.random.fold_in(key, 1), tasks.shift(key, imgs, 2))
  chex.assert_trees_all_equal(got, ref)
  plain = tasks.Classification(data.PIXEL_STATS["fashion_mnist"])
  chex.assert_trees_all_equal(plain.augment(key, imgs, None)[0], imgs)


@pytest.mark.parametrize("jit", [False, True])
def test_label_smoothing_is_cross_entropy_against_smoothed_labels(jit):
  logits = np.random.default_rng(7).normal(size=(5, 4))
  y = np.array([0, 3, 1, 1, 2])
  task = tasks.Classification(data.PIXEL_STATS["fashion_mnist"], label_smoothing=0.2)
  loss = jax.jit(task.loss) if jit else task.loss
  p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  target = np.full((5, 4), 0.2 / 4)
  target[np.arange(5), y] += 0.8
  want = -np.mean(np.sum(target * np.log(p), -1))
  np.testing.assert_allclose(loss(jnp.asarray(logits), jnp.asarray(y)), want, rtol=1e-5)
  plain = -np.mean(np.log(p[np.arange(5), y]))
  np.testing.assert_allclose(tasks.Classification((0.0, 1.0)).loss(jnp.asarray(logits), y),
                             plain, rtol=1e-5)
  np.testing.assert_allclose(task.metrics(jnp.asarray(logits), y)["loss"],
                             -np.log(p[np.arange(5), y]), rtol=1e-5)  # metrics: unsmoothed


def examples(x: np.ndarray, stats=None) -> data.Dataset:
  labels = np.zeros(len(x), np.int32)
  return data.Dataset(x, labels, x, labels, x[:0], labels[:0], stats=stats)


def test_inputs_are_standardised_with_their_training_statistics():
  pixels = np.array([[0, 255], [51, 102]], np.uint8)
  mean, std = tasks.input_stats(examples(pixels))
  np.testing.assert_allclose((mean, std), ((pixels / 255).mean(), (pixels / 255).std()))
  np.testing.assert_allclose(tasks.standardise(jnp.asarray(pixels), (mean, std)),
                             (pixels / 255 - mean) / std, rtol=1e-5, atol=1e-6)
  features = np.array([[1.0, 3.0], [5.0, 7.0]], np.float32)
  stats = tasks.input_stats(examples(features))
  assert stats == (4.0, np.sqrt(5.0))
  np.testing.assert_allclose(tasks.standardise(jnp.asarray(features), stats),
                             (features - 4.0) / np.sqrt(5.0), rtol=1e-6)
  assert tasks.input_stats(examples(pixels, data.PIXEL_STATS["mnist"])) == (0.1307, 0.3081)
  assert tasks.input_stats(examples(np.ones((2, 2), np.float32)))[1] == 1.0


def _erased_boxes(imgs, out, filled: float = 1.0):
  """Each image's changed pixels, checked to fill at least ``filled`` of their bounding
  rectangle (integer noise can draw a pixel's own value) and no more: (top, left, h, w)."""
  boxes = []
  for i, o in zip(imgs, out):
    changed = (i != o).any(-1)
    if not changed.any():
      boxes.append(None)
      continue
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    top, left, h, w = rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    inside = changed[top:top + h, left:left + w].sum()
    assert inside == changed.sum() >= filled * h * w
    boxes.append((top, left, h, w))
  return boxes


@pytest.mark.parametrize("jit", [False, True])
def test_erase_fills_one_rectangle_of_each_image_of_the_area_and_aspect_drawn(jit):
  imgs = jnp.asarray(np.random.default_rng(8).normal(size=(512, 28, 28, 1)), jnp.float32)
  fn = jax.jit(tasks.erase, static_argnums=2) if jit else tasks.erase
  out = np.asarray(fn(jax.random.key(9), imgs, 1.0))
  boxes = _erased_boxes(np.asarray(imgs), out)
  assert all(b is not None for b in boxes)
  area = np.array([h * w for _, _, h, w in boxes]) / 28 ** 2
  # U(0.02, 0.4) of the area (mean 0.21), rounded sides, the longest clipped to 28.
  assert area.min() >= 0.01 and area.max() <= 0.45 and 0.16 < area.mean() < 0.22
  aspect = np.array([h / w for _, _, h, w in boxes])
  assert (aspect > 2).sum() > 20 and (aspect < 0.5).sum() > 20  # log-uniform in [0.3, 3.3]
  assert {t for t, *_ in boxes} >= {0} and max(t + h for t, _, h, _ in boxes) == 28
  filled = out[(out != np.asarray(imgs))]
  assert filled.min() >= float(imgs.min()) and filled.max() <= float(imgs.max())
  assert 0.2 < filled.std() / (float(imgs.max()) - float(imgs.min())) < 0.35  # U: 0.289


def test_erase_with_probability_a_half_spares_about_half_and_keeps_integer_pixels():
  imgs = np.random.default_rng(10).integers(0, 256, size=(256, 28, 28, 1), dtype=np.uint8)
  out = np.asarray(tasks.erase(jax.random.key(11), jnp.asarray(imgs), 0.5))
  assert out.dtype == np.uint8
  boxes = _erased_boxes(imgs.astype(int), out.astype(int), filled=0.9)
  erased = sum(b is not None for b in boxes)
  assert 100 <= erased <= 156  # Binomial(256, 1/2): mean 128, sd 8
  chex.assert_trees_all_equal(tasks.erase(jax.random.key(11), jnp.asarray(imgs), 0.0),
                              jnp.asarray(imgs))


def test_augment_erases_after_shifting_and_mirroring():
  imgs = jnp.asarray(np.random.default_rng(12).normal(size=(8, 28, 28, 1)), jnp.float32)
  key = jax.random.key(13)
  task = tasks.Classification(data.PIXEL_STATS["fashion_mnist"], shift=2, flip=True, erase=0.5)
  ref = tasks.erase(jax.random.fold_in(key, 2), tasks.mirror(jax.random.fold_in(key, 1),
                                                             tasks.shift(key, imgs, 2)), 0.5)
  chex.assert_trees_all_equal(task.augment(key, imgs, None)[0], ref)
