"""python -m opujax.run --config configs/fashion_mnist_vit_dfa.py

fashion_mnist: a Vision Transformer (`config.vit`: 7x7 patches, d_model 128, 6 post-LN
blocks) trained with DFA by Launay et al.'s recipe: the error at the head's input, one
feedback matrix shared by blocks 1-3 and the head.
"""

from opujax import config


def get_config():
  return config.vit("dfa")
