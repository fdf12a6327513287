import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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


def numpy_dfa(params, x, labels, m, gain):
  """The DFA equations of DESIGN.md, by hand: delta_i = (e B_i) * f'(a_i)."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  hs = [np.asarray(x, np.float64)]
  for i in range(3):
    hs.append(np.tanh(hs[-1] @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"]))
  logits = hs[-1] @ p["Dense_3"]["kernel"] + p["Dense_3"]["bias"]
  prob = np.exp(logits - logits.max(1, keepdims=True))
  prob /= prob.sum(1, keepdims=True)
  e = (prob - np.eye(C)[np.asarray(labels)]) / B
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
