"""python -m opujax.run --config configs/shakespeare_dfa_opu.py

tiny_shakespeare: shakespeare_dfa's LM and recipe with the error (the gradient at the
head's input, 128 numbers a token) projected through the simulated OPU with realistic
noise (8-bit camera, shot and read noise), sent to the DMD as 4-bit magnitudes in bit
planes (8 DMD frames, 16 camera frames a token): a ternarised error teaches an LM little
more than character frequencies (experiments/lm_feedback_matrix.py, pre-LN recipe).
"""

from opujax import config


def get_config():
  c = config.with_opu(config.lm("dfa"))
  c.device.options.update(encoding="bitplanes", bits=4)
  return c
