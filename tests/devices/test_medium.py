"""opujax.devices.medium against NumPy and the complex normal distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import medium

QUANTILES = [-3.0902, -1.6449, 0.0, 1.6449, 3.0902]  # Phi^-1(.001, .05, .5, .95, .999)


@pytest.mark.parametrize("parts", [1, 2])
def test_streamed_equals_materialised(parts):
  key = jax.random.key(3)
  cols = np.array([40, 3, 17, 17, 0, 1000, 5, 6, 7])  # any pixels, repeats and order
  g = np.asarray(medium.materialise(key, 37, cols, parts))
  x = np.asarray(jax.random.normal(jax.random.key(0), (5, 30)))
  reference = np.einsum("bk,kpq->bpq", x, g[7:])  # x starts at matrix row 7
  # A budget of a few rows forces uneven blocks (padding) in both directions.
  for block_bytes in (3 * 4 * parts * 4, 1 << 30):
    y = medium.streamed_product(key, jnp.asarray(x), cols, parts, block_bytes, row0=7)
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)


def test_an_entry_depends_on_the_key_its_row_and_its_column_only():
  key = jax.random.key(6)
  whole = np.asarray(medium.materialise(key, 8, np.arange(12), 2, scale=0.5))
  rows, cols = np.array([5, 0, 7]), np.array([2, 11, 1, 2])
  re, im = medium.gaussian_pair(key, jnp.asarray(rows), jnp.asarray(cols))
  np.testing.assert_allclose(0.5 * np.asarray(re), whole[rows][:, 0][:, cols], rtol=1e-6)
  np.testing.assert_allclose(0.5 * np.asarray(im), whole[rows][:, 1][:, cols], rtol=1e-6)
  real = np.asarray(medium.materialise(key, 8, np.arange(12), 1))
  np.testing.assert_array_equal(real[:, 0], 2 * whole[:, 0])
  np.testing.assert_array_equal(whole, medium.materialise(key, 8, np.arange(12), 2, 0.5))


@pytest.mark.parametrize("shape", [(128, 16384), (16384, 128)])
def test_parts_are_independent_standard_normals(shape):
  """Moments and quantiles, and the Gram matrices of the short side: rows (or columns)
  drawn from per-row and per-column hash words must be as uncorrelated as independent
  normals, whose sample correlations over n entries have standard deviation 1/sqrt(n)."""
  n_rows, n_cols = shape
  re, im = medium.gaussian_pair(jax.random.key(0), jnp.arange(n_rows), jnp.arange(n_cols))
  re, im = (np.asarray(z, np.float64) for z in (re, im))
  if n_rows > n_cols:
    re, im = re.T, im.T
  n = re.shape[1]
  for z in (re, im):
    assert abs(z.mean()) < 3e-3 and abs(z.var() - 1) < 5e-3 and abs(np.mean(z ** 4) - 3) < 0.03
    np.testing.assert_allclose(np.quantile(z, [0.001, 0.05, 0.5, 0.95, 0.999]), QUANTILES,
                               atol=0.03)
  off = ~np.eye(len(re), dtype=bool)
  for a, b in ((re, re), (im, im), (re, im), ((re ** 2 - 1) / np.sqrt(2), (im ** 2 - 1) / np.sqrt(2))):
    corr = (a @ b.T / n)[off if a is b else np.ones_like(off)] * np.sqrt(n)
    assert abs(corr.std() - 1) < 0.05 and np.abs(corr).max() < 6
  other, _ = medium.gaussian_pair(jax.random.key(1), jnp.arange(n_rows), jnp.arange(n_cols))
  assert abs(np.corrcoef(np.ravel(other), np.ravel(re.T if n_rows > n_cols else re))[0, 1]) < 3e-3


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
