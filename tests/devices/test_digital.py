import chex
import jax
import numpy as np
import pytest

from opujax import devices


class DigitalTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_projection_is_x_at_w(self):
    d = devices.make("digital", 30, 70, seed=2)
    w = np.asarray(d.effective_matrix())
    x = np.random.default_rng(0).standard_normal((5, 30)).astype(np.float32)
    y = self.variant(d.project)(x, jax.random.key(0))
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)


def test_matrix_is_standard_normal():
  w = np.asarray(devices.make("digital", 300, 1000).effective_matrix())
  assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_streamed_equals_materialised():
  kw = dict(seed=9)
  mat = devices.make("digital", 2100, 50, **kw)  # three row tiles of 1024
  streamed = devices.make("digital", 2100, 50, storage="streamed", block_bytes=1 << 16, **kw)
  x = np.random.default_rng(1).standard_normal((3, 2100)).astype(np.float32)
  np.testing.assert_allclose(streamed.project(x, None), mat.project(x, None), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_array_equal(streamed.effective_matrix(), mat.effective_matrix())
  assert streamed.cost(3).macs == 3 * 2100 * 50 and streamed.cost(3).frames == 0


@pytest.mark.parametrize("options,match", [(dict(mode="intensity"), "linear only"),
                                           (dict(storage="tape"), "storage"),
                                           (dict(max_bytes=100), "streamed")])
def test_bad_configuration(options, match):
  with pytest.raises(ValueError, match=match):
    devices.make("digital", 30, 70, **options)


def test_bad_sizes():
  with pytest.raises(ValueError, match="in_features"):
    devices.make("digital", 0, 70)
  with pytest.raises(ValueError, match="out_features"):
    devices.make("opu", 4, -1)


def test_from_matrix_projects_with_the_given_matrix():
  m = np.random.default_rng(0).normal(size=(6, 9)).astype(np.float32)
  x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
  device = devices.from_matrix(m)
  assert (device.in_features, device.out_features) == (6, 9)
  np.testing.assert_allclose(device.project(x, jax.random.key(0)), x @ m, rtol=1e-5)
  np.testing.assert_array_equal(device.effective_matrix(), m)
  for bad in (np.ones(3), np.array([[1.0, np.nan]]), np.ones((2, 2), np.int32)):
    with pytest.raises(ValueError):
      devices.from_matrix(bad)
