"""opujax.devices.medium against NumPy and its grid of normal draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import medium, normal


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


def test_materialise_takes_the_grid_draws_as_real_and_imaginary_parts():
  key = jax.random.key(6)
  cols = np.array([2, 11, 1, 2])
  re, im = normal.standard_normal_grid(key, jnp.arange(8), jnp.asarray(cols))
  got = np.asarray(medium.materialise(key, 8, cols, 2, scale=0.5))
  # Equal up to float32 rounding: compiled draws may fuse multiply-adds.
  np.testing.assert_allclose(got, 0.5 * np.stack([re, im], axis=1), rtol=1e-6, atol=1e-6)
  real = np.asarray(medium.materialise(key, 8, cols, 1))
  np.testing.assert_allclose(real[:, 0], re, rtol=1e-6, atol=1e-6)


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
