"""What XLA compiles: DFA never forms a cut unit's input gradient."""

import re

import jax
import jax.numpy as jnp

from opujax import devices, dfa
from tests.dfa.test_core import MLP, xent

LAYERS = 8  # 7 hidden + output


def compiled(rule):
  model = MLP(widths=(64,) * (LAYERS - 1))
  x, labels = jnp.ones((16, 20)), jnp.arange(16) % 10
  params = model.init(jax.random.key(1), x)["params"]
  fn = jax.jit(dfa.grad_fn(model, xent))
  return fn.lower(params, rule, x, labels, jax.random.key(0)).compile()


def dots(exe) -> int:
  return len(re.findall(r" dot\(", exe.as_text()))


def test_dfa_has_no_input_gradient_dots():
  bp, dfa_exe = compiled(dfa.bp()), compiled(dfa.dfa(devices.make("digital", 10, 7 * 64)))
  # BP: L forward + L weight-gradient + (L - 1) input-gradient dots.
  assert dots(bp) == 3 * LAYERS - 1
  # DFA: L forward + L weight-gradient + 1 projection of the error.
  assert dots(dfa_exe) == 2 * LAYERS + 1
