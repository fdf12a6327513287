"""python -m opujax.run --config configs/shakespeare_bp.py

tiny_shakespeare: a character-level Transformer LM (4 post-LayerNorm blocks, d_model 128,
sinusoidal positions) trained with backpropagation, the control; the same model and
optimiser as shakespeare_dfa.
"""

from opujax import config


def get_config():
  return config.lm("bp")
