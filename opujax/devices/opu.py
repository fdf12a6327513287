"""A simulated optical processing unit: DMD -> scattering medium -> camera.

Physics of one frame (docs/design.md): a binary pattern x on the DMD, a complex
Gaussian transmission matrix R (real and imaginary parts N(0, sigma^2), indexed by
absolute mirror and camera pixel, see `geometry`), and a camera that sees the
intensity |x R|^2 through the noise model of `camera`.

``intensity`` mode returns the camera's estimate of |x R|^2.

``linear`` mode recovers a linear projection with the anchor protocol: a fixed anchor
pattern a on mirrors disjoint from x gives

    |(x + a) R|^2 - |x R|^2 - |a R|^2 = 2 Re(conj(a R) * (x R)) = 2 x M,
    M[p, q] = Re(conj(v_q) R[p, q]),  v = a R,

so y = (I(x+a) - I(x) - I(a)) / 2 = x @ M. I(x+a) and I(x) are camera frames;
I(a) is a calibrated constant (``calibrated_anchor=True``: measured once, no
per-frame cost) or a camera frame of its own per pair (3 frames per binary frame).
Both intensity frames come from one complex product x R: a frame costs one
matmul against [Re R | Im R] plus the camera.

Real-valued inputs are encoded into binary frames (`encoding`) and decoded linearly,
so ``frames per row = encoding frames x (1 intensity | 2 or 3 anchor | 1 holography)``.
The optics and the camera compute in float32 whatever the input's dtype (binary frames
and a camera of at most 16 bits carry no more); the decoding, and so the output, is in
the input's.

Spatial speckle (``grain``, `speckle`): the medium maps x to the modes of a pupil in
the camera's Fourier plane (the columns of R are the pupil's FFT bins instead of
pixels) and the camera sees their inverse Fourier transform on a 2-D grid, speckles of
``grain`` pixels (for few mirrors in memory computed once a call, a mirror at a time,
and summed on the pixels: `SimulatedOPU.field`). ``protocol="holography"`` (linear
mode, on a speckle field of grain `HOLOGRAPHY_GRAIN` unless one is given) recovers the
modes themselves from one off-axis hologram a binary frame (`speckle`):
y = [Re c_0, Im c_0, Re c_1, ...] (out_features = 2 x the modes read), y = x @ M with M
the interleaved real and imaginary parts of R.

Drift: ``device.drifted(key, frames)`` returns the device after ``frames`` steps of
R_t = sqrt(1-eps) R_{t-1} + sqrt(eps) R' (eps = ``drift_per_frame``); the calibrated
I(a) (and P(1), for common-mode codes) are kept (a stale calibration, as on hardware)
until ``recalibrated()``.
"""

import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from opujax.devices import base, medium
from opujax.devices import camera as camera_lib
from opujax.devices import encoding as encoding_lib
from opujax.devices import geometry as geometry_lib
from opujax.devices import speckle as speckle_lib
from opujax.devices.budget import Budget

Array = jax.Array
STORAGE = ("materialised", "streamed")
PROTOCOLS = ("anchor", "holography")
# Holography's speckle grain when none is given (it needs a band-limited field): at 4
# pixels a speckle, rho = 1/8 and the default carrier (0.32, 0.32) clears |kappa| >= 3 rho
# by 0.078 and Nyquist by 0.055 cycles/pixel (`speckle.default_carrier`; the least grain
# with a clear carrier is 3.12), for 2 K / (H W) ~ 0.1 outputs a camera pixel.
HOLOGRAPHY_GRAIN = 4.0
# With a grain, the field of at most this many mirrors is summed on the pixels from each
# mirror's field (`SimulatedOPU.field`): 2 N multiply-adds a pixel, fused with the
# camera, against a frame's complex spectrum and inverse FFT. Holography's whole
# projection at MNIST DFA's shape (1600 outputs, batch 128) took 0.63 x the time of the
# per-frame FFT's with 10 mirrors, 0.88 x with 32 (2-core CPU, one run each).
PIXEL_DOMAIN_MIRRORS = 32
# The error code for DFA on an optical device (`config.REALISTIC_OPU`, the scale ladder's
# optical rule): stochastic ternary with the common mode, 2 DMD frames (4 camera frames
# with the calibrated anchor) a projection, the cheapest code that learned like digital
# DFA in the error-code study (configs/sweep_error_codes*.py, its tables
# experiments/results/sweep_error_codes*.md).
DFA_CODE = {"encoding": "stochastic", "threshold": 0.0, "bits": 4, "threshold_by": "max",
            "common_mode": True}


class Optical(base.Projects):
  """What the simulated and the hardware OPU share: sizes from the geometry, and cost."""

  @property
  def in_features(self) -> int:
    return self.geometry.in_features

  @property
  def out_features(self) -> int:
    return self.geometry.out_features

  @property
  def pixels_per_frame(self) -> int:
    """Camera pixels read a frame: the region of interest's outputs."""
    return self.geometry.out_features

  def cost(self, rows: int) -> Budget:
    return optical_cost(self.geometry, self.camera, rows * self.frames_per_row, rows,
                        self.pixels_per_frame)


@struct.dataclass
class SimulatedOPU(Optical):
  key: Array
  weights: Array | None         # (in_features, 2, columns) x-rows of R, or None
  anchor_field: Array           # (2, out_features) v = a R on the output pixels
  anchor_reference: Array       # (out_features,) calibrated |a R|^2
  ones_reference: Array         # (out_features,) calibrated P(1) (common-mode codes), or 0
  geometry: geometry_lib.Geometry = struct.field(pytree_node=False)
  camera: camera_lib.Camera = struct.field(pytree_node=False)
  encoding: encoding_lib.Encoding = struct.field(pytree_node=False)
  mode: str = struct.field(pytree_node=False)
  sigma: float = struct.field(pytree_node=False)
  calibrated_anchor: bool = struct.field(pytree_node=False)
  drift_per_frame: float = struct.field(pytree_node=False)
  recalibrate_every: int = struct.field(pytree_node=False)
  block_bytes: int = struct.field(pytree_node=False)
  speckle: speckle_lib.Speckle | None = struct.field(pytree_node=False, default=None)
  reference: speckle_lib.Reference | None = struct.field(pytree_node=False, default=None)

  @property
  def protocol(self) -> str:
    return "anchor" if self.reference is None else "holography"

  @property
  def frames_per_row(self) -> int:
    return frames_per_row(self.mode, self.encoding, self.calibrated_anchor, self.protocol)

  @property
  def pixels_per_frame(self) -> int:
    """Camera pixels read a frame: the outputs, or the whole hologram."""
    if self.reference is None:
      return self.out_features
    return math.prod(self.geometry.camera_shape)

  @property
  def outputs_per_pixel(self) -> float:
    """Independent real outputs per camera pixel read: 1 for independent pixels; with a
    grain, at most the field's real degrees of freedom a pixel, 2 K / (H W); through
    holography, out_features / (H W)."""
    if self.speckle is None:
      return 1.0
    if self.reference is not None:
      return self.out_features / self.pixels_per_frame
    return min(1.0, 2 * self.speckle.modes / math.prod(self.speckle.shape))

  def columns(self) -> np.ndarray:
    """R's columns: the output pixels, or with a grain the pupil's FFT bins (modes)."""
    return self.geometry.output_pixels() if self.speckle is None else self.speckle.bins()

  def modes(self, x_xN: Array) -> Array:
    """x R on R's columns: (..., N) -> (..., 2, columns), real and imaginary parts."""
    if self.weights is not None:
      n, _, m = self.weights.shape
      z = x_xN @ self.weights.reshape(n, 2 * m)
      return z.reshape(*x_xN.shape[:-1], 2, m)
    z = _streamed_field(self.key, x_xN.reshape(-1, self.in_features), self.columns(),
                        self.sigma, self.block_bytes)
    return z.reshape(*x_xN.shape[:-1], *z.shape[1:])

  def pixels(self, z_xx2xC: Array) -> Array:
    """The field on the camera pixels read of fields on R's columns: (..., 2, columns) ->
    (..., 2, pixels_per_frame); with a grain, the modes' `speckle.field` on the grid, at
    the output pixels (or, through holography, all of them)."""
    if self.speckle is None:
      return z_xx2xC
    s = speckle_lib.field(_complex(z_xx2xC), self.speckle.bins(), self.speckle.shape)
    s = s.reshape(*s.shape[:-2], -1)
    if self.reference is None:
      s = s[..., self.geometry.output_pixels()]
    return jnp.stack([s.real, s.imag], axis=-2)

  def field(self, x_xN: Array) -> Array:
    """The complex field x R on the camera pixels read: (..., N) -> (..., 2,
    pixels_per_frame). With a grain, R in memory and at most `PIXEL_DOMAIN_MIRRORS`
    mirrors, the sum over mirrors of x_p times mirror p's field on the pixels (N inverse
    FFTs a call, then 2 N multiply-adds a pixel a frame); else each frame's modes x R
    and their inverse FFT (`pixels`; streamed, memory that of a chunk of frames). The
    same linear map either way."""
    if (self.speckle is None or self.weights is None
        or self.in_features > PIXEL_DOMAIN_MIRRORS):
      return self.pixels(self.modes(x_xN))
    w_Nx2xP = self.pixels(self.weights)
    # An elementwise sum, not a matmul: it fuses into the camera's one pass over the
    # pixels, where a matmul's output would be stored, and read back re-indexed under
    # the camera's vmap (2x slower on XLA:CPU).
    return sum(x_xN[..., p, None, None] * w_Nx2xP[p] for p in range(self.in_features))

  def measure(self, x: Array, key: Array) -> base.Measurement:
    x_BxN, lead = base.flatten_input(x, self.in_features)
    k_code = None
    if self.encoding.kind == "stochastic" and key is not None:
      key, k_code = jax.random.split(key)
    code = encoding_lib.encode(x_BxN, self.encoding, k_code)
    if self.reference is None:
      optics = lambda frame_BxN: self.intensities(self.field(frame_BxN.astype(jnp.float32)))
    else:
      optics = lambda frame_BxN: (speckle_lib.hologram(
          self.field(frame_BxN.astype(jnp.float32)), self.speckle.shape, self.reference),)
    est, saturated = camera_lib.capture(self.camera, optics, code.frames, key)
    if self.mode == "intensity":
      y = encoding_lib.decode(est[0], code, self.ones_reference)
    elif self.reference is None:
      y = encoding_lib.decode(anchor_readout(est, self.anchor_reference), code,
                              self.ones_reference)
    else:  # The decoder is linear: it reads each row's weighted sum of holograms once.
      y = holography_readout(encoding_lib.combine(est[0], code), self.speckle, self.reference,
                             self.out_features)
      y = y + code.offset[:, None] * self.ones_reference[None]
    return base.Measurement(y.reshape(*lead, self.out_features), saturated)

  def intensities(self, z_xx2xM: Array) -> tuple[Array, ...]:
    """The camera frames of binary frames' fields, each (..., M): |x R|^2 in intensity
    mode, else |(x + a) R|^2, |x R|^2 (and |a R|^2 without a calibrated anchor)."""
    re, im = z_xx2xM[..., 0, :], z_xx2xM[..., 1, :]
    i_x = re ** 2 + im ** 2
    if self.mode == "intensity":
      return (i_x,)
    v = self.anchor_field
    i_xa = (re + v[0]) ** 2 + (im + v[1]) ** 2
    if self.calibrated_anchor:
      return i_xa, i_x
    return i_xa, i_x, jnp.broadcast_to(v[0] ** 2 + v[1] ** 2, i_x.shape)

  def effective_matrix(self) -> Array:
    """y = x @ M in linear mode without noise: M[p, q] = Re(conj(v_q) R[p, q]) (anchor),
    or the interleaved Re R[p, k], Im R[p, k] of the modes (holography)."""
    if self.mode != "linear":
      raise ValueError("An intensity-mode OPU is not linear and has no effective matrix; "
                       "use transmission_matrix(), or mode='linear'.")
    w = self.weights
    if w is None:
      base.check_fits(self.in_features, len(self.columns()), 2, 8 << 30)
      w = _materialise(self.key, self.in_features, self.columns(), self.sigma)
    return self.exact(w)

  def exact(self, z_xx2xC: Array) -> Array:
    """The noiseless linear outputs (..., out_features) of fields on R's columns."""
    if self.reference is not None:
      return _interleave(_complex(z_xx2xC), self.out_features)
    return jnp.einsum("...pm,pm->...m", self.pixels(z_xx2xC), self.anchor_field)

  def transmission_matrix(self) -> Array:
    """R on the input mirrors and the camera pixels read, complex (in_features,
    pixels_per_frame) (with a grain, each mirror's speckle field on them)."""
    w = self.weights
    if w is None:
      w = _materialise(self.key, self.in_features, self.columns(), self.sigma)
    w = self.pixels(w)
    return w[:, 0] + 1j * w[:, 1]

  def drifted(self, key: Array, frames: int) -> "SimulatedOPU":
    """The device after ``frames`` camera frames of transmission-matrix drift."""
    if self.weights is None:
      raise ValueError("Drift needs the transmission matrix in memory; use "
                       "storage='materialised' (streamed matrices are fixed).")
    if self.speckle is not None:
      raise ValueError("Drift of a spatial speckle field is not modelled; use grain=None.")
    k_w, k_a = jax.random.split(key)
    a = self.geometry.anchor_pixels
    scale = self.sigma * math.sqrt(max(a, 1))
    w = medium.drift(self.weights / self.sigma, k_w, self.drift_per_frame, frames) * self.sigma
    v = medium.drift(self.anchor_field / scale, k_a, self.drift_per_frame, frames) * scale
    return self.replace(weights=w, anchor_field=v if a else self.anchor_field)

  def after_step(self, key: Array, rows: int, done: Array | int) -> "SimulatedOPU":
    """The device after a training step of ``rows`` projections: the medium drifted by
    their camera frames (``drift_per_frame`` > 0; else unchanged), its anchor I(a)
    and P(1) re-measured when ``done`` (steps done) is a multiple of ``recalibrate_every`` (0:
    never; the start's calibration goes stale). Recalibration frames are not budgeted."""
    if not self.drift_per_frame:
      return self
    device = self.drifted(key, rows * self.frames_per_row)
    if not self.recalibrate_every:
      return device
    fresh, now = device.recalibrated(), done % self.recalibrate_every == 0
    return device.replace(
        anchor_reference=jnp.where(now, fresh.anchor_reference, device.anchor_reference),
        ones_reference=jnp.where(now, fresh.ones_reference, device.ones_reference))

  def recalibrated(self) -> "SimulatedOPU":
    """The device with I(a) and P(1) measured again (noiselessly averaged) on the current
    medium."""
    v = self.anchor_field
    return self.replace(anchor_reference=v[0] ** 2 + v[1] ** 2,
                        ones_reference=self.ones_projection())

  def ones_projection(self) -> Array:
    """P(1) = 1 @ M, the noiseless linear projection of the all-ones frame (what a
    common-mode code's calibration measures), or zeros when the code does not use it."""
    if self.mode != "linear" or not self.encoding.uses_ones:
      return jnp.zeros((self.out_features,), jnp.float32)
    return self.exact(self.modes(jnp.ones((1, self.in_features), jnp.float32)))[0]


def frames_per_row(mode: str, enc: encoding_lib.Encoding, calibrated_anchor: bool,
                   protocol: str = "anchor") -> int:
  """Camera frames per projected row: encoding frames x (1 intensity or holography | 2
  anchor with a calibrated I(a) | 3 anchor without)."""
  if mode == "intensity" or protocol == "holography":
    return enc.frames
  return enc.frames * (2 if calibrated_anchor else 3)


def holography_readout(frames_xHW: Array, spk: speckle_lib.Speckle,
                       ref: speckle_lib.Reference, out_features: int) -> Array:
  """The linear outputs [Re c_0, Im c_0, Re c_1, ...] (..., out_features) of hologram
  frames (..., H W): their modes, decoded from the sideband (`speckle.decode`)."""
  frames_xHxW = frames_xHW.reshape(*frames_xHW.shape[:-1], *spk.shape)
  return _interleave(speckle_lib.decode(frames_xHxW, spk.bins(), spk.shape, ref), out_features)


def _complex(z_xx2xC: Array) -> Array:
  return jax.lax.complex(z_xx2xC[..., 0, :], z_xx2xC[..., 1, :])


def _interleave(c_xK: Array, out_features: int) -> Array:
  """[Re c_0, Im c_0, Re c_1, ...][:out_features] of complex modes (..., K)."""
  c = c_xK[..., :-(-out_features // 2)]
  y = jnp.stack([c.real, c.imag], axis=-1).reshape(*c.shape[:-1], -1)
  return y[..., :out_features]


def anchor_readout(est: tuple[Array, ...], anchor_reference: Array) -> Array:
  """(I(x+a) - I(x) - I(a)) / 2 from the frames (I(x+a), I(x)) or (I(x+a), I(x), I(a))."""
  i_a = est[2] if len(est) == 3 else anchor_reference
  return (est[0] - est[1] - i_a) / 2


def optical_cost(g: geometry_lib.Geometry, cam: camera_lib.Camera, frames: int,
                 rows: int, pixels: int) -> Budget:
  """Budget of ``frames`` camera frames of ``pixels`` pixels read serving ``rows``
  projections."""
  return Budget(
      projections=rows,
      macs=rows * g.in_features * g.out_features,
      frames=frames,
      dmd_frames=frames,
      optical_macs=frames * g.active_mirrors * pixels,
      bytes_uploaded=frames * math.ceil(g.dmd_shape[0] * g.dmd_shape[1] / 8),
      bytes_read=frames * pixels * cam.bytes_per_pixel,
      camera_pixels=frames * pixels)


def _materialise(key: Array, rows: int, cols: np.ndarray, sigma: float) -> Array:
  """R on mirrors [0, rows) and columns ``cols``, (rows, 2, len(cols))."""
  return medium.materialise(key, rows, cols, 2, sigma)


def _streamed_field(key: Array, x_KxP: Array, cols: np.ndarray, sigma: float,
                    block_bytes: int, first_mirror: int = 0) -> Array:
  z = medium.streamed_product(key, x_KxP, cols, 2, block_bytes, first_mirror)
  return z * sigma


def opu(in_features: int, out_features: int, seed: int = 0, mode: str = "linear",
        encoding: str = "binary", threshold: float = 0.0, bits: int = 4,
        threshold_by: str = "max", common_mode: bool = False,
        camera: camera_lib.Camera | str = "realistic", anchor_pixels: int | None = None,
        calibrated_anchor: bool = True, sigma: float = math.sqrt(0.5),
        grain: float | None = None, protocol: str = "anchor", reference_power: float = 1.0,
        carrier: tuple[float, float] | None = None, pupil: str = "disk",
        drift_per_frame: float = 0.0,
        recalibrate_every: int = 0,
        storage: str = "materialised", block_bytes: int = medium.BLOCK_BYTES,
        max_bytes: int = 8 << 30,
        dmd_shape: tuple[int, int] | None = None, camera_shape: tuple[int, int] | None = None,
        roi: tuple[int, int, int, int] | None = None,
        max_dmd_shape: tuple[int, int] = geometry_lib.MAX_DMD_SHAPE,
        max_camera_shape: tuple[int, int] = geometry_lib.MAX_CAMERA_SHAPE) -> SimulatedOPU:
  """A simulated OPU.

  Args:
    in_features, out_features: the projection's shape (DMD mirrors, camera pixels read).
    seed: seed of the medium; the same seed gives the same R in both storages.
    mode: "linear" (anchor protocol, what DFA needs) or "intensity" (|x R|^2).
    encoding: "binary", "threshold", "sign", "ternary", "stochastic" or "bitplanes" (see
      `encoding`); intensity mode takes only "binary" or "threshold".
    threshold, bits, threshold_by, common_mode: the encoding's threshold, bit depth, what
      the ternary threshold is relative to, and whether decoding adds a multiple of the
      calibrated projection of the all-ones frame (`Encoding`).
    camera: a `Camera`, "realistic" (its defaults) or "ideal" (no noise, no ADC).
    anchor_pixels: mirrors of the anchor pattern (linear mode), default
      ceil(in_features / 2), so that |a R|^2 is about as bright as |x R|^2 for a
      half-on x: the cross term's share of the frame, hence its SNR, peaks there.
    calibrated_anchor: use a calibrated I(a) (2 frames per binary frame) instead of
      measuring it with every pair (3 frames).
    sigma: standard deviation of Re R and Im R.
    grain: None (every camera pixel an independent output), or the speckle's size in
      camera pixels (>= 1): the field is band-limited on a 2-D camera grid (`speckle`),
      by default the smallest near-square grid holding out_features pixels.
    protocol: linear recovery by "anchor" (2-3 camera frames a binary frame) or
      "holography" (1 off-axis hologram a binary frame, on a speckle field of
      `HOLOGRAPHY_GRAIN` unless ``grain`` is given): the outputs are
      the real and imaginary parts of the first ceil(out_features / 2) modes, and the
      default camera grid is the near-square grid of fast FFT sides whose pupil holds
      them with the carrier clear (`speckle.hologram_shape`); every pixel of it is read.
    reference_power: holography's reference intensity A^2, relative to the speckle's
      mean intensity for a half-on input (sigma^2 in_features).
    carrier: holography's carrier (fy, fx) in cycles/pixel, rounded to the grid's
      nearest FFT bin; default `speckle.default_carrier`. A carrier whose sideband
      is not clear of the |S|^2 term is warned about with its leakage.
    pupil: holography's band: "disk" (of ``grain``) or "rectangle", packed with its
      carrier at 6 camera pixels a mode, the least any clear layout needs (against 21 for
      the disk at grain 4), on the near-square grid `speckle.rectangle_shape` unless
      ``camera_shape`` is given; it takes neither grain nor carrier (speckles of about 2
      x 3 pixels, the carrier `speckle.rectangle_carrier`).
    drift_per_frame: eps of the transmission-matrix drift (see `drifted`).
    recalibrate_every: steps between measurements of the anchor's I(a) under drift
      (`after_step`; 0: calibrated once, at the start).
    storage: "materialised" or "streamed" (R regenerated from the key block by block:
      memory O(block_bytes) whatever in_features x out_features).
    dmd_shape, camera_shape, roi, max_dmd_shape, max_camera_shape: see `geometry`.
  """
  enc, camera = settings(mode, encoding, threshold, bits, camera, drift_per_frame,
                        recalibrate_every, storage, threshold_by, common_mode, grain,
                        protocol, reference_power, carrier, pupil)
  holography, packed = protocol == "holography", pupil == "rectangle"
  if holography and grain is None and not packed:
    grain = HOLOGRAPHY_GRAIN
  if anchor_pixels is None:
    anchor_pixels = math.ceil(in_features / 2) if mode == "linear" and not holography else 0
  if holography and anchor_pixels:
    raise ValueError("Holography uses no anchor pattern; leave anchor_pixels unset (or 0).")
  if mode == "linear" and not holography and anchor_pixels < 1:
    raise ValueError("Linear mode needs an anchor pattern: anchor_pixels >= 1.")
  if packed:
    if camera_shape is None:
      camera_shape = speckle_lib.rectangle_shape(-(-out_features // 2), max_camera_shape)
    carrier = speckle_lib.rectangle_carrier(camera_shape)
    roi = hologram_roi(camera_shape, roi)
  elif holography:
    carrier = speckle_lib.default_carrier(grain) if carrier is None else tuple(carrier)
    if camera_shape is None:
      camera_shape = speckle_lib.hologram_shape(-(-out_features // 2), grain, carrier,
                                                max_camera_shape)
    roi = hologram_roi(camera_shape, roi)
  elif grain is not None and camera_shape is None:
    camera_shape = _square_grid(out_features, max_camera_shape)
  g = geometry_lib.make_geometry(in_features, out_features, anchor_pixels, dmd_shape,
                                 camera_shape, roi, max_dmd_shape, max_camera_shape)
  spk = None
  if packed:
    spk = speckle_lib.Speckle(g.camera_shape, None, pupil)
  elif grain is not None:
    spk = speckle_lib.Speckle(g.camera_shape, float(grain))
  ref = None
  if holography:
    bins = check_hologram(spk, out_features, carrier, reference_power)
    ref = speckle_lib.Reference(bins, math.sqrt(reference_power * sigma ** 2 * in_features))
  cols = g.output_pixels() if spk is None else spk.bins()
  key = jax.random.key(seed)
  weights, v = None, jnp.zeros((2, out_features), jnp.float32)
  if storage == "materialised":
    base.check_fits(in_features, len(cols), 2, max_bytes)
    weights = _materialise(key, in_features, cols, sigma)
  device = SimulatedOPU(key, weights, v, v[0] ** 2 + v[1] ** 2, jnp.zeros_like(v[0]), g,
                        camera, enc, mode, sigma, calibrated_anchor, drift_per_frame,
                        recalibrate_every, block_bytes, spk, ref)
  if anchor_pixels:  # v = a R, one streamed pass over the anchor's mirrors
    anchor = jnp.ones((1, anchor_pixels), jnp.float32)
    v = device.pixels(_streamed_field(key, anchor, cols, sigma, block_bytes,
                                      first_mirror=in_features))[0]
    device = device.replace(anchor_field=v, anchor_reference=v[0] ** 2 + v[1] ** 2)
  return device.replace(ones_reference=device.ones_projection())


def _square_grid(pixels: int, max_shape: tuple[int, int]) -> tuple[int, int]:
  """The near-square grid (rows, cols) of at least ``pixels`` pixels, rows <= cols."""
  rows = min(math.isqrt(pixels - 1) + 1, max_shape[0])
  return rows, -(-pixels // rows)


def hologram_roi(camera_shape: tuple[int, int], roi) -> tuple[int, int, int, int]:
  """Holography's region of interest: the whole 2-D camera grid.

  Raises:
    ValueError: a region of interest given, or a grid less than 2 x 2.
  """
  if roi is not None:
    raise ValueError("Holography reads the whole camera frame; leave roi unset (set "
                     "camera_shape to choose the grid).")
  if min(camera_shape) < 2:
    raise ValueError(f"Holography needs a 2-D camera grid (at least 2x2 pixels) for its "
                     f"2-D Fourier transform, got camera_shape={tuple(camera_shape)}.")
  return (0, 0, *camera_shape)


def check_hologram(spk: speckle_lib.Speckle, out_features: int, carrier: tuple[float, float],
                   reference_power: float) -> tuple[int, int]:
  """The carrier's FFT bin on the grid; warns with the leakage (`speckle.leakage`, at
  ``reference_power``) when the carrier is not clear.

  Raises:
    ValueError: a grid whose pupil holds fewer than ceil(out_features / 2) modes.
  """
  (h, w), needed = spk.shape, -(-out_features // 2)
  if spk.modes < needed:
    what, fix = ("packed rectangle", "") if spk.pupil == "rectangle" else (
        f"pupil at grain {spk.grain}", " or reduce grain")
    raise ValueError(f"The {h}x{w} camera's {what} holds {spk.modes} "
                     f"modes, fewer than the {needed} that out_features={out_features} "
                     f"reads (two outputs a mode); enlarge camera_shape{fix}.")
  bins = speckle_lib.carrier_bins(carrier, spk.shape)
  leak = speckle_lib.leakage(spk.mask(), bins, reference_power)
  if leak > 0:
    rho = spk.radius
    warnings.warn(
        f"The holography carrier {carrier} cycles/pixel (FFT bin {bins} of the "
        f"{h}x{w} grid) is not clear of the |S|^2 term: leakage {leak:.3g} of the modes' "
        f"power (half-on input); a clear carrier has |kappa| >= 3 rho = {3 * rho:.4g} and "
        f"|fy|, |fx| <= 1/2 - rho = {0.5 - rho:.4g} cycles/pixel (rho = 1 / (2 grain)): "
        "move the carrier or raise grain.", stacklevel=3)
  return bins


def checked_encoding(mode: str, encoding: str, threshold: float, bits: int,
                     threshold_by: str = "max",
                     common_mode: bool = False) -> encoding_lib.Encoding:
  """The checked `Encoding` of an optical device in ``mode``.

  Raises:
    ValueError: an unknown mode or encoding, a bad threshold or depth, or an encoding
      of several frames in intensity mode (which cannot decode it).
  """
  if mode not in base.MODES:
    raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(base.MODES)}.")
  enc = encoding_lib.Encoding(encoding, threshold, bits, threshold_by, common_mode)
  if mode == "intensity" and (enc.frames != 1 or enc.uses_ones):
    raise ValueError(f"Intensity mode is not linear, so it cannot decode the {encoding!r} "
                     "encoding; use encoding='binary' or 'threshold', or mode='linear'.")
  return enc


def settings(mode: str, encoding: str, threshold: float, bits: int,
             camera: camera_lib.Camera | str, drift_per_frame: float, recalibrate_every: int,
             storage: str, threshold_by: str = "max", common_mode: bool = False,
             grain: float | None = None, protocol: str = "anchor",
             reference_power: float = 1.0,
             carrier: tuple[float, float] | None = None, pupil: str = "disk"
             ) -> tuple[encoding_lib.Encoding, camera_lib.Camera]:
  """The checked encoding and camera of `opu`'s options: every check it makes before it
  knows its shape (`devices.check` runs it on a config's options).

  Raises:
    ValueError: a value `opu` cannot use, with what is allowed.
  """
  enc = checked_encoding(mode, encoding, threshold, bits, threshold_by, common_mode)
  if storage not in STORAGE:
    raise ValueError(f"Unknown storage {storage!r}; choose one of {', '.join(STORAGE)}.")
  if not 0.0 <= drift_per_frame < 1.0:
    raise ValueError(f"drift_per_frame must be in [0, 1), got {drift_per_frame}.")
  if drift_per_frame and storage == "streamed":
    raise ValueError("Drift needs the transmission matrix in memory; use "
                     "storage='materialised' with drift_per_frame > 0.")
  if not isinstance(recalibrate_every, int) or recalibrate_every < 0:
    raise ValueError(f"recalibrate_every must be an integer >= 0, got {recalibrate_every!r}.")
  if recalibrate_every and not drift_per_frame:
    raise ValueError("recalibrate_every re-measures a drifting OPU's anchor; set "
                     "drift_per_frame > 0 or leave it at 0.")
  check_speckle(mode, grain, protocol, reference_power, carrier, drift_per_frame, pupil)
  if isinstance(camera, str):
    if camera not in ("realistic", "ideal"):
      raise ValueError(f"Unknown camera {camera!r}; choose 'realistic', 'ideal' or a Camera.")
    camera = camera_lib.Camera.ideal() if camera == "ideal" else camera_lib.Camera()
  return enc, camera


def check_speckle(mode: str, grain, protocol: str, reference_power, carrier,
                  drift_per_frame: float = 0.0, pupil: str = "disk") -> None:
  """Checks the spatial field's and the protocol's options (`settings`).

  Raises:
    ValueError: an unknown protocol, a bad grain, reference power or carrier, or
      options that do not go together, with what is allowed.
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f"Unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}.")
  if pupil not in speckle_lib.PUPILS:
    raise ValueError(f"Unknown pupil {pupil!r}; choose one of {', '.join(speckle_lib.PUPILS)}.")
  if pupil == "rectangle":
    if protocol != "holography":
      raise ValueError("pupil='rectangle' is holography's packed layout; use "
                       "protocol='holography' or pupil='disk'.")
    if grain is not None or carrier is not None:
      raise ValueError("pupil='rectangle' sets its own speckle size and carrier (the "
                       "packing); leave grain and carrier unset, or use pupil='disk'.")
  if grain is not None:
    if isinstance(grain, bool) or not isinstance(grain, numbers.Real) or not grain >= 1:
      raise ValueError(f"grain (camera pixels per speckle) must be a number >= 1, or None "
                       f"for independent pixels; got {grain!r}.")
    if drift_per_frame:
      raise ValueError("Drift of a spatial speckle field is not modelled; use grain=None "
                       "or drift_per_frame=0.")
  if protocol == "holography" and drift_per_frame:
    raise ValueError("Drift of a spatial speckle field is not modelled, and holography "
                     "needs one; use drift_per_frame=0 with protocol='holography'.")
  if protocol == "anchor":
    if carrier is not None:
      raise ValueError("carrier tilts holography's reference beam; use "
                       "protocol='holography' or leave carrier unset.")
    return
  if mode != "linear":
    raise ValueError("protocol='holography' recovers a linear projection; use mode='linear'.")
  grain = HOLOGRAPHY_GRAIN if grain is None else grain
  if (isinstance(reference_power, bool) or not isinstance(reference_power, numbers.Real)
      or not 0 < reference_power < math.inf):
    raise ValueError(f"reference_power must be a finite number > 0, got {reference_power!r}.")
  if pupil == "rectangle":
    return
  if carrier is None:
    speckle_lib.default_carrier(grain)
  else:
    speckle_lib.check_carrier(grain, carrier)
