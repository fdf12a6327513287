"""python -m opujax.run --config configs/fashion_mnist_nnx_bp.py

fashion_mnist: a BatchNorm + dropout CNN written in Flax NNX (two conv layers, a hidden
Dense layer), trained with backpropagation, the control.
"""

from opujax import config


def get_config():
  return config.stateful("nnx_cnn", "bp")
