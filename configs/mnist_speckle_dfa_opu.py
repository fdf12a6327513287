"""python -m opujax.run --config configs/mnist_speckle_dfa_opu.py

mnist_dfa_opu on a speckle image instead of independent pixels: the field band-limited
to speckle of 4 camera pixels (`device.options.grain`), the projection recovered by the
anchor protocol as mnist_dfa_opu's. The anchor protocol's side of
configs/sweep_holography.py, on the same speckle field as mnist_holography_dfa_opu.
"""

from opujax import config


def get_config():
  c = config.with_opu(config.default("mnist", "dfa"))
  c.device.options.grain = 4.0
  return c
