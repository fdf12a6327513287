"""python -m opujax.run --config configs/fashion_mnist_resnet_dfa_opu.py

fashion_mnist: a small BatchNorm ResNet (Linen: stem, residual blocks of 16, 32, 64
channels, batch_stats), trained with optical DFA through the simulated OPU with
realistic noise (8-bit camera, shot and read noise, ternarised error), each residual
block one feedback unit.
"""

from opujax import config


def get_config():
  return config.with_opu(config.stateful("resnet", "dfa"))
