"""Projection devices: digital, simulated OPU and real hardware, behind one protocol.

    from opujax import devices
    opu = devices.make("opu", in_features=1024, out_features=16384, seed=0)
    y = opu.project(x, key)     # (batch, 1024) -> (batch, 16384)
"""

import inspect

from opujax.devices.base import Measurement, ProjectionDevice
from opujax.devices.budget import Budget, Estimate, GPUSpec, OPUSpec, estimate
from opujax.devices.camera import Camera
from opujax.devices.digital import DigitalProjection, digital, from_matrix
from opujax.devices.encoding import Encoding
from opujax.devices.geometry import MAX_CAMERA_SHAPE, MAX_DMD_SHAPE, Geometry
from opujax.devices.hardware import (Driver, EmulatedDriver, HardwareError, HardwareOPU,
                                     hardware)
from opujax.devices.opu import SimulatedOPU, opu

BUILDERS = {"digital": digital, "opu": opu, "hardware": hardware}


def make(name: str, in_features: int, out_features: int, **options) -> ProjectionDevice:
  """Builds the device ``name`` ("digital", "opu" or "hardware") of the given shape.

  Options are the keyword arguments of `digital`, `opu` or `hardware`.

  Raises:
    ValueError: an unknown name or option, or a bad value, with what is allowed.
  """
  if name not in BUILDERS:
    raise ValueError(f"Unknown device {name!r}; choose one of {', '.join(BUILDERS)}.")
  builder = BUILDERS[name]
  allowed = list(inspect.signature(builder).parameters)[2:]
  unknown = sorted(set(options) - set(allowed))
  if unknown:
    raise ValueError(f"Unknown option(s) {', '.join(unknown)} for device {name!r}; "
                     f"allowed: {', '.join(allowed)}.")
  return builder(in_features, out_features, **options)


__all__ = ["Budget", "Camera", "DigitalProjection", "Driver", "EmulatedDriver", "Encoding",
           "Estimate", "GPUSpec", "Geometry", "HardwareError", "HardwareOPU", "MAX_CAMERA_SHAPE",
           "MAX_DMD_SHAPE", "Measurement", "OPUSpec", "ProjectionDevice", "SimulatedOPU",
           "digital", "estimate", "from_matrix", "hardware", "make", "opu"]
