"""Encoders from real-valued vectors to binary DMD frames, and their decoders.

Every encoder writes ``x ~= sum_f w_f * frame_f`` with binary frames (F, B, N) and
per-row weights (F, B): a linear projection P then decodes as
``P(x) ~= sum_f w_f * P(frame_f)``.

* ``binary``: x must already be 0/1 (one frame).
* ``threshold``: ``x > threshold`` (one frame, weight 1).
* ``ternary``: t = threshold * max|x| per row; frames ``x > t`` and ``x < -t`` with
  weights +c and -c, c = mean |x| over the kept entries: the least-squares scale
  ``argmin_c |x - c (x+ - x-)|^2``. Two frames.
* ``bitplanes``: k-bit magnitude ``q = round(|x| / max|x| * (2^k - 1))``, a frame per
  sign and bit with weight ``+-2^j max|x| / (2^k - 1)``. 2k frames.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
KINDS = ("binary", "threshold", "ternary", "bitplanes")


@dataclasses.dataclass(frozen=True)
class Encoding:
  kind: str = "binary"
  threshold: float = 0.0
  bits: int = 4

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"Unknown encoding {self.kind!r}; choose one of {', '.join(KINDS)}.")
    if self.kind == "bitplanes" and not 1 <= self.bits <= 16:
      raise ValueError(f"bitplanes needs 1 <= bits <= 16, got {self.bits}.")
    if self.kind == "ternary" and not 0.0 <= self.threshold < 1.0:
      raise ValueError(
          f"the ternary threshold is a fraction of max|x| in [0, 1), got {self.threshold}.")

  @property
  def frames(self) -> int:
    """Binary frames per input row."""
    return {"ternary": 2, "bitplanes": 2 * self.bits}.get(self.kind, 1)


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
        f"{bad.flat[0]:.4g}; encode real data first (encoding='threshold', 'ternary' "
        "or 'bitplanes').")


def encode(x_BxN: Array, enc: Encoding) -> tuple[Array, Array]:
  """Returns binary frames (F, B, N) and weights (F, B) with x ~= sum_f w_f frame_f.

  Bad input is never a plausible number: a row with a NaN or inf gets NaN weights (its
  decoded projection is NaN), and under ``jit`` a non-binary entry for ``binary`` is a
  NaN on the DMD (outside ``jit`` it raises, `check_binary`).
  """
  dtype = x_BxN.dtype if jnp.issubdtype(x_BxN.dtype, jnp.floating) else jnp.float32
  x_BxN = x_BxN.astype(dtype)
  if enc.kind == "binary":
    check_binary(x_BxN)
    frames = jnp.where((x_BxN == 0) | (x_BxN == 1), x_BxN, jnp.nan)[None]
    return frames, jnp.ones((1, x_BxN.shape[0]), dtype)
  finite_B = jnp.all(jnp.isfinite(x_BxN), axis=-1)  # a NaN or inf makes its row's result NaN
  frames, w_FxB = _encode_real(x_BxN, enc, dtype)
  return frames, jnp.where(finite_B, w_FxB, jnp.nan)


def _encode_real(x_BxN: Array, enc: Encoding, dtype) -> tuple[Array, Array]:
  ones = jnp.ones(x_BxN.shape[:1], dtype)
  if enc.kind == "threshold":
    return (x_BxN > enc.threshold).astype(dtype)[None], ones[None]
  scale_B = jnp.max(jnp.abs(x_BxN), axis=-1)
  if enc.kind == "ternary":
    t_Bx1 = (enc.threshold * scale_B)[:, None]
    pos, neg = x_BxN > t_Bx1, x_BxN < -t_Bx1
    kept = pos | neg
    c_B = jnp.sum(jnp.where(kept, jnp.abs(x_BxN), 0), -1) / jnp.maximum(jnp.sum(kept, -1), 1)
    return jnp.stack([pos, neg]).astype(dtype), jnp.stack([c_B, -c_B])
  levels = 2 ** enc.bits - 1
  q_BxN = jnp.round(jnp.abs(x_BxN) / jnp.where(scale_B > 0, scale_B, 1)[:, None] * levels)
  q_BxN = q_BxN.astype(jnp.int32)
  planes = jnp.stack([(q_BxN >> j) & 1 for j in range(enc.bits)]).astype(dtype)
  pos, neg = planes * (x_BxN > 0), planes * (x_BxN < 0)
  w_JxB = (2.0 ** jnp.arange(enc.bits, dtype=dtype))[:, None] * (scale_B / levels)[None]
  return jnp.concatenate([pos, neg]), jnp.concatenate([w_JxB, -w_JxB])


def decode(y_FxBxM: Array, w_FxB: Array) -> Array:
  """sum_f w_f * y_f: the projection of x from the projections of its frames."""
  return sum(w_B[:, None] * y_BxM for w_B, y_BxM in zip(w_FxB, y_FxBxM))  # fuses elementwise
