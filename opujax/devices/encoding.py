"""Encoders from real-valued vectors to binary DMD frames, and their decoders.

Every encoder writes ``x ~= sum_f w_f * frame_f + w_0 * 1`` with binary frames (F, B, N),
per-row weights (F, B) and a per-row offset w_0 (B,): a linear projection P then decodes
as ``P(x) ~= sum_f w_f * P(frame_f) + w_0 * P(1)``. ``P(1)``, the projection of the
all-ones frame, is a fixed vector the device calibrates once (averaged frames, as the
anchor's I(a)), so the offset costs no frame per projection. Codes that use it are the
*common-mode* codes (``common_mode=True``, and ``sign``); the others have w_0 = 0.

* ``binary``: x must already be 0/1 (one frame).
* ``threshold``: ``x > threshold`` (one frame, weight 1).
* ``sign``: one frame ``s = x > 0`` and the least-squares affine fit
  ``x ~= a s + b`` per row (a = cov(x, s) / var(s), b = mean x - a mean s).
* ``ternary``: frames ``x > t`` and ``x < -t`` (t per row: ``threshold`` x max|x|,
  ``threshold`` itself, or the ``threshold``-quantile of |x|: `THRESHOLD_BY`) coding
  ``c = pos - neg``; ``x ~= a c`` with a = mean |x| over the kept entries (the least-squares
  scale), or with ``common_mode`` the least-squares ``x ~= a c + b``. Two frames.
* ``stochastic``: ternary with ``P(c_i = sign x_i) = |x_i| / max|x|`` (else 0), weight
  max|x|, so ``E[a c] = x``; with ``common_mode`` b = mean x - a mean c (unbiased
  for x's common mode too). Two frames; needs a key.
* ``bitplanes``: k-bit magnitude ``q = round(|x| / max|x| * (2^k - 1))``, a frame per sign
  and bit with weight ``+-2^j max|x| / (2^k - 1)``: 2k frames. With ``common_mode``, offset
  binary: ``q = round(x / s) + z`` with z = 2^(k-1) - 1 and s = max|x| / z (0 is a level;
  the top code 2^k - 1 is unused), weights ``2^j s`` and b = -max|x|: k frames, k >= 2.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
KINDS = ("binary", "threshold", "sign", "ternary", "stochastic", "bitplanes")
THRESHOLD_BY = ("max", "absolute", "quantile")


@dataclasses.dataclass(frozen=True)
class Encoding:
  kind: str = "binary"
  threshold: float = 0.0
  bits: int = 4
  threshold_by: str = "max"
  common_mode: bool = False

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"Unknown encoding {self.kind!r}; choose one of {', '.join(KINDS)}.")
    if self.kind == "bitplanes" and not 1 <= self.bits <= 16:
      raise ValueError(f"bitplanes needs 1 <= bits <= 16, got {self.bits}.")
    if self.kind == "bitplanes" and self.common_mode and self.bits < 2:
      raise ValueError("offset-binary bitplanes (common_mode=True) need bits >= 2; the "
                       "one-frame code is encoding='sign'.")
    if self.threshold_by not in THRESHOLD_BY:
      raise ValueError(f"Unknown threshold_by {self.threshold_by!r}; choose one of "
                       f"{', '.join(THRESHOLD_BY)}.")
    if self.kind == "ternary" and self.threshold_by != "absolute" and not (
        0.0 <= self.threshold < 1.0):
      raise ValueError(f"the ternary threshold is a fraction (of max|x|, or a quantile of "
                       f"|x|) in [0, 1), got {self.threshold}.")
    if self.kind == "ternary" and not 0.0 <= self.threshold < np.inf:
      raise ValueError(f"the ternary threshold must be >= 0, got {self.threshold}.")
    if self.common_mode and self.kind in ("binary", "threshold", "sign"):
      raise ValueError(f"common_mode applies to ternary, stochastic and bitplanes; "
                       f"{self.kind!r} " + ("always fits its offset." if self.kind == "sign"
                                            else "codes its input as it is."))

  @property
  def frames(self) -> int:
    """Binary frames per input row."""
    if self.kind == "bitplanes":
      return self.bits if self.common_mode else 2 * self.bits
    return 2 if self.kind in ("ternary", "stochastic") else 1

  @property
  def uses_ones(self) -> bool:
    """Whether decoding adds a multiple of the projection of the all-ones frame."""
    return self.common_mode or self.kind == "sign"


class Code(NamedTuple):
  """``x ~= sum_f weights[f, :, None] * frames[f] + offset[:, None]``."""

  frames: Array   # (F, B, N), 0 or 1
  weights: Array  # (F, B)
  offset: Array   # (B,)


def check_binary(x: Array) -> None:
  """Refuses a concrete non-binary array; traced values cannot be inspected.

  Inside ``jit``/``vmap`` the values are unknown when this runs: `encode` then makes a
  non-binary entry NaN, so that its row's projection is NaN, never a plausible number.
  """
  if isinstance(x, jax.core.Tracer):
    return
  values = np.asarray(x)
  bad = values[(values != 0) & (values != 1)]
  if bad.size:
    raise ValueError(
        f"The DMD takes binary frames (0 or 1) but got {bad.size} other values, e.g. "
        f"{bad.flat[0]:.4g}; encode real data first (encoding='threshold', 'sign', "
        "'ternary' or 'bitplanes').")


def encode(x_BxN: Array, enc: Encoding, key: Array | None = None) -> Code:
  """The binary frames, weights and offset of ``x`` (rows B) in the code ``enc``.

  Bad input is never a plausible number: a row with a NaN or inf gets NaN weights (its
  decoded projection is NaN), and under ``jit`` a non-binary entry for ``binary`` is a
  NaN on the DMD (outside ``jit`` it raises, `check_binary`).

  Raises:
    ValueError: ``stochastic`` without a key.
  """
  dtype = x_BxN.dtype if jnp.issubdtype(x_BxN.dtype, jnp.floating) else jnp.float32
  x_BxN = x_BxN.astype(dtype)
  zeros_B = jnp.zeros(x_BxN.shape[:1], dtype)
  if enc.kind == "binary":
    check_binary(x_BxN)
    frames = jnp.where((x_BxN == 0) | (x_BxN == 1), x_BxN, jnp.nan)[None]
    return Code(frames, jnp.ones((1, x_BxN.shape[0]), dtype), zeros_B)
  if enc.kind == "stochastic" and key is None:
    raise ValueError("The stochastic encoding draws its code: pass a key.")
  finite_B = jnp.all(jnp.isfinite(x_BxN), axis=-1)  # a NaN or inf makes its row's result NaN
  frames, w_FxB, b_B = _encode_real(x_BxN, enc, dtype, key)
  return Code(frames, jnp.where(finite_B, w_FxB, jnp.nan),
              jnp.where(finite_B, b_B, jnp.nan) if b_B is not None else zeros_B)


def _affine(x_BxN: Array, c_BxN: Array) -> tuple[Array, Array]:
  """Least squares ``x ~= a c + b`` per row: (a, b); a = 0 for a constant code."""
  xc, cc = x_BxN - x_BxN.mean(-1, keepdims=True), c_BxN - c_BxN.mean(-1, keepdims=True)
  var = jnp.sum(cc * cc, -1)
  a = jnp.sum(xc * cc, -1) / jnp.where(var > 0, var, 1)
  return a, x_BxN.mean(-1) - a * c_BxN.mean(-1)


def _ternary_threshold(abs_BxN: Array, enc: Encoding) -> Array:
  if enc.threshold_by == "absolute":
    return jnp.full(abs_BxN.shape[:1] + (1,), enc.threshold, abs_BxN.dtype)
  if enc.threshold_by == "quantile":
    return jnp.quantile(abs_BxN, enc.threshold, axis=-1, keepdims=True)
  return enc.threshold * jnp.max(abs_BxN, axis=-1, keepdims=True)


def _encode_real(x_BxN: Array, enc: Encoding, dtype,
                 key: Array | None) -> tuple[Array, Array, Array | None]:
  if enc.kind == "threshold":
    return ((x_BxN > enc.threshold).astype(dtype)[None],
            jnp.ones((1, x_BxN.shape[0]), dtype), None)
  if enc.kind == "sign":
    s_BxN = (x_BxN > 0).astype(dtype)
    a_B, b_B = _affine(x_BxN, s_BxN)
    return s_BxN[None], a_B[None], b_B
  abs_BxN = jnp.abs(x_BxN)
  scale_B = jnp.max(abs_BxN, axis=-1)
  if enc.kind in ("ternary", "stochastic"):
    if enc.kind == "ternary":
      kept = abs_BxN > _ternary_threshold(abs_BxN, enc)
    else:
      kept = jax.random.uniform(key, x_BxN.shape, dtype) * scale_B[:, None] < abs_BxN
    pos, neg = kept & (x_BxN > 0), kept & (x_BxN < 0)
    c_BxN = pos.astype(dtype) - neg.astype(dtype)
    a_B, b_B = scale_B, None
    if enc.kind == "ternary" and enc.common_mode:
      a_B, b_B = _affine(x_BxN, c_BxN)
    elif enc.kind == "ternary":
      a_B = jnp.sum(jnp.where(kept, abs_BxN, 0), -1) / jnp.maximum(jnp.sum(kept, -1), 1)
    elif enc.common_mode:
      b_B = x_BxN.mean(-1) - a_B * c_BxN.mean(-1)
    return jnp.stack([pos, neg]).astype(dtype), jnp.stack([a_B, -a_B]), b_B
  safe_B = jnp.where(scale_B > 0, scale_B, 1)[:, None]
  powers_Jx1 = (2.0 ** jnp.arange(enc.bits, dtype=dtype))[:, None]
  bit_planes = lambda q_BxN: jnp.stack([(q_BxN >> j) & 1 for j in range(enc.bits)]).astype(dtype)
  if enc.common_mode:
    zero = 2 ** (enc.bits - 1) - 1
    q_BxN = (jnp.round(x_BxN / safe_B * zero) + zero).astype(jnp.int32)
    return bit_planes(q_BxN), powers_Jx1 * (scale_B / zero)[None], -scale_B
  levels = 2 ** enc.bits - 1
  planes = bit_planes(jnp.round(abs_BxN / safe_B * levels).astype(jnp.int32))
  pos, neg = planes * (x_BxN > 0), planes * (x_BxN < 0)
  w_JxB = powers_Jx1 * (scale_B / levels)[None]
  return jnp.concatenate([pos, neg]), jnp.concatenate([w_JxB, -w_JxB]), None


def decode(y_FxBxM: Array, code: Code, ones_M: Array) -> Array:
  """``sum_f w_f * y_f + w_0 * P(1)``: the projection of x from the projections of its
  frames and ``ones_M``, the calibrated projection P(1) of the all-ones frame (any
  finite vector, e.g. zeros, for a code without offset: `Encoding.uses_ones`)."""
  return combine(y_FxBxM, code) + code.offset[:, None] * ones_M[None]


def combine(y_FxBxM: Array, code: Code) -> Array:
  """``sum_f w_f * y_f``: each row's weighted sum of its frames' values (B, M); a linear
  read-out may take it of its frames' raw values and read it once a row."""
  return sum(w_B[:, None] * y_BxM for w_B, y_BxM in zip(code.weights, y_FxBxM))  # fuses
