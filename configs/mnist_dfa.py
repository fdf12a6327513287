"""python -m opujax.run --config configs/mnist_dfa.py

mnist: a 784-800-800-10 tanh MLP trained with direct feedback alignment through an exact digital projection.
"""

from opujax import config


def get_config():
  return config.default("mnist", "dfa")
