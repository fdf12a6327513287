"""python -m opujax.run --config configs/shakespeare_bp.py

tiny_shakespeare: a character-level Transformer LM (4 pre-LayerNorm blocks, d_model 128)
trained with backpropagation, the control.
"""

from opujax import config


def get_config():
  return config.lm("bp")
