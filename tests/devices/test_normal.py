"""opujax.devices.normal against NumPy, XLA's erf_inv and the normal distribution."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from opujax.devices import normal


def test_draws_are_standard_normal():
  z = np.asarray(normal.standard_normal(jax.random.key(0), (1 << 20,)), np.float64)
  z2 = np.asarray(normal.standard_normal(jax.random.key(1), (1 << 20,)), np.float64)
  assert abs(z.mean()) < 3e-3 and abs(z.var() - 1) < 5e-3 and abs(np.mean(z ** 4) - 3) < 0.03
  # Quantiles against the normal's: Phi^-1(p) for p = 0.001, 0.05, 0.5, 0.95, 0.999.
  np.testing.assert_allclose(np.quantile(z, [0.001, 0.05, 0.5, 0.95, 0.999]),
                             [-3.0902, -1.6449, 0.0, 1.6449, 3.0902], atol=0.03)
  for a, b in ((z[:-1], z[1:]), (z[:-1024], z[1024:]), (z, z2)):
    assert abs(np.corrcoef(a, b)[0, 1]) < 4e-3
  assert abs(np.corrcoef(z[:-1] ** 2, z[1:] ** 2)[0, 1]) < 4e-3


def test_box_muller_pairs_are_independent_standard_normals():
  a, b = normal.standard_normal_pair(jax.random.key(0), (1 << 20,))
  c, _ = normal.standard_normal_pair(jax.random.key(1), (1 << 20,))
  a, b, c = (np.asarray(z, np.float64) for z in (a, b, c))
  for z in (a, b):
    assert abs(z.mean()) < 3e-3 and abs(z.var() - 1) < 5e-3 and abs(np.mean(z ** 4) - 3) < 0.03
    np.testing.assert_allclose(np.quantile(z, [0.001, 0.05, 0.5, 0.95, 0.999]),
                               [-3.0902, -1.6449, 0.0, 1.6449, 3.0902], atol=0.03)
    assert np.abs(z).max() < 5.9
  # Within a pair (z1 and z2 share r, yet are independent: their squares are
  # uncorrelated too), along an array, and between keys.
  for x, y in ((a, b), (a ** 2, b ** 2), (a[:-1], a[1:]), (b[:-1] ** 2, b[1:] ** 2), (a, c)):
    assert abs(np.corrcoef(x, y)[0, 1]) < 4e-3
  chex.assert_trees_all_close(
      normal.standard_normal_pair(jax.random.key(0), (300,), offset=500),
      (a[500:800].astype(np.float32), b[500:800].astype(np.float32)), atol=1e-6)


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
