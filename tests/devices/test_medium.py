import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import medium, normal


@pytest.mark.parametrize("parts", [1, 2])
def test_streamed_equals_materialised(parts):
  key = jax.random.key(3)
  tile = (8, 16)
  x = jax.random.normal(jax.random.key(0), (5, 3, 8))  # 3 row tiles
  g = medium.materialise(key, 3 * 8, range(1, 6), tile, parts)  # column tiles 1..5
  reference = np.einsum("bk,kpq->bpq", np.asarray(x).reshape(5, 24), np.asarray(g))
  # A block budget of ~2 tiles forces uneven blocks (padding) in both directions.
  for block_bytes in (2 * 8 * 16 * parts * 4, 1 << 30):
    y = medium.streamed_product(key, x, range(1, 6), tile, parts, block_bytes)
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)


def test_tiles_are_standard_normal_and_seeded():
  g = np.asarray(medium.materialise(jax.random.key(0), 256, range(4), (64, 64), 2))
  assert abs(g.mean()) < 0.01 and abs(g.var() - 1) < 0.02
  other = np.asarray(medium.materialise(jax.random.key(1), 256, range(4), (64, 64), 2))
  assert abs(np.corrcoef(g.ravel(), other.ravel())[0, 1]) < 0.01
  again = np.asarray(medium.materialise(jax.random.key(0), 256, range(4), (64, 64), 2))
  np.testing.assert_array_equal(g, again)


def test_row_offset_reads_the_right_rows():
  key, tile = jax.random.key(5), (4, 8)
  g = np.asarray(medium.materialise(key, 6 * 4, range(2), tile, 2))
  x = np.zeros((1, 2, 4), np.float32)
  x[0, 1, 2] = 1.0  # second tile row of the input, which starts at row tile 3
  y = medium.streamed_product(key, jnp.asarray(x), range(2), tile, 2, row_tile0=3)
  np.testing.assert_allclose(y[0], g[4 * 4 + 2], rtol=1e-6)


@pytest.mark.parametrize("eps,frames", [(0.01, 10), (0.001, 500)])
def test_drift_correlation_follows_eps(eps, frames):
  g = jax.random.normal(jax.random.key(0), (400, 500))
  g_t = medium.drift(g, jax.random.key(1), eps, frames)
  corr = np.corrcoef(np.ravel(g), np.ravel(g_t))[0, 1]
  assert abs(corr - (1 - eps) ** (frames / 2)) < 0.01
  assert abs(float(jnp.var(g_t)) - 1.0) < 0.02


def test_drift_composes_like_single_frames():
  # Empirical AR(1) recursion in NumPy, frame by frame, against the composed jump.
  rng = np.random.default_rng(0)
  eps, frames = 0.02, 30
  r0 = rng.standard_normal(200_000)
  r = r0.copy()
  for _ in range(frames):
    r = np.sqrt(1 - eps) * r + np.sqrt(eps) * rng.standard_normal(r.shape)
  jump = np.asarray(medium.drift(jnp.asarray(r0), jax.random.key(2), eps, frames))
  assert abs(np.corrcoef(r0, r)[0, 1] - np.corrcoef(r0, jump)[0, 1]) < 0.01


def test_materialise_rows_columns_and_scale_match_the_tiles():
  key, tile = jax.random.key(4), (8, 16)
  full = np.asarray(medium.gaussian_tiles(key, jnp.arange(3), jnp.arange(2, 5), tile, 2))
  cols = np.array([40, 3, 17, 17, 0])
  got = medium.materialise(key, 21, range(2, 5), tile, 2, columns=cols, scale=0.5)
  # Equal up to float32 rounding: compiled draws may fuse multiply-adds that eager ones
  # round twice.
  np.testing.assert_allclose(got, 0.5 * full[:21][:, :, cols], rtol=1e-6, atol=1e-6)
  prefix = medium.materialise(key, 21, range(2, 5), tile, 2, columns=np.arange(30))
  np.testing.assert_allclose(prefix, full[:21, :, :30], rtol=1e-6, atol=1e-6)


def test_each_tile_is_its_own_keyed_stream():
  """Tile (i, j) of a block is standard_normal(fold_in(fold_in(key, i), j)) drawn alone,
  whichever block it is drawn in and wherever it lands."""
  key, (tr, tc) = jax.random.key(6), (4, 8)
  rows, cols = jnp.array([5, 0]), jnp.array([2, 7, 1])
  g = np.asarray(medium.gaussian_tiles(key, rows, cols, (tr, tc), 2))
  for a, i in enumerate(rows):
    for b, j in enumerate(cols):
      alone = normal.standard_normal(jax.random.fold_in(jax.random.fold_in(key, i), j),
                                     (tr, 2, tc))
      np.testing.assert_array_equal(g[a * tr:(a + 1) * tr, :, b * tc:(b + 1) * tc], alone)
