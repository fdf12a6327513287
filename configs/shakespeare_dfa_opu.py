"""python -m opujax.run --config configs/shakespeare_dfa_opu.py

tiny_shakespeare: the character-level Transformer LM trained with optical DFA, each block
one feedback unit, the error of every position projected through the simulated OPU with
realistic noise (8-bit camera, shot and read noise, ternarised error).
"""

from opujax import config


def get_config():
  return config.with_opu(config.lm("dfa"))
