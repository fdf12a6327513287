"""The spatial speckle field (opujax.devices.speckle, `opu(grain=...)`) against NumPy and
the statistics of fully developed speckle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import devices
from opujax.devices import medium, speckle


def numpy_pupil(shape, grain):
  """Frequencies (fy, fx) in cycles/pixel of the bins with |f| <= 1 / (2 grain),
  row-major over numpy's FFT order, and their linear indices."""
  fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
  inside = np.hypot(fy, fx) <= 1 / (2 * grain) + 1e-12
  return np.stack([fy[inside], fx[inside]], axis=1), np.flatnonzero(inside)


def plane_waves(modes_BxK, freqs_Kx2, shape):
  """S(r) = K^-1/2 sum_k c_k exp(2 pi i f_k . r), summed wave by wave in float64."""
  r = np.stack(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij"), -1)
  waves_KxHxW = np.exp(2j * np.pi * np.einsum("kd,hwd->khw", freqs_Kx2, r))
  return np.einsum("bk,khw->bhw", modes_BxK, waves_KxHxW) / np.sqrt(len(freqs_Kx2))


@pytest.mark.parametrize("shape,grain", [((32, 32), 4.0), ((20, 36), 2.5), ((17, 9), 1.0)])
def test_pupil_is_the_disk_of_radius_one_over_twice_the_grain(shape, grain):
  _, bins = numpy_pupil(shape, grain)
  np.testing.assert_array_equal(speckle.pupil_bins(shape, grain), bins)
  spk = speckle.Speckle(shape, grain)
  assert spk.modes == len(bins) and spk.radius == 1 / (2 * grain)


def test_field_is_the_fourier_series_of_the_modes():
  shape, grain = (12, 20), 3.0
  freqs, bins = numpy_pupil(shape, grain)
  rng = np.random.default_rng(0)
  c = rng.normal(size=(3, len(bins))) + 1j * rng.normal(size=(3, len(bins)))
  s = speckle.field(jnp.asarray(c, jnp.complex64), bins, shape)
  np.testing.assert_allclose(s, plane_waves(c, freqs, shape), rtol=1e-5, atol=1e-5)


def test_speckle_is_exponential_and_correlated_as_the_pupil_implies():
  # One-hot frames give independent fields (rows of R). With E|R|^2 = 1 each pixel's
  # intensity is Exp(1); its autocovariance over a shift d is |gamma(d)|^2 with
  # gamma(d) = K^-1 sum_k exp(2 pi i f_k . d), the pupil's normalised Fourier transform.
  shape, grain, n = (48, 48), 4.0, 128
  opu = devices.make("opu", n, shape[0] * shape[1], seed=2, mode="intensity", grain=grain,
                     camera="ideal", camera_shape=shape)
  i = np.asarray(opu.project(jnp.eye(n), None), np.float64).reshape(n, *shape)
  assert abs(i.mean() - 1) < 0.03
  assert abs(i.std() / i.mean() - 1) < 0.05  # contrast 1
  assert abs(np.mean(i > np.log(10)) - 0.1) < 0.01  # P(I > t) = exp(-t)
  freqs, _ = numpy_pupil(shape, grain)
  for d in [(0, 1), (1, 0), (1, 1), (0, 2), (2, 1), (3, 0), (2, 3), (0, 5), (4, 4), (0, 8)]:
    gamma = np.mean(np.exp(2j * np.pi * freqs @ np.asarray(d, np.float64)))
    shifted = np.roll(i, (-d[0], -d[1]), axis=(1, 2))  # the field is periodic on the grid
    cov = np.mean((i - i.mean()) * (shifted - i.mean())) / i.var()
    assert abs(cov - abs(gamma) ** 2) < 0.02, (d, cov, abs(gamma) ** 2)


def test_anchor_protocol_on_the_speckle_field_against_numpy():
  # The medium's columns are the pupil's bins: NumPy synthesises each mirror's field and
  # predicts the anchor protocol's effective matrix and its noiseless readout.
  n, a, m, shape, grain = 10, 6, 70, (9, 12), 2.0
  opu = devices.make("opu", n, m, seed=4, grain=grain, camera="ideal", anchor_pixels=a,
                     camera_shape=shape, roi=(1, 2, 7, 10))
  freqs, bins = numpy_pupil(shape, grain)
  w = np.asarray(medium.materialise(jax.random.key(4), n + a, bins, 2, np.sqrt(0.5)), np.float64)
  r = plane_waves(w[:, 0] + 1j * w[:, 1], freqs, shape)[:, 1:8, 2:12].reshape(n + a, -1)[:, :m]
  np.testing.assert_allclose(opu.transmission_matrix(), r[:n], rtol=1e-4, atol=1e-5)
  m_ref = np.real(np.conj(r[n:].sum(0)) * r[:n])
  np.testing.assert_allclose(opu.effective_matrix(), m_ref, rtol=1e-4, atol=1e-5)
  x = np.random.default_rng(1).integers(0, 2, (4, n)).astype(np.float32)
  np.testing.assert_allclose(opu.project(jnp.asarray(x), None), x @ m_ref, rtol=1e-4,
                             atol=1e-4 * np.abs(x @ m_ref).max())
  assert opu.outputs_per_pixel == min(1.0, 2 * len(bins) / (9 * 12))


def test_default_grid_is_near_square_and_independent_pixels_are_unchanged():
  assert devices.make("opu", 8, 50, grain=2).geometry.camera_shape == (8, 7)
  plain = devices.make("opu", 8, 50)
  assert plain.speckle is None and plain.outputs_per_pixel == 1.0
  assert plain.geometry.camera_shape == (1, 50)


@pytest.mark.parametrize("grain", [0, -2.0, 0.5, "4", True, float("nan")])
def test_bad_grain(grain):
  with pytest.raises(ValueError, match="grain"):
    devices.check("opu", grain=grain)


def test_no_drift_with_a_grain():
  with pytest.raises(ValueError, match="speckle field is not modelled"):
    devices.make("opu", 8, 32, grain=2.0, drift_per_frame=1e-3)
  with pytest.raises(ValueError, match="speckle field is not modelled"):
    devices.make("opu", 8, 32, grain=2.0).drifted(jax.random.key(0), 10)
