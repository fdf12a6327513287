"""python -m opujax.run --config configs/fashion_mnist_resnet_dfa.py

fashion_mnist: a small BatchNorm ResNet (Linen: stem, residual blocks of 16, 32, 64
channels, batch_stats), trained with direct feedback alignment through an exact digital
projection, each residual block one feedback unit.
"""

from opujax import config


def get_config():
  return config.stateful("resnet", "dfa")
