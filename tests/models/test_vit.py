"""opujax.models.vit: shapes, full (not causal) attention, and a tiny ViT learning under
every rule, its DFA step without the head's input gradient."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from opujax import devices, dfa, models
from opujax.dfa import hlo
from opujax.models.vit import ViT

UNITS = (models.Block, "head")
TINY = dict(patch=2, d_model=24, depth=2, heads=2, norm="post")  # 8x8 images: 16 patches
# Launay et al.'s recipe (`config.vit`): the error at the head's input, one feedback matrix
# shared by the blocks, the first block learning through the second's input.
FED = ("Block_1", "head")


def quadrants(n: int, seed: int = 0):
  """8x8 images of noise with one bright 4x4 quadrant: the label is which (4 classes)."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 4, n)
  x = rng.normal(0.0, 0.3, (n, 8, 8, 1))
  for i, q in enumerate(y):
    r, c = divmod(int(q), 2)
    x[i, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
  return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@pytest.mark.parametrize("pool, tokens", [("cls", 50), ("mean", 49)])
def test_patches_positions_and_logits(pool, tokens):
  model = ViT(10, patch=4, d_model=16, depth=1, heads=2, pool=pool)
  x = jnp.ones((2, 28, 28, 1))
  params = model.init(jax.random.key(0), x)["params"]
  assert params["embed"]["kernel"].shape == (4, 4, 1, 16)
  assert params["pos"].shape == (tokens, 16) and ("cls" in params) == (pool == "cls")
  assert model.apply({"params": params}, x).shape == (2, 10)
  with pytest.raises(ValueError, match="pool='max' is not one of cls, mean"):
    ViT(10, pool="max")


def test_the_class_token_sees_every_patch():
  """Without a causal mask the first token attends to the last patch: changing only the
  bottom-right patch changes the class token's logits (a causal block would not)."""
  model = ViT(4, **TINY)
  x, _ = quadrants(2)
  params = model.init(jax.random.key(0), x)["params"]
  changed = x.at[:, 6:, 6:].add(1.0)
  assert not np.allclose(model.apply({"params": params}, x),
                         model.apply({"params": params}, changed))


@functools.cache
def stepper(lr: float = 3e-3):
  return jax.jit(dfa.train_step_fn(ViT(4, **TINY), xent, optax.adam(lr), FED))


def train(rule_name: str, optical: bool = False, steps: int = 150):
  model = ViT(4, **TINY)
  x, y = quadrants(64)
  params = model.init(jax.random.key(0), x)["params"]
  layout = dfa.layout(model, params, x, FED, shared=True, error_at="head")
  kind, options = ("opu", devices.DFA_CODE) if optical else ("digital", {})
  device = devices.make(kind, layout.in_features, layout.out_features, seed=1, **options)
  rule = (dfa.dfa(device, shared=True, error_at="head") if rule_name == "dfa" else
          dfa.make(rule_name))
  opt_state, losses = optax.adam(3e-3).init(params), []
  for i in range(steps):
    params, opt_state, loss, _, _ = stepper()(params, opt_state, rule, x, y, jax.random.key(i))
    losses.append(float(loss))
  return losses


def test_a_tiny_vit_learns_under_every_rule():
  losses = {(r, o): train(r, o) for r, o in
            (("bp", False), ("dfa", False), ("dfa", True), ("shallow", False))}
  for (rule, optical), l in losses.items():
    assert l[-1] < 0.8 * l[0], (rule, optical, l[0], l[-1])
  # The blocks learn under DFA, not only the head.
  assert losses["dfa", False][-1] < 0.6 * losses["shallow", False][-1], losses
  assert losses["dfa", True][-1] < 0.6 * losses["shallow", False][-1], losses


def test_the_dfa_step_never_forms_the_heads_input_gradient():
  model, (x, y) = ViT(4, **TINY), quadrants(16)
  params = model.init(jax.random.key(0), x)["params"]
  layout = dfa.layout(model, params, x, UNITS)
  grad = jax.jit(dfa.grad_fn(model, xent, UNITS))

  def dots(rule):
    return hlo.dots(grad.lower(params, rule, x, y, jax.random.key(0)).compile().as_text())

  head_input_gradient = hlo.Dot((16, 24), 4)  # (B, d_model) <- contraction over 4 classes
  bp = dots(dfa.bp())
  assert head_input_gradient in bp
  # Through an OPU (a digital device's feedback for the head is itself a (B, d_model) dot).
  dfa_dots = dots(dfa.dfa(devices.make("opu", layout.in_features, layout.out_features,
                                       encoding="ternary")))
  assert head_input_gradient not in dfa_dots
  assert sum(d.flops for d in dfa_dots) < sum(d.flops for d in bp)
