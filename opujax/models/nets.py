"""Reference models. Each one's hidden Dense/Conv layers are DFA's default feedback
units; for `TransformerLM`, pass ``units=(Block, "head")`` to make each block one unit,
for `ResNet` ``units=(ResBlock, "head")``."""

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "gelu": nn.gelu}


def param_count(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def check_choice(name: str, value, allowed) -> None:
  """Raises ValueError naming ``name`` and what is allowed unless ``value`` is one of them."""
  if value not in allowed:
    raise ValueError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}.")


class MLP(nn.Module):
  """Flattens its input, then Dense layers of ``widths`` with ``activation``, then logits."""

  widths: Sequence[int] = (240,) * 7
  classes: int = 10
  activation: str = "tanh"
  dropout: float = 0.0

  def __post_init__(self):
    check_choice("activation", self.activation, tuple(ACTIVATIONS))
    super().__post_init__()

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

  def __post_init__(self):
    check_choice("activation", self.activation, tuple(ACTIVATIONS))
    super().__post_init__()

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


class ResBlock(nn.Module):
  """Two 3x3 convolutions with BatchNorm, and a residual path (a 1x1 convolution with
  BatchNorm where the shape changes)."""

  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x_BxHxWxC, train: bool = False):
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9)
    s = (self.strides, self.strides)
    y = nn.relu(norm()(nn.Conv(self.features, (3, 3), s, use_bias=False)(x_BxHxWxC)))
    y = norm(scale_init=nn.initializers.zeros)(
        nn.Conv(self.features, (3, 3), use_bias=False)(y))
    if y.shape != x_BxHxWxC.shape:
      x_BxHxWxC = norm()(nn.Conv(self.features, (1, 1), s, use_bias=False)(x_BxHxWxC))
    return nn.relu(x_BxHxWxC + y)


STEMS = ("stride", "pool")


class ResNet(nn.Module):
  """A small ResNet for 28x28 images: a 3x3 stem to 14x14 (``stem="stride"``: stride 2;
  ``"pool"``: stride 1, then 2x2 max pooling), one `ResBlock` per width (stride 2 after
  the first), then a head: global average pooling (``hidden=0``) or the flattened map
  through a Dense layer of ``hidden`` units with BatchNorm; dropout, logits. State:
  ``batch_stats``."""

  classes: int = 10
  widths: Sequence[int] = (32, 64, 128)
  dropout: float = 0.0
  stem: str = "stride"
  hidden: int = 0

  def __post_init__(self):
    check_choice("stem", self.stem, STEMS)
    if not isinstance(self.hidden, int) or self.hidden < 0:
      raise ValueError(f"hidden must be an integer >= 0 (0: global pooling), got {self.hidden!r}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, x, train: bool = False):
    if x.ndim == 3:
      x = x[..., None]
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9)
    strides = (2, 2) if self.stem == "stride" else (1, 1)
    x = nn.relu(norm()(nn.Conv(self.widths[0], (3, 3), strides, use_bias=False)(x)))
    if self.stem == "pool":
      x = max_pool2(x)
    for i, w in enumerate(self.widths):
      x = ResBlock(w, 1 if i == 0 else 2)(x, train)
    if self.hidden:
      x = nn.Dense(self.hidden, use_bias=False, name="hidden")(x.reshape(x.shape[0], -1))
      x = nn.relu(norm()(x))
    else:
      x = x.mean((1, 2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.classes, name="head")(x)


def max_pool2(x_BxHxWxC: jax.Array) -> jax.Array:
  """2x2 max pooling, stride 2, as a reshape and a max: the same function as
  ``nn.max_pool(x, (2, 2), (2, 2))`` (an odd last row or column is dropped), whose
  gradient (a scatter) is slow on XLA:CPU."""
  b, h, w, c = x_BxHxWxC.shape
  x = x_BxHxWxC[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))


NORMS = ("pre", "post")
POSITIONS = ("learned", "sinusoidal")


class Block(nn.Module):
  """Transformer block: self-attention (causal: each position sees those before it;
  else all) and an MLP, both residual, with LayerNorm before each (``norm="pre"``) or
  after each residual sum (``"post"``, as Vaswani et al. and Launay et al.'s DFA
  Transformer)."""

  heads: int
  mlp_ratio: int = 4
  dtype: jnp.dtype = jnp.float32
  norm: str = "pre"
  causal: bool = True

  @nn.compact
  def __call__(self, x_BxTxD):
    d = x_BxTxD.shape[-1]
    mask = nn.make_causal_mask(jnp.ones(x_BxTxD.shape[:2], jnp.int32)) if self.causal else None
    attention = nn.MultiHeadDotProductAttention(self.heads, dtype=self.dtype)
    ln = lambda h: nn.LayerNorm(dtype=self.dtype)(h)

    def mlp(h):
      h = nn.gelu(nn.Dense(self.mlp_ratio * d, dtype=self.dtype)(h))
      return nn.Dense(d, dtype=self.dtype)(h)

    if self.norm == "post":
      x_BxTxD = ln(x_BxTxD + attention(x_BxTxD, mask=mask))
      return ln(x_BxTxD + mlp(x_BxTxD))
    x_BxTxD = x_BxTxD + attention(ln(x_BxTxD), mask=mask)
    return x_BxTxD + mlp(ln(x_BxTxD))


def sinusoids(length: int, d: int) -> jax.Array:
  """Vaswani et al.'s position codes: sin and cos of position / 10000^(2i/d), interleaved."""
  pos = jnp.arange(length)[:, None] / 10000 ** (jnp.arange(0, d, 2) / d)
  return jnp.stack([jnp.sin(pos), jnp.cos(pos)], -1).reshape(length, -1)[:, :d]


class TransformerLM(nn.Module):
  """Decoder-only language model: token embeddings plus learned position embeddings
  (``positions="learned"``) or fixed sinusoids (``"sinusoidal"``, the tokens' embeddings
  scaled by sqrt(d_model), as Vaswani et al.), ``depth`` blocks (`Block`, ``norm`` "pre"
  or "post"), a final LayerNorm (pre-LN only: post-LN blocks end in one) and a linear
  head to the vocabulary."""

  vocab: int
  d_model: int = 128
  depth: int = 2
  heads: int = 4
  context: int = 128
  mlp_ratio: int = 4
  dtype: jnp.dtype = jnp.float32
  norm: str = "pre"
  positions: str = "learned"

  def __post_init__(self):
    check_choice("norm", self.norm, NORMS)
    check_choice("positions", self.positions, POSITIONS)
    super().__post_init__()

  @nn.compact
  def __call__(self, tokens_BxT, train: bool = False):
    t = tokens_BxT.shape[1]
    x = nn.Embed(self.vocab, self.d_model, dtype=self.dtype)(tokens_BxT)
    if self.positions == "sinusoidal":
      x = x * jnp.sqrt(self.d_model).astype(x.dtype) + sinusoids(t, self.d_model).astype(x.dtype)
    else:
      pos = self.param("pos", nn.initializers.normal(0.02), (self.context, self.d_model))
      x = x + pos[:t].astype(x.dtype)
    for _ in range(self.depth):
      x = Block(self.heads, self.mlp_ratio, self.dtype, self.norm)(x)
    if self.norm == "pre":
      x = nn.LayerNorm(dtype=self.dtype)(x)
    return nn.Dense(self.vocab, dtype=self.dtype, name="head")(x).astype(jnp.float32)
