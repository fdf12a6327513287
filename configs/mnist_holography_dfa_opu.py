"""python -m opujax.run --config configs/mnist_holography_dfa_opu.py

mnist_dfa_opu with the linear projection recovered by off-axis holography instead
of the anchor protocol (`config.holography`: speckle of 4 camera pixels, the reference
beam as bright as the speckle of a half-on frame, the carrier at (0.32, 0.32)
cycles/pixel); one camera frame a DMD frame (2 an example with the shipped code,
against the anchor protocol's 4), paid for in camera pixels (the 1600 outputs need a
125 x 135 hologram, 16,875 pixels a frame, `speckle.hologram_shape`). Figures:
docs/results.md.
"""

from opujax import config


def get_config():
  return config.holography(config.with_opu(config.default("mnist", "dfa")))
