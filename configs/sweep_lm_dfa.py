"""python -m opujax.sweep --config configs/sweep_lm_dfa.py

Which DFA recipe trains the character Transformer LM (issue 11)? Each point changes
the shipped shakespeare_dfa (pre-LN blocks, error at the logits, each block one unit,
shared feedback, learned positions, Adam 3e-3) towards Launay et al. 2020's: post-LN
blocks, fixed sinusoidal positions, the error taken before the head (error_at="head"),
the embedding trained through the first block, Adam with beta2 0.98, eps 1e-9, clipping
at 0.5, lr 1e-3; then one ingredient of that recipe undone at a time, and "micro"
feedback points (attention and each Dense sublayer: units Attention, Dense).
600 steps each (validation loss); BP at the same steps as the reference.
"""

LAUNAY_ADAM = {"optimizer.b2": 0.98, "optimizer.eps": 1e-9, "optimizer.clip": 0.5}
MICRO = ("Attention", "Dense")
# Launay et al.'s recipe: post-LN, fixed sinusoidal positions, error before the head, one
# feedback point per block output, the embedding trained through the first block (no
# cut at its output).
LAUNAY = {"model.norm": "post", "model.positions": "sinusoidal", "error_at": "head",
          "units": ("Block_[1-9][0-9]*", "head"), **LAUNAY_ADAM,
          "optimizer.learning_rate": 1e-3}


def get_config():
  return {
      "base": "configs/shakespeare_dfa.py",
      "points": [
          {},
          {"model.norm": "post"},
          {"model.norm": "post", "error_at": "head"},
          {**LAUNAY, "model.positions": "learned"},
          {**LAUNAY},
          {**LAUNAY, "error_at": ""},
          {**LAUNAY, "units": ("Block", "head")},
          {**LAUNAY, "model.norm": "pre"},
          {**LAUNAY, "units": MICRO},
          {"model.positions": "sinusoidal"},
      ],
      "fixed": {"steps": 600},
      "seeds": [0],
      "references": ["configs/shakespeare_bp.py"],
      "metrics": ["validation_loss", "minutes"],
  }
