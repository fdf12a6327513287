"""python -m opujax.run --config configs/fashion_mnist_nnx_dfa_opu.py

fashion_mnist: a BatchNorm + dropout CNN written in Flax NNX (two conv layers, a hidden
Dense layer), trained with optical DFA through the simulated OPU with realistic noise
(8-bit camera, shot and read noise), each conv/Dense layer one feedback unit, the
10-class error sent in the shipped code (`devices.DFA_CODE`, 2 DMD frames an example).
"""

from opujax import config


def get_config():
  return config.with_opu(config.stateful("nnx_cnn", "dfa"))
