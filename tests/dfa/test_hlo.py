"""What XLA compiles: DFA never forms a cut unit's input gradient."""

import jax
import jax.numpy as jnp

from opujax import devices, dfa
from opujax.dfa import hlo
from tests.dfa.test_core import MLP, xent

BATCH, D_IN, CLASSES = 16, 20, 10
WIDTHS = (40, 48, 56, 64, 72, 80, 88)  # distinct, so each dot's role shows in its shape


def compiled_dots(rule):
  model = MLP(widths=WIDTHS)
  x, labels = jnp.ones((BATCH, D_IN)), jnp.arange(BATCH) % CLASSES
  params = model.init(jax.random.key(1), x)["params"]
  fn = jax.jit(dfa.grad_fn(model, xent))
  return hlo.dots(fn.lower(params, rule, x, labels, jax.random.key(0)).compile().as_text())


def input_gradient_dots(dots):
  """Dots (B, w_i) <- contraction over w_{i+1}: the input gradient of hidden layer i+1."""
  nxt = dict(zip(WIDTHS, WIDTHS[1:]))
  return [d for d in dots if len(d.out_shape) == 2 and d.out_shape[0] == BATCH
          and d.contraction == nxt.get(d.out_shape[1])]


def test_hlo_dot_parser_on_a_known_product():
  text = jax.jit(lambda a, b: a @ b).lower(jnp.ones((3, 5)), jnp.ones((5, 7))).compile().as_text()
  assert hlo.dots(text) == [hlo.Dot((3, 7), 5)]


def test_dfa_has_no_input_gradient_dots():
  bp = compiled_dots(dfa.bp())
  assert len(input_gradient_dots(bp)) == len(WIDTHS) - 1  # the reference shows them
  for device in (devices.make("digital", CLASSES, sum(WIDTHS)),
                 devices.make("opu", CLASSES, sum(WIDTHS), encoding="ternary")):
    dots = compiled_dots(dfa.dfa(device))
    assert input_gradient_dots(dots) == []
    big = [d for d in dots if d.contraction > CLASSES]  # forward and weight gradients
    assert len(big) == 2 * (len(WIDTHS) + 1)  # one forward, one weight gradient per layer
