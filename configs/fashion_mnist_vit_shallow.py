"""python -m opujax.run --config configs/fashion_mnist_vit_shallow.py

fashion_mnist: a Vision Transformer (`config.vit`: 7x7 patches, d_model 128, 6 post-LN
blocks) with only its head trained (the floor DFA must beat).
"""

from opujax import config


def get_config():
  return config.vit("shallow")
