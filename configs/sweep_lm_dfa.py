"""python -m opujax.sweep --config configs/sweep_lm_dfa.py

Which ingredients of the DFA recipe train the character Transformer LM? The
base is the shipped shakespeare_dfa, Launay et al. 2020's recipe: post-LN blocks, fixed
sinusoidal positions, the error taken at the head's input, one shared feedback matrix
into every block's output but the first's (the embedding learns through block 0), Adam
with beta2 0.98, eps 1e-9, clipping at 0.5, lr 1e-3. Each point undoes one ingredient;
the last ones are the recipe shipped before (pre-LN, learned positions, error at the
logits, every block's input, Adam 3e-3) and one step from it (post-LN). 600 steps each
(validation loss); BP at the same steps as the reference.
"""

OLD_ADAM = {"optimizer.b2": 0.999, "optimizer.eps": 1e-8, "optimizer.clip": 0.0,
            "optimizer.learning_rate": 3e-3}
OLD = {"model.norm": "pre", "model.positions": "learned", "error_at": "", "units": (),
       **OLD_ADAM}


def get_config():
  return {
      "base": "configs/shakespeare_dfa.py",
      "points": [
          {},
          {"model.positions": "learned"},
          {"error_at": ""},
          {"units": ("Block", "head")},
          {"model.norm": "pre"},
          {"units": ("Attention", "Dense")},
          {"feedback": "independent"},
          OLD_ADAM,
          OLD,
          {**OLD, "model.norm": "post"},
      ],
      "fixed": {"steps": 600},
      "seeds": [0],
      "references": ["configs/shakespeare_bp.py"],
      "metrics": ["validation_loss", "minutes"],
  }
