"""The path to a real DMD and camera: a driver protocol, `HardwareOPU`, and an emulator.

`HardwareOPU` encodes and decodes in JAX, exactly as `SimulatedOPU` does, and hands
only binary DMD patterns to the host through ``jax.pure_callback``; the host displays
them, captures one camera frame per pattern and returns the raw pixel values of the
region of interest. It checks every capture's frame counters:

* a capture that times out is retried (``retries`` times), then `HardwareError`;
* a dropped frame (a gap in the frame ids) or a repeated one (an id twice) makes the
  whole batch be acquired again, then `HardwareError` if it keeps happening;
* saturated pixels are reported: `Measurement.saturated`, the log, and a warning.

Nothing is returned that was not checked. Errors raised on the host reach the caller
as the runtime error of the jitted computation, with the same message.

`EmulatedDriver` implements the protocol in NumPy with the physics of `SimulatedOPU`
(the same transmission matrix for the same seed and grids), with injectable faults.
"""

import dataclasses
import logging
import math
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

Array = jax.Array


class HardwareError(RuntimeError):
  """The optical hardware did not deliver a checked measurement."""


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
  saturated_frames: int = 0


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
  driver: Driver = struct.field(pytree_node=False)
  geometry: geometry_lib.Geometry = struct.field(pytree_node=False)
  camera: camera_lib.Camera = struct.field(pytree_node=False)
  encoding: encoding_lib.Encoding = struct.field(pytree_node=False)
  mode: str = struct.field(pytree_node=False)
  timeout_s: float = struct.field(pytree_node=False)
  retries: int = struct.field(pytree_node=False)
  log: HardwareLog = struct.field(pytree_node=False)

  @property
  def frames_per_row(self) -> int:
    return opu_lib.frames_per_row(self.mode, self.encoding, calibrated_anchor=True)

  def acquire(self, patterns_KxP: np.ndarray) -> np.ndarray:
    """Host side: displays patterns, captures and checks frames, returns ROI pixels."""
    patterns_KxP = np.asarray(patterns_KxP)
    lead, k = patterns_KxP.shape[:-1], math.prod(patterns_KxP.shape[:-1])
    patterns = (patterns_KxP.reshape(k, *self.geometry.dmd_shape) > 0.5).astype(np.uint8)
    problem = "no attempt"
    for _ in range(self.retries + 1):
      self.driver.display(patterns)
      if hasattr(self.driver, "trigger"):
        self.driver.trigger()
      try:
        raw, ids = self.driver.capture(k, self.timeout_s)
      except TimeoutError as e:
        self.log.timeouts += 1
        problem = f"camera timed out ({e})"
        logging.warning("OPU capture timed out; retrying.")
        continue
      problem = check_counters(ids, k)
      if problem is None:
        return self._roi(raw, k).reshape(*lead, -1)
      self.log.bad_counters += 1
      logging.warning("OPU capture rejected: %s; acquiring again.", problem)
    raise HardwareError(f"OPU acquisition failed after {self.retries + 1} attempts: "
                        f"{problem}. Check the camera trigger and cabling.")

  def _roi(self, raw: np.ndarray, k: int) -> np.ndarray:
    pixels = np.asarray(raw).reshape(k, -1)[:, self.geometry.output_pixels()]
    self.log.frames += k
    if self.camera.adc_bits:
      saturated = int(np.sum(np.any(pixels >= 2 ** self.camera.adc_bits - 1, axis=1)))
      if saturated:
        self.log.saturated_frames += saturated
        logging.warning("%d of %d OPU frames have saturated pixels; lower the exposure.",
                        saturated, k)
    return pixels.astype(np.float32)

  def capture(self, patterns_KxP: Array) -> Array:
    """Raw ROI pixels of the patterns, from inside or outside jit."""
    out = jax.ShapeDtypeStruct((*patterns_KxP.shape[:-1], self.out_features), jnp.float32)
    return jax.pure_callback(self.acquire, out, patterns_KxP, vmap_method="expand_dims")

  def measure(self, x: Array, key: Array) -> base.Measurement:
    del key  # the noise is the hardware's own
    x_BxN, lead = base.flatten_input(x, self.in_features)
    frames_FxBxN, w_FxB = encoding_lib.encode(x_BxN, self.encoding)
    g = self.geometry
    pad = g.dmd_shape[0] * g.dmd_shape[1] - self.in_features
    x_FxBxP = jnp.pad(frames_FxBxN.astype(jnp.float32), ((0, 0), (0, 0), (0, pad)))
    if self.mode == "intensity":
      patterns = x_FxBxP[None]
    else:
      anchor = jnp.zeros(x_FxBxP.shape[-1:]).at[self.in_features:g.active_mirrors].set(1.0)
      patterns = jnp.stack([x_FxBxP + anchor, x_FxBxP])
    raw = self.capture(patterns)
    est, saturated = camera_lib.read(self.camera, raw, jnp.float32(self.camera.exposure))
    y = est[0] if self.mode == "intensity" else opu_lib.anchor_readout(est, self.anchor_reference)
    y = encoding_lib.decode(y, w_FxB)
    return base.Measurement(y.reshape(*lead, self.out_features), saturated)

  def effective_matrix(self) -> Array:
    """M measured by calibration: the projections of the in_features one-hot patterns."""
    return self.project(jnp.eye(self.in_features), jax.random.key(0))


def settings(driver: Driver | None, mode: str, encoding: str, threshold: float,
             bits: int) -> encoding_lib.Encoding:
  """The checked encoding of `hardware`'s options: every check it makes before it
  knows its shape.

  Raises:
    ValueError: no driver, or a mode or encoding `opu` would refuse too.
  """
  if driver is None:
    raise ValueError(
        "The hardware device needs a driver: pass driver=<object implementing "
        "opujax.devices.Driver (set_exposure, display, capture)>, or "
        "driver=EmulatedDriver(...) to run without hardware.")
  return opu_lib.checked_encoding(mode, encoding, threshold, bits)


class EmulatedDriver:
  """A NumPy DMD + medium + camera with the physics of `SimulatedOPU`, and faults.

  The transmission matrix over the whole grids is the simulator's for the same seed,
  grids and sigma. Faults, each consumed as it fires: ``timeouts`` captures that time
  out, ``dropped`` captures that lose a frame, ``repeated`` captures that deliver a
  frame twice.
  """

  def __init__(self, dmd_shape: tuple[int, int], camera_shape: tuple[int, int], seed: int = 0,
               sigma: float = math.sqrt(0.5), camera: camera_lib.Camera | None = None,
               noise_seed: int = 0, timeouts: int = 0, dropped: int = 0, repeated: int = 0):
    self.dmd_shape, self.camera_shape = tuple(dmd_shape), tuple(camera_shape)
    self.camera = camera or camera_lib.Camera(exposure=1.0)
    r = medium.materialise(jax.random.key(seed), dmd_shape[0] * dmd_shape[1],
                           range(camera_shape[0]), (dmd_shape[1], camera_shape[1]), 2)
    r = np.asarray(r, np.float64) * sigma
    self.transmission = r[:, 0] + 1j * r[:, 1]
    self.rng = np.random.default_rng(noise_seed)
    self.exposure = self.camera.exposure or 1.0
    self.timeouts, self.dropped, self.repeated = timeouts, dropped, repeated
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
    raw = self._camera(np.abs(x @ self.transmission) ** 2)
    ids = self.next_id + np.arange(count)
    self.next_id += count
    if self.dropped and count > 1:
      self.dropped -= 1
      raw, ids = np.concatenate([raw[:1], raw[2:], raw[-1:]]), np.r_[ids[:1], ids[2:], ids[-1] + 1]
    elif self.repeated and count > 1:
      self.repeated -= 1
      raw, ids = np.concatenate([raw[:1], raw[:-1]]), np.r_[ids[:1], ids[:-1]]
    return raw.reshape(count, *self.camera_shape), ids

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


def hardware(in_features: int, out_features: int, driver: Driver | None = None,
             mode: str = "linear", encoding: str = "binary", threshold: float = 0.0,
             bits: int = 4, camera: camera_lib.Camera | None = None, exposure: float = 1.0,
             anchor_pixels: int | None = None, calibration_frames: int = 16,
             roi: tuple[int, int, int, int] | None = None, timeout_s: float = 1.0,
             retries: int = 2) -> HardwareOPU:
  """An OPU behind a `Driver`.

  Args:
    driver: the DMD and camera (required); `EmulatedDriver` to test without hardware.
    camera: the camera's calibration (full well, ADC bits, dark signal) used to decode
      raw pixel values; default `Camera` with the fixed ``exposure`` set on the driver.
    calibration_frames: frames of the anchor pattern averaged into I(a) at start-up.
    timeout_s, retries: per capture, and how often a failed acquisition is repeated.
    Others as in `opu`.
  """
  enc = settings(driver, mode, encoding, threshold, bits)
  if anchor_pixels is None:
    anchor_pixels = math.ceil(in_features / 2) if mode == "linear" else 0
  g = geometry_lib.make_geometry(in_features, out_features, anchor_pixels, driver.dmd_shape,
                                 driver.camera_shape, roi, driver.dmd_shape, driver.camera_shape)
  cam = dataclasses.replace(camera or camera_lib.Camera(), exposure=exposure)
  driver.set_exposure(exposure)
  device = HardwareOPU(jnp.zeros((out_features,), jnp.float32), driver, g, cam, enc, mode,
                       timeout_s, retries, HardwareLog())
  if mode == "linear":
    dmd = g.dmd_shape[0] * g.dmd_shape[1]
    anchor = np.zeros((calibration_frames, dmd), np.float32)
    anchor[:, in_features:g.active_mirrors] = 1.0
    est, _ = camera_lib.read(cam, jnp.asarray(device.acquire(anchor)), jnp.float32(exposure))
    device = device.replace(anchor_reference=jnp.mean(est, axis=0))
  return device
