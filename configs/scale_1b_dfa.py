"""python -m opujax.run --config configs/scale_1b_dfa.py

A 1.0-billion-parameter Transformer LM (20 blocks, d_model 2048, 16 heads, context 128)
trained with DFA (each block one feedback unit, shared feedback, the error at the
logits) for 20 steps of 4 windows of tiny_shakespeare, on one 2-core, 24 GB CPU machine;
``experiments/scale_1b.py`` runs it beside its optical twin (scale_1b_dfa_opu) and
records both runs' losses, step times and peak RSS.

What makes it fit: float32 parameters (4.0 GB) and Adafactor (factored second moments,
no momentum: a few MB of state), parameters and optimizer state donated to the step; DFA
forms no input gradients. Evaluation reads 8 validation and test windows (one 1B forward
per 2k characters).
"""

from opujax import config


def get_config():
  c = config.pre_ln(config.lm("dfa"))
  c.model.update(d_model=2048, depth=20, heads=16)
  c.optimizer.update(name="adafactor", learning_rate=1e-2, schedule="constant")
  c.update(dict(batch_size=4, steps=20, log_every=1, diagnostics_every=0,
                checkpoint_every=1000, keep_checkpoints=1, eval_examples=8))
  return c
