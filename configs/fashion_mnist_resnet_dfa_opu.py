"""python -m opujax.run --config configs/fashion_mnist_resnet_dfa_opu.py

fashion_mnist: a small BatchNorm ResNet (Linen: a pooling stem, residual blocks of 16,
32, 64 channels, a hidden Dense layer of 256 with BatchNorm; batch_stats), trained with
optical DFA through the simulated OPU with realistic noise (8-bit camera, shot and read
noise): the error goes to the hidden layer's input and the head's input, sent in the
shipped code (`devices.DFA_CODE`, 2 DMD frames an example).
"""

from opujax import config


def get_config():
  return config.with_opu(config.stateful("resnet", "dfa"))
