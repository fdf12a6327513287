"""python -m opujax.run --config configs/shakespeare_dfa_opu.py

tiny_shakespeare: the character-level Transformer LM trained with optical DFA, each block
one feedback unit, the error of every position projected through the simulated OPU with
realistic noise (8-bit camera, shot and read noise) and sent to the DMD in 8 bit planes:
a ternarised 65-class error teaches the LM no more than character frequencies
(experiments/lm_feedback_matrix.py).
"""

from opujax import config


def get_config():
  c = config.with_opu(config.lm("dfa"))
  c.device.options.encoding = "bitplanes"  # 16 DMD frames, 32 camera frames a projection
  return c
