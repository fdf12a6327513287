import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from opujax import devices, dfa

N, M = 48, 384


def binary(shape, seed=0, p=0.5):
  return (jax.random.uniform(jax.random.key(seed), shape) < p).astype(jnp.float32)


@pytest.fixture(scope="module")
def ideal():
  return devices.make("opu", N, M, seed=7, camera="ideal")


def test_speckle_intensity_is_exponential():
  # x with k ones, Re R and Im R ~ N(0, s^2): each pixel's intensity ~ Exp(mean 2 k s^2),
  # independent across pixels.
  k, s, m = 40, 0.8, 40_000
  opu = devices.make("opu", 64, m, seed=1, mode="intensity", camera="ideal", sigma=s)
  x = jnp.zeros((1, 64)).at[0, :k].set(1.0)
  i = np.asarray(opu.project(x, jax.random.key(0)))[0]
  mean = 2 * k * s ** 2
  assert abs(i.mean() / mean - 1) < 0.03
  assert abs(i.var() / mean ** 2 - 1) < 0.06
  assert abs(np.quantile(i, 0.9) / (mean * np.log(10)) - 1) < 0.04
  assert abs(np.corrcoef(i[:-1], i[1:])[0, 1]) < 0.03
  assert abs(np.corrcoef(i[:-2048], i[2048:])[0, 1]) < 0.03  # next camera row


def test_physics_against_numpy():
  # One medium seen twice: an intensity device spanning input + anchor mirrors gives
  # R on all of them, from which NumPy predicts the linear device's output.
  n, a = 20, 10
  lin = devices.make("opu", n, M, seed=3, camera="ideal", anchor_pixels=a)
  full = devices.make("opu", n + a, M, seed=3, mode="intensity", camera="ideal",
                      dmd_shape=lin.geometry.dmd_shape)
  r = np.asarray(full.transmission_matrix(), np.complex128)
  x = np.asarray(binary((5, n), 1), np.float64)
  np.testing.assert_allclose(full.project(jnp.asarray(np.pad(x, ((0, 0), (0, a)))), None),
                             np.abs(np.pad(x, ((0, 0), (0, a))) @ r) ** 2, rtol=1e-4)
  v = r[n:].sum(0)
  m_ref = np.real(np.conj(v) * r[:n])
  np.testing.assert_allclose(lin.effective_matrix(), m_ref, rtol=1e-4, atol=1e-4)
  y = np.asarray(lin.project(jnp.asarray(x, jnp.float32), jax.random.key(0)))
  np.testing.assert_allclose(y, x @ m_ref, atol=1e-4 * np.abs(x @ m_ref).max())


class LinearTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_noiseless_linear_equals_effective_matrix(self):
    opu = devices.make("opu", N, M, seed=7, camera="ideal")
    x = binary((16, N))
    y = self.variant(lambda d, x, k: d.project(x, k))(opu, x, jax.random.key(1))
    ref = np.asarray(x) @ np.asarray(opu.effective_matrix())
    chex.assert_shape(y, (16, M))
    np.testing.assert_allclose(y, ref, atol=1e-5 * np.abs(ref).max())

  @chex.variants(with_jit=True, without_jit=True)
  def test_encoded_real_input(self):
    opu = devices.make("opu", N, M, seed=7, camera="ideal", encoding="bitplanes", bits=10)
    e = jax.random.normal(jax.random.key(2), (4, N))
    y = self.variant(opu.project)(e, jax.random.key(1))
    ref = np.asarray(e) @ np.asarray(opu.effective_matrix())
    np.testing.assert_allclose(y, ref, atol=2e-3 * np.abs(ref).max())


def test_realistic_noise_keeps_the_projection():
  opu = devices.make("opu", N, M, seed=7)
  x = binary((32, N))
  y = np.asarray(opu.project(x, jax.random.key(3)))
  ref = np.asarray(x) @ np.asarray(opu.effective_matrix())
  assert 0.95 < np.corrcoef(y.ravel(), ref.ravel())[0, 1] < 0.99999
  y2 = np.asarray(opu.project(x, jax.random.key(4)))
  assert not np.allclose(y, y2)  # the noise is fresh per key


def test_a_bad_row_is_nan_through_the_camera_and_spares_the_others():
  opu = devices.make("opu", N, M, seed=7, encoding="ternary", threshold=0.1)
  x = np.random.default_rng(1).normal(size=(4, N)).astype(np.float32)
  x[1, 5], x[3, 0] = np.nan, -np.inf
  y = np.asarray(jax.jit(opu.measure)(jnp.asarray(x), jax.random.key(0)).y)
  assert np.isnan(y[[1, 3]]).all() and np.isfinite(y[[0, 2]]).all()


def test_leading_dims_and_vmap(ideal):
  x = binary((3, 4, N))
  y = ideal.project(x, jax.random.key(0))
  chex.assert_shape(y, (3, 4, M))
  yv = jax.vmap(lambda x: ideal.project(x, jax.random.key(0)))(x)
  np.testing.assert_allclose(yv, y, rtol=1e-5, atol=1e-3)


def test_sharded_batch():
  mesh = jax.make_mesh((8,), ("data",))
  opu = devices.make("opu", N, M, seed=7, camera="ideal")
  x = binary((16, N))
  xs = jax.device_put(x, NamedSharding(mesh, P("data")))
  y = jax.jit(lambda d, x: d.project(x, jax.random.key(0)),
              out_shardings=NamedSharding(mesh, P("data")))(opu, xs)
  assert y.sharding.spec == P("data")
  np.testing.assert_allclose(y, opu.project(x, jax.random.key(0)), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("mode", ["linear", "intensity"])
def test_streamed_equals_materialised(mode):
  kw = dict(seed=11, mode=mode, camera="ideal", dmd_shape=(5, 16), camera_shape=(8, 64))
  mat = devices.make("opu", N, M, **kw)
  streamed = devices.make("opu", N, M, storage="streamed", block_bytes=16 * 64 * 2 * 4, **kw)
  assert streamed.weights is None
  x = binary((6, N))
  np.testing.assert_allclose(streamed.project(x, None), mat.project(x, None), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(streamed.transmission_matrix(), mat.transmission_matrix(),
                             rtol=1e-5, atol=1e-5)
  other = devices.make("opu", N, M, **{**kw, "seed": 12})
  assert abs(np.corrcoef(np.ravel(np.real(other.transmission_matrix())),
                         np.ravel(np.real(mat.transmission_matrix())))[0, 1]) < 0.1


def test_roi_reads_the_same_medium():
  base = devices.make("opu", N, 8 * 64, seed=5, mode="intensity", camera="ideal",
                      camera_shape=(16, 64))
  window = devices.make("opu", N, 4 * 16, seed=5, mode="intensity", camera="ideal",
                        camera_shape=(16, 64), roi=(2, 8, 4, 16))
  full = np.asarray(base.transmission_matrix()).reshape(N, 8, 64)
  np.testing.assert_allclose(window.transmission_matrix(),
                             full[:, 2:6, 8:24].reshape(N, 64), rtol=1e-6)


def test_drift_decorrelates_the_medium():
  opu = devices.make("opu", 200, 500, seed=0, camera="ideal", drift_per_frame=1e-3)
  later = opu.drifted(jax.random.key(1), frames=400)
  r0, rt = np.ravel(opu.transmission_matrix()), np.ravel(later.transmission_matrix())
  corr = np.real(np.vdot(r0, rt)) / np.sqrt(np.vdot(r0, r0).real * np.vdot(rt, rt).real)
  assert abs(corr - (1 - 1e-3) ** 200) < 0.01
  assert abs(np.var(np.abs(rt)) / np.var(np.abs(r0)) - 1) < 0.02
  # The calibrated anchor is stale until recalibrated.
  x = binary((8, 200))
  stale = later.project(x, None) - x @ later.effective_matrix()
  fresh = later.recalibrated().project(x, None) - x @ later.effective_matrix()
  assert np.abs(stale).max() > 1.0 and np.abs(fresh).max() < 1e-2


@pytest.mark.parametrize("storage", ["materialised", "streamed"])
def test_common_mode_codes_decode_with_the_calibrated_all_ones_projection(storage):
  # P(1) = 1 @ M, computed once; through the ideal camera a common-mode code's projection
  # is exactly (a c + b 1) @ M, its decoded code times the effective matrix.
  opu = devices.make("opu", N, M, seed=7, camera="ideal", encoding="ternary", threshold=0.3,
                     common_mode=True, storage=storage)
  m = np.asarray(devices.make("opu", N, M, seed=7, camera="ideal").effective_matrix())
  np.testing.assert_allclose(opu.ones_reference, m.sum(0), rtol=1e-4, atol=1e-4)
  e = jax.random.normal(jax.random.key(2), (5, N)) + 0.7  # far from zero-mean
  code = devices.encoding.encode(e, opu.encoding)
  decoded = np.einsum("fbn,fb->bn", code.frames, code.weights) + np.asarray(code.offset)[:, None]
  y = np.asarray(opu.project(e, jax.random.key(0)))
  np.testing.assert_allclose(y, decoded @ m, rtol=1e-4, atol=1e-4 * np.abs(y).max())
  assert not np.any(devices.make("opu", N, M, seed=7, encoding="ternary").ones_reference)


def test_stochastic_code_draws_from_the_key_and_is_unbiased_through_the_device():
  opu = devices.make("opu", N, M, seed=7, camera="ideal", encoding="stochastic",
                     common_mode=True)
  e = jax.random.normal(jax.random.key(2), (2, N))
  ys = jax.vmap(lambda k: opu.project(e, k))(jax.random.split(jax.random.key(3), 2000))
  ref = np.asarray(e) @ np.asarray(opu.effective_matrix())
  assert not np.allclose(ys[0], ys[1])  # each key its own draw
  np.testing.assert_allclose(ys.mean(0), ref, atol=0.1 * np.abs(ref).max())
  with pytest.raises(ValueError, match="pass a key"):
    opu.project(e, None)


def test_a_drifted_medium_keeps_a_stale_all_ones_projection_until_recalibrated():
  opu = devices.make("opu", 64, 300, seed=0, camera="ideal", encoding="sign",
                     drift_per_frame=1e-3, recalibrate_every=2)
  later = opu.drifted(jax.random.key(1), frames=400)
  truth = np.asarray(later.effective_matrix()).sum(0)
  np.testing.assert_array_equal(later.ones_reference, opu.ones_reference)
  np.testing.assert_allclose(later.recalibrated().ones_reference, truth, rtol=1e-4, atol=1e-3)
  stepped = [opu.after_step(jax.random.key(3), 10, done) for done in (1, 2)]
  assert not np.allclose(stepped[0].ones_reference, stepped[0].recalibrated().ones_reference)
  np.testing.assert_allclose(stepped[1].ones_reference, stepped[1].recalibrated().ones_reference,
                             rtol=1e-6)


def test_frames_and_saturation_are_reported():
  opu = devices.make("opu", N, M, encoding="ternary", calibrated_anchor=False)
  assert opu.cost(10).frames == 10 * 2 * 3
  codes = [(dict(encoding="sign"), 1), (dict(encoding="stochastic"), 2),
           (dict(encoding="bitplanes", bits=3), 6),
           (dict(encoding="bitplanes", bits=3, common_mode=True), 3)]
  for options, dmd_frames in codes:  # x 2 camera frames (the calibrated anchor)
    assert devices.make("opu", N, M, **options).cost(10).frames == 10 * dmd_frames * 2
  bright = devices.make("opu", N, M, camera=devices.Camera(exposure=400.0, full_well=1000.0))
  m = bright.measure(binary((4, N)), jax.random.key(0))
  assert 0.0 < float(m.saturated) < 1.0


SHAPELESS = [  # refused before the shape is known: by devices.check and by make
    (dict(mode="hologram"), "mode"),
    (dict(storage="disk"), "storage"),
    (dict(mode="intensity", encoding="ternary"), "Intensity mode"),
    (dict(mode="intensity", encoding="sign"), "Intensity mode"),
    (dict(encoding="ternary", threshold_by="median"), "threshold_by"),
    (dict(encoding="threshold", common_mode=True), "common_mode"),
    (dict(encoding="bitplanes", bits=0), "bits"),
    (dict(drift_per_frame=1.5), "drift"),
    (dict(drift_per_frame=1e-3, storage="streamed"), "in memory"),
    (dict(recalibrate_every=3), "drifting"),
    (dict(camera="blurry"), "camera"),
    (dict(colour="green"), "Unknown option"),
    (dict(photons=10.0), "Unknown option"),
    (dict(protocol="hologram"), "Unknown protocol"),
    (dict(protocol="holography", mode="intensity"), "mode='linear'"),
    (dict(protocol="holography", grain=2.0), "leaves no holography carrier clear"),
    (dict(protocol="holography", carrier=(0.6, 0.1)), "Nyquist"),
    (dict(protocol="holography", carrier=(0.1, -0.5)), "Nyquist"),
    (dict(protocol="holography", carrier=(0.05, 0.05)), "inside the pupil"),
    (dict(protocol="holography", carrier=0.3), "pair"),
    (dict(protocol="holography", reference_power=0.0), "reference_power"),
    (dict(carrier=(0.3, 0.3)), "protocol='holography'"),
]


@pytest.mark.parametrize("options,match", SHAPELESS + [
    (dict(dmd_shape=(2, 8)), "mirrors"),
    (dict(camera_shape=(2000, 10)), "grid"),
    (dict(roi=(0, 0, 1, 8)), "region of interest"),
    (dict(protocol="holography", anchor_pixels=4), "no anchor"),
    (dict(protocol="holography", roi=(0, 0, 8, 8)), "whole camera frame"),
    (dict(protocol="holography", camera_shape=(1, 512)), "2-D camera grid"),
    (dict(protocol="holography", camera_shape=(24, 24)), f"fewer than the {M // 2}"),
    (dict(protocol="holography", max_camera_shape=(16, 16)), "larger than 16x16"),
])
def test_bad_configuration(options, match):
  with pytest.raises(ValueError, match=match):
    devices.make("opu", N, M, **options)


@pytest.mark.parametrize("options,match", SHAPELESS)
def test_check_refuses_before_the_shape_is_known(options, match):
  with pytest.raises(ValueError, match=match):
    devices.check("opu", **options)


def test_check_passes_what_make_builds():
  options = dict(encoding="ternary", threshold=0.1, camera=devices.Camera(photons=10.0),
                 drift_per_frame=1e-4, recalibrate_every=5)
  devices.check("opu", **options)
  assert devices.make("opu", N, M, **options).recalibrate_every == 5
  devices.check("digital", storage="streamed")
  with pytest.raises(ValueError, match="needs a driver"):
    devices.check("hardware")


def test_beyond_the_device():
  with pytest.raises(ValueError, match="mirrors"):
    devices.make("opu", 900_000, 16)
  with pytest.raises(ValueError, match="exceeds"):
    devices.make("opu", 16, 3_000_000, storage="streamed")


def test_bad_input(ideal):
  with pytest.raises(ValueError, match=r"\(\.\.\., 48\)"):
    ideal.project(jnp.ones((2, N + 1)), None)
  with pytest.raises(ValueError, match="binary"):
    ideal.project(jnp.full((2, N), 0.5), None)
  with pytest.raises(ValueError, match="Unknown device"):
    devices.make("laser", N, M)


class AfterStepTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_the_medium_decorrelates_and_the_anchor_recalibrates(self):
    """k steps of f frames each leave corr(R_k, R_0) = (1 - eps)^(k f / 2); the anchor
    reference is re-measured after every 2nd step only."""
    eps, rows = 1e-2, 4
    rule = dfa.dfa(devices.make("opu", 40, 256, seed=0, camera="ideal", drift_per_frame=eps,
                                recalibrate_every=2))
    frames = rows * rule.device.frames_per_row
    step = self.variant(lambda r, k, done: r.after_step(k, rows, done))
    r = rule
    for done in range(1, 6):
      r = step(r, jax.random.key(done), jnp.asarray(done))
      v = r.device.anchor_field
      fresh = np.asarray(v[0] ** 2 + v[1] ** 2)
      stale = not np.allclose(r.device.anchor_reference, fresh)
      assert stale == (done % 2 == 1), done
    w0, w5 = (np.asarray(x.device.weights).ravel() for x in (rule, r))
    assert np.corrcoef(w0, w5)[0, 1] == pytest.approx((1 - eps) ** (5 * frames / 2), abs=0.03)
    assert np.std(w5) == pytest.approx(np.std(w0), rel=0.05)


def test_a_stable_medium_or_a_digital_rule_does_not_drift():
  for rule in (dfa.dfa(devices.make("opu", 8, 32, seed=0)),
               dfa.dfa(devices.make("digital", 8, 32, seed=0)), dfa.bp()):
    assert rule.after_step(jax.random.key(0), 4, 1) is rule


@pytest.mark.parametrize("storage", ["materialised", "streamed"])
def test_works_with_x64_enabled(storage):
  with jax.enable_x64(True):
    opu = devices.make("opu", 16, 64, seed=0, storage=storage)
    y = opu.project(jnp.ones((2, 16)), jax.random.key(0))
    assert bool(jnp.isfinite(y).all())
