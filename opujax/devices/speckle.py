"""The camera as an image: a band-limited speckle field, and off-axis holography.

**Spatial field.** On a camera grid of H x W pixels the field is band-limited by a
pupil in the camera's Fourier plane: the 2-D FFT bins f = (k_y / H, k_x / W) (signed, in
cycles/pixel, `numpy.fft.fftfreq` order) with |f| <= rho, rho = 1 / (2 grain). The grain
is the speckle's size in pixels (the pupil's diameter 2 rho is one cycle per grain); a
grid holds K ~ pi rho^2 H W modes, so 2 K / (H W) = pi / (2 grain^2) real degrees of
freedom a pixel. The medium gives each mode a complex amplitude c_k (as it gives each
pixel one without a grain) and the camera sees their inverse Fourier transform

    S(r) = K^(-1/2) sum_{k in pupil} c_k exp(2 pi i f_k . r),     r = (row, col),

normalised so that E|S(r)|^2 = E|c_k|^2: the intensity's mean (and its exponential
law, contrast 1) is what it is without a grain. For circular Gaussian c_k, the
intensity's autocovariance over a shift d is (Siegert) cov(I(r), I(r + d)) / var I =
|gamma(d)|^2 with gamma(d) = K^(-1) sum_k exp(2 pi i f_k . d): the squared, normalised
Fourier transform of the pupil. The field is periodic on the grid (a Fourier series).

**Off-axis holography.** A reference beam of amplitude A tilted to the carrier kappa
(cycles/pixel, a bin of the grid) interferes with S on the camera:

    I = |S + A e^{2 pi i kappa.r}|^2 = |S|^2 + A^2 + A S e^{-2 pi i kappa.r} + c.c.

In the frame's FFT F(f) = sum_r I(r) e^{-2 pi i f.r}, the third term puts
H W A c_k / sqrt(K) at bin f_k - kappa (the sideband): ``decode`` reads it there and
returns c_k = sqrt(K) F(f_k - kappa) / (H W A), linear in the DMD pattern, from one
frame. |S|^2 occupies the pupil's autocorrelation (|f| <= 2 rho), A^2 the bin 0 and the
conjugate sideband kappa - pupil: the sideband is clear of all three when
|kappa| >= 3 rho and it lies within Nyquist (|kappa_y|, |kappa_x| <= 1/2 - rho).
Otherwise |S|^2 leaks into it (`leakage`).

**The packed rectangle** (``pupil="rectangle"``). The sideband, its conjugate and |S|^2
need at least 6 bins a mode between them (|S|^2 fills the pupil's autocorrelation, at
least 4 times the pupil's area, with equality for a centrally symmetric convex pupil,
Brunn-Minkowski), which a disk never packs (about 21 at grain 4, 12.7 at the least clear
grain). A rectangle of a x b bins (rows [0, a), columns [0, b)) on a grid of
H >= 2 a + 1 by W >= 3 b - 1 pixels, with the carrier at bins (-1, -b), meets the bound
without leakage: |S|^2 holds the columns |k_x| < b, the sideband the columns [b, 2 b)
and rows [1, a], its conjugate the same columns and rows [-a, -1] (`rectangle`,
`rectangle_shape`, `rectangle_carrier`). Its speckles are H / a ~ 2 by W / b ~ 3 pixels.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
# The smallest grain with a clear carrier: a diagonal carrier at |kappa| = 3 rho whose
# sideband touches Nyquist, kappa_i + rho = 1/2, has rho = 1 / (2 (1 + 3 / sqrt 2)).
MIN_HOLOGRAPHY_GRAIN = 1 + 3 / math.sqrt(2)
PUPILS = ("disk", "rectangle")


@dataclasses.dataclass(frozen=True)
class Speckle:
  """A band-limited field on a camera grid of ``shape`` (rows, cols): through a disk,
  speckles of ``grain`` pixels; through holography's packed ``"rectangle"`` (grain None),
  of about 2 x 3."""

  shape: tuple[int, int]
  grain: float | None
  pupil: str = "disk"

  @property
  def radius(self) -> float:
    """The disk's radius rho, cycles/pixel."""
    return radius(self.grain)

  def mask(self) -> np.ndarray:
    """Boolean (H, W) mask of the pupil's FFT bins."""
    return mask(self.shape, self.grain, self.pupil)

  def bins(self) -> np.ndarray:
    """Linear indices (k_y W + k_x) of the pupil's FFT bins, ascending: the modes."""
    return pupil_bins(self.shape, self.grain, self.pupil)

  @property
  def modes(self) -> int:
    return len(self.bins())


@dataclasses.dataclass(frozen=True)
class Reference:
  """The reference beam of off-axis holography: its carrier as FFT bins (n_y, n_x) of
  the grid (kappa = (n_y / H, n_x / W)) and its amplitude A."""

  carrier: tuple[int, int]
  amplitude: float


def radius(grain: float) -> float:
  """rho = 1 / (2 grain): the pupil's radius in cycles/pixel."""
  return 1.0 / (2.0 * grain)


def pupil(shape: tuple[int, int], grain: float) -> np.ndarray:
  """Boolean (H, W) mask of the FFT bins with |f| <= rho (f in `numpy.fft.fftfreq`
  order), decided in exact integer arithmetic but for the factor (2 grain)^2."""
  h, w = shape
  my = np.fft.fftfreq(h, 1.0 / h)[:, None] * w  # f_y H W, an integer
  mx = np.fft.fftfreq(w, 1.0 / w)[None, :] * h
  return (2.0 * grain) ** 2 * (my ** 2 + mx ** 2) <= float(h * w) ** 2


def rectangle(shape: tuple[int, int]) -> np.ndarray:
  """Boolean (H, W) mask of the packed rectangle: the FFT bins k_y in [0, (H - 1) // 2),
  k_x in [0, (W + 1) // 3), the most a grid holds clear of |S|^2 with the carrier at
  `rectangle_carrier`."""
  (h, w), mask = shape, np.zeros(shape, bool)
  mask[:(h - 1) // 2, :(w + 1) // 3] = True
  return mask


def rectangle_carrier(shape: tuple[int, int]) -> tuple[float, float]:
  """The packed rectangle's carrier, (-1 / H, -b / W) cycles/pixel (bins (-1, -b),
  b = (W + 1) // 3): its sideband fills rows [1, a] and columns [b, 2 b)."""
  h, w = shape
  return (-1 / h, -((w + 1) // 3) / w)


def rectangle_shape(modes: int, max_shape: tuple[int, int]) -> tuple[int, int]:
  """The grid (2 a + 1, 3 b - 1) within ``max_shape`` whose packed rectangle of a x b
  >= ``modes`` bins has the least longer side, then the least area: near square (the
  decoder's transforms cost the most on a long side), about 6 pixels a mode.

  Raises:
    ValueError: no such grid within ``max_shape``.
  """
  grids = [(2 * a + 1, 3 * -(-modes // a) - 1) for a in range(1, (max_shape[0] - 1) // 2 + 1)]
  grids = [s for s in grids if s[1] <= max_shape[1]]
  if not grids:
    raise ValueError(
        f"{modes} holography modes (out_features / 2) through the packed rectangle need "
        f"a camera grid larger than {max_shape[0]}x{max_shape[1]}; reduce out_features or "
        "raise max_camera_shape.")
  return min(grids, key=lambda s: (max(s), s[0] * s[1], s[0]))


def mask(shape: tuple[int, int], grain: float | None, kind: str = "disk") -> np.ndarray:
  """Boolean (H, W) mask of the pupil's FFT bins: the disk of ``grain`` (`pupil`) or the
  packed `rectangle`."""
  return rectangle(shape) if kind == "rectangle" else pupil(shape, grain)


@functools.lru_cache(maxsize=64)
def pupil_bins(shape: tuple[int, int], grain: float | None, kind: str = "disk") -> np.ndarray:
  """The pupil's bins (`pupil` of ``grain``, or the packed `rectangle`) as ascending
  linear indices k_y W + k_x (read-only)."""
  bins = np.flatnonzero(mask(shape, grain, kind))
  bins.flags.writeable = False
  return bins


def field(modes_xK: Array, bins_K: np.ndarray, shape: tuple[int, int]) -> Array:
  """S(r) = K^(-1/2) sum_k c_k exp(2 pi i f_k . r) on the grid.

  Args:
    modes_xK: complex mode amplitudes c (..., K), in the order of ``bins_K``.
    bins_K: the modes' linear FFT bins (`pupil_bins`).
    shape: the grid (H, W).

  Returns:
    The complex field (..., H, W).

  The spectrum is placed by a gather from the modes and a zero (XLA:CPU's scatters are
  slow); inverse FFTs of the pupil's band alone were no faster.
  """
  (h, w), (lead, k) = shape, (modes_xK.shape[:-1], modes_xK.shape[-1])
  slot = np.full(h * w, k)
  slot[np.asarray(bins_K)] = np.arange(k)
  c = modes_xK.reshape(-1, k)
  spectrum = jnp.concatenate([c, jnp.zeros_like(c[:, :1])], axis=1)[:, slot]
  s = jnp.fft.ifft2(spectrum.reshape(-1, h, w)) * (h * w / math.sqrt(k))
  return s.reshape(*lead, h, w)


def reference(shape: tuple[int, int], ref: Reference) -> np.ndarray:
  """A exp(2 pi i (n_y row / H + n_x col / W)), (H, W) complex64, its phases reduced
  modulo one cycle in integers (exact however large the grid)."""
  (h, w), (ny, nx) = shape, ref.carrier
  ey = np.exp(2j * np.pi * ((ny * np.arange(h)) % h) / h)
  ex = np.exp(2j * np.pi * ((nx * np.arange(w)) % w) / w)
  return (ref.amplitude * ey[:, None] * ex[None, :]).astype(np.complex64)


def hologram(s_xx2xP: Array, shape: tuple[int, int], ref: Reference) -> Array:
  """The camera's intensity |S + A e^{2 pi i kappa.r}|^2, (..., H W), of the field's
  real and imaginary parts on the grid's pixels, row-major (..., 2, H W), in real
  arithmetic (XLA:CPU's complex elementwise ops and copies are slow)."""
  a = reference(shape, ref).ravel()
  return (s_xx2xP[..., 0, :] + a.real) ** 2 + (s_xx2xP[..., 1, :] + a.imag) ** 2


def sideband_bins(bins_K: np.ndarray, shape: tuple[int, int],
                  carrier: tuple[int, int]) -> np.ndarray:
  """The linear FFT bins f_k - kappa (modulo the grid) where mode k's sideband lies."""
  h, w = shape
  ky, kx = np.divmod(np.asarray(bins_K), w)
  return ((ky - carrier[0]) % h) * w + (kx - carrier[1]) % w


def decode(frames_xHxW: Array, bins_K: np.ndarray, shape: tuple[int, int],
           ref: Reference) -> Array:
  """The modes of holograms: c_k = sqrt(K) F(f_k - kappa) / (H W A).

  Args:
    frames_xHxW: camera intensity frames (..., H, W).
    bins_K: the modes' linear FFT bins (`pupil_bins`).
    shape: the grid (H, W).
    ref: the reference beam.

  Returns:
    Complex modes (..., K); exactly the field's modes for noiseless frames with a
    clear carrier (`leakage` 0).

  Only the sideband's bins of the 2-D DFT are computed, as two real matmuls (`dft`):
  along the rows for the sideband's columns, then along the columns for its rows (in
  float32 at the highest precision). A bin past the half, k_x > W / 2, is read at its
  mirror image, F(f) = conj(F(-f)) for a real frame, so that a sideband across Nyquist
  (the packed rectangle's) costs half its columns. Exact to float32's rounding over H + W
  terms. On XLA:CPU it is faster than FFTs of the sides on DFA's grids (71 x 68: 3.1
  against 4.8 ms for 256 frames; 125 x 135: 8.3 against 14.0) and slower on a 10^6-pixel
  one (1000 x 1000: 11 against 1.5 ms a frame for the packed rectangle), whose
  simulation the decoder does not bound.
  """
  h, w = shape
  ky, kx = np.divmod(sideband_bins(bins_K, shape, ref.carrier), w)
  mirror = kx > w // 2
  ky, kx = np.where(mirror, -ky % h, ky), np.where(mirror, -kx % w, kx)
  cols, col = np.unique(kx, return_inverse=True)
  rows, row = np.unique(ky, return_inverse=True)
  (r, c), hi = (len(rows), len(cols)), jax.lax.Precision.HIGHEST
  g = jnp.matmul(frames_xHxW.astype(jnp.float32), dft(cols, w), precision=hi)
  p = jnp.einsum("sh,...hc->...sc", dft(rows, h).T, g, precision=hi)  # (..., 2 R, 2 C)
  re = (p[..., :r, :c] - p[..., r:, c:]).reshape(*p.shape[:-2], r * c)
  im = (p[..., :r, c:] + p[..., r:, :c]).reshape(*p.shape[:-2], r * c)
  at = row.ravel() * c + col.ravel()
  f = jax.lax.complex(re[..., at], jnp.where(mirror, -im[..., at], im[..., at]))
  return f * (math.sqrt(len(bins_K)) / (h * w * ref.amplitude))


def dft(k: np.ndarray, n: int) -> np.ndarray:
  """The real DFT matrix [cos | -sin] of 2 pi j k / n, (n, 2 len(k)) float32, j the
  rows: x @ it gives Re and Im of sum_j x_j e^{-2 pi i j k / n}; its phases reduced
  modulo one cycle in integers (exact however long the side)."""
  phase = 2 * np.pi * (np.outer(np.arange(n), k) % n) / n
  return np.concatenate([np.cos(phase), -np.sin(phase)], axis=1).astype(np.float32)


def leakage(pupil_mask: np.ndarray, carrier: tuple[int, int], reference_power: float) -> float:
  """Expected power of what other terms put into the sideband, relative to the modes'
  (E|c_k|^2 = P, A^2 = reference_power P): 0 for a clear carrier.

  At the sideband bin b of mode j, |S|^2 adds sqrt(K) / (A K) sum_{k - l = b} c_k
  conj(c_l): N(b) P / (K reference_power) relative, N(b) the pupil's autocorrelation
  count (pairs of its bins b apart); the conjugate sideband adds conj(c_l) (relative 1)
  where kappa - f_l = b. These are uncorrelated with c_j (circular Gaussian modes).
  A sideband holding the bin 0 (the reference's own power A^2) leaks without bound: inf.
  ``pupil_mask`` is the pupil's (H, W) bins (`Speckle.mask`).
  """
  k = int(pupil_mask.sum())
  spectrum = np.fft.fft2(pupil_mask.astype(np.float64))
  pairs = np.rint(np.fft.ifft2(np.abs(spectrum) ** 2).real).ravel()
  (h, w), bins = pupil_mask.shape, np.flatnonzero(pupil_mask)
  side = sideband_bins(bins, pupil_mask.shape, carrier)
  if np.any(side == 0):
    return math.inf
  ky, kx = np.divmod(bins, w)
  conjugate = ((carrier[0] - ky) % h) * w + (carrier[1] - kx) % w  # kappa - f_l
  overlap = np.isin(side, conjugate).sum()
  return float((pairs[side].sum() / (k * reference_power) + overlap) / k)


def default_carrier(grain: float) -> tuple[float, float]:
  """A diagonal carrier (c, c) halfway between the least clear one, |kappa| = 3 rho,
  and the most, kappa_i = 1/2 - rho (sideband at Nyquist).

  Raises:
    ValueError: a grain too small for any clear carrier.
  """
  if grain < MIN_HOLOGRAPHY_GRAIN:
    raise ValueError(
        f"grain={grain} leaves no holography carrier clear of the |S|^2 term within "
        f"Nyquist (that needs grain >= 1 + 3/sqrt(2) = {MIN_HOLOGRAPHY_GRAIN:.3f}); raise "
        "grain, or give carrier=(fy, fx) and accept the leakage.")
  rho = radius(grain)
  c = (3 * rho / math.sqrt(2) + 0.5 - rho) / 2
  return (c, c)


def check_carrier(grain: float, carrier) -> tuple[float, float]:
  """The carrier (fy, fx) in cycles/pixel, checked: within Nyquist and outside the
  pupil (else the reference's own bin 0 lies in the sideband).

  Raises:
    ValueError: not a pair of finite numbers, outside (-1/2, 1/2) or inside the pupil.
  """
  try:
    fy, fx = (float(v) for v in carrier)
  except (TypeError, ValueError):
    raise ValueError(f"carrier must be a pair (fy, fx) of cycles/pixel, got {carrier!r}.")
  if not (abs(fy) < 0.5 and abs(fx) < 0.5):
    raise ValueError(f"carrier {carrier!r} is outside the camera's Nyquist band: each of "
                     "fy, fx must lie in (-0.5, 0.5) cycles/pixel.")
  rho = radius(grain)
  if math.hypot(fy, fx) <= rho:
    raise ValueError(f"carrier {carrier!r} lies inside the pupil (|kappa| <= rho = "
                     f"{rho:.4g} cycles/pixel at grain {grain}), so the sideband holds the "
                     f"reference's own bin 0; use |kappa| >= 3 rho = {3 * rho:.4g}.")
  return fy, fx


def carrier_bins(carrier: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
  """The carrier rounded to the grid's nearest FFT bin, (round(fy H), round(fx W))."""
  return (round(carrier[0] * shape[0]), round(carrier[1] * shape[1]))


def fast_fft_length(n: int) -> bool:
  """Whether n has no prime factor above 5: the lengths XLA's FFT does fastest."""
  for p in (2, 3, 5):
    while n % p == 0:
      n //= p
  return n == 1


def hologram_shape(modes: int, grain: float, carrier: tuple[float, float],
                   max_shape: tuple[int, int]) -> tuple[int, int]:
  """The grid (rows, cols) within ``max_shape``, both sides fast FFT lengths
  (`fast_fft_length`), of the least longer side, then the least area, then the fewer
  rows, whose pupil holds ``modes`` modes and, if the carrier is clear in the
  continuum (|kappa| >= 3 rho, within Nyquist), on which its rounded bin is clear too
  (`leakage` 0). Near square (no larger than the smallest such square), and as wide as
  ``max_shape`` needs.

  A grid's pupil is the lattice points (k_y, k_x) of the ellipse of semi-axes
  a = rho H, b = rho W; their unit squares lie apart inside the ellipse widened by the
  unit square, so it holds at most pi a b + 2 (a + b) + 1 of them: grids below that
  bound are skipped uncounted.

  Raises:
    ValueError: no such grid within ``max_shape``.
  """
  rho = radius(grain)
  clear = (math.hypot(*carrier) >= 3 * rho
           and max(abs(carrier[0]), abs(carrier[1])) + rho <= 0.5)
  sides = [n for n in range(2, max(max_shape) + 1) if fast_fft_length(n)]
  grids = sorted(((h, w) for h in sides if h <= max_shape[0]
                  for w in sides if w <= max_shape[1]),
                 key=lambda s: (max(s), s[0] * s[1], s[0]))
  for shape in grids:
    a, b = rho * shape[0], rho * shape[1]
    if math.pi * a * b + 2 * (a + b) + 1 < modes:
      continue
    if pupil(shape, grain).sum() >= modes and (
        not clear or leakage(pupil(shape, grain), carrier_bins(carrier, shape), 1.0) == 0):
      return shape
  raise ValueError(
      f"{modes} holography modes (out_features / 2) at grain {grain} need a camera grid "
      f"larger than {max_shape[0]}x{max_shape[1]}; reduce out_features or grain, or raise "
      "max_camera_shape.")
