"""python -m opujax.run --config configs/fashion_mnist_nnx_dfa.py

fashion_mnist: a BatchNorm + dropout CNN written in Flax NNX (two conv layers, a hidden
Dense layer), trained with direct feedback alignment through an exact digital
projection, each conv/Dense layer one feedback unit.
"""

from opujax import config


def get_config():
  return config.stateful("nnx_cnn", "dfa")
