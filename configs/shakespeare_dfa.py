"""python -m opujax.run --config configs/shakespeare_dfa.py

tiny_shakespeare: a character-level Transformer LM (4 post-LayerNorm blocks, d_model 128,
sinusoidal positions) trained with DFA as Launay et al. 2020 do: the true gradient at the
head's input projected (exact digital projection, one matrix shared by the blocks) to
every block's output but the first's; Adam with beta2 0.98, clipping at 0.5.
"""

from opujax import config


def get_config():
  return config.lm("dfa")
