"""The contract every projection device keeps, and the helpers they share."""

from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp

from opujax.devices.budget import Budget

Array = jax.Array
MODES = ("linear", "intensity")


class Measurement(NamedTuple):
  """What one call of a device returns. ``saturated`` is the fraction of camera
  pixels at ADC full scale over all frames (0 for devices without a camera)."""

  y: Array
  saturated: Array


class ProjectionDevice(Protocol):
  """A fixed random projection ``R^in -> R^out``.

  * ``measure(x, key)``: x of shape (..., in_features) to a `Measurement` whose y has
    shape (..., out_features). In ``linear`` mode y ~= x @ effective_matrix() (up to
    the device's noise and input encoding); in ``intensity`` mode y ~= |x R|^2.
  * ``project(x, key)``: ``measure(x, key).y``.
  * ``cost(rows)``: the `Budget` of projecting ``rows`` vectors.
  * ``effective_matrix()``: the real (in_features, out_features) matrix M of the
    noiseless linear projection, for sizes that fit in memory.
  * ``after_step(key, rows, done)``: the device after a training step that projected
    ``rows`` vectors, ``done`` steps in (a drifting medium changes; others return self).

  Keys are explicit; simulated and digital devices are pytrees that run inside
  ``jit``, ``vmap`` and sharded code.
  """

  in_features: int
  out_features: int
  mode: str

  def measure(self, x: Array, key: Array) -> Measurement: ...

  def project(self, x: Array, key: Array) -> Array: ...

  def cost(self, rows: int) -> Budget: ...

  def effective_matrix(self) -> Array: ...

  def after_step(self, key: Array, rows: int, done: Array | int) -> "ProjectionDevice": ...


class Projects:
  """``project`` for devices that define ``measure``, and a stable ``after_step``."""

  def project(self, x: Array, key: Array) -> Array:
    return self.measure(x, key).y

  def after_step(self, key: Array, rows: int, done: Array | int):
    del key, rows, done
    return self


def flatten_input(x: Array, in_features: int) -> tuple[Array, tuple[int, ...]]:
  """(..., in_features) -> (rows, in_features), with a clear error on a wrong shape."""
  x = jnp.asarray(x)
  if x.ndim < 1 or x.shape[-1] != in_features:
    raise ValueError(
        f"Expected input of shape (..., {in_features}) for this device, got {x.shape}.")
  return x.reshape(-1, in_features), x.shape[:-1]


def check_fits(in_features: int, out_features: int, parts: int, limit_bytes: int) -> None:
  need = in_features * out_features * parts * 4
  if need > limit_bytes:
    raise ValueError(
        f"A {in_features}x{out_features} matrix needs {need / 2**30:.1f} GiB, over the "
        f"{limit_bytes / 2**30:.1f} GiB allowed for materialised storage; use "
        "storage='streamed' (or raise max_bytes).")
