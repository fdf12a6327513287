"""opujax.models.nets: the ResNet's stems and heads, against Flax's own layers."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from opujax import models
from opujax.models import nets


class MaxPoolTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_max_pool2_is_flax_max_pool_in_value_and_gradient(self):
    pool = lambda x: nn.max_pool(x, (2, 2), (2, 2))
    for h, w in ((6, 4), (7, 5)):  # an odd last row and column are dropped
      x = jax.random.normal(jax.random.key(0), (2, h, w, 3))  # ties have probability 0
      v = jax.random.normal(jax.random.key(1), (2, h // 2, w // 2, 3))
      grad = lambda f: jax.grad(lambda x: jnp.sum(v * f(x)))
      chex.assert_trees_all_close(self.variant(nets.max_pool2)(x), pool(x))
      chex.assert_trees_all_close(self.variant(grad(nets.max_pool2))(x), grad(pool)(x))


@pytest.mark.parametrize("stem, hidden, shapes", [
    ("stride", 0, {"Conv_0": (3, 3, 1, 4), "head": (8, 10)}),
    ("pool", 6, {"Conv_0": (3, 3, 1, 4), "hidden": (4 * 4 * 8, 6), "head": (6, 10)}),
])
def test_resnet_stems_and_heads(stem, hidden, shapes):
  """28x28 -> 14x14 by either stem, blocks of 4 and 8 channels (the second at stride 2:
  7x7 -> 4x4 with SAME padding), then the pooled or the flattened head; the hidden layer
  has BatchNorm statistics of its own."""
  model = models.ResNet(widths=(4, 8, 8), stem=stem, hidden=hidden)
  x = jnp.ones((2, 28, 28, 1))
  variables = model.init(jax.random.key(0), x)
  kernels = {k: v["kernel"].shape for k, v in variables["params"].items() if "kernel" in v}
  assert kernels == shapes
  assert ("BatchNorm_1" in variables["batch_stats"]) == bool(hidden)
  logits, _ = model.apply(variables, x, train=True, mutable=["batch_stats"],
                              rngs={"dropout": jax.random.key(1)})
  chex.assert_shape(logits, (2, 10))
