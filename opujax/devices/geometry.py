"""Pixel geometry: where a vector lands on the DMD and which camera pixels are read.

Layout (row-major everywhere):

* DMD mirror ``p = row * dmd_cols + col``. The input vector occupies mirrors
  ``[0, in_features)``, the anchor pattern of the linear protocol the next
  ``anchor_pixels`` mirrors; every other mirror is off.
* Camera pixel ``q = row * camera_cols + col``. The region of interest (ROI) is the
  rectangle ``(row0, col0, rows, cols)``; output ``j`` is the ``j``-th ROI pixel in
  row-major order, and the first ``out_features`` ROI pixels are read.

The transmission matrix is indexed by absolute mirror and pixel, so the same medium
seen through another ROI gives the same values on the shared pixels.
"""

import dataclasses
import math

import numpy as np

# Documented maxima of the simulated device, after the published OPU (1e6 binary
# inputs, up to 2e6 outputs); both are arguments of `make_geometry`.
MAX_DMD_SHAPE = (1024, 1024)
MAX_CAMERA_SHAPE = (1024, 2048)


@dataclasses.dataclass(frozen=True)
class Geometry:
  """Static layout of one projection on the DMD and the camera."""

  in_features: int
  out_features: int
  anchor_pixels: int
  dmd_shape: tuple[int, int]
  camera_shape: tuple[int, int]
  roi: tuple[int, int, int, int]

  @property
  def dmd_rows_used(self) -> int:
    """DMD rows touched by the input and the anchor."""
    return math.ceil((self.in_features + self.anchor_pixels) / self.dmd_shape[1])

  @property
  def active_mirrors(self) -> int:
    return self.in_features + self.anchor_pixels

  def output_pixels(self) -> np.ndarray:
    """Linear camera-pixel index of each output, shape (out_features,)."""
    row0, col0, rows, cols = self.roi
    r, c = np.divmod(np.arange(self.out_features), cols)
    return (row0 + r) * self.camera_shape[1] + col0 + c

  def roi_rows(self) -> range:
    """Camera rows that hold the outputs."""
    row0, _, _, cols = self.roi
    return range(row0, row0 + math.ceil(self.out_features / cols))


def _grid(pixels: int, max_shape: tuple[int, int]) -> tuple[int, int]:
  cols = min(pixels, max_shape[1])
  return (math.ceil(pixels / cols), cols)


def make_geometry(
    in_features: int,
    out_features: int,
    anchor_pixels: int = 0,
    dmd_shape: tuple[int, int] | None = None,
    camera_shape: tuple[int, int] | None = None,
    roi: tuple[int, int, int, int] | None = None,
    max_dmd_shape: tuple[int, int] = MAX_DMD_SHAPE,
    max_camera_shape: tuple[int, int] = MAX_CAMERA_SHAPE,
) -> Geometry:
  """Checks and completes a layout; defaults use the smallest grids that fit.

  Raises:
    ValueError: a size that is not positive, or that does not fit the device.
  """
  for name, value in (("in_features", in_features), ("out_features", out_features)):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"{name} must be a positive integer, got {value!r}.")
  if anchor_pixels < 0:
    raise ValueError(f"anchor_pixels must be >= 0, got {anchor_pixels}.")
  mirrors = in_features + anchor_pixels
  if dmd_shape is None and mirrors > max_dmd_shape[0] * max_dmd_shape[1]:
    raise ValueError(
        f"in_features={in_features} plus {anchor_pixels} anchor mirrors need {mirrors} "
        f"mirrors, more than the device's {max_dmd_shape[0]}x{max_dmd_shape[1]} DMD; "
        "reduce in_features or anchor_pixels, or raise max_dmd_shape.")
  if camera_shape is None and out_features > max_camera_shape[0] * max_camera_shape[1]:
    raise ValueError(
        f"out_features={out_features} exceeds the device's {max_camera_shape[0]}x"
        f"{max_camera_shape[1]} camera; reduce out_features or raise max_camera_shape.")
  dmd_shape = tuple(dmd_shape or _grid(mirrors, max_dmd_shape))
  camera_shape = tuple(camera_shape or _grid(out_features, max_camera_shape))
  for what, shape, most in (("DMD", dmd_shape, max_dmd_shape),
                            ("camera", camera_shape, max_camera_shape)):
    if shape[0] > most[0] or shape[1] > most[1] or min(shape) < 1:
      raise ValueError(
          f"{what} shape {shape} is outside the device's {most[0]}x{most[1]} "
          f"grid; use a smaller shape or raise max_{what.lower()}_shape.")
  if mirrors > dmd_shape[0] * dmd_shape[1]:
    raise ValueError(
        f"in_features={in_features} plus {anchor_pixels} anchor mirrors need "
        f"{mirrors} mirrors, but the DMD has {dmd_shape[0]}x{dmd_shape[1]}="
        f"{dmd_shape[0] * dmd_shape[1]}; reduce in_features or the anchor, or "
        "enlarge dmd_shape.")
  if roi is None:
    rows = math.ceil(out_features / camera_shape[1])
    roi = (0, 0, rows, camera_shape[1])
  roi = tuple(int(v) for v in roi)
  row0, col0, rows, cols = roi
  if (min(roi) < 0 or rows < 1 or cols < 1 or row0 + rows > camera_shape[0]
      or col0 + cols > camera_shape[1]):
    raise ValueError(
        f"roi {roi} (row0, col0, rows, cols) does not lie inside the "
        f"{camera_shape[0]}x{camera_shape[1]} camera.")
  if out_features > rows * cols:
    raise ValueError(
        f"out_features={out_features} exceeds the {rows}x{cols}={rows * cols} "
        "pixels of the region of interest; enlarge roi or camera_shape.")
  return Geometry(int(in_features), int(out_features), int(anchor_pixels),
                  dmd_shape, camera_shape, roi)
