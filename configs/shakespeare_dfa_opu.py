"""python -m opujax.run --config configs/shakespeare_dfa_opu.py

tiny_shakespeare: shakespeare_dfa's LM and recipe with the error (the gradient at the
head's input, 128 numbers a token) projected through the simulated OPU with realistic
noise (8-bit camera, shot and read noise), sent to the DMD in 8 bit planes: a ternarised
error teaches an LM little more than character frequencies
(experiments/lm_feedback_matrix.py).
"""

from opujax import config


def get_config():
  c = config.with_opu(config.lm("dfa"))
  c.device.options.encoding = "bitplanes"  # 16 DMD frames, 32 camera frames a projection
  return c
