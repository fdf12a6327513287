"""Random complex Gaussian matrices, any block of which is drawn on its own.

Entry ``(p, q)`` (absolute row p, e.g. a DMD mirror, and column q, e.g. a camera pixel)
is a function of the key, p and q only (`normal.standard_normal_grid`, its two draws the
real and imaginary parts): any block, in any order, is the same numbers, which lets a
streamed product regenerate the matrix block by block (memory O(block)) and still equal
the materialised one. A block is drawn in the layout the matmul reads, one hash an
element per uniform, so that regenerating it costs no more than the matmul that uses it
(`experiments/bench_devices.py` measures both).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from opujax.devices import normal

Array = jax.Array
BLOCK_COLS = 512
BLOCK_BYTES = 8 << 20


def materialise(key: Array, rows: int, cols: np.ndarray, parts: int,
                scale: float = 1.0) -> Array:
  """Rows [0, rows) of the matrix on columns ``cols``, as (rows, parts, len(cols)):
  real and imaginary parts (parts=2) or the real part (parts=1), times ``scale``.

  Drawn a block of rows at a time, so the peak memory is the result plus one block.
  """
  cols = np.asarray(cols)
  block_rows = max(1, min(rows, BLOCK_BYTES // (4 * parts * max(1, len(cols)))))
  return _materialise(key, rows, jnp.asarray(cols, jnp.uint32), parts, scale, block_rows)


@functools.partial(jax.jit, static_argnums=(1, 3, 4, 5))
def _materialise(key, rows, cols, parts, scale, block_rows):
  def block(i):
    pair = normal.standard_normal_grid(key, i * block_rows + jnp.arange(block_rows), cols)
    return jnp.stack(pair[:parts], axis=1) * scale

  out = jax.lax.map(block, jnp.arange(math.ceil(rows / block_rows)))
  return out.reshape(-1, parts, cols.shape[0])[:rows]


def block_shape(n_rows: int, n_cols: int, parts: int, block_bytes: int) -> tuple[int, int]:
  """(rows, cols) of a streamed block: up to `BLOCK_COLS` columns and as many rows as
  keep the block's parts under block_bytes."""
  kc = min(n_cols, BLOCK_COLS)
  kr = min(n_rows, max(1, block_bytes // (4 * parts * kc)))
  return kr, kc


def streamed_product(key: Array, x_BxN: Array, cols: np.ndarray, parts: int,
                     block_bytes: int = BLOCK_BYTES, row0: int = 0) -> Array:
  """``x @ G[row0:row0 + N, cols]`` without materialising G: blocks are drawn as the
  product needs them, each part multiplied on its own (no interleaving copy).

  Args:
    key: the matrix's key.
    x_BxN: the input; x[:, i] multiplies matrix row row0 + i.
    cols: the matrix columns to compute (absolute indices).
    parts: 2 (real and imaginary parts) or 1 (the real part).
    block_bytes: memory budget of one drawn block (all its parts).
    row0: the matrix row of x's first column.

  Returns:
    Array of shape (B, parts, len(cols)).
  """
  b, n = x_BxN.shape
  m = len(cols)
  kr, kc = block_shape(n, m, parts, block_bytes)
  n_rb, n_cb = math.ceil(n / kr), math.ceil(m / kc)
  x_NxBxK = jnp.pad(x_BxN, ((0, 0), (0, n_rb * kr - n))).reshape(b, n_rb, kr).transpose(1, 0, 2)
  cols_CxK = jnp.asarray(np.pad(np.asarray(cols), (0, n_cb * kc - m)), jnp.uint32).reshape(n_cb, kc)

  def col_block(cols_K):
    def row_block(acc, inputs):
      rb, x_BxK = inputs
      g = normal.standard_normal_grid(key, row0 + rb * kr + jnp.arange(kr), cols_K)[:parts]
      return tuple(a + x_BxK @ g_p for a, g_p in zip(acc, g)), None

    zeros = tuple(jnp.zeros((b, kc), x_BxN.dtype) for _ in range(parts))
    acc, _ = jax.lax.scan(row_block, zeros, (jnp.arange(n_rb), x_NxBxK))
    return jnp.stack(acc, axis=1)

  out_CxBxPxK = jax.lax.map(col_block, cols_CxK)
  return out_CxBxPxK.transpose(1, 2, 0, 3).reshape(b, parts, n_cb * kc)[..., :m]


def drift(g: Array, key: Array, eps: float, frames: int) -> Array:
  """``frames`` steps of R_t = sqrt(1-eps) R_{t-1} + sqrt(eps) R'_t, composed exactly.

  k steps of the AR(1) recursion give R_k = c R_0 + sqrt(1 - c^2) G with
  c = (1 - eps)^(k/2) and G a fresh standard normal matrix: the marginal stays
  N(0, 1) and corr(R_k, R_0) = c.
  """
  c = (1.0 - eps) ** (frames / 2)
  return c * g + math.sqrt(1.0 - c * c) * jax.random.normal(key, g.shape, g.dtype)
