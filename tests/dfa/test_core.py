import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flax import nnx

from opujax import devices, dfa

B, D_IN, H, C = 16, 20, 32, 10


class MLP(nn.Module):
  widths: tuple = (H, H, H)

  @nn.compact
  def __call__(self, x):
    for w in self.widths:
      x = jnp.tanh(nn.Dense(w)(x))
    return nn.Dense(C)(x)


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@pytest.fixture(scope="module")
def setup():
  model = MLP()
  x = jax.random.normal(jax.random.key(0), (B, D_IN))
  labels = jnp.arange(B) % C
  params = model.init(jax.random.key(1), x)["params"]
  return model, params, x, labels


def numpy_forward(params, x, labels):
  """The MLP by hand: hidden activations h_0..h_3 and the error e = dL/dlogits."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  hs = [np.asarray(x, np.float64)]
  for i in range(3):
    hs.append(np.tanh(hs[-1] @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"]))
  logits = hs[-1] @ p["Dense_3"]["kernel"] + p["Dense_3"]["bias"]
  prob = np.exp(logits - logits.max(1, keepdims=True))
  prob /= prob.sum(1, keepdims=True)
  return hs, (prob - np.eye(C)[np.asarray(labels)]) / B


def numpy_dfa(params, x, labels, m, gain):
  """The DFA equations of docs/design.md, by hand: delta_i = (e B_i) * f'(a_i)."""
  hs, e = numpy_forward(params, x, labels)
  grads = {"Dense_3": {"kernel": hs[3].T @ e, "bias": e.sum(0)}}
  for i in range(3):
    b_i = np.asarray(m, np.float64)[:, i * H:(i + 1) * H] * gain / np.sqrt(H)
    delta = (e @ b_i) * (1 - hs[i + 1] ** 2)
    grads[f"Dense_{i}"] = {"kernel": hs[i].T @ delta, "bias": delta.sum(0)}
  return grads


class RulesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_dfa_equals_numpy(self):
    model, params, x, labels = self._setup()
    device = devices.make("digital", C, 3 * H, seed=3)
    rule = dfa.dfa(device)
    _, grads, _ = self.variant(dfa.grad_fn(model, xent))(params, rule, x, labels,
                                                          jax.random.key(0))
    m = device.effective_matrix()
    ref = numpy_dfa(params, x, labels, m, 1 / np.sqrt(np.mean(np.square(m))))
    chex.assert_trees_all_close(grads, ref, rtol=1e-5, atol=1e-7)

  @chex.variants(with_jit=True, without_jit=True)
  def test_bp_equals_jax_grad(self):
    model, params, x, labels = self._setup()
    loss, grads, _ = self.variant(dfa.grad_fn(model, xent))(params, dfa.bp(), x, labels,
                                                            jax.random.key(0))
    ref = jax.grad(lambda p: xent(model.apply({"params": p}, x), labels))(params)
    chex.assert_trees_all_close(grads, ref, rtol=1e-5, atol=1e-7)

  def _setup(self):
    model = MLP()
    x = jax.random.normal(jax.random.key(0), (B, D_IN))
    labels = jnp.arange(B) % C
    return model, model.init(jax.random.key(1), x)["params"], x, labels


@pytest.mark.parametrize("storage", ["materialised", "streamed"])
def test_under_x64_dfa_through_the_digital_device_is_float64(storage):
  """With jax_enable_x64, the digital device and DFA compute in the input's float64: the
  hand-written reference (its matrix the device's, exact in float64) to 1e-12."""
  with jax.enable_x64(True):
    model = MLP()
    x = jax.random.normal(jax.random.key(0), (B, D_IN), jnp.float64)
    labels = jnp.arange(B) % C
    params = jax.tree.map(lambda a: a.astype(jnp.float64),
                          model.init(jax.random.key(1), x)["params"])
    device = devices.make("digital", C, 3 * H, seed=3, storage=storage)
    _, grads, _ = jax.jit(dfa.grad_fn(model, xent))(params, dfa.dfa(device), x, labels,
                                                    jax.random.key(0))
    m = np.asarray(device.effective_matrix(), np.float64)
    ref = numpy_dfa(params, x, labels, m, 1 / np.sqrt(np.mean(np.square(m))))
    assert {g.dtype for g in jax.tree.leaves(grads)} == {np.dtype(np.float64)}
    chex.assert_trees_all_close(grads, ref, rtol=0, atol=1e-12)


def test_shallow_changes_only_the_output_layer(setup):
  model, params, x, labels = setup
  _, grads, _ = dfa.grad_fn(model, xent)(params, dfa.shallow(), x, labels, jax.random.key(0))
  _, ref, _ = dfa.grad_fn(model, xent)(params, dfa.bp(), x, labels, jax.random.key(0))
  for i in range(3):
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads[f"Dense_{i}"]))
  chex.assert_trees_all_close(grads["Dense_3"], ref["Dense_3"], rtol=1e-6)


def test_noiseless_opu_equals_digital_dfa_with_its_matrix(setup):
  model, params, x, labels = setup
  opu = devices.make("opu", C, 3 * H, seed=5, camera="ideal", encoding="bitplanes", bits=16)
  _, g_opu, _ = dfa.grad_fn(model, xent)(params, dfa.dfa(opu), x, labels, jax.random.key(0))
  m = np.asarray(opu.effective_matrix())
  ref = numpy_dfa(params, x, labels, m, 1 / np.sqrt(np.mean(np.square(m))))
  chex.assert_trees_all_close(g_opu, ref, rtol=2e-3, atol=2e-6)


def test_noisy_opu_stays_aligned_with_noiseless(setup):
  model, params, x, labels = setup
  kw = dict(seed=5, encoding="ternary", threshold=0.1)
  clean = devices.make("opu", C, 3 * H, camera="ideal", **kw)
  noisy = devices.make("opu", C, 3 * H, **kw)
  fn = jax.jit(dfa.grad_fn(model, xent))
  _, g0, _ = fn(params, dfa.dfa(clean), x, labels, jax.random.key(0))
  _, g1, _ = fn(params, dfa.dfa(noisy), x, labels, jax.random.key(1))
  for i in range(3):
    a, b = (np.ravel(g[f"Dense_{i}"]["kernel"]) for g in (g0, g1))
    assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) > 0.9


def test_unit_taps_skip_the_model_input(setup):
  model, params, x, _ = setup
  taps = dfa.unit_taps(model, params, x)
  assert [p for p, _ in taps] == [("Dense_1",), ("Dense_2",), ("Dense_3",)]
  assert dfa.feedback_size(model, params, x) == 3 * H


def test_errors(setup):
  model, params, x, labels = setup
  fn = dfa.grad_fn(model, xent)
  small = dfa.dfa(devices.make("digital", C, 50))
  with pytest.raises(ValueError, match="out_features >= 96"):
    fn(params, small, x, labels, jax.random.key(0))
  with pytest.raises(ValueError, match="No feedback unit"):
    dfa.unit_taps(model, params, x, units=(nn.Conv,))
  with pytest.raises(ValueError, match="Unknown learning rule"):
    dfa.make("backprop")
  with pytest.raises(ValueError, match="needs a projection device"):
    dfa.make("dfa")


def numpy_fa(params, feedback, x, labels):
  """FA by hand: the BP chain with each layer's kernel replaced by its fixed B."""
  hs, delta = numpy_forward(params, x, labels)
  grads = {}
  for i in (3, 2, 1, 0):
    grads[f"Dense_{i}"] = {"kernel": hs[i].T @ delta, "bias": delta.sum(0)}
    if i:
      b_i = np.asarray(feedback[f"Dense_{i}"]["kernel"], np.float64)
      delta = (delta @ b_i.T) * (1 - hs[i] ** 2)
  return grads


def test_fa_equals_numpy(setup):
  model, params, x, labels = setup
  rule = dfa.fa(model, params, x, seed=3)
  assert sorted(rule.feedback) == ["Dense_0", "Dense_1", "Dense_2", "Dense_3"]
  w, b = np.asarray(params["Dense_1"]["kernel"]), np.asarray(rule.feedback["Dense_1"]["kernel"])
  assert abs(b.std() / np.sqrt(np.mean(w ** 2)) - 1) < 0.1 and abs(np.corrcoef(w.ravel(), b.ravel())[0, 1]) < 0.2
  _, grads, _ = jax.jit(dfa.grad_fn(model, xent))(params, rule, x, labels, jax.random.key(0))
  chex.assert_trees_all_close(grads, numpy_fa(params, rule.feedback, x, labels), rtol=1e-4,
                              atol=1e-7)


class NNXMLP(nnx.Module):

  def __init__(self, rngs):
    self.hidden = nnx.List([nnx.Linear(D_IN if i == 0 else H, H, rngs=rngs) for i in range(3)])
    self.out = nnx.Linear(H, C, rngs=rngs)

  def __call__(self, x):
    for layer in self.hidden:
      x = jnp.tanh(layer(x))
    return self.out(x)


@pytest.mark.parametrize("rule_name", ["dfa", "bp", "shallow"])
def test_linen_and_nnx_get_identical_updates(setup, rule_name):
  model, params, x, labels = setup
  nnx_model = NNXMLP(nnx.Rngs(0))
  names = [("hidden", 0), ("hidden", 1), ("hidden", 2), ("out",)]
  for i, name in enumerate(names):  # copy the Linen weights into the NNX model
    layer = nnx_model.hidden[name[1]] if name[0] == "hidden" else nnx_model.out
    layer.kernel[...] = params[f"Dense_{i}"]["kernel"]
    layer.bias[...] = params[f"Dense_{i}"]["bias"]
  rule = dfa.make(rule_name, devices.make("digital", C, 3 * H, seed=3))
  key = jax.random.key(0)
  _, g_linen, _ = dfa.grad_fn(model, xent)(params, rule, x, labels, key)
  nnx_params = nnx.state(nnx_model, nnx.Param)
  _, g_nnx, _ = jax.jit(dfa.grad_fn(nnx_model, xent))(nnx_params, rule, x, labels, key)
  for i, name in enumerate(names):
    sub = g_nnx
    for p in name:
      sub = sub[p]
    chex.assert_trees_all_close({"kernel": sub["kernel"][...], "bias": sub["bias"][...]},
                                g_linen[f"Dense_{i}"], rtol=1e-5, atol=1e-7)


def test_fa_on_nnx_matches_linen(setup):
  model, params, x, labels = setup
  nnx_model = NNXMLP(nnx.Rngs(0))
  nnx_params = nnx.state(nnx_model, nnx.Param)
  rule = dfa.fa(nnx_model, nnx_params, x, seed=1)
  assert sorted(rule.feedback) == ["hidden/0", "hidden/1", "hidden/2", "out"]
  loss, grads, _ = dfa.grad_fn(nnx_model, xent)(nnx_params, rule, x, labels, jax.random.key(0))
  bp_grads = jax.grad(lambda p: xent(nnx.merge(nnx.graphdef(nnx_model), p)(x), labels))(
      nnx_params)
  chex.assert_trees_all_close(grads["out"], bp_grads["out"], rtol=1e-5)  # top layer: exact
  assert not np.allclose(grads["hidden"][0]["kernel"][...],
                         bp_grads["hidden"][0]["kernel"][...])


@pytest.mark.parametrize("device_name", ["digital", "opu"])
def test_sharded_batch_gives_the_same_updates(setup, device_name):
  from jax.sharding import NamedSharding, PartitionSpec as P
  model, params, x, labels = setup
  options = {"camera": "ideal", "encoding": "ternary"} if device_name == "opu" else {}
  rule = dfa.dfa(devices.make(device_name, C, 3 * H, seed=2, **options))
  fn = jax.jit(dfa.grad_fn(model, xent))
  _, ref, _ = fn(params, rule, x, labels, jax.random.key(0))
  # Auto axes: XLA propagates the batch sharding through the step (data parallelism).
  mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  shard = lambda a: jax.device_put(a, NamedSharding(mesh, P("data")))
  _, grads, _ = fn(params, rule, shard(x), shard(labels), jax.random.key(0))
  chex.assert_trees_all_close(grads, ref, rtol=1e-4, atol=1e-6)


def test_error_at_the_head_projects_its_input_gradient(setup):
  """error_at="Dense_3": the device projects e W_3^T (H numbers a row) and the hidden
  layers get the DFA equations with that error; the head keeps its true gradient."""
  model, params, x, labels = setup
  device = devices.make("digital", H, 3 * H, seed=4)
  rule = dfa.dfa(device, error_at="Dense_3")
  _, grads, aux = jax.jit(dfa.grad_fn(model, xent))(params, rule, x, labels, jax.random.key(0))
  hs, e = numpy_forward(params, x, labels)
  err = e @ np.asarray(params["Dense_3"]["kernel"], np.float64).T
  np.testing.assert_allclose(aux["error"], err, rtol=1e-4, atol=1e-8)
  m = np.asarray(device.effective_matrix(), np.float64)
  gain = 1 / np.sqrt(np.mean(np.square(m)))
  for i in range(3):
    delta = (err @ m[:, i * H:(i + 1) * H] * gain / np.sqrt(H)) * (1 - hs[i + 1] ** 2)
    chex.assert_trees_all_close(grads[f"Dense_{i}"], {"kernel": hs[i].T @ delta,
                                                      "bias": delta.sum(0)}, rtol=1e-4,
                                atol=1e-8)
  chex.assert_trees_all_close(grads["Dense_3"], {"kernel": hs[3].T @ e, "bias": e.sum(0)},
                              rtol=1e-5, atol=1e-8)
  assert dfa.layout(model, params, x, error_at="Dense_3") == dfa.Layout(
      H, 3 * H, tuple(dfa.Slot(f"Dense_{i}", (i - 1) * H, H) for i in (1, 2, 3)))
  with pytest.raises(ValueError, match="takes 10"):
    dfa.grad_fn(model, xent)(params, dfa.dfa(devices.make("digital", C, 3 * H),
                                             error_at="Dense_3"), x, labels, jax.random.key(0))
