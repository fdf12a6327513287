"""opujax.averaging against the moving average written out in NumPy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from opujax import averaging


def numpy_average(params, updates, decay):
  """The moving average written out: the ramp min(decay, (1 + n) / (10 + n))."""
  theta, average = params.copy(), params.copy()
  for n, u in enumerate(updates):
    theta = theta + u
    d = min(decay, (1 + n) / (10 + n))
    average = d * average + (1 - d) * theta
  return theta, average


class ParamAverageTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_the_average_follows_the_formula_and_leaves_the_updates_alone(self):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(5).astype(np.float32)
    updates = rng.standard_normal((30, 5)).astype(np.float32)
    opt = optax.chain(optax.sgd(1.0), averaging.param_average(0.9))
    update = self.variant(opt.update)
    p, state = {"w": jnp.asarray(params)}, opt.init({"w": jnp.asarray(params)})
    for u in updates:
      step, state = update({"w": -jnp.asarray(u)}, state, p)  # sgd(1) negates the gradient
      chex.assert_trees_all_close(step, {"w": jnp.asarray(u)})
      p = optax.apply_updates(p, step)
    theta, average = numpy_average(params, updates, 0.9)
    chex.assert_trees_all_close(p["w"], theta, rtol=1e-5)
    chex.assert_trees_all_close(averaging.averaged(p, state)["w"], average, rtol=1e-5)


def test_without_an_average_the_parameters_are_returned():
  params = {"w": jnp.ones(3)}
  opt = optax.adam(1e-3)
  assert averaging.averaged(params, opt.init(params)) is params


def test_the_average_needs_the_parameters():
  opt = averaging.param_average(0.9)
  state = opt.init({"w": jnp.ones(2)})
  with pytest.raises(ValueError, match="needs the parameters"):
    opt.update({"w": jnp.ones(2)}, state)


def test_decay_zero_is_the_parameters_themselves():
  opt = optax.chain(optax.sgd(0.1), averaging.param_average(0.0))
  p = {"w": jnp.arange(3.0)}
  state = opt.init(p)
  for _ in range(3):
    step, state = opt.update(jax.tree.map(jnp.ones_like, p), state, p)
    p = optax.apply_updates(p, step)
  chex.assert_trees_all_close(averaging.averaged(p, state), p)
