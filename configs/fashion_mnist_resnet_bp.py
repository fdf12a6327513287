"""python -m opujax.run --config configs/fashion_mnist_resnet_bp.py

fashion_mnist: a small BatchNorm ResNet (Linen: a pooling stem, residual blocks of 16,
32, 64 channels, a hidden Dense layer of 256 with BatchNorm; batch_stats), trained with
backpropagation, the control.
"""

from opujax import config


def get_config():
  return config.stateful("resnet", "bp")
