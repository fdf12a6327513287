"""python -m opujax.run --config configs/fashion_mnist_dfa.py

fashion_mnist: a 784-800-800-10 tanh MLP trained with direct feedback alignment through an exact digital projection.
"""

from opujax import config


def get_config():
  return config.default("fashion_mnist", "dfa")
