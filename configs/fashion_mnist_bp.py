"""python -m opujax.run --config configs/fashion_mnist_bp.py

fashion_mnist: a 784-800-800-10 tanh MLP trained with backpropagation (the control).
"""

from opujax import config


def get_config():
  return config.default("fashion_mnist", "bp")
