"""python -m opujax.run --config configs/fashion_mnist_nnx_dfa_opu.py

fashion_mnist: a BatchNorm + dropout CNN written in Flax NNX (two conv layers, a hidden
Dense layer), trained with optical DFA through the simulated OPU with realistic noise
(8-bit camera, shot and read noise), each conv/Dense layer one feedback unit. The
10-class error goes to the DMD as 4-bit magnitudes in bit planes (8 DMD frames an
example): ternarised, as for the MLP, it trained this model 1.02 points below digital DFA.
"""

from opujax import config


def get_config():
  c = config.with_opu(config.stateful("nnx_cnn", "dfa"))
  c.device.options.update(encoding="bitplanes", bits=4)
  return c
