"""Models with state besides their weights (Linen batch_stats, NNX BatchStat and RNG
streams, dropout) under every rule, against hand-written references and jax.grad."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from opujax import devices, dfa, models
from opujax.dfa import hlo

B, D_IN, H, C = 16, 12, 24, 5
RULES = ("bp", "fa", "dfa", "shallow")
EPS, MOMENTUM = 1e-5, 0.9


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class LinenNet(nn.Module):
  """Dense -> BatchNorm -> relu -> dropout -> Dense: the feedback enters at the head's
  input and trains the first Dense and the BatchNorm's scale and bias."""

  rate: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.Dense(H, use_bias=False)(x)
    h = nn.BatchNorm(use_running_average=not train, momentum=MOMENTUM, epsilon=EPS)(h)
    h = nn.Dropout(self.rate, deterministic=not train)(nn.relu(h))
    return nn.Dense(C, name="head")(h)


class NNXNet(nnx.Module):
  """LinenNet in NNX."""

  def __init__(self, rate: float, rngs: nnx.Rngs):
    self.dense = nnx.Linear(D_IN, H, use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(H, momentum=MOMENTUM, epsilon=EPS, rngs=rngs)
    self.drop = nnx.Dropout(rate, rngs=rngs)
    self.head = nnx.Linear(H, C, rngs=rngs)

  def __call__(self, x, train: bool = False):
    h = nnx.relu(self.bn(self.dense(x), use_running_average=not train))
    return self.head(self.drop(h, deterministic=not train))


def data():
  x = jax.random.normal(jax.random.key(0), (B, D_IN)) * 2 + 1
  return x, jnp.arange(B) % C


def linen_setup(rate=0.0):
  model, (x, labels) = LinenNet(rate), data()
  variables = model.init(jax.random.key(1), x)
  return model, variables["params"], {"batch_stats": variables["batch_stats"]}, x, labels


def nnx_setup(rate=0.0):
  model, (x, labels) = NNXNet(rate, nnx.Rngs(1)), data()
  _, params, state = nnx.split(model, nnx.Param, ...)
  return model, params, state, x, labels


def image_data():
  x = jax.random.normal(jax.random.key(0), (B, 8, 8, 1)) * 2 + 1
  return x, jnp.arange(B) % C


def resnet_setup(rate=0.0):
  """The project's Linen ResNet (pooling stem, BatchNorm blocks, hidden layer, dropout),
  tiny: 8x8 images, 2 and 4 channels."""
  model, (x, labels) = models.ResNet(C, (2, 4), rate, stem="pool", hidden=6), image_data()
  variables = model.init(jax.random.key(1), x)
  return model, variables["params"], {"batch_stats": variables["batch_stats"]}, x, labels


def nnx_cnn_setup(rate=0.0):
  """The project's NNX CNN (conv + BatchNorm + pool twice, hidden layer with BatchNorm and
  dropout), tiny: 8x8 images, 2 and 4 channels."""
  model = models.NNXCNN(C, (2, 4), hidden=6, dropout=rate, side=8, rngs=nnx.Rngs(1))
  _, params, state = nnx.split(model, nnx.Param, ...)
  return (model, params, state, *image_data())


FIRST_LAYER = {"linen": "Dense_0", "nnx": "dense", "linen_resnet": "Conv_0",
               "nnx_cnn": "conv1"}  # each family's first layer, for its kernel's gradient


def hand_forward(w, gamma, beta, w_head, b_head, x):
  """The nets by hand in train mode (no dropout): hidden h, logits, batch mean and var."""
  a = x @ w
  mean, var = a.mean(0), a.var(0)
  h = jax.nn.relu(gamma * (a - mean) / jnp.sqrt(var + EPS) + beta)
  return h, h @ w_head + b_head, mean, var


def hand_references(w, gamma, beta, w_head, b_head, running, x, labels, m, gain):
  """BP gradients (jax.grad of the hand forward), DFA gradients (the head gets e, the
  hidden layer the projected error through its own local vjp), new running stats."""
  def loss(*p):
    return xent(hand_forward(*p, x)[1], labels)

  bp = jax.grad(loss, argnums=range(5))(w, gamma, beta, w_head, b_head)
  h, logits, mean, var = hand_forward(w, gamma, beta, w_head, b_head, x)
  e = jax.grad(lambda z: xent(z, labels))(logits)
  fb = gain * (e @ m[:, :H]) / np.sqrt(H)
  local = jax.grad(lambda *p: jnp.vdot(fb, hand_forward(*p, w_head, b_head, x)[0]),
                   argnums=range(3))(w, gamma, beta)
  dfa_grads = (*local, h.T @ e, e.sum(0))
  new_running = (MOMENTUM * running[0] + (1 - MOMENTUM) * mean,
                 MOMENTUM * running[1] + (1 - MOMENTUM) * var)  # biased, as Flax
  return bp, dfa_grads, new_running


def raw(tree):
  """Typed PRNG keys (NNX RNG streams) as their data, for comparisons."""
  return jax.tree.map(lambda a: jax.random.key_data(a) if jnp.issubdtype(
      a.dtype, jax.dtypes.prng_key) else a, tree)


def make_rule(name, model, params, x, state):
  device = devices.make("digital", C, dfa.feedback_size(model, params, x, state=state), seed=3)
  if name == "fa":
    return dfa.fa(model, params, x, seed=2, state=state)
  return dfa.make(name, device)


def linen_leaves(grads):
  return (grads["Dense_0"]["kernel"], grads["BatchNorm_0"]["scale"],
          grads["BatchNorm_0"]["bias"], grads["head"]["kernel"], grads["head"]["bias"])


def nnx_leaves(grads):
  return (grads["dense"]["kernel"][...], grads["bn"]["scale"][...], grads["bn"]["bias"][...],
          grads["head"]["kernel"][...], grads["head"]["bias"][...])


class StateTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_grads_and_running_stats_against_hand_reference(self):
    for family in ("linen", "nnx"):
      model, params, state, x, labels = (linen_setup if family == "linen" else nnx_setup)()
      leaves = linen_leaves if family == "linen" else nnx_leaves
      p = leaves(params)
      if family == "linen":
        running = (state["batch_stats"]["BatchNorm_0"]["mean"],
                   state["batch_stats"]["BatchNorm_0"]["var"])
      else:
        running = (state["bn"]["mean"][...], state["bn"]["var"][...])
      device = devices.make("digital", C, H, seed=3)
      m = device.effective_matrix()
      bp_ref, dfa_ref, stats_ref = hand_references(
          *p, running, x, labels, m, 1 / jnp.sqrt(jnp.mean(jnp.square(m))))
      fn = self.variant(dfa.grad_fn(model, xent, train_kwargs={"train": True}))
      for name, ref in (("bp", bp_ref), ("dfa", dfa_ref)):
        rule = dfa.bp() if name == "bp" else dfa.dfa(device)
        _, grads, aux = fn(params, rule, x, labels, jax.random.key(0), state)
        chex.assert_trees_all_close(leaves(grads), ref, rtol=2e-4, atol=1e-6)
        new = aux["state"]
        got = ((new["batch_stats"]["BatchNorm_0"]["mean"], new["batch_stats"]["BatchNorm_0"]["var"])
               if family == "linen" else (new["bn"]["mean"][...], new["bn"]["var"][...]))
        chex.assert_trees_all_close(got, stats_ref, rtol=1e-5, atol=1e-6)


SETUPS = {"linen": linen_setup, "nnx": nnx_setup, "linen_resnet": resnet_setup,
          "nnx_cnn": nnx_cnn_setup}


@pytest.mark.parametrize("family", list(SETUPS))
@pytest.mark.parametrize("rule_name", RULES)
def test_every_rule_threads_the_state_as_a_bp_step_does(family, rule_name):
  """With dropout on, for the BatchNorm nets and the BatchNorm + dropout CNNs: the state
  after any rule's step is BP's; the output layer's update is BP's (same forward, same
  dropout mask); the model's state is returned, not kept."""
  model, params, state, x, labels = SETUPS[family](0.5)
  fn = jax.jit(dfa.grad_fn(model, xent, train_kwargs={"train": True}))
  key = jax.random.key(7)
  _, bp_grads, bp_aux = fn(params, dfa.bp(), x, labels, key, state)
  _, grads, aux = fn(params, make_rule(rule_name, model, params, x, state), x, labels, key,
                     state)
  chex.assert_trees_all_close(raw(aux["state"]), raw(bp_aux["state"]), rtol=1e-6)
  chex.assert_trees_all_close(aux["logits"], bp_aux["logits"], rtol=1e-6)
  chex.assert_trees_all_close(grads["head"], bp_grads["head"], rtol=1e-5, atol=1e-7)
  first = grads[FIRST_LAYER[family]]["kernel"][...]
  assert (float(jnp.abs(first).max()) == 0) == (rule_name == "shallow")
  stats = jax.tree.leaves(aux["state"])
  assert any(not np.allclose(a, b) for a, b in zip(stats, jax.tree.leaves(state))
             if jnp.issubdtype(a.dtype, jnp.floating))  # the running statistics moved


@pytest.mark.parametrize("family", ["linen", "linen_resnet"])
def test_bp_with_dropout_equals_jax_grad(family):
  """BP through grad_fn is jax.grad with the state threaded and the documented dropout
  key (the second half of the step key's split)."""
  model, params, state, x, labels = SETUPS[family](0.5)
  key = jax.random.key(7)
  loss, grads, aux = dfa.grad_fn(model, xent, train_kwargs={"train": True})(
      params, dfa.bp(), x, labels, key, state)
  k_dropout = jax.random.split(key)[1]

  def loss_of(p):
    logits, new = model.apply({"params": p, **state}, x, train=True, mutable=["batch_stats"],
                              rngs={"dropout": k_dropout})
    return xent(logits, labels), new

  (ref_loss, ref_state), ref = jax.value_and_grad(loss_of, has_aux=True)(params)
  chex.assert_trees_all_close((loss, grads, aux["state"]), (ref_loss, ref, dict(ref_state)),
                              rtol=1e-6)


@pytest.mark.parametrize("family", ["linen", "nnx"])
def test_dropout_masks_follow_the_step_key(family):
  model, params, state, x, labels = (linen_setup if family == "linen" else nnx_setup)(0.5)
  fn = jax.jit(dfa.grad_fn(model, xent, train_kwargs={"train": True}))
  rule = dfa.dfa(devices.make("digital", C, H, seed=3))
  logits = [fn(params, rule, x, labels, jax.random.key(k), state)[2]["logits"] for k in (1, 1, 2)]
  np.testing.assert_array_equal(logits[0], logits[1])
  assert not np.allclose(logits[0], logits[2])
  eval_logits, _ = dfa.adapter.adapter(model, dfa.DEFAULT_UNITS).apply(params, state, x)
  assert not np.allclose(eval_logits, logits[0])  # train mode: dropout and batch stats


@pytest.mark.parametrize("family", ["linen", "nnx"])
def test_train_step_fn_threads_state_through_steps(family):
  model, params, state, x, labels = (linen_setup if family == "linen" else nnx_setup)(0.3)
  opt = optax.adam(1e-2)
  step = jax.jit(dfa.train_step_fn(model, xent, opt, train_kwargs={"train": True}))
  rule = dfa.dfa(devices.make("digital", C, dfa.feedback_size(model, params, x, state=state),
                              seed=3))
  opt_state, losses = opt.init(params), []
  for i in range(30):
    out = step(params, opt_state, rule, x, labels, jax.random.key(i), state)
    params, opt_state, state = out.params, out.opt_state, out.state
    losses.append(float(out.loss))
  assert losses[-1] < 0.5 * losses[0]


def test_layout_names_each_taps_columns():
  model, params, state, x, _ = linen_setup()
  lay = dfa.layout(model, params, x, state=state)
  assert lay == dfa.Layout(C, H, (dfa.Slot("head", 0, H),))
  assert dfa.layout(model, params, x, state=state, error_at="head").in_features == H
  with pytest.raises(ValueError, match="must name exactly one feedback unit"):
    dfa.layout(model, params, x, state=state, error_at="nowhere")


class DeepNet(nn.Module):
  """Two Dense + BatchNorm layers of distinct widths (H, H2), so each product's role
  shows in its shape."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    for w in (H, H2):
      x = nn.relu(nn.BatchNorm(use_running_average=not train)(nn.Dense(w)(x)))
    return nn.Dense(C)(x)


H2 = 20


def test_dfa_on_a_batchnorm_net_forms_no_input_gradient():
  """BP's step has the product (B, H) <- H2 (the second layer's input gradient); the
  compiled DFA step has none."""
  model, (x, labels) = DeepNet(), data()
  variables = model.init(jax.random.key(1), x)
  params, state = variables["params"], {"batch_stats": variables["batch_stats"]}
  found = {}
  for name in ("bp", "dfa"):
    rule = dfa.make(name, devices.make("digital", C, H + H2, seed=3))
    fn = jax.jit(dfa.grad_fn(model, xent, train_kwargs={"train": True}))
    text = fn.lower(params, rule, x, labels, jax.random.key(0), state).compile().as_text()
    found[name] = [d for d in hlo.dots(text) if d.out_shape == (B, H) and d.contraction == H2]
  assert len(found["bp"]) == 1 and found["dfa"] == []
