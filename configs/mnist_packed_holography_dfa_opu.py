"""python -m opujax.run --config configs/mnist_packed_holography_dfa_opu.py

mnist_dfa_opu with the linear projection recovered by off-axis holography through the
packed rectangle (`config.packed_holography`: the pupil a rectangle of bins, the carrier
where the sideband, its conjugate and |S|^2 tile the camera's Fourier plane, the
reference beam as bright as the speckle of a half-on frame): one camera frame a DMD
frame (2 an example, against the anchor protocol's 4), a 71 x 68 hologram for the 1600
outputs (4,828 pixels a frame, 6.0 a mode, against the disk's 16,875 in
mnist_holography_dfa_opu). Figures: docs/results.md.
"""

from opujax import config


def get_config():
  return config.packed_holography(config.with_opu(config.default("mnist", "dfa")))
