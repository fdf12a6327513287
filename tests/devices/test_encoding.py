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


KINDS = [("binary", {}), ("threshold", {}), ("sign", {}), ("ternary", {}),
         ("ternary", {"common_mode": True}), ("stochastic", {}), ("bitplanes", {}),
         ("bitplanes", {"common_mode": True})]


def project(x, enc, m, key=jax.random.key(0)):
  """The decoded projection x @ m through the code (frames projected exactly)."""
  code = enc_lib.encode(x, enc, key)
  return enc_lib.decode(jnp.einsum("fbn,nm->fbm", code.frames, m), code, jnp.sum(m, 0))


@pytest.mark.parametrize("kind,options", KINDS)
def test_bad_values_inside_jit_make_their_row_nan(kind, options):
  # Row 0 is good; rows 1-3 hold 0.7 (not binary), NaN and inf: under jit nothing can
  # raise, so their projections must be NaN, never a plausible number; row 0 unchanged.
  x = np.array([[0.0, 1.0, 1.0, 0.0], [0.0, 0.7, 1.0, 0.0], [0.0, np.nan, 1.0, 0.0],
                [0.0, np.inf, 1.0, 0.0]], np.float32)
  if kind != "binary":
    x[1, 1] = 1.0  # 0.7 is fine for real-valued encodings
  m = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
  enc = Encoding(kind, **options)
  y = np.asarray(jax.jit(lambda x: project(x, enc, m))(jnp.asarray(x)))
  bad_rows = [1, 2, 3] if kind == "binary" else [2, 3]
  assert np.isnan(y[bad_rows]).all(axis=-1).all()
  assert np.isfinite(np.delete(y, bad_rows, axis=0)).all()
  np.testing.assert_allclose(y[0], x[0] @ m, rtol=1e-5, atol=1e-6)  # 0/1: coded exactly


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
    code = self.variant(lambda x: enc_lib.encode(x, Encoding("ternary", 0.3)))(x)
    ref_frames, ref_w = ternary_reference(x, 0.3)
    np.testing.assert_array_equal(code.frames, ref_frames)
    np.testing.assert_allclose(code.weights, ref_w, rtol=1e-6)
    np.testing.assert_array_equal(code.offset, 0.0)


def test_ternary_scale_is_least_squares():
  x = np.random.default_rng(1).standard_normal((1, 50)).astype(np.float32)
  frames, w, _ = enc_lib.encode(jnp.asarray(x), Encoding("ternary", 0.2))
  s = np.asarray(frames[0] - frames[1])[0]
  c = float(w[0, 0])
  err = lambda c: np.sum((x[0] - c * s) ** 2)
  assert err(c) <= min(err(c * 1.01), err(c * 0.99))


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_bitplanes_reconstruct_to_half_a_level(bits):
  x = np.random.default_rng(2).standard_normal((4, 30)).astype(np.float32)
  frames, w, b = enc_lib.encode(jnp.asarray(x), Encoding("bitplanes", bits=bits))
  chex.assert_shape(frames, (2 * bits, 4, 30))
  assert set(np.unique(frames)) <= {0.0, 1.0}
  x_hat = np.einsum("fbn,fb->bn", frames, w)
  step = np.abs(x).max(-1, keepdims=True) / (2 ** bits - 1)
  assert np.all(np.abs(x_hat - x) <= step / 2 + 1e-5)
  np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_offset_bitplanes_use_k_frames_and_reconstruct_to_half_a_level(bits):
  x = np.random.default_rng(2).standard_normal((4, 30)).astype(np.float32)
  x[:, :3] = 0.0  # zero is a level of the offset code
  enc = Encoding("bitplanes", bits=bits, common_mode=True)
  frames, w, b = enc_lib.encode(jnp.asarray(x), enc)
  chex.assert_shape(frames, (bits, 4, 30))
  assert enc.frames == bits and set(np.unique(frames)) <= {0.0, 1.0}
  x_hat = np.einsum("fbn,fb->bn", frames, w) + np.asarray(b)[:, None]
  step = np.abs(x).max(-1, keepdims=True) / (2 ** (bits - 1) - 1)
  assert np.all(np.abs(x_hat - x) <= step / 2 + 1e-5)
  np.testing.assert_allclose(x_hat[:, :3], 0.0, atol=1e-5)


def test_decode_inverts_a_linear_map():
  x = np.random.default_rng(3).standard_normal((3, 10)).astype(np.float32)
  m = np.random.default_rng(4).standard_normal((10, 7)).astype(np.float32)
  for enc in (Encoding("bitplanes", bits=12), Encoding("bitplanes", bits=13, common_mode=True)):
    y = project(jnp.asarray(x), enc, m)
    np.testing.assert_allclose(y, x @ m, atol=2e-3 * np.abs(x @ m).max())


def test_bad_encodings():
  with pytest.raises(ValueError, match="Unknown encoding"):
    Encoding("gray")
  with pytest.raises(ValueError, match="bits"):
    Encoding("bitplanes", bits=0)
  with pytest.raises(ValueError, match="threshold_by"):
    Encoding("ternary", 0.1, threshold_by="median")
  with pytest.raises(ValueError, match="in .0, 1."):
    Encoding("ternary", 1.5, threshold_by="quantile")
  with pytest.raises(ValueError, match="bits >= 2"):
    Encoding("bitplanes", bits=1, common_mode=True)
  with pytest.raises(ValueError, match=">= 0"):
    Encoding("ternary", -0.1, threshold_by="absolute")
  for kind in ("binary", "threshold", "sign"):
    with pytest.raises(ValueError, match="common_mode applies to"):
      Encoding(kind, common_mode=True)
  with pytest.raises(ValueError, match="pass a key"):
    enc_lib.encode(jnp.ones((1, 3)), Encoding("stochastic"))


def lstsq_affine(x, c):
  """NumPy's least-squares (a, b) of x ~= a c + b, per row."""
  fits = [np.linalg.lstsq(np.stack([cr, np.ones_like(cr)], 1), xr, rcond=None)[0]
          for xr, cr in zip(x.astype(np.float64), c.astype(np.float64))]
  return np.array(fits).T


def test_sign_is_one_frame_and_the_least_squares_affine_fit():
  x = np.random.default_rng(5).standard_normal((5, 40)).astype(np.float32)
  x[3] = np.abs(x[3])  # one sign only: the code is constant, the fit is the mean
  frames, w, b = enc_lib.encode(jnp.asarray(x), Encoding("sign"))
  chex.assert_shape(frames, (1, 5, 40))
  np.testing.assert_array_equal(frames[0], x > 0)
  a_ref, b_ref = lstsq_affine(np.delete(x, 3, 0), np.delete(x > 0, 3, 0))
  np.testing.assert_allclose(np.delete(np.asarray(w[0]), 3), a_ref, rtol=1e-4)
  np.testing.assert_allclose(np.delete(np.asarray(b), 3), b_ref, rtol=1e-4, atol=1e-6)
  assert float(w[0, 3]) == 0.0 and float(b[3]) == pytest.approx(x[3].mean(), rel=1e-5)


@pytest.mark.parametrize("threshold_by,threshold", [("max", 0.3), ("absolute", 0.4),
                                                    ("quantile", 0.6)])
def test_ternary_thresholds_and_the_common_mode_fit(threshold_by, threshold):
  x = np.random.default_rng(6).standard_normal((4, 50)).astype(np.float32)
  t = {"max": threshold * np.abs(x).max(-1, keepdims=True),
       "absolute": np.full((4, 1), threshold),
       "quantile": np.quantile(np.abs(x), threshold, axis=-1, keepdims=True)}[threshold_by]
  c = (x > t).astype(np.float32) - (x < -t)
  plain = enc_lib.encode(jnp.asarray(x), Encoding("ternary", threshold, threshold_by=threshold_by))
  np.testing.assert_array_equal(plain.frames[0] - plain.frames[1], c)
  kept = c != 0
  np.testing.assert_allclose(plain.weights[0], [np.abs(r[k]).mean() for r, k in zip(x, kept)],
                             rtol=1e-5)
  fit = enc_lib.encode(jnp.asarray(x), Encoding("ternary", threshold, threshold_by=threshold_by,
                                                common_mode=True))
  a_ref, b_ref = lstsq_affine(x, c)
  np.testing.assert_allclose(fit.weights, np.stack([a_ref, -a_ref]), rtol=1e-4)
  np.testing.assert_allclose(fit.offset, b_ref, rtol=1e-4, atol=1e-6)


def test_zero_sum_error_common_mode_removes_the_codes_mean():
  # softmax - onehot early in training: nine entries near +0.1, one near -0.9. At
  # threshold 0.1 of max|e| all ten are kept, a code (+1 x9, -1 x1) whose mean is far
  # from the error's 0; the common-mode fit decodes to a zero-mean vector.
  e = np.full((1, 10), 0.1, np.float32)
  e[0, 3] = -0.9
  m = np.random.default_rng(7).standard_normal((10, 64)).astype(np.float32)
  plain = np.asarray(project(jnp.asarray(e), Encoding("ternary", 0.1), m))
  fit = np.asarray(project(jnp.asarray(e), Encoding("ternary", 0.1, common_mode=True), m))
  cos = lambda a, b: float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b))
  assert cos(plain, e @ m) < 0.7  # 0.6 in expectation: t.e / |t||e|
  np.testing.assert_allclose(fit, e @ m, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("common_mode", [False, True])
def test_stochastic_ternary_is_unbiased(common_mode):
  x = np.random.default_rng(8).standard_normal((3, 12)).astype(np.float32)
  enc = Encoding("stochastic", common_mode=common_mode)
  keys = jax.random.split(jax.random.key(9), 4000)
  codes = jax.vmap(lambda k: enc_lib.encode(jnp.asarray(x), enc, k))(keys)
  assert set(np.unique(codes.frames)) <= {0.0, 1.0}
  assert not np.any(np.asarray(codes.frames[:, 0] * codes.frames[:, 1]))  # never both
  x_hat = (np.einsum("kfbn,kfb->kbn", codes.frames, codes.weights)
           + np.asarray(codes.offset)[..., None])
  stderr = np.abs(x).max(-1, keepdims=True) / np.sqrt(len(keys))
  assert np.all(np.abs(x_hat.mean(0) - x) < 5 * stderr)
  if common_mode:  # the decoded mean is x's, every draw
    np.testing.assert_allclose(x_hat.mean(-1), np.broadcast_to(x.mean(-1), (4000, 3)),
                               atol=1e-5)
