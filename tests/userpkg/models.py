"""A user's own models, built by ``model.name = "userpkg.models:<attr>"``."""

import flax.linen as nn
import jax.numpy as jnp
from flax import nnx


class TanhNet(nn.Module):
  """A Linen MLP with arguments of its own; its call takes no ``train`` flag."""

  num_classes: int
  hidden: int = 32
  depth: int = 2

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    for _ in range(self.depth):
      x = jnp.tanh(nn.Dense(self.hidden)(x))
    return nn.Dense(self.num_classes, name="head")(x)


class DropoutNet(nnx.Module):
  """An NNX MLP with dropout: its call takes ``train``; built with the run's ``rngs``."""

  def __init__(self, in_features: int, num_classes: int, hidden: int = 16, *, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(in_features, hidden, rngs=rngs)
    self.dropout = nnx.Dropout(0.1, rngs=rngs)
    self.head = nnx.Linear(hidden, num_classes, rngs=rngs)

  def __call__(self, x, train: bool = False):
    x = jnp.tanh(self.hidden(x.reshape(x.shape[0], -1)))
    return self.head(self.dropout(x, deterministic=not train))


def tanh_net(width: int, num_classes: int) -> nn.Module:
  """A factory: the model it returns is the run's."""
  return TanhNet(num_classes, hidden=width)


def not_a_model(width: int = 3) -> int:
  return width
