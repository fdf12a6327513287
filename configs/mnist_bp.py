"""python -m opujax.run --config configs/mnist_bp.py

mnist: a 784-800-800-10 tanh MLP trained with backpropagation (the control).
"""

from opujax import config


def get_config():
  return config.default("mnist", "bp")
