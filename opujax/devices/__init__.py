"""Projection devices: digital, simulated OPU and real hardware, behind one protocol.

    from opujax import devices
    opu = devices.make("opu", in_features=1024, out_features=16384, seed=0)
    y = opu.project(x, key)     # (batch, 1024) -> (batch, 16384)
"""

import inspect

from opujax.devices import digital as digital_lib
from opujax.devices import hardware as hardware_lib
from opujax.devices import opu as opu_lib
from opujax.devices.base import Measurement, ProjectionDevice
from opujax.devices.budget import Budget, Estimate, GPUSpec, OPUSpec, estimate
from opujax.devices.camera import Camera
from opujax.devices.digital import DigitalProjection, digital, from_matrix
from opujax.devices.encoding import Encoding
from opujax.devices.geometry import MAX_CAMERA_SHAPE, MAX_DMD_SHAPE, Geometry
from opujax.devices.hardware import (Driver, EmulatedDriver, HardwareError, HardwareOPU,
                                     find_driver, hardware, raise_host_error)
from opujax.devices.opu import DFA_CODE, SimulatedOPU, opu

BUILDERS = {"digital": digital, "opu": opu, "hardware": hardware}
_SETTINGS = {"digital": digital_lib.settings, "opu": opu_lib.settings,
             "hardware": hardware_lib.settings}


def _bound(name: str, options: dict) -> dict:
  """Every option of device ``name``'s builder, the given ones over its defaults."""
  if name not in BUILDERS:
    raise ValueError(f"Unknown device {name!r}; choose one of {', '.join(BUILDERS)}.")
  params = list(inspect.signature(BUILDERS[name]).parameters.values())[2:]
  unknown = sorted(set(options) - {p.name for p in params})
  if unknown:
    raise ValueError(f"Unknown option(s) {', '.join(unknown)} for device {name!r}; "
                     f"allowed: {', '.join(p.name for p in params)}.")
  return {p.name: options.get(p.name, p.default) for p in params}


def check(name: str, **options) -> None:
  """Checks device ``name``'s options before its shape is known, with the code its
  builder runs (its ``settings``): a config is refused before any data or model work.

  Raises:
    ValueError: an unknown name or option, or a bad value, with what is allowed.
  """
  bound, settings = _bound(name, options), _SETTINGS[name]
  settings(**{k: bound[k] for k in inspect.signature(settings).parameters})


def make(name: str, in_features: int, out_features: int, **options) -> ProjectionDevice:
  """Builds the device ``name`` ("digital", "opu" or "hardware") of the given shape.

  Options are the keyword arguments of `digital`, `opu` or `hardware`.

  Raises:
    ValueError: an unknown name or option, or a bad value, with what is allowed.
  """
  _bound(name, options)
  return BUILDERS[name](in_features, out_features, **options)


__all__ = ["Budget", "Camera", "DFA_CODE", "DigitalProjection", "Driver", "EmulatedDriver",
           "Encoding", "Estimate", "GPUSpec", "Geometry", "HardwareError", "HardwareOPU",
           "MAX_CAMERA_SHAPE", "MAX_DMD_SHAPE", "Measurement", "OPUSpec", "ProjectionDevice",
           "SimulatedOPU", "check", "digital", "estimate", "find_driver", "from_matrix",
           "hardware", "make", "opu", "raise_host_error"]
