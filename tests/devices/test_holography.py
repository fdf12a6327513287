"""Off-axis holography (`opu(protocol="holography")`, `speckle.decode`) against NumPy."""

import itertools
import math
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import devices
from opujax.devices import speckle
from opujax.devices.opu import PIXEL_DOMAIN_MIRRORS

N, M = 40, 96


def binary(shape, seed=0):
  return (jax.random.uniform(jax.random.key(seed), shape) < 0.5).astype(jnp.float32)


def numpy_pupil(shape, grain):
  """Signed integer frequencies (m_y, m_x) of the bins with |f| <= 1 / (2 grain)."""
  my, mx = np.meshgrid(np.fft.fftfreq(shape[0], 1 / shape[0]),
                       np.fft.fftfreq(shape[1], 1 / shape[1]), indexing="ij")
  inside = np.hypot(my / shape[0], mx / shape[1]) <= 1 / (2 * grain) + 1e-12
  return np.stack([my[inside], mx[inside]], axis=1).astype(int), np.flatnonzero(inside)


def numpy_rectangle(shape, rows=0, cols=0):
  """Frequencies and linear bins of the packed rectangle: rows [0, (H - 1) // 2), columns
  [0, (W + 1) // 3), grown by ``rows`` and ``cols``."""
  a, b = (shape[0] - 1) // 2 + rows, (shape[1] + 1) // 3 + cols
  my, mx = np.meshgrid(np.arange(a), np.arange(b), indexing="ij")
  return np.stack([my.ravel(), mx.ravel()], axis=1), np.sort((my * shape[1] + mx).ravel())


class NoiselessTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_noiseless_holography_equals_the_matrix_product(self):
    # The figure of issue 27: <= 1e-4 relative, with the default grain and carrier; the
    # field from each mirror's field on the pixels (few mirrors) or from each frame's
    # modes by an inverse FFT (more).
    # The packed rectangle likewise (its sideband across Nyquist, read at its mirror).
    for n, pupil in itertools.product((PIXEL_DOMAIN_MIRRORS, PIXEL_DOMAIN_MIRRORS + 1),
                                      speckle.PUPILS):
      opu = devices.make("opu", n, M, protocol="holography", camera="ideal",
                         encoding="binary", pupil=pupil)
      x = binary((16, n))
      y = self.variant(lambda d, x, k: d.project(x, k))(opu, x, jax.random.key(1))
      ref = np.asarray(x) @ np.asarray(opu.effective_matrix())
      chex.assert_shape(y, (16, M))
      assert np.abs(y - ref).max() <= 1e-4 * np.abs(ref).max()


def test_effective_matrix_is_the_modes_real_and_imaginary_parts():
  # Output 2j is Re R[:, mode j], 2j + 1 its Im: the medium seen through its modes, its
  # entries N(0, sigma^2) (no anchor field scales them).
  opu = devices.make("opu", N, 2 * 25 - 1, seed=3, protocol="holography", sigma=0.8)
  w = np.asarray(opu.transmission_matrix())  # each mirror's field on the grid's pixels
  modes = np.fft.fft2(w.reshape(N, *opu.geometry.camera_shape)).reshape(N, -1)
  c = modes[:, opu.speckle.bins()[:25]] * math.sqrt(opu.speckle.modes) / w.shape[1]
  m = np.asarray(opu.effective_matrix())
  np.testing.assert_allclose(m[:, 0::2], c.real[:, :25], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(m[:, 1::2], c.imag[:, :24], rtol=1e-4, atol=1e-5)
  full = np.asarray(devices.make("opu", 400, 400, protocol="holography", sigma=0.8)
                    .effective_matrix())
  assert abs(full.std() / 0.8 - 1) < 0.02


@pytest.mark.parametrize("shape,pupil,carrier", [((24, 30), "disk", (-7, 9)),
                                                 ((13, 17), "rectangle", (-1, -6))])
def test_decoder_reads_a_hand_built_hologram(shape, pupil, carrier):
  # The hologram built wave by wave in NumPy: K modes' plane waves and a tilted
  # reference; the decoder returns the modes.
  amplitude = 1.7
  freqs, bins = numpy_rectangle(shape) if pupil == "rectangle" else numpy_pupil(shape, 4.0)
  rng = np.random.default_rng(0)
  c = rng.normal(size=(2, len(bins))) + 1j * rng.normal(size=(2, len(bins)))
  r = np.stack(np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij"), -1)
  f = freqs / np.asarray(shape)
  s = np.einsum("bk,khw->bhw", c, np.exp(2j * np.pi * np.einsum("kd,hwd->khw", f, r)))
  s /= np.sqrt(len(bins))
  ref = amplitude * np.exp(2j * np.pi * (r @ (np.asarray(carrier) / np.asarray(shape))))
  frames = np.abs(s + ref) ** 2
  spk = speckle.Speckle(shape, None if pupil == "rectangle" else 4.0, pupil)
  np.testing.assert_array_equal(spk.bins(), bins)
  assert speckle.leakage(spk.mask(), carrier, amplitude ** 2 / 2) == 0
  got = speckle.decode(jnp.asarray(frames, jnp.float32), bins, shape,
                       speckle.Reference(carrier, amplitude))
  np.testing.assert_allclose(got, c, atol=1e-4 * np.abs(c).max())


def numpy_leakage(m, shape, carrier, reference_power):
  """Relative power leaking into the sideband of the modes of frequencies ``m``: per mode
  j, N(b_j) / (K r) from |S|^2 (N(b): pairs of pupil bins b apart, b = f_j - kappa) plus
  1 if the conjugate sideband kappa - f_l lands there; averaged over the modes. Brute
  force over pairs."""
  k, wrap = len(m), lambda v: tuple(np.mod(v, shape))
  pairs = {}
  for a, b in itertools.product(m, m):
    if (a != b).any():
      pairs[wrap(a - b)] = pairs.get(wrap(a - b), 0) + 1
  conjugate = {wrap(np.asarray(carrier) - f) for f in m}
  side = [wrap(f - np.asarray(carrier)) for f in m]
  return sum(pairs.get(b, 0) / (k * reference_power) + (b in conjugate) for b in side) / k


@pytest.mark.parametrize("carrier,power", [((0.0, 0.25), 1.0), ((0.19, 0.0), 4.0),
                                           ((0.0, 0.45), 1.0)])
def test_a_close_carrier_leaks_as_the_pupil_autocorrelation_predicts(carrier, power):
  # Between rho and 3 rho the |S|^2 term falls into the sideband, past Nyquist (0.45 +
  # rho > 1/2) the sideband wraps onto the conjugate one: warned, and the decoded
  # projections' error power is the predicted leakage. One-hot inputs give
  # independent circular Gaussian modes (rows of R) of E|c|^2 = 2 sigma^2 = 1, so a
  # reference A^2 = power needs reference_power = power / (sigma^2 n) = 2 power / n.
  shape, grain, n = (32, 32), 4.0, 128
  k = len(numpy_pupil(shape, grain)[1])
  with pytest.warns(UserWarning, match="not clear of the |S|"):
    opu = devices.make("opu", n, 2 * k, seed=5, protocol="holography", camera="ideal",
                       grain=grain, carrier=carrier, reference_power=2 * power / n,
                       camera_shape=shape)
  bins = speckle.carrier_bins(carrier, shape)
  expected = numpy_leakage(numpy_pupil(shape, grain)[0], shape, bins, power)
  assert expected > 0.01
  assert speckle.leakage(speckle.pupil(shape, grain), bins, power) == pytest.approx(expected, rel=1e-9)
  y = np.asarray(opu.project(jnp.eye(n), None))
  ref = np.asarray(opu.effective_matrix())
  assert np.sum((y - ref) ** 2) / np.sum(ref ** 2) == pytest.approx(expected, rel=0.1)


def prime_factors(n):
  return {p for p in range(2, n + 1) if n % p == 0 and all(p % q for q in range(2, p))}


def test_the_default_grid_has_fast_fft_sides_the_modes_and_a_clear_carrier():
  # By brute force: no grid of fast FFT sides (prime factors 2, 3, 5) with a shorter
  # longer side, or as short and less area, holds the modes with the carrier clear.
  carrier = speckle.default_carrier(4.0)
  for out in (2, 21, 96, 1000, 1600):
    opu = devices.make("opu", 8, out, protocol="holography", camera="ideal")
    (h, w), needed = opu.geometry.camera_shape, -(-out // 2)
    assert prime_factors(h) | prime_factors(w) <= {2, 3, 5}
    assert len(numpy_pupil((h, w), 4.0)[1]) >= needed
    assert speckle.leakage(speckle.pupil((h, w), 4.0), opu.reference.carrier, 1.0) == 0
    fast = [n for n in range(2, max(h, w) + 1) if prime_factors(n) <= {2, 3, 5}]
    for a, b in itertools.product(fast, fast):
      if (max(a, b), a * b, a) < (max(h, w), h * w, h):
        assert len(numpy_pupil((a, b), 4.0)[1]) < needed or speckle.leakage(
            speckle.pupil((a, b), 4.0), speckle.carrier_bins(carrier, (a, b)), 1.0) > 0, (out, a, b)
  assert devices.make("opu", 10, 1600, protocol="holography").geometry.camera_shape == (125, 135)


@pytest.mark.parametrize("out", [2, 21, 96, 1600])
def test_the_packed_rectangle_is_clear_on_the_least_grid(out):
  # The rectangle's sideband is clear (brute force over pairs of modes), a row or a
  # column more on the same grid leaks, and no grid with a shorter longer side, or as
  # short and less area, packs the modes (brute force over every grid).
  opu = devices.make("opu", 8, out, protocol="holography", pupil="rectangle", camera="ideal")
  (h, w), needed, carrier = opu.geometry.camera_shape, -(-out // 2), opu.reference.carrier
  m, bins = numpy_rectangle((h, w))
  np.testing.assert_array_equal(opu.speckle.bins(), bins)
  assert len(bins) >= needed and opu.pixels_per_frame == h * w
  assert carrier == (-1, -((w + 1) // 3))
  assert speckle.leakage(opu.speckle.mask(), carrier, 1.0) == 0
  if out < 1600:  # the brute force takes K^2 pairs
    assert numpy_leakage(m, (h, w), carrier, 1.0) == 0
    assert numpy_leakage(numpy_rectangle((h, w), rows=1)[0], (h, w), carrier, 1.0) > 0
    if h > 3:  # a one-row pupil's |S|^2 holds only row 0: any width is clear
      assert numpy_leakage(numpy_rectangle((h, w), cols=1)[0], (h, w), carrier, 1.0) > 0
  for a, b in itertools.product(range(1, max(h, w) + 1), repeat=2):
    if (max(a, b), a * b, a) < (max(h, w), h * w, h):
      assert len(numpy_rectangle((a, b))[1]) < needed, (out, a, b)
  if out == 1600:  # MNIST DFA's shape: 6.0 pixels a mode, 3.5 x fewer than the disk's
    assert (h, w) == (71, 68) and h * w / len(bins) < 6.0


def test_the_packed_rectangles_speckle_is_exponential_and_correlated_as_it_implies():
  # Each mirror's field on the grid (R's rows, independent): Exp(1) intensities (sigma^2
  # = 1/2), autocovariance |gamma(d)|^2 with gamma the rectangle's normalised Fourier
  # transform: speckles about 2 pixels tall and 3 wide.
  shape, n = (49, 50), 128
  m, _ = numpy_rectangle(shape)
  opu = devices.make("opu", n, 2 * len(m), seed=2, protocol="holography", pupil="rectangle",
                     camera="ideal", camera_shape=shape)
  i = np.abs(np.asarray(opu.transmission_matrix(), np.complex128)).reshape(n, *shape) ** 2
  assert abs(i.mean() - 1) < 0.03
  assert abs(i.std() / i.mean() - 1) < 0.05
  assert abs(np.mean(i > np.log(10)) - 0.1) < 0.01
  for d in [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 3), (3, 1), (0, 4)]:
    gamma = np.mean(np.exp(2j * np.pi * m @ (np.asarray(d) / np.asarray(shape))))
    shifted = np.roll(i, (-d[0], -d[1]), axis=(1, 2))
    cov = np.mean((i - i.mean()) * (shifted - i.mean())) / i.var()
    assert abs(cov - abs(gamma) ** 2) < 0.02, (d, cov, abs(gamma) ** 2)


@pytest.mark.parametrize("options,match", [
    (dict(pupil="oval", protocol="holography"), "Unknown pupil 'oval'"),
    (dict(pupil="rectangle"), "holography's packed layout"),
    (dict(pupil="rectangle", protocol="holography", grain=4.0), "leave grain and carrier"),
    (dict(pupil="rectangle", protocol="holography", carrier=(0.3, 0.3)), "leave grain and"),
    (dict(pupil="rectangle", protocol="holography", drift_per_frame=0.01), "Drift"),
    (dict(protocol="holography", drift_per_frame=0.01), "Drift"),
    (dict(pupil="rectangle", protocol="holography", camera_shape=(9, 9)), "packed rectangle holds 12"),
    (dict(pupil="rectangle", protocol="holography", max_camera_shape=(9, 9)), "larger than 9x9"),
])
def test_bad_pupil_options(options, match):
  with pytest.raises(ValueError, match=match):
    devices.make("opu", 8, 64, **options)
  if "shape" not in str(options):
    with pytest.raises(ValueError, match=match):
      devices.check("opu", **options)


@pytest.mark.parametrize("n", range(1, 200))
def test_fast_fft_length(n):
  assert speckle.fast_fft_length(n) == (prime_factors(n) <= {2, 3, 5})


def test_noisy_holography_keeps_the_projection():
  opu = devices.make("opu", N, M, seed=7, protocol="holography")
  x = binary((16, N))
  m = opu.measure(x, jax.random.key(3))
  ref = np.asarray(x) @ np.asarray(opu.effective_matrix())
  assert 0.95 < np.corrcoef(np.ravel(m.y), ref.ravel())[0, 1] < 0.99999
  assert not np.allclose(m.y, opu.project(x, jax.random.key(4)))
  assert 0.0 <= float(m.saturated) < 0.01
  bright = devices.make("opu", N, M, seed=7, protocol="holography",
                        camera=devices.Camera(exposure=400.0, full_well=1000.0))
  assert 0.0 < float(bright.measure(x, jax.random.key(0)).saturated) < 1.0


@pytest.mark.parametrize("pupil", speckle.PUPILS)
def test_encoded_and_common_mode_inputs_decode_through_holography(pupil):
  # One decode a row, of its frames' weighted sum of holograms, against the frames'
  # decoded sum in NumPy.
  opu = devices.make("opu", N, M, seed=7, protocol="holography", camera="ideal",
                     encoding="ternary", threshold=0.3, common_mode=True, pupil=pupil)
  m = np.asarray(opu.effective_matrix())
  np.testing.assert_allclose(opu.ones_reference, m.sum(0), rtol=1e-4, atol=1e-4)
  e = jax.random.normal(jax.random.key(2), (5, N)) + 0.7
  code = devices.encoding.encode(e, opu.encoding)
  decoded = np.einsum("fbn,fb->bn", code.frames, code.weights) + np.asarray(code.offset)[:, None]
  y = np.asarray(opu.project(e, jax.random.key(0)))
  np.testing.assert_allclose(y, decoded @ m, atol=1e-4 * np.abs(y).max())


@pytest.mark.parametrize("options,n", [
    (dict(protocol="holography"), N), (dict(protocol="holography"), PIXEL_DOMAIN_MIRRORS),
    (dict(protocol="holography", pupil="rectangle"), PIXEL_DOMAIN_MIRRORS),
    (dict(grain=2.0), 8)])
def test_streamed_equals_materialised(options, n):
  # Streamed, the field is each frame's modes' inverse FFT; materialised with few
  # mirrors, the sum of the mirrors' fields on the pixels.
  kw = dict(seed=11, camera="ideal", **options)
  mat = devices.make("opu", n, M, **kw)
  streamed = devices.make("opu", n, M, storage="streamed", block_bytes=16 * 64 * 2 * 4, **kw)
  assert streamed.weights is None
  x = binary((6, n))
  np.testing.assert_allclose(streamed.project(x, None), mat.project(x, None), rtol=1e-4,
                             atol=1e-4)


def test_one_camera_frame_a_dmd_frame_and_every_pixel_counted():
  kw = dict(encoding="stochastic", storage="streamed", dmd_shape=(20, 25))
  holo = devices.make("opu", 300, 1000, protocol="holography", **kw)
  (h, w) = holo.geometry.camera_shape
  assert holo.frames_per_row == 2 and holo.pixels_per_frame == h * w
  assert holo.outputs_per_pixel == 1000 / (h * w)
  b = holo.cost(100)
  assert b.frames == b.dmd_frames == 200
  assert b.camera_pixels == 200 * h * w and b.bytes_read == 200 * h * w  # 8-bit pixels
  assert b.optical_macs == 200 * 300 * h * w  # no anchor mirrors
  anchor = devices.make("opu", 300, 1000, **kw)
  a = anchor.cost(100)
  assert a.frames == 400 and a.camera_pixels == 400 * 1000
  assert a.optical_macs == 400 * 450 * 1000 and anchor.outputs_per_pixel == 1.0


def test_a_clear_carrier_does_not_warn():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    devices.make("opu", 8, 64, protocol="holography", grain=5.0, carrier=(-0.3, 0.1))
  devices.check("opu", protocol="holography", grain=6, carrier=(0.0, 0.3), reference_power=3)


def test_works_with_x64_enabled():
  with jax.enable_x64(True):
    opu = devices.make("opu", 16, 64, seed=0, protocol="holography", storage="streamed",
                       encoding="stochastic", common_mode=True)
    y = opu.project(jax.random.normal(jax.random.key(0), (2, 16)), jax.random.key(1))
    assert y.dtype == jnp.float64 and bool(jnp.isfinite(y).all())
