"""python -m opujax.run --config configs/fashion_mnist_resnet_dfa.py

fashion_mnist: a small BatchNorm ResNet (Linen: a pooling stem, residual blocks of 16,
32, 64 channels, a hidden Dense layer of 256 with BatchNorm; batch_stats), trained with
direct feedback alignment through an exact digital projection: the error goes to the
hidden layer's input (the convolutional trunk learns through it) and the head's input.
"""

from opujax import config


def get_config():
  return config.stateful("resnet", "dfa")
