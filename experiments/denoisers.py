"""Denoisers tried beside the shipped ones (`opujax.diffusion`), as a user's model is
named: ``PYTHONPATH=experiments python -m opujax.run --config
configs/mnist_diffusion_bp.py --config.model="{'name': 'denoisers:UNet', 'widths': (32, 64),
'patch': 4, 'steps': 1000}" --config.units="('Res_.*',)"`` (docs/results.md, section 9.5),
or ``--config.model="{'name': 'denoisers:MLP', 'patch': 28, 'steps': 1000, 'skip_gain':
True}" --config.units="('Layer_.*', 'head')" --config.diffusion.prediction=v`` (9.7; the
MLP is `opujax.diffusion.MLP` since the shipped configs took it).

Under DFA each patch's error (p·p·C numbers) is projected to the same region of every
`Res` block's input: the blocks read their maps *folded* into the output's grid of
patches, (B, N, q, q, C) for a map of side q·sqrt(N), so that ``dfa.layout`` sees one
position a patch. With ``'patch': 28`` the whole image's error is one vector, projected
to every block's whole map. DFA trains the U-Net neither way, nor does the published
TinyDFA (sections 9.5 and 9.6).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from opujax.diffusion import MLP, patchify, time_embedding, unpatchify

__all__ = ["MLP", "UNet"]  # MLP: the name results book 9.7's commands give it


def fold(h_BxHxWxC, g: int):
  """(B, H, W, C) -> (B, g·g, H/g, W/g, C): the map cut into a g x g grid of regions."""
  b, hh, ww, c = h_BxHxWxC.shape
  if hh % g or ww % g:
    raise ValueError(f"A {hh}x{ww} feature map does not split into the {g}x{g} grid of "
                     "the output's patches; pick a patch whose grid divides every level's "
                     "side.")
  h = h_BxHxWxC.reshape(b, g, hh // g, g, ww // g, c).transpose(0, 1, 3, 2, 4, 5)
  return h.reshape(b, g * g, hh // g, ww // g, c)


def unfold(h_BxNxQxQxC):
  """The inverse of `fold`."""
  b, n, q, _, c = h_BxNxQxQxC.shape
  g = int(round(n ** 0.5))
  return h_BxNxQxQxC.reshape(b, g, g, q, q, c).transpose(0, 1, 3, 2, 4, 5).reshape(
      b, g * q, g * q, c)


class Res(nn.Module):
  """A residual block: GroupNorm, swish, 3x3 conv, the time's embedding added, GroupNorm,
  swish, 3x3 conv; a 1x1 conv on the skip where the width changes. It reads its map
  `fold`ed (its input is DFA's tap) and returns it unfolded."""

  width: int

  @nn.compact
  def __call__(self, h_BxNxQxQxC, temb):
    h = unfold(h_BxNxQxQxC)
    g = lambda c: min(8, c // 4)
    y = nn.Conv(self.width, (3, 3))(nn.swish(nn.GroupNorm(g(h.shape[-1]))(h)))
    y = y + nn.Dense(self.width)(nn.swish(temb))[:, None, None]
    y = nn.Conv(self.width, (3, 3))(nn.swish(nn.GroupNorm(g(self.width))(y)))
    if h.shape[-1] != self.width:
      h = nn.Conv(self.width, (1, 1))(h)
    return h + y


class UNet(nn.Module):
  """A small U-Net: the image folded 2x2 into channels (28 -> 14), a `Res` block a level at
  ``widths`` (halving the grid between levels), one in the middle, one a level on the way
  up reading the skip, and a zero-initialised 3x3 conv back to the folded pixels; the
  noise in patches (B, N, p·p·C), or (B, H·W·C) when ``patch`` is the image's side."""

  outputs: int
  patch: int = 4
  widths: tuple = (32, 64)
  steps: int = 1000
  s2d: int = 2

  @nn.compact
  def __call__(self, x, train: bool = False):
    image, t_B = x[..., :-1], x[:, 0, 0, -1] * self.steps
    b, hh, ww, c = image.shape
    q, g = self.s2d, hh // self.patch
    temb = nn.Dense(64)(nn.swish(nn.Dense(64)(time_embedding(t_B, 64))))
    h = patchify(image, q).reshape(b, hh // q, ww // q, q * q * c)
    h = nn.Conv(self.widths[0], (3, 3))(h)
    skips = []
    for i, w in enumerate(self.widths):
      h = Res(w)(fold(h, g), temb)
      skips.append(h)
      if i < len(self.widths) - 1:
        h = nn.Conv(self.widths[i + 1], (3, 3), strides=(2, 2))(h)
    h = Res(self.widths[-1])(fold(h, g), temb)
    for i in reversed(range(len(self.widths))):
      h = Res(self.widths[i])(fold(jnp.concatenate([h, skips.pop()], -1), g), temb)
      if i > 0:
        h = jax.image.resize(h, (b, h.shape[1] * 2, h.shape[2] * 2, h.shape[3]), "nearest")
        h = nn.Conv(self.widths[i - 1], (3, 3))(h)
    h = nn.Conv(q * q * c, (3, 3), kernel_init=nn.initializers.zeros)(
        nn.swish(nn.GroupNorm(min(8, self.widths[0] // 4))(h)))
    out = unpatchify(h.reshape(b, -1, q * q * c), q, (hh, ww, c))
    return out.reshape(b, -1) if self.patch == hh else patchify(out, self.patch)


