"""The path to a real DMD and camera: a driver protocol, `HardwareOPU`, and an emulator.

`HardwareOPU` encodes and decodes in JAX, exactly as `SimulatedOPU` does, and hands
only binary DMD patterns to the host through ``jax.pure_callback``; the host displays
them, captures one camera frame per pattern and returns the raw pixel values of the
region of interest. It checks every capture's frame counters:

* a capture that times out is retried (``retries`` times), then `HardwareError`;
* a dropped frame (a gap in the frame ids) or a repeated one (an id twice), a frame of
  the wrong shape or with a non-finite pixel, or a driver that raises, makes the whole
  batch be acquired again, then `HardwareError` if it keeps happening;
* saturated pixels (``saturation="count"``) are counted: `Measurement.saturated` (in a
  run's metrics and summary, as for the simulated camera), the log and a warning; with
  ``saturation="error"`` a saturated frame is a `HardwareError`.

Nothing is returned that was not checked. Inside ``jit`` a host error reaches the caller
as jax's runtime error; `raise_host_error` turns it back into the `HardwareError`
(`errors.HardwareError`, exit status 1 from the CLI) recorded in the device's log.

Drivers are found by name (`find_driver`): an import path ``"module:factory"``, or a
name in the ``opujax.drivers`` entry-point group (``"emulated"``: `EmulatedDriver`), so a
config can choose one (``device.options.driver``, its keyword arguments in
``device.options.driver_options``). A lab with a DMD and a camera writes one Python file
with a factory returning a `Driver`.

`EmulatedDriver` implements the protocol in NumPy with the physics of `SimulatedOPU`
(the same transmission matrix for the same seed and grids), with injectable faults.
"""

import dataclasses
import importlib
import inspect
import logging
import math
from collections.abc import Callable
from importlib import metadata
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from opujax.devices import base, medium
from opujax.devices import camera as camera_lib
from opujax.devices import encoding as encoding_lib
from opujax.devices import geometry as geometry_lib
from opujax.devices import opu as opu_lib
from opujax.devices import speckle as speckle_lib
from opujax.errors import HardwareError

Array = jax.Array
DRIVER_GROUP = "opujax.drivers"
BUILTIN_DRIVERS = {"emulated": "opujax.devices.hardware:EmulatedDriver"}
SATURATION = ("count", "error")


class Driver(Protocol):
  """A binary DMD and a camera, as the host sees them.

  ``display`` queues binary patterns (K, dmd_rows, dmd_cols) on the DMD; ``capture``
  returns K camera frames (K, camera_rows, camera_cols) of raw pixel values and their
  frame counters (K,), or raises TimeoutError. ``trigger``, if present, is called
  between the two. ``set_exposure`` sets photoelectrons per unit intensity (a real
  driver maps it to its own units; the decoded projection is only rescaled).
  """

  dmd_shape: tuple[int, int]
  camera_shape: tuple[int, int]

  def set_exposure(self, exposure: float) -> None: ...

  def display(self, patterns_KxHxW: np.ndarray) -> None: ...

  def capture(self, count: int, timeout_s: float) -> tuple[np.ndarray, np.ndarray]: ...


@dataclasses.dataclass
class HardwareLog:
  """Host-side counters of the acquisitions (hardware is stateful; this is its record)."""

  frames: int = 0
  timeouts: int = 0
  bad_counters: int = 0
  bad_frames: int = 0
  saturated_frames: int = 0
  error: HardwareError | None = None


def check_frames(raw, count: int, camera_shape: tuple[int, int]) -> str | None:
  """None if ``raw`` holds ``count`` whole, finite camera frames, else what is wrong."""
  shape = np.shape(raw)
  if shape != (count, *camera_shape):
    return f"expected {count} frames of {camera_shape}, got an array of shape {shape}"
  bad = np.flatnonzero(~np.isfinite(np.asarray(raw, np.float64)).all(axis=(1, 2)))
  if bad.size:
    return f"frame {bad[0]} holds non-finite pixel values"
  return None


def raise_host_error(device, error: Exception) -> None:
  """Raises the `HardwareError` a hardware device recorded while ``error`` (jax's runtime
  error out of a jitted computation) was raised; returns for any other device or error."""
  log = getattr(device, "log", None)
  if isinstance(log, HardwareLog) and log.error is not None:
    raise log.error from error


def find_driver(name: str) -> Callable[..., "Driver"]:
  """The driver factory ``name``: ``"module:factory"``, or a name of the ``opujax.drivers``
  entry-point group (built in: ``"emulated"``).

  Raises:
    ValueError: no such module, factory or entry point, with what exists.
  """
  if ":" not in name:
    points = {e.name: e.value for e in metadata.entry_points(group=DRIVER_GROUP)}
    known = {**BUILTIN_DRIVERS, **points}
    if name not in known:
      raise ValueError(f"Unknown driver {name!r}; give 'module:factory' (a function or class "
                       f"returning an opujax.devices.Driver) or one of {', '.join(known)} (the "
                       f"{DRIVER_GROUP!r} entry points).")
    name = known[name]
  module, _, attr = name.partition(":")
  try:
    factory = getattr(importlib.import_module(module), attr)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"Driver {name!r} cannot be loaded ({type(e).__name__}: {e}); give "
                     "'module:factory' of an importable module.") from e
  if not callable(factory):
    raise ValueError(f"Driver {name!r} is not callable; it must return a Driver.")
  return factory


def check_counters(ids: np.ndarray, count: int) -> str | None:
  """None if ``ids`` are ``count`` consecutive frame ids, else what is wrong."""
  ids = np.asarray(ids)
  if ids.shape != (count,):
    return f"expected {count} frames, got {ids.shape[0] if ids.ndim else 0}"
  steps = np.diff(ids)
  if np.any(steps == 0):
    return f"frame {ids[1:][steps == 0][0]} was delivered twice (repeated frame)"
  if np.any(steps != 1):
    return f"frame counter jumped after frame {ids[:-1][steps != 1][0]} (dropped frame)"
  return None


@struct.dataclass
class HardwareOPU(opu_lib.Optical):
  anchor_reference: Array
  ones_reference: Array  # calibrated P(1) for common-mode codes (`encoding`), else zeros
  driver: Driver = struct.field(pytree_node=False)
  geometry: geometry_lib.Geometry = struct.field(pytree_node=False)
  camera: camera_lib.Camera = struct.field(pytree_node=False)
  encoding: encoding_lib.Encoding = struct.field(pytree_node=False)
  mode: str = struct.field(pytree_node=False)
  timeout_s: float = struct.field(pytree_node=False)
  retries: int = struct.field(pytree_node=False)
  saturation: str = struct.field(pytree_node=False)
  log: HardwareLog = struct.field(pytree_node=False)
  speckle: speckle_lib.Speckle | None = struct.field(pytree_node=False, default=None)
  reference: speckle_lib.Reference | None = struct.field(pytree_node=False, default=None)

  @property
  def protocol(self) -> str:
    return "anchor" if self.reference is None else "holography"

  @property
  def frames_per_row(self) -> int:
    return opu_lib.frames_per_row(self.mode, self.encoding, True, self.protocol)

  @property
  def pixels_per_frame(self) -> int:
    """Camera pixels read a frame: the outputs, or the whole hologram."""
    return len(self.read_pixels())

  def read_pixels(self) -> np.ndarray:
    """Linear indices of the camera pixels read: the outputs, or every pixel."""
    if self.reference is None:
      return self.geometry.output_pixels()
    return np.arange(math.prod(self.geometry.camera_shape))

  def acquire(self, patterns_KxP: np.ndarray) -> np.ndarray:
    """Host side: displays patterns, captures and checks frames, returns ROI pixels.

    Raises:
      HardwareError: no checked frames after ``retries`` repeats (also recorded in the
        log, for `raise_host_error`).
    """
    try:
      return self._acquire(np.asarray(patterns_KxP))
    except HardwareError as e:
      self.log.error = e
      raise

  def _acquire(self, patterns_KxP: np.ndarray) -> np.ndarray:
    lead, k = patterns_KxP.shape[:-1], math.prod(patterns_KxP.shape[:-1])
    patterns = (patterns_KxP.reshape(k, *self.geometry.dmd_shape) > 0.5).astype(np.uint8)
    problem = "no attempt"
    for _ in range(self.retries + 1):
      try:
        self.driver.display(patterns)
        if hasattr(self.driver, "trigger"):
          self.driver.trigger()
        raw, ids = self.driver.capture(k, self.timeout_s)
      except TimeoutError as e:
        self.log.timeouts += 1
        problem = f"camera timed out ({e})"
        logging.warning("OPU capture timed out; retrying.")
        continue
      except Exception as e:  # a driver's own failure: one type for the caller
        problem = f"the driver failed ({type(e).__name__}: {e})"
        logging.warning("OPU driver failed: %s; acquiring again.", problem)
        continue
      problem = check_counters(ids, k)
      if problem is not None:
        self.log.bad_counters += 1
        logging.warning("OPU capture rejected: %s; acquiring again.", problem)
        continue
      problem = check_frames(raw, k, self.geometry.camera_shape)
      if problem is not None:
        self.log.bad_frames += 1
        logging.warning("OPU capture rejected: %s; acquiring again.", problem)
        continue
      return self._roi(np.asarray(raw), k).reshape(*lead, -1)
    raise HardwareError(f"OPU acquisition failed after {self.retries + 1} attempts: "
                        f"{problem}. Check the camera trigger and cabling.")

  def _roi(self, raw: np.ndarray, k: int) -> np.ndarray:
    pixels = np.asarray(raw).reshape(k, -1)[:, self.read_pixels()]
    self.log.frames += k
    if self.camera.adc_bits:
      saturated = int(np.sum(np.any(pixels >= 2 ** self.camera.adc_bits - 1, axis=1)))
      if saturated:
        self.log.saturated_frames += saturated
        message = f"{saturated} of {k} OPU frames have saturated pixels; lower the exposure."
        if self.saturation == "error":
          raise HardwareError(message + " (saturation='error'; 'count' reports it instead)")
        logging.warning(message)
    return pixels.astype(np.float32)

  def capture(self, patterns_KxP: Array) -> Array:
    """Raw ROI pixels of the patterns, from inside jit (a `jax.pure_callback`) or
    outside it (called directly, so a `HardwareError` reaches the caller as itself)."""
    if not isinstance(patterns_KxP, jax.core.Tracer):
      return jnp.asarray(self.acquire(np.asarray(patterns_KxP)))
    out = jax.ShapeDtypeStruct((*patterns_KxP.shape[:-1], self.pixels_per_frame), jnp.float32)
    return jax.pure_callback(self.acquire, out, patterns_KxP, vmap_method="expand_dims")

  def measure(self, x: Array, key: Array) -> base.Measurement:
    x_BxN, lead = base.flatten_input(x, self.in_features)
    code = encoding_lib.encode(x_BxN, self.encoding, key)  # key: a stochastic code's draw
    frames_FxBxN = code.frames
    g = self.geometry
    pad = g.dmd_shape[0] * g.dmd_shape[1] - self.in_features
    x_FxBxP = jnp.pad(frames_FxBxN.astype(jnp.float32), ((0, 0), (0, 0), (0, pad)))
    if self.mode == "intensity" or self.reference is not None:
      patterns = x_FxBxP[None]
    else:
      anchor = jnp.zeros(x_FxBxP.shape[-1:]).at[self.in_features:g.active_mirrors].set(1.0)
      patterns = jnp.stack([x_FxBxP + anchor, x_FxBxP])
    raw = self.capture(patterns)
    est, saturated = camera_lib.read(self.camera, raw, jnp.float32(self.camera.exposure))
    if self.mode == "intensity":
      y = est[0]
    elif self.reference is None:
      y = opu_lib.anchor_readout(est, self.anchor_reference)
    else:
      y = opu_lib.holography_readout(est[0], self.speckle, self.reference, self.out_features)
    y = encoding_lib.decode(y, code, self.ones_reference)
    bad_B = jnp.isnan(frames_FxBxN).any(axis=(0, 2))  # non-binary input under jit
    y = jnp.where(bad_B[:, None], jnp.nan, y)
    return base.Measurement(y.reshape(*lead, self.out_features), saturated)

  def effective_matrix(self) -> Array:
    """M measured by calibration: the projections of the in_features one-hot patterns."""
    return self.project(jnp.eye(self.in_features), jax.random.key(0))


def settings(driver: "Driver | str | None", driver_options: dict | None, mode: str,
             encoding: str, threshold: float, bits: int, saturation: str,
             threshold_by: str = "max", common_mode: bool = False, protocol: str = "anchor",
             grain: float | None = None,
             carrier: tuple[float, float] | None = None) -> encoding_lib.Encoding:
  """The checked encoding of `hardware`'s options: every check it makes before it
  knows its shape (a driver given by name is looked up, not yet made).

  Raises:
    ValueError: no driver or an unknown one, or a mode, encoding or saturation policy
      that cannot be used.
  """
  if driver is None:
    raise ValueError(
        "The hardware device needs a driver: pass driver=<object implementing "
        "opujax.devices.Driver (set_exposure, display, capture)>, a factory's name "
        "('module:factory', or 'emulated' to run without hardware).")
  if isinstance(driver, str):
    find_driver(driver)
  elif driver_options:
    raise ValueError("driver_options are the keyword arguments of a driver given by name; "
                     "a driver object is already made.")
  if driver_options is not None and not isinstance(driver_options, dict):
    raise ValueError(f"driver_options must be a dict, got {driver_options!r}.")
  if saturation not in SATURATION:
    raise ValueError(f"Unknown saturation {saturation!r}; choose one of {', '.join(SATURATION)}.")
  opu_lib.check_speckle(mode, grain, protocol, 1.0, carrier)
  return opu_lib.checked_encoding(mode, encoding, threshold, bits, threshold_by, common_mode)


class EmulatedDriver:
  """A NumPy DMD + medium + camera with the physics of `SimulatedOPU`, and faults.

  The transmission matrix over the whole grids is the simulator's for the same seed,
  grids and sigma: onto every camera pixel, or with a ``grain`` onto the modes of the
  camera grid's pupil, whose field the camera sees (`speckle.field`). With
  ``reference_intensity`` > 0 (and a grain) a reference beam of that intensity, tilted
  to ``carrier`` (cycles/pixel, default `speckle.default_carrier`; rounded to the grid's
  FFT bin), interferes with it: the frames are off-axis holograms. Faults, each
  consumed as it fires: ``timeouts`` captures that time
  out, ``dropped`` captures that lose a frame, ``repeated`` captures that deliver a
  frame twice, ``nan_frames`` captures with a NaN pixel, ``short_frames`` captures whose
  frames lack their last camera row.
  """

  def __init__(self, dmd_shape: tuple[int, int], camera_shape: tuple[int, int], seed: int = 0,
               sigma: float = math.sqrt(0.5), camera: camera_lib.Camera | None = None,
               noise_seed: int = 0, timeouts: int = 0, dropped: int = 0, repeated: int = 0,
               nan_frames: int = 0, short_frames: int = 0, grain: float | None = None,
               carrier: tuple[float, float] | None = None, reference_intensity: float = 0.0):
    self.dmd_shape, self.camera_shape = tuple(dmd_shape), tuple(camera_shape)
    self.camera = camera or camera_lib.Camera(exposure=1.0)
    pixels = math.prod(self.camera_shape)
    self.modes = np.arange(pixels) if grain is None else speckle_lib.pupil_bins(
        self.camera_shape, grain)
    r = medium.materialise(jax.random.key(seed), dmd_shape[0] * dmd_shape[1], self.modes, 2)
    r = np.asarray(r, np.float64) * sigma
    self.transmission = r[:, 0] + 1j * r[:, 1]
    self.grain, self.reference = grain, np.zeros(pixels)
    if reference_intensity > 0:
      if grain is None:
        raise ValueError("A reference beam (reference_intensity > 0) makes holograms of a "
                         "speckle field: set grain.")
      ref = speckle_lib.Reference(speckle_lib.carrier_bins(
          carrier or speckle_lib.default_carrier(grain), self.camera_shape),
          math.sqrt(reference_intensity))
      self.reference = np.asarray(speckle_lib.reference(self.camera_shape, ref)).ravel()
    self.rng = np.random.default_rng(noise_seed)
    self.exposure = self.camera.exposure or 1.0
    self.timeouts, self.dropped, self.repeated = timeouts, dropped, repeated
    self.nan_frames, self.short_frames = nan_frames, short_frames
    self.next_id = 0
    self.patterns = np.zeros((0, *self.dmd_shape), np.uint8)

  def set_exposure(self, exposure: float) -> None:
    self.exposure = float(exposure)

  def display(self, patterns_KxHxW: np.ndarray) -> None:
    p = np.asarray(patterns_KxHxW)
    if p.shape[1:] != self.dmd_shape:
      raise ValueError(f"DMD patterns must be (K, {self.dmd_shape[0]}, {self.dmd_shape[1]}), "
                       f"got {p.shape}.")
    if not np.isin(p, (0, 1)).all():
      raise ValueError("The DMD takes binary patterns (0 or 1) only.")
    self.patterns = p

  def capture(self, count: int, timeout_s: float) -> tuple[np.ndarray, np.ndarray]:
    if self.timeouts:
      self.timeouts -= 1
      raise TimeoutError(f"no frame within {timeout_s} s")
    if count != len(self.patterns):
      raise TimeoutError(f"{len(self.patterns)} patterns displayed, {count} frames awaited")
    x = self.patterns.reshape(count, -1).astype(np.float64)
    raw = self._camera(np.abs(self._field(x @ self.transmission) + self.reference) ** 2)
    ids = self.next_id + np.arange(count)
    self.next_id += count
    if self.dropped and count > 1:
      self.dropped -= 1
      raw, ids = np.concatenate([raw[:1], raw[2:], raw[-1:]]), np.r_[ids[:1], ids[2:], ids[-1] + 1]
    elif self.repeated and count > 1:
      self.repeated -= 1
      raw, ids = np.concatenate([raw[:1], raw[:-1]]), np.r_[ids[:1], ids[:-1]]
    raw = raw.reshape(count, *self.camera_shape)
    if self.nan_frames:
      self.nan_frames -= 1
      raw = raw.astype(np.float32)
      raw[-1, 0, 0] = np.nan
    elif self.short_frames:
      self.short_frames -= 1
      raw = raw[:, :-1]
    return raw, ids

  def _field(self, modes_KxC: np.ndarray) -> np.ndarray:
    """The field on the camera's pixels (K, pixels): the modes' Fourier series with a
    grain (`speckle.field`, here in NumPy), else the modes are the pixels."""
    if self.grain is None:
      return modes_KxC
    h, w = self.camera_shape
    spectrum = np.zeros((len(modes_KxC), h * w), complex)
    spectrum[:, self.modes] = modes_KxC
    s = np.fft.ifft2(spectrum.reshape(-1, h, w)) * (h * w / math.sqrt(len(self.modes)))
    return s.reshape(len(modes_KxC), -1)

  def _camera(self, i: np.ndarray) -> np.ndarray:
    cam = self.camera
    e = self.exposure * i + cam.dark_electrons
    if cam.shot_noise == "poisson":
      e = self.rng.poisson(e).astype(np.float64)
    elif cam.shot_noise == "gaussian":
      e = e + np.sqrt(e) * self.rng.standard_normal(e.shape)
    e = e + cam.read_noise * self.rng.standard_normal(e.shape)
    if cam.adc_bits is None:
      return e.astype(np.float32)
    return np.clip(np.round(e * cam.gain), 0, 2 ** cam.adc_bits - 1).astype(np.uint16)


def hardware(in_features: int, out_features: int, driver: "Driver | str | None" = None,
             driver_options: dict | None = None, seed: int = 0, mode: str = "linear",
             encoding: str = "binary", threshold: float = 0.0, bits: int = 4,
             threshold_by: str = "max", common_mode: bool = False,
             camera: camera_lib.Camera | None = None, exposure: float = 1.0,
             anchor_pixels: int | None = None, calibration_frames: int = 16,
             roi: tuple[int, int, int, int] | None = None, timeout_s: float = 1.0,
             retries: int = 2, saturation: str = "count", protocol: str = "anchor",
             grain: float | None = None,
             carrier: tuple[float, float] | None = None) -> HardwareOPU:
  """An OPU behind a `Driver`.

  Args:
    driver: the DMD and camera (required): a `Driver`, or a factory's name
      (`find_driver`: ``"module:factory"`` or ``"emulated"``) called with
      ``driver_options`` (and ``seed``, if it takes one: an emulator's medium).
    driver_options: keyword arguments of a driver given by name.
    seed: passed to a driver factory that takes ``seed``; real hardware has its medium.
    saturation: "count" (the saturated fraction is reported, as for the simulated
      camera) or "error" (a saturated frame is a `HardwareError`).
    camera: the camera's calibration (full well, ADC bits, dark signal) used to decode
      raw pixel values; default `Camera` with the fixed ``exposure`` set on the driver.
    calibration_frames: frames of the anchor pattern averaged into I(a) at start-up (and,
      for a common-mode code, of the all-ones pattern into P(1)); with holography, dark
      DMD frames (the reference beam alone) averaged into the reference's intensity A^2.
    protocol: "anchor" or "holography": one hologram a binary frame, every pixel of the
      driver's camera read and decoded on the host's side of the protocol (the JAX
      decoder of `SimulatedOPU`, `speckle.decode`); the driver's camera must see the
      speckle field of ``grain`` interfering with a reference beam at ``carrier``.
    grain, carrier: the speckle grain (default `opu.HOLOGRAPHY_GRAIN` with holography)
      and the reference's carrier (default `speckle.default_carrier`) the holograms are
      decoded with; also given to a driver factory that takes them (an emulator).
    timeout_s, retries: per capture, and how often a failed acquisition is repeated.
    Others as in `opu`.
  """
  enc = settings(driver, driver_options, mode, encoding, threshold, bits, saturation,
                 threshold_by, common_mode, protocol, grain, carrier)
  holography = protocol == "holography"
  if holography:
    grain = opu_lib.HOLOGRAPHY_GRAIN if grain is None else grain
    carrier = speckle_lib.default_carrier(grain) if carrier is None else tuple(carrier)
  if isinstance(driver, str):
    factory, options = find_driver(driver), dict(driver_options or {})
    given = {"seed": seed, "grain": grain, "carrier": carrier}
    try:
      takes = inspect.signature(factory).parameters
    except (TypeError, ValueError):
      takes = {}
    driver = factory(**{k: v for k, v in given.items() if k in takes and v is not None},
                     **options)
  if anchor_pixels is None:
    anchor_pixels = math.ceil(in_features / 2) if mode == "linear" and not holography else 0
  if holography and anchor_pixels:
    raise ValueError("Holography uses no anchor pattern; leave anchor_pixels unset (or 0).")
  if holography:
    roi = opu_lib.hologram_roi(driver.camera_shape, roi)
  g = geometry_lib.make_geometry(in_features, out_features, anchor_pixels, driver.dmd_shape,
                                 driver.camera_shape, roi, driver.dmd_shape, driver.camera_shape)
  cam = dataclasses.replace(camera or camera_lib.Camera(), exposure=exposure)
  driver.set_exposure(exposure)
  zeros = jnp.zeros((out_features,), jnp.float32)
  device = HardwareOPU(zeros, zeros, driver, g, cam, enc, mode, timeout_s, retries,
                       saturation, HardwareLog())
  dmd = g.dmd_shape[0] * g.dmd_shape[1]
  if holography:  # A^2: the reference alone, on a dark DMD
    spk = speckle_lib.Speckle(g.camera_shape, float(grain))
    bins = opu_lib.check_hologram(spk, out_features, carrier, 1.0)
    device = device.replace(speckle=spk, reference=speckle_lib.Reference(bins, 1.0))
    dark = np.zeros((calibration_frames, dmd), np.float32)
    est, _ = camera_lib.read(cam, jnp.asarray(device.acquire(dark)), jnp.float32(exposure))
    a = math.sqrt(max(float(jnp.mean(est)), np.finfo(np.float32).tiny))
    device = device.replace(reference=speckle_lib.Reference(bins, a))
  elif mode == "linear":
    anchor = np.zeros((calibration_frames, dmd), np.float32)
    anchor[:, in_features:g.active_mirrors] = 1.0
    est, _ = camera_lib.read(cam, jnp.asarray(device.acquire(anchor)), jnp.float32(exposure))
    device = device.replace(anchor_reference=jnp.mean(est, axis=0))
  if enc.uses_ones:
    as_binary = device.replace(encoding=encoding_lib.Encoding("binary"))
    ones = jnp.ones((calibration_frames, in_features), jnp.float32)
    device = device.replace(ones_reference=jnp.mean(as_binary.project(ones, None), axis=0))
  return device
