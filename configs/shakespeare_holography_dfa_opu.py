"""python -m opujax.run --config configs/shakespeare_holography_dfa_opu.py

tiny_shakespeare: shakespeare_dfa_opu with the linear projection recovered by off-axis
holography instead of the anchor protocol (`config.holography`, as
mnist_holography_dfa_opu): one camera frame a DMD frame, 2 a token with the shipped code
against the anchor protocol's 4, paid for in camera pixels. Figures: docs/results.md.
"""

from opujax import config


def get_config():
  return config.holography(config.with_opu(config.lm("dfa")))
