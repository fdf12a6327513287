"""The digital baseline: an exact real Gaussian projection x @ W, W_ij ~ N(0, 1)."""

import jax
import numpy as np
from flax import struct

from opujax.devices import base, medium
from opujax.devices.budget import Budget

Array = jax.Array
STORAGE = ("materialised", "streamed")


@struct.dataclass
class DigitalProjection(base.Projects):
  key: Array
  weights: Array | None
  in_features: int = struct.field(pytree_node=False)
  out_features: int = struct.field(pytree_node=False)
  block_bytes: int = struct.field(pytree_node=False, default=medium.BLOCK_BYTES)
  mode: str = struct.field(pytree_node=False, default="linear")

  def measure(self, x: Array, key: Array) -> base.Measurement:
    del key  # exact: no noise
    x_BxN, lead = base.flatten_input(x, self.in_features)
    if self.weights is not None:
      y = x_BxN @ self.weights
    else:
      y = medium.streamed_product(self.key, x_BxN, np.arange(self.out_features), 1,
                                  self.block_bytes)[:, 0]
    return base.Measurement(y.reshape(*lead, self.out_features), jax.numpy.zeros(()))

  def cost(self, rows: int) -> Budget:
    return Budget(projections=rows, macs=rows * self.in_features * self.out_features)

  def effective_matrix(self) -> Array:
    if self.weights is not None:
      return self.weights
    return _generate(self.key, self.in_features, self.out_features)


def _generate(key: Array, n: int, m: int) -> Array:
  """The real part of the medium's complex Gaussian matrix (`normal.standard_normal_grid`)."""
  return medium.materialise(key, n, np.arange(m), 1)[:, 0]


def digital(in_features: int, out_features: int, seed: int = 0, storage: str = "materialised",
            block_bytes: int = medium.BLOCK_BYTES, max_bytes: int = 8 << 30,
            mode: str = "linear") -> DigitalProjection:
  """An exact projection with a standard normal (in_features, out_features) matrix.

  Args:
    in_features, out_features: the matrix's shape.
    seed: the matrix's seed; the same seed gives the same matrix in both storages.
    storage: "materialised" (kept in memory) or "streamed" (regenerated block by block
      on every call; memory O(block_bytes)).
    block_bytes: memory budget of one streamed block.
    max_bytes: refuse to materialise a larger matrix.
    mode: only "linear": a digital projection has no camera.
  """
  for name, v in (("in_features", in_features), ("out_features", out_features)):
    if not isinstance(v, int) or v < 1:
      raise ValueError(f"{name} must be a positive integer, got {v!r}.")
  settings(storage, mode)
  key = jax.random.key(seed)
  weights = None
  if storage == "materialised":
    base.check_fits(in_features, out_features, 1, max_bytes)
    weights = _generate(key, in_features, out_features)
  return DigitalProjection(key, weights, in_features, out_features, block_bytes)


def settings(storage: str, mode: str) -> None:
  """Every check `digital` makes of its options before it knows its shape.

  Raises:
    ValueError: an unknown storage, or a mode other than linear.
  """
  if storage not in STORAGE:
    raise ValueError(f"Unknown storage {storage!r}; choose one of {', '.join(STORAGE)}.")
  if mode != "linear":
    raise ValueError(f"The digital device is linear only, got mode={mode!r}; "
                     "use the 'opu' device for intensity detection.")


def from_matrix(weights) -> DigitalProjection:
  """An exact projection ``x @ weights`` holding a given (in_features, out_features)
  matrix, e.g. to keep DFA's feedback fixed across studies or to replay another device's
  `effective_matrix()`.

  Raises:
    ValueError: ``weights`` is not a finite 2-D real matrix.
  """
  w = jax.numpy.asarray(weights)
  if w.ndim != 2 or not jax.numpy.issubdtype(w.dtype, jax.numpy.floating):
    raise ValueError(f"Expected a 2-D real (in_features, out_features) matrix, got shape "
                     f"{w.shape} of {w.dtype}.")
  if not bool(jax.numpy.isfinite(w).all()):
    raise ValueError("The feedback matrix has NaN or infinite entries.")
  return DigitalProjection(jax.random.key(0), w, int(w.shape[0]), int(w.shape[1]))
