"""python -m opujax.run --config configs/shakespeare_dfa_opu.py

tiny_shakespeare: shakespeare_dfa's LM and recipe with the error (the gradient at the
head's input, 128 numbers a token) projected through the simulated OPU with realistic
noise (8-bit camera, shot and read noise), sent to the DMD in the shipped code
(`devices.DFA_CODE`: 2 DMD frames, 4 camera frames a token).
"""

from opujax import config


def get_config():
  return config.with_opu(config.lm("dfa"))
