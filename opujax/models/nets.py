"""Reference models. Each one's hidden Dense/Conv layers are DFA's default feedback
units; for `TransformerLM`, pass ``units=(Block, "head")`` to make each block one unit."""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "gelu": nn.gelu}


def param_count(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


class MLP(nn.Module):
  """Flattens its input, then Dense layers of ``widths`` with ``activation``, then logits."""

  widths: Sequence[int] = (240,) * 7
  classes: int = 10
  activation: str = "tanh"
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    act: Callable = ACTIVATIONS[self.activation]
    x = x.reshape(x.shape[0], -1)
    for w in self.widths:
      x = nn.Dropout(self.dropout, deterministic=not train)(act(nn.Dense(w)(x)))
    return nn.Dense(self.classes, name="head")(x)


class CNN(nn.Module):
  """LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, Dense 120, Dense 84, logits."""

  classes: int = 10
  activation: str = "relu"

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = ACTIVATIONS[self.activation]
    if x.ndim == 3:
      x = x[..., None]
    x = nn.max_pool(act(nn.Conv(6, (5, 5), padding="SAME")(x)), (2, 2), (2, 2))
    x = nn.max_pool(act(nn.Conv(16, (5, 5), padding="VALID")(x)), (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    x = act(nn.Dense(84)(act(nn.Dense(120)(x))))
    return nn.Dense(self.classes, name="head")(x)


class Block(nn.Module):
  """Pre-LayerNorm Transformer block: causal self-attention and an MLP, both residual."""

  heads: int
  mlp_ratio: int = 4
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x_BxTxD):
    d = x_BxTxD.shape[-1]
    mask = nn.make_causal_mask(jnp.ones(x_BxTxD.shape[:2], jnp.int32))
    h = nn.LayerNorm(dtype=self.dtype)(x_BxTxD)
    x_BxTxD = x_BxTxD + nn.MultiHeadDotProductAttention(self.heads, dtype=self.dtype)(h, mask=mask)
    h = nn.LayerNorm(dtype=self.dtype)(x_BxTxD)
    h = nn.Dense(self.mlp_ratio * d, dtype=self.dtype)(h)
    return x_BxTxD + nn.Dense(d, dtype=self.dtype)(nn.gelu(h))


class TransformerLM(nn.Module):
  """Decoder-only language model: token + learned position embeddings, ``depth`` blocks,
  a final LayerNorm and a linear head to the vocabulary."""

  vocab: int
  d_model: int = 128
  depth: int = 2
  heads: int = 4
  context: int = 128
  mlp_ratio: int = 4
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens_BxT, train: bool = False):
    t = tokens_BxT.shape[1]
    x = nn.Embed(self.vocab, self.d_model, dtype=self.dtype)(tokens_BxT)
    pos = self.param("pos", nn.initializers.normal(0.02), (self.context, self.d_model))
    x = x + pos[:t].astype(x.dtype)
    for _ in range(self.depth):
      x = Block(self.heads, self.mlp_ratio, self.dtype)(x)
    x = nn.LayerNorm(dtype=self.dtype)(x)
    return nn.Dense(self.vocab, dtype=self.dtype, name="head")(x).astype(jnp.float32)
