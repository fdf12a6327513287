"""python -m opujax.run --config configs/shakespeare_packed_holography_dfa_opu.py

tiny_shakespeare: shakespeare_dfa_opu with the linear projection recovered by off-axis
holography through the packed rectangle (`config.packed_holography`, as
mnist_packed_holography_dfa_opu): one camera frame a DMD frame, 2 a token with the
shipped code against the anchor protocol's 4, a 21 x 20 hologram for the 128 outputs
(420 pixels a frame, against the disk's 1,296). Figures: docs/results.md.
"""

from opujax import config


def get_config():
  return config.packed_holography(config.with_opu(config.lm("dfa")))
