"""python -m opujax.run --config configs/fashion_mnist_vit_bp.py

fashion_mnist: a Vision Transformer (`config.vit`: 7x7 patches, d_model 128, 6 post-LN
blocks) trained with backpropagation.
"""

from opujax import config


def get_config():
  return config.vit("bp")
