"""python -m opujax.run --config configs/fashion_mnist_shallow.py

fashion_mnist: a 784-800-800-10 tanh MLP trained with only the output layer learning (the lower bound).
"""

from opujax import config


def get_config():
  return config.default("fashion_mnist", "shallow")
