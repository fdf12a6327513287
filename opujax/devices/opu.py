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
so ``frames per row = encoding frames x (1 intensity | 2 or 3 linear)``. The optics and
the camera compute in float32 whatever the input's dtype (binary frames and a camera of
at most 16 bits carry no more); the decoding, and so the output, is in the input's.

Drift: ``device.drifted(key, frames)`` returns the device after ``frames`` steps of
R_t = sqrt(1-eps) R_{t-1} + sqrt(eps) R' (eps = ``drift_per_frame``); the calibrated
I(a) (and P(1), for common-mode codes) are kept (a stale calibration, as on hardware)
until ``recalibrated()``.
"""

import math

import jax
import jax.numpy as jnp
from flax import struct

from opujax.devices import base, medium
from opujax.devices import camera as camera_lib
from opujax.devices import encoding as encoding_lib
from opujax.devices import geometry as geometry_lib
from opujax.devices.budget import Budget

Array = jax.Array
STORAGE = ("materialised", "streamed")
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

  def cost(self, rows: int) -> Budget:
    return optical_cost(self.geometry, self.camera, rows * self.frames_per_row, rows)


@struct.dataclass
class SimulatedOPU(Optical):
  key: Array
  weights: Array | None         # (in_features, 2, out_features) x-rows of R, or None
  anchor_field: Array           # (2, out_features) v = a R
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

  @property
  def frames_per_row(self) -> int:
    return frames_per_row(self.mode, self.encoding, self.calibrated_anchor)

  def field(self, x_xN: Array) -> Array:
    """The complex field x R on the output pixels: (..., N) -> (..., 2, out_features)."""
    if self.weights is not None:
      n, _, m = self.weights.shape
      z = x_xN @ self.weights.reshape(n, 2 * m)
      return z.reshape(*x_xN.shape[:-1], 2, m)
    z = _streamed_field(self.key, x_xN.reshape(-1, self.in_features), self.geometry,
                        self.sigma, self.block_bytes)
    return z.reshape(*x_xN.shape[:-1], *z.shape[1:])

  def measure(self, x: Array, key: Array) -> base.Measurement:
    x_BxN, lead = base.flatten_input(x, self.in_features)
    k_code = None
    if self.encoding.kind == "stochastic" and key is not None:
      key, k_code = jax.random.split(key)
    code = encoding_lib.encode(x_BxN, self.encoding, k_code)
    optics = lambda frame_BxN: self.intensities(self.field(frame_BxN.astype(jnp.float32)))
    est, saturated = camera_lib.capture(self.camera, optics, code.frames, key)
    y = est[0] if self.mode == "intensity" else anchor_readout(est, self.anchor_reference)
    y = encoding_lib.decode(y, code, self.ones_reference)
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
    """M[p, q] = Re(conj(v_q) R[p, q]): y = x @ M in linear mode without noise."""
    if self.mode != "linear":
      raise ValueError("An intensity-mode OPU is not linear and has no effective matrix; "
                       "use transmission_matrix(), or mode='linear'.")
    w = self.weights
    if w is None:
      base.check_fits(self.in_features, self.out_features, 2, 8 << 30)
      w = _materialise(self.key, self.geometry, self.sigma)
    return jnp.einsum("npm,pm->nm", w, self.anchor_field)

  def transmission_matrix(self) -> Array:
    """R on the input mirrors and output pixels, complex (in_features, out_features)."""
    w = self.weights
    if w is None:
      w = _materialise(self.key, self.geometry, self.sigma)
    return w[:, 0] + 1j * w[:, 1]

  def drifted(self, key: Array, frames: int) -> "SimulatedOPU":
    """The device after ``frames`` camera frames of transmission-matrix drift."""
    if self.weights is None:
      raise ValueError("Drift needs the transmission matrix in memory; use "
                       "storage='materialised' (streamed matrices are fixed).")
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
    z = self.field(jnp.ones((1, self.in_features), jnp.float32))[0]
    return jnp.sum(z * self.anchor_field, axis=0)


def frames_per_row(mode: str, enc: encoding_lib.Encoding, calibrated_anchor: bool) -> int:
  """Camera frames per projected row: encoding frames x (1 | 2 | 3) by protocol."""
  per_binary = 1 if mode == "intensity" else (2 if calibrated_anchor else 3)
  return enc.frames * per_binary


def anchor_readout(est: tuple[Array, ...], anchor_reference: Array) -> Array:
  """(I(x+a) - I(x) - I(a)) / 2 from the frames (I(x+a), I(x)) or (I(x+a), I(x), I(a))."""
  i_a = est[2] if len(est) == 3 else anchor_reference
  return (est[0] - est[1] - i_a) / 2


def optical_cost(g: geometry_lib.Geometry, cam: camera_lib.Camera, frames: int,
                 rows: int) -> Budget:
  """Budget of ``frames`` camera frames serving ``rows`` projections."""
  return Budget(
      projections=rows,
      macs=rows * g.in_features * g.out_features,
      frames=frames,
      dmd_frames=frames,
      optical_macs=frames * g.active_mirrors * g.out_features,
      bytes_uploaded=frames * math.ceil(g.dmd_shape[0] * g.dmd_shape[1] / 8),
      bytes_read=frames * g.out_features * cam.bytes_per_pixel)


def _materialise(key: Array, g: geometry_lib.Geometry, sigma: float) -> Array:
  """R on the input mirrors and output pixels, (in_features, 2, out_features)."""
  return medium.materialise(key, g.in_features, g.output_pixels(), 2, sigma)


def _streamed_field(key: Array, x_KxP: Array, g: geometry_lib.Geometry, sigma: float,
                    block_bytes: int, first_mirror: int = 0) -> Array:
  z = medium.streamed_product(key, x_KxP, g.output_pixels(), 2, block_bytes, first_mirror)
  return z * sigma


def opu(in_features: int, out_features: int, seed: int = 0, mode: str = "linear",
        encoding: str = "binary", threshold: float = 0.0, bits: int = 4,
        threshold_by: str = "max", common_mode: bool = False,
        camera: camera_lib.Camera | str = "realistic", anchor_pixels: int | None = None,
        calibrated_anchor: bool = True, sigma: float = math.sqrt(0.5),
        drift_per_frame: float = 0.0, recalibrate_every: int = 0,
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
    drift_per_frame: eps of the transmission-matrix drift (see `drifted`).
    recalibrate_every: steps between measurements of the anchor's I(a) under drift
      (`after_step`; 0: calibrated once, at the start).
    storage: "materialised" or "streamed" (R regenerated from the key block by block:
      memory O(block_bytes) whatever in_features x out_features).
    dmd_shape, camera_shape, roi, max_dmd_shape, max_camera_shape: see `geometry`.
  """
  enc, camera = settings(mode, encoding, threshold, bits, camera, drift_per_frame,
                        recalibrate_every, storage, threshold_by, common_mode)
  if anchor_pixels is None:
    anchor_pixels = math.ceil(in_features / 2) if mode == "linear" else 0
  if mode == "linear" and anchor_pixels < 1:
    raise ValueError("Linear mode needs an anchor pattern: anchor_pixels >= 1.")
  g = geometry_lib.make_geometry(in_features, out_features, anchor_pixels, dmd_shape,
                                 camera_shape, roi, max_dmd_shape, max_camera_shape)
  key = jax.random.key(seed)
  weights, v = None, jnp.zeros((2, out_features), jnp.float32)
  if storage == "materialised":
    base.check_fits(in_features, out_features, 2, max_bytes)
    weights = _materialise(key, g, sigma)
  if anchor_pixels:  # v = a R, one streamed pass over the anchor's mirrors
    anchor = jnp.ones((1, anchor_pixels), jnp.float32)
    v = _streamed_field(key, anchor, g, sigma, block_bytes, first_mirror=in_features)[0]
  device = SimulatedOPU(key, weights, v, v[0] ** 2 + v[1] ** 2, jnp.zeros_like(v[0]), g,
                        camera, enc, mode, sigma, calibrated_anchor, drift_per_frame,
                        recalibrate_every, block_bytes)
  return device.replace(ones_reference=device.ones_projection())


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
             storage: str, threshold_by: str = "max",
             common_mode: bool = False) -> tuple[encoding_lib.Encoding, camera_lib.Camera]:
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
  if isinstance(camera, str):
    if camera not in ("realistic", "ideal"):
      raise ValueError(f"Unknown camera {camera!r}; choose 'realistic', 'ideal' or a Camera.")
    camera = camera_lib.Camera.ideal() if camera == "ideal" else camera_lib.Camera()
  return enc, camera
