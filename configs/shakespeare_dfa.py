"""python -m opujax.run --config configs/shakespeare_dfa.py

tiny_shakespeare: a character-level Transformer LM (4 pre-LayerNorm blocks, d_model 128)
trained with DFA, each block one feedback unit (exact digital projection).
"""

from opujax import config


def get_config():
  return config.lm("dfa")
