"""python -m opujax.run --config configs/mnist_fa.py

mnist: a 784-800-800-10 tanh MLP trained with feedback alignment.
"""

from opujax import config


def get_config():
  return config.default("mnist", "fa")
