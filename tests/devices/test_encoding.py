import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax.devices import encoding as enc_lib
from opujax.devices.encoding import Encoding


def test_binary_refuses_non_binary_at_the_boundary():
  with pytest.raises(ValueError, match="binary"):
    enc_lib.encode(jnp.array([[0.0, 0.3, 1.0]]), Encoding("binary"))


@pytest.mark.parametrize("kind", ["binary", "threshold", "ternary", "bitplanes"])
def test_bad_values_inside_jit_make_their_row_nan(kind):
  # Row 0 is good; rows 1-3 hold 0.7 (not binary), NaN and inf: under jit nothing can
  # raise, so their projections must be NaN, never a plausible number; row 0 unchanged.
  x = np.array([[0.0, 1.0, 1.0, 0.0], [0.0, 0.7, 1.0, 0.0], [0.0, np.nan, 1.0, 0.0],
                [0.0, np.inf, 1.0, 0.0]], np.float32)
  if kind != "binary":
    x[1, 1] = 1.0  # 0.7 is fine for real-valued encodings
  m = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
  project = jax.jit(lambda x: enc_lib.decode(
      jnp.einsum("fbn,nm->fbm", *[enc_lib.encode(x, Encoding(kind))[0]], m),
      enc_lib.encode(x, Encoding(kind))[1]))
  y = np.asarray(project(jnp.asarray(x)))
  bad_rows = [1, 2, 3] if kind == "binary" else [2, 3]
  assert np.isnan(y[bad_rows]).all(axis=-1).all()
  assert np.isfinite(np.delete(y, bad_rows, axis=0)).all()
  np.testing.assert_allclose(y[0], x[0] @ m, rtol=1e-5)


def ternary_reference(x, threshold):
  t = threshold * np.abs(x).max(-1, keepdims=True)
  pos, neg = x > t, x < -t
  kept = pos | neg
  c = np.array([np.abs(row[k]).mean() if k.any() else 0.0 for row, k in zip(x, kept)])
  return np.stack([pos, neg]).astype(np.float32), np.stack([c, -c])


class TernaryTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_ternary_matches_numpy(self):
    x = np.random.default_rng(0).standard_normal((6, 20)).astype(np.float32)
    x[5] = 0.0  # an all-zero row gets zero weight, not NaN
    frames, w = self.variant(lambda x: enc_lib.encode(x, Encoding("ternary", 0.3)))(x)
    ref_frames, ref_w = ternary_reference(x, 0.3)
    np.testing.assert_array_equal(frames, ref_frames)
    np.testing.assert_allclose(w, ref_w, rtol=1e-6)


def test_ternary_scale_is_least_squares():
  x = np.random.default_rng(1).standard_normal((1, 50)).astype(np.float32)
  frames, w = enc_lib.encode(jnp.asarray(x), Encoding("ternary", 0.2))
  s = np.asarray(frames[0] - frames[1])[0]
  c = float(w[0, 0])
  err = lambda c: np.sum((x[0] - c * s) ** 2)
  assert err(c) <= min(err(c * 1.01), err(c * 0.99))


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_bitplanes_reconstruct_to_half_a_level(bits):
  x = np.random.default_rng(2).standard_normal((4, 30)).astype(np.float32)
  frames, w = enc_lib.encode(jnp.asarray(x), Encoding("bitplanes", bits=bits))
  chex.assert_shape(frames, (2 * bits, 4, 30))
  assert set(np.unique(frames)) <= {0.0, 1.0}
  x_hat = np.einsum("fbn,fb->bn", frames, w)
  step = np.abs(x).max(-1, keepdims=True) / (2 ** bits - 1)
  assert np.all(np.abs(x_hat - x) <= step / 2 + 1e-5)


def test_decode_inverts_a_linear_map():
  x = np.random.default_rng(3).standard_normal((3, 10)).astype(np.float32)
  m = np.random.default_rng(4).standard_normal((10, 7)).astype(np.float32)
  frames, w = enc_lib.encode(jnp.asarray(x), Encoding("bitplanes", bits=12))
  y = enc_lib.decode(jnp.einsum("fbn,nm->fbm", frames, m), w)
  np.testing.assert_allclose(y, x @ m, atol=2e-3 * np.abs(x @ m).max())


def test_bad_encodings():
  with pytest.raises(ValueError, match="Unknown encoding"):
    Encoding("gray")
  with pytest.raises(ValueError, match="bits"):
    Encoding("bitplanes", bits=0)
