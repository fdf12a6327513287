"""python -m opujax.run --config configs/fashion_mnist_vit_dfa.py

fashion_mnist: a Vision Transformer (`config.vit`: 4x4 patches, d_model 64, 4 pre-LN
blocks) trained with DFA, each block one feedback unit and the head.
"""

from opujax import config


def get_config():
  return config.vit("dfa")
