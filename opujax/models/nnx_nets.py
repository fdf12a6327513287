"""Reference models written in Flax NNX (state held in the module: BatchStat, RNG
streams), trained by the same rules as the Linen ones through `opujax.dfa`."""

from flax import nnx


class CNN(nnx.Module):
  """Two 3x3 conv layers with BatchNorm and 2x2 max pooling, a hidden Dense layer with
  BatchNorm and dropout, logits. ``train`` switches BatchNorm to batch statistics (and
  updates the running ones) and turns dropout on."""

  def __init__(self, classes: int = 10, widths: tuple[int, int] = (32, 64), hidden: int = 256,
               dropout: float = 0.3, in_channels: int = 1, side: int = 28, *, rngs: nnx.Rngs):
    c1, c2 = widths
    self.conv1 = nnx.Conv(in_channels, c1, (3, 3), use_bias=False, rngs=rngs)
    self.bn1 = nnx.BatchNorm(c1, momentum=0.9, rngs=rngs)
    self.conv2 = nnx.Conv(c1, c2, (3, 3), use_bias=False, rngs=rngs)
    self.bn2 = nnx.BatchNorm(c2, momentum=0.9, rngs=rngs)
    self.dense = nnx.Linear(c2 * (side // 4) ** 2, hidden, use_bias=False, rngs=rngs)
    self.bn3 = nnx.BatchNorm(hidden, momentum=0.9, rngs=rngs)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.head = nnx.Linear(hidden, classes, rngs=rngs)

  def __call__(self, x, train: bool = False):
    if x.ndim == 3:
      x = x[..., None]
    frozen = not train
    pool = lambda h: nnx.max_pool(h, (2, 2), (2, 2))
    x = pool(nnx.relu(self.bn1(self.conv1(x), use_running_average=frozen)))
    x = pool(nnx.relu(self.bn2(self.conv2(x), use_running_average=frozen)))
    x = nnx.relu(self.bn3(self.dense(x.reshape(x.shape[0], -1)), use_running_average=frozen))
    return self.head(self.dropout(x, deterministic=frozen))
