"""python -m opujax.sweep --config configs/sweep_lm_dfa.py

Which DFA recipe trains the character Transformer LM (issue 11)? Each point changes
the shipped shakespeare_dfa (pre-LN blocks, error at the logits, each block one unit,
shared feedback, Adam 3e-3) towards Launay et al. 2020's: post-LN blocks, the error
taken before the head (error_at="head"), "micro" feedback points (attention and each
Dense sublayer: units Attention, Dense), Adam with beta2 0.98, eps 1e-9, clipping at 0.5.
600 steps each (validation loss); BP at the same steps as the reference.
"""

LAUNAY_ADAM = {"optimizer.b2": 0.98, "optimizer.eps": 1e-9, "optimizer.clip": 0.5}
MICRO = ("Attention", "Dense")
# Launay et al.'s recipe: post-LN, error before the head, one feedback point per block
# output, the embedding trained through the first block (no cut at its output).
LAUNAY = {"model.norm": "post", "error_at": "head", "units": ("Block_[1-9][0-9]*", "head"),
          **LAUNAY_ADAM, "optimizer.learning_rate": 1e-3}


def get_config():
  return {
      "base": "configs/shakespeare_dfa.py",
      "points": [
          {},
          {"model.norm": "post"},
          {"model.norm": "post", "error_at": "head"},
          {**LAUNAY},
          {"model.norm": "post", "error_at": "head", **LAUNAY_ADAM,
           "optimizer.learning_rate": 1e-3},
          {**LAUNAY, "error_at": ""},
          {**LAUNAY, "units": ("Block", "head")},
          {"model.norm": "post", "error_at": "head", "units": MICRO},
          {"error_at": "head"},
          {"optimizer.learning_rate": 1e-3},
      ],
      "fixed": {"steps": 600},
      "seeds": [0],
      "references": ["configs/shakespeare_bp.py"],
      "metrics": ["validation_loss", "minutes"],
  }
