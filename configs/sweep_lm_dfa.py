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


def get_config():
  return {
      "base": "configs/shakespeare_dfa.py",
      "points": [
          {},
          {"model.norm": "post"},
          {"model.norm": "post", "error_at": "head"},
          {"error_at": "head"},
          {"model.norm": "post", "error_at": "head", "units": MICRO},
          {"units": MICRO},
          {"model.norm": "post", "error_at": "head", **LAUNAY_ADAM,
           "optimizer.learning_rate": 1e-3},
          {"optimizer.learning_rate": 1e-3},
          {"model.norm": "post", "error_at": "head", "units": MICRO, **LAUNAY_ADAM,
           "optimizer.learning_rate": 1e-3},
      ],
      "fixed": {"steps": 600},
      "seeds": [0],
      "references": ["configs/shakespeare_bp.py"],
      "metrics": ["validation_loss", "minutes"],
  }
