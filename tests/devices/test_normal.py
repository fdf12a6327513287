"""opujax.devices.normal against NumPy, XLA's erf_inv and the normal distribution."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import normal

QUANTILES = [-3.0902, -1.6449, 0.0, 1.6449, 3.0902]  # Phi^-1(.001, .05, .5, .95, .999)


def test_draws_are_standard_normal():
  z = np.asarray(normal.standard_normal(jax.random.key(0), (1 << 20,)), np.float64)
  z2 = np.asarray(normal.standard_normal(jax.random.key(1), (1 << 20,)), np.float64)
  assert abs(z.mean()) < 3e-3 and abs(z.var() - 1) < 5e-3 and abs(np.mean(z ** 4) - 3) < 0.03
  np.testing.assert_allclose(np.quantile(z, [0.001, 0.05, 0.5, 0.95, 0.999]), QUANTILES,
                             atol=0.03)
  for a, b in ((z[:-1], z[1:]), (z[:-1024], z[1024:]), (z, z2)):
    assert abs(np.corrcoef(a, b)[0, 1]) < 4e-3
  assert abs(np.corrcoef(z[:-1] ** 2, z[1:] ** 2)[0, 1]) < 4e-3


@pytest.mark.parametrize("shape", [(128, 16384), (16384, 128)])
def test_grid_draws_are_independent_standard_normals(shape):
  """Moments and quantiles, and the Gram matrices of the short side: rows (or columns)
  drawn from per-row and per-column hash words must be as uncorrelated as independent
  normals, whose sample correlations over n entries have standard deviation 1/sqrt(n);
  the two arrays of a Box-Muller pair (and their squares) too, entry by entry."""
  n_rows, n_cols = shape
  a, b = normal.standard_normal_grid(jax.random.key(0), jnp.arange(n_rows), jnp.arange(n_cols))
  a, b = (np.asarray(z, np.float64) for z in (a, b))
  if n_rows > n_cols:
    a, b = a.T, b.T
  n = a.shape[1]
  for z in (a, b):
    assert abs(z.mean()) < 3e-3 and abs(z.var() - 1) < 5e-3 and abs(np.mean(z ** 4) - 3) < 0.03
    np.testing.assert_allclose(np.quantile(z, [0.001, 0.05, 0.5, 0.95, 0.999]), QUANTILES,
                               atol=0.03)
    assert np.abs(z).max() < 5.9
  off = ~np.eye(len(a), dtype=bool)
  squares = ((a ** 2 - 1) / np.sqrt(2), (b ** 2 - 1) / np.sqrt(2))
  for x, y in ((a, a), (b, b), (a, b), squares):
    corr = (x @ y.T / n)[off if x is y else np.ones_like(off)] * np.sqrt(n)
    assert abs(corr.std() - 1) < 0.05 and np.abs(corr).max() < 6
  other, _ = normal.standard_normal_grid(jax.random.key(1), jnp.arange(n_rows),
                                         jnp.arange(n_cols))
  other = np.asarray(other).T if n_rows > n_cols else np.asarray(other)
  assert abs(np.corrcoef(np.ravel(other), np.ravel(a))[0, 1]) < 3e-3


def test_a_grid_entry_depends_on_the_key_its_row_and_its_column_only():
  key = jax.random.key(6)
  whole = normal.standard_normal_grid(key, jnp.arange(8), jnp.arange(12))
  rows, cols = np.array([5, 0, 7]), np.array([2, 11, 1, 2])
  part = normal.standard_normal_grid(key, jnp.asarray(rows), jnp.asarray(cols))
  chex.assert_trees_all_close(part, tuple(np.asarray(z)[rows][:, cols] for z in whole),
                              rtol=1e-6)


def test_erfinv_and_log_match_xla_and_numpy():
  x = np.concatenate([np.linspace(-1 + 2 ** -24, 1 - 2 ** -24, 200_001),
                      [-(1 - 2 ** -24), 1 - 2 ** -24]]).astype(np.float32)
  np.testing.assert_allclose(jax.jit(normal.erfinv)(x), jax.lax.erf_inv(x), atol=2e-5,
                             rtol=1e-5)
  edge = float(normal.erfinv(jnp.float32(1 - 2 ** -24)))
  assert np.isfinite(edge) and abs(np.sqrt(2) * edge - 5.42) < 0.01  # the largest draw
  v = np.geomspace(1e-30, 1e30, 100_001).astype(np.float32)
  np.testing.assert_allclose(jax.jit(normal.log)(v), np.log(v.astype(np.float64)),
                             rtol=2e-7, atol=2e-7)




def test_a_block_drawn_alone_equals_the_same_block_drawn_whole():
  key = jax.random.key(4)
  whole = normal.standard_normal(key, (1000,))
  np.testing.assert_array_equal(normal.standard_normal(key, (300,), offset=500), whole[500:800])
