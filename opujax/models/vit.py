"""A Vision Transformer (Dosovitskiy et al. 2021) for small images: non-overlapping
patches embedded linearly, a class token or mean pooling, learned positions, `Block`s
without a causal mask, a linear head. For DFA, ``units=(Block, "head")`` makes each
block one feedback unit (``config.units = ("Block", "head")``)."""

import flax.linen as nn
import jax.numpy as jnp

from opujax.models.nets import NORMS, Block, check_choice

POOLS = ("cls", "mean")


class ViT(nn.Module):
  """Images (B, H, W, C), H and W multiples of ``patch``, to logits (B, num_classes)."""

  num_classes: int
  patch: int = 4
  d_model: int = 64
  depth: int = 4
  heads: int = 4
  mlp_ratio: int = 2
  pool: str = "cls"
  norm: str = "pre"
  dropout: float = 0.0

  def __post_init__(self):
    check_choice("pool", self.pool, POOLS)
    check_choice("norm", self.norm, NORMS)
    super().__post_init__()

  @nn.compact
  def __call__(self, x_BxHxWxC, train: bool = False):
    p, d = self.patch, self.d_model
    x = nn.Conv(d, (p, p), strides=(p, p), padding="VALID", name="embed")(x_BxHxWxC)
    x_BxNxD = x.reshape(x.shape[0], -1, d)
    if self.pool == "cls":
      cls = self.param("cls", nn.initializers.zeros, (1, 1, d))
      x_BxNxD = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, d)), x_BxNxD], 1)
    pos = self.param("pos", nn.initializers.normal(0.02), x_BxNxD.shape[1:])
    x_BxNxD = nn.Dropout(self.dropout, deterministic=not train)(x_BxNxD + pos)
    for _ in range(self.depth):
      x_BxNxD = Block(self.heads, self.mlp_ratio, norm=self.norm, causal=False)(x_BxNxD)
    if self.norm == "pre":
      x_BxNxD = nn.LayerNorm()(x_BxNxD)
    x_BxD = x_BxNxD[:, 0] if self.pool == "cls" else x_BxNxD.mean(1)
    return nn.Dense(self.num_classes, name="head")(x_BxD)
