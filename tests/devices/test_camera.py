import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import camera as camera_lib
from opujax.devices import normal
from opujax.devices.camera import Camera


def detect_many(cam, intensity, n=64, seed=0):
  """n independent exposures of a (1, M) frame, as (n, M)."""
  frames = jnp.broadcast_to(jnp.asarray(intensity, jnp.float32), (n, np.size(intensity)))
  est, sat = jax.jit(lambda k: camera_lib.detect(cam, frames, k))(jax.random.key(seed))
  return np.asarray(est), float(sat)


@pytest.mark.parametrize("adc_bits", [None, 12])
def test_snr_matches_photon_budget_and_read_noise(adc_bits):
  # A flat frame under auto exposure: every pixel collects `photons` electrons, so the
  # documented SNR is photons / sqrt(photons + dark + read^2 + 1 / (12 gain^2)).
  cam = Camera(photons=400.0, read_noise=8.0, dark_electrons=20.0, adc_bits=adc_bits,
               full_well=4000.0)
  est, _ = detect_many(cam, np.full(4096, 3.0))
  quantisation = 1 / (12 * cam.gain ** 2) if adc_bits else 0.0
  expected = 400.0 / np.sqrt(400.0 + 20.0 + 64.0 + quantisation)
  measured = est.mean() / est.std()
  assert abs(est.mean() - 3.0) < 0.01
  assert abs(measured / expected - 1) < 0.03


def test_shot_noise_variance_grows_with_signal():
  cam = Camera(exposure=1.0, read_noise=3.0, dark_electrons=0.0, adc_bits=None)
  levels = np.repeat([50.0, 200.0, 800.0, 3200.0], 1024)
  est, _ = detect_many(cam, levels, n=128)
  var = est.reshape(128, 4, 1024).transpose(1, 0, 2).reshape(4, -1).var(axis=1)
  np.testing.assert_allclose(var, [59.0, 209.0, 809.0, 3209.0], rtol=0.05)


def test_poisson_shot_noise():
  cam = Camera(exposure=1.0, shot_noise="poisson", read_noise=0.0, dark_electrons=0.0,
               adc_bits=None)
  est, _ = detect_many(cam, np.full(2048, 4.0))
  assert np.all(est == np.round(est))  # photon counts are integers
  assert abs(est.mean() - 4.0) < 0.05 and abs(est.var() / 4.0 - 1) < 0.05


def test_adc_levels_and_saturation():
  cam = Camera(exposure=1.0, shot_noise="off", read_noise=0.0, dark_electrons=0.0, adc_bits=3,
               full_well=70.0)
  intensity = np.linspace(0.0, 120.0, 1000)
  est, sat = detect_many(cam, intensity, n=1)
  assert len(np.unique(est)) <= 2 ** 3
  gain = 7 / 70.0
  expected = np.mean(np.clip(np.round(intensity * gain), 0, 7) == 7)
  assert sat == pytest.approx(expected)
  assert np.all(est <= 70.0 + 1e-4)  # a saturated pixel reads full scale


def test_ideal_camera_is_exact():
  intensity = np.random.default_rng(0).exponential(size=100).astype(np.float32)
  est, sat = detect_many(Camera.ideal(), intensity, n=2)
  np.testing.assert_allclose(est, np.broadcast_to(intensity, est.shape), rtol=1e-5)
  assert sat == 0.0


def test_auto_exposure_targets_the_photon_budget():
  intensity = np.random.default_rng(0).exponential(size=(3, 500)).astype(np.float32) * [[1], [10], [100]]
  exposure = camera_lib.exposure_of(Camera(photons=250.0), jnp.asarray(intensity))
  np.testing.assert_allclose(np.asarray(exposure)[:, 0] * intensity.mean(1), 250.0, rtol=1e-5)


@pytest.mark.parametrize("field,value", [("shot_noise", "laser"), ("photons", 0.0),
                                         ("adc_bits", 0), ("exposure", -1.0),
                                         ("read_noise", -1.0)])
def test_bad_camera_values(field, value):
  with pytest.raises(ValueError):
    Camera(**{field: value})


def test_dark_frame_under_auto_exposure_is_finite():
  est, _ = detect_many(Camera(), np.zeros(64), n=2)
  assert np.all(np.isfinite(est)) and abs(est.mean()) < 1.0


@pytest.mark.parametrize("m,adc_bits", [(50, None), (50, 16), (49, 16)])
def test_noise_of_a_pixel_is_set_by_its_frame_kind_and_index(m, adc_bits):
  # K = 3 kinds of L = 2 frames of (4, m) pixels, read noise only: the estimate is
  # I + 10 z (+ the ADC's rounding, 1 count an electron), where pixel p of row r of frame
  # l, kind k gets array k % 2 of the normal grid's entry (row (l * 2 + k // 2) * 4 + r,
  # column p) (ceil(3 / 2) = 2 pairs a frame), but with an ADC the last, unpaired kind
  # array p // h of the entry (same row, column p % h), h = ceil(m / 2): its two halves
  # pair up.
  cam = Camera(exposure=1.0, shot_noise="off", read_noise=10.0, dark_electrons=0.0,
               adc_bits=adc_bits, full_well=2.0 ** 16 - 1)
  i = jnp.asarray(100 + np.random.default_rng(3).exponential(1000, size=(3, 2, 4, m)),
                  jnp.float32)  # above the ADC's 0 whatever the noise
  key = jax.random.key(9)
  sources = i.transpose(1, 0, 2, 3)  # frames() makes 3 kinds of each of 2 sources
  est, _ = jax.jit(lambda s: camera_lib.capture(cam, tuple, s, key))(sources)
  h = -(-m // 2)
  for l in range(2):
    for k in range(3):
      rows = (l * 2 + k // 2) * 4 + jnp.arange(4)
      if k < 2 or adc_bits is None:
        z = normal.standard_normal_grid(key, rows, jnp.arange(m))[k % 2]
      else:
        z = jnp.concatenate(normal.standard_normal_grid(key, rows, jnp.arange(h)), -1)[:, :m]
      np.testing.assert_allclose(est[k][l] - i[k, l], 10 * z, atol=0.5 if adc_bits else 1e-3)


def test_exposure_in_chunks_equals_one_chunk(monkeypatch):
  """Sources exposed in looped chunks (2 + 2 + a remainder of 1) read out as in one
  vmapped chunk: the noise depends on the key and a pixel's indices only."""
  cam = Camera()
  i = jnp.asarray(np.random.default_rng(4).exponential(size=(5, 3, 4, 50)), jnp.float32)
  key = jax.random.key(2)
  capture = lambda s: camera_lib.capture(cam, tuple, s, key)
  whole = jax.jit(capture)(i)
  monkeypatch.setattr(camera_lib, "CHUNK_BYTES", 2 * 4 * 200 * (3 + 2))  # two sources
  chunked = jax.jit(capture)(i)
  chex.assert_trees_all_close(chunked, whole, atol=1e-6)
