"""Random Gaussian matrices generated tile by tile from a counter-based key.

Entry ``(p, q)`` of a matrix lies in tile ``(p // tile_rows, q // tile_cols)``; the tile
is drawn from ``fold_in(fold_in(key, row_tile), col_tile)`` (`normal.standard_normal`:
regenerating the streamed matrix costs less than with threefry). Any block of tiles, in any
order, is therefore the same numbers, which is what lets a streamed product regenerate
the matrix block by block (memory O(block)) and still equal the materialised one.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from opujax.devices import normal

Array = jax.Array


def gaussian_tiles(key: Array, rows: Array, cols: Array, tile_shape: tuple[int, int],
                   parts: int) -> Array:
  """Standard normal tiles ``rows`` x ``cols`` of the matrix.

  Args:
    key: the matrix's key.
    rows: row-tile indices, shape (I,).
    cols: column-tile indices, shape (J,).
    tile_shape: (tile_rows, tile_cols).
    parts: 1 for a real matrix, 2 for complex (real and imaginary parts).

  Returns:
    Array of shape (I * tile_rows, parts, J * tile_cols).
  """
  tr, tc = tile_shape

  def tile(i, j):
    return normal.standard_normal(jax.random.fold_in(jax.random.fold_in(key, i), j),
                                  (tr, parts, tc))

  t_IxJxRxPxC = jax.vmap(jax.vmap(tile, (None, 0)), (0, None))(rows, cols)
  i, j = t_IxJxRxPxC.shape[:2]
  return t_IxJxRxPxC.transpose(0, 2, 3, 1, 4).reshape(i * tr, parts, j * tc)


def materialise(key: Array, rows: int, col_tiles: range, tile_shape: tuple[int, int],
                parts: int, columns: np.ndarray | None = None, scale: float = 1.0) -> Array:
  """Matrix rows [0, rows) over the given column tiles, as (rows, parts, columns).

  Built one row of tiles at a time, each reduced to ``columns`` (indices into the
  column tiles' span; default all) and scaled in place, so the peak memory is the
  result plus one row of tiles.
  """
  n_cols = len(col_tiles) * tile_shape[1]
  if columns is not None and np.array_equal(columns, np.arange(len(columns))):
    n_cols, columns = len(columns), None  # a prefix: a slice, not a gather
  return _materialise(key, math.ceil(rows / tile_shape[0]), col_tiles, tile_shape, parts,
                      n_cols, None if columns is None else jnp.asarray(columns),
                      scale)[:rows]


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 7))
def _materialise(key, row_tiles, col_tiles, tile_shape, parts, n_cols, columns, scale):
  cols = jnp.arange(col_tiles.start, col_tiles.stop)

  def row(i):
    g = gaussian_tiles(key, i[None], cols, tile_shape, parts)
    g = g[:, :, :n_cols] if columns is None else g[:, :, columns]
    return g * scale

  out = jax.lax.map(row, jnp.arange(row_tiles))
  return out.reshape(row_tiles * tile_shape[0], parts, out.shape[-1])


def block_tiles(n_row_tiles: int, n_col_tiles: int, tile_shape: tuple[int, int], parts: int,
                block_bytes: int) -> tuple[int, int]:
  """Tiles per streamed block (rows, cols) so that one block stays under block_bytes."""
  per_tile = tile_shape[0] * tile_shape[1] * parts * 4
  tiles = max(1, block_bytes // per_tile)
  kc = min(n_col_tiles, tiles)
  kr = min(n_row_tiles, max(1, tiles // kc))
  return kr, kc


def streamed_product(key: Array, x_BxRxT: Array, col_tiles: range, tile_shape: tuple[int, int],
                     parts: int, block_bytes: int = 64 << 20, row_tile0: int = 0) -> Array:
  """``x @ G`` without materialising G: tiles are regenerated block by block.

  Args:
    key: the matrix's key.
    x_BxRxT: the input laid out on row tiles: x[b, r, t] multiplies matrix row
      (row_tile0 + r) * tile_rows + t.
    col_tiles: the column tiles to compute (a contiguous range).
    tile_shape: (tile_rows, tile_cols); x_BxRxT.shape[2] == tile_rows.
    parts: 1 (real) or 2 (complex).
    block_bytes: memory budget of one generated block.
    row_tile0: index of the first row tile of x.

  Returns:
    Array of shape (B, parts, len(col_tiles) * tile_cols).
  """
  b, n_rows, tr = x_BxRxT.shape
  tc = tile_shape[1]
  kr, kc = block_tiles(n_rows, len(col_tiles), tile_shape, parts, block_bytes)
  n_rb, n_cb = math.ceil(n_rows / kr), math.ceil(len(col_tiles) / kc)
  x_BxRxT = jnp.pad(x_BxRxT, ((0, 0), (0, n_rb * kr - n_rows), (0, 0)))
  x_NxBxK = x_BxRxT.reshape(b, n_rb, kr * tr).transpose(1, 0, 2)

  def col_block(cb):
    cols = col_tiles.start + cb * kc + jnp.arange(kc)

    def row_block(acc, inputs):
      rb, x_BxK = inputs
      g = gaussian_tiles(key, row_tile0 + rb * kr + jnp.arange(kr), cols, tile_shape, parts)
      return acc + (x_BxK @ g.reshape(kr * tr, parts * kc * tc)), None

    acc, _ = jax.lax.scan(row_block, jnp.zeros((b, parts * kc * tc), x_BxRxT.dtype),
                          (jnp.arange(n_rb), x_NxBxK))
    return acc.reshape(b, parts, kc * tc)

  out = jax.lax.map(col_block, jnp.arange(n_cb))
  out = out.transpose(1, 2, 0, 3).reshape(b, parts, n_cb * kc * tc)
  return out[..., :len(col_tiles) * tc]


def lay_out(x_BxN: Array, tile_rows: int, n_row_tiles: int) -> Array:
  """Pads a flat input to n_row_tiles * tile_rows and folds it into (B, rows, tile_rows)."""
  pad = n_row_tiles * tile_rows - x_BxN.shape[-1]
  return jnp.pad(x_BxN, ((0, 0), (0, pad))).reshape(x_BxN.shape[0], n_row_tiles, tile_rows)


def drift(g: Array, key: Array, eps: float, frames: int) -> Array:
  """``frames`` steps of R_t = sqrt(1-eps) R_{t-1} + sqrt(eps) R'_t, composed exactly.

  k steps of the AR(1) recursion give R_k = c R_0 + sqrt(1 - c^2) G with
  c = (1 - eps)^(k/2) and G a fresh standard normal matrix: the marginal stays
  N(0, 1) and corr(R_k, R_0) = c.
  """
  c = (1.0 - eps) ** (frames / 2)
  return c * g + math.sqrt(1.0 - c * c) * jax.random.normal(key, g.shape, g.dtype)
