"""Normal draws from a counter-based hash: cheap on CPU and vectorised, for the camera's
noise and the medium's transmission matrix.

`jax.random.normal` (threefry) costs more than the matmul a frame of the simulated OPU
needs; these draws cost less (`standard_normal`, by the inverse error function, a
function of (key, element index + offset)), and pairs of them on a grid less again
(`standard_normal_grid`, by Box-Muller, a function of (key, row, column)). Any block of
a large array can be drawn on its own and equal the same block drawn whole.
"""

import math

import jax
import jax.numpy as jnp

Array = jax.Array


def triple32(h: Array) -> Array:
  """C. Wellons' 'triple32' integer hash: a bijection of uint32 with low avalanche bias."""
  h = (h ^ (h >> 17)) * jnp.uint32(0xED5AD4BB)
  h = (h ^ (h >> 11)) * jnp.uint32(0xAC4C1B51)
  h = (h ^ (h >> 15)) * jnp.uint32(0x31848BAB)
  return h ^ (h >> 14)


def standard_normal(key: Array, shape: tuple[int, ...], dtype=jnp.float32,
                    offset: Array | int = 0) -> Array:
  """N(0, 1) draws, cheaper than threefry on CPU.

  Element i gets bits ``h = triple32(triple32((i + offset) ^ k0) + k1)``, with (k0, k1)
  drawn from ``key`` by threefry: distinct keys give unrelated streams. Its top 24 bits
  h' give ``x = (2 h' + 1) / 2^24 - 1``, uniform on the 2^24 odd multiples of 2^-24 in
  (-1, 1) (exact in float32, symmetric, never +-1), and ``sqrt(2) erfinv(x)`` a normal
  (|z| <= 5.42). `erfinv` is M. Giles' single-precision approximation, with a logarithm
  made of float32 bit fields and a polynomial, because XLA's ``log`` and ``erf_inv`` do
  not vectorise on CPU. Statistically checked in the tests (moments, quantiles,
  correlations) and against `jax.lax.erf_inv`; not for cryptography.
  """
  n = math.prod(shape)
  if n >= 2 ** 32:
    raise ValueError(f"standard_normal draws at most 2^32 values at once, asked {n}.")
  k = jax.random.bits(key, (2,), jnp.uint32)
  counter = jax.lax.iota(jnp.uint32, n) + jnp.asarray(offset, jnp.uint32)
  bits = triple32(triple32(counter ^ k[0]) + k[1])
  odd = ((bits >> 8) * 2 + 1).astype(jnp.int32) - (1 << 24)
  x = odd.astype(jnp.float32) * (1.0 / 2 ** 24)
  return (math.sqrt(2.0) * erfinv(x)).reshape(shape).astype(dtype)


def uniform24(bits: Array) -> Array:
  """The top 24 bits h' of uint32 ``bits`` as (h' + 1/2) / 2^24: uniform on the odd
  multiples of 2^-25 in (0, 1), exact in float32."""
  return ((bits >> 8).astype(jnp.int32).astype(jnp.float32) + 0.5) * (1.0 / 2 ** 24)


def box_muller(u1: Array, u2: Array) -> tuple[Array, Array]:
  """Two independent N(0, 1) arrays from independent uniforms on (0, 1) (Box-Muller):

      r = sqrt(-2 log u1),  t = pi (u2 - 1/2),  (r sin 2t, r cos 2t)

  ``sin 2t = 2 sin t cos t`` and ``cos 2t = 1 - 2 sin^2 t`` come from Taylor polynomials
  of sin and cos on |t| <= pi/2 (error < 3e-7 in float32) and the logarithm from `log`,
  because XLA's do not vectorise on CPU. |z| <= 5.89 for `uniform24`'s uniforms.
  """
  r = jnp.sqrt(-2.0 * log(u1))
  t = math.pi * (u2 - 0.5)
  t2 = t * t
  sin, cos = t * _horner(_SIN, t2), _horner(_COS, t2)
  return r * (2.0 * sin * cos), r * (1.0 - 2.0 * sin * sin)


def standard_normal_grid(key: Array, rows: Array, cols: Array) -> tuple[Array, Array]:
  """Two independent arrays of N(0, 1) draws on a grid, each (len(rows), len(cols)),
  entry (i, j) a function of the key, rows[i] and cols[j] only (any block of a grid is
  drawn on its own), cheaper a draw than `standard_normal` on CPU.

  Both come by Box-Muller (`box_muller`) from two uniforms, each the `uniform24` of
  ``triple32(B_k[r] + A_k[c])`` with per-row and per-column words
  ``B_k[r] = triple32(r ^ kb_k)``, ``A_k[c] = triple32(c ^ ka_k)`` and key words
  (ka_k, kb_k), k = 1, 2, drawn from ``key`` by threefry: the words cost O(rows + cols),
  an entry one hash per uniform. Checked in the tests: moments, quantiles, and the
  correlations between rows, between columns and between the arrays (Gram matrices)
  against independent normals'.

  Args:
    key: the grid's key.
    rows, cols: row and column indices (integers below 2^32).
  """
  k = jax.random.bits(key, (4,), jnp.uint32)
  rows, cols = jnp.asarray(rows, jnp.uint32), jnp.asarray(cols, jnp.uint32)

  def uniform(ka, kb):
    return uniform24(triple32(triple32(rows ^ kb)[:, None] + triple32(cols ^ ka)[None, :]))

  return box_muller(uniform(k[0], k[1]), uniform(k[2], k[3]))


# Taylor coefficients of sin(t) / t and cos(t) in t^2, highest power first.
_SIN = tuple((-1) ** j / math.factorial(2 * j + 1) for j in range(5, -1, -1))
_COS = tuple((-1) ** j / math.factorial(2 * j) for j in range(6, -1, -1))
_ERFINV_CENTRE = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_LOG1P = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
          1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
          3.3333331174e-1)


def _horner(coefficients: tuple[float, ...], x: Array) -> Array:
  p = jnp.full_like(x, coefficients[0])
  for c in coefficients[1:]:
    p = p * x + c
  return p


def log(v: Array) -> Array:
  """Natural logarithm of positive normal float32 values, to ~1 ulp: v = 2^e m with m in
  [sqrt(1/2), sqrt(2)) from the bit fields, ``log(m) = t - t^2/2 + t^3 P(t)``,
  ``t = m - 1`` (Cephes' logf polynomial)."""
  bits = jax.lax.bitcast_convert_type(v, jnp.int32)
  m = jax.lax.bitcast_convert_type((bits & 0x7FFFFF) | 0x3F800000, jnp.float32)
  high = m > math.sqrt(2.0)
  e = ((bits >> 23) - 127 + high).astype(jnp.float32)
  t = jnp.where(high, 0.5 * m, m) - 1.0
  t2 = t * t
  return t - 0.5 * t2 + t * t2 * _horner(_LOG1P, t) + e * math.log(2.0)


def erfinv(x: Array) -> Array:
  """The inverse error function on (-1, 1) (M. Giles, 2010, single precision):
  ``w = -log(1 - x^2)``, a polynomial in ``w - 2.5`` for w < 5, else in ``sqrt(w) - 3``."""
  w = -log((1.0 - x) * (1.0 + x))
  centre = _horner(_ERFINV_CENTRE, w - 2.5)
  tail = _horner(_ERFINV_TAIL, jnp.sqrt(w) - 3.0)
  return jnp.where(w < 5.0, centre, tail) * x
