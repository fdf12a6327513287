"""python -m opujax.run --config configs/scale_1b_dfa.py

A 1.0-billion-parameter Transformer LM (20 blocks, d_model 2048, 16 heads, context 128)
trained with DFA (each block one feedback unit, shared feedback) for 4 steps of 4
windows of tiny_shakespeare, on one 2-core, 24 GB CPU machine.

What makes it fit: float32 parameters (4.0 GB) and Adafactor (factored second moments,
no momentum: a few MB of state), parameters and optimizer state donated to the step; DFA
forms no input gradients. Measured: 1.008B parameters, train losses 4.45, 4.43, 4.45,
4.19 and validation 3.87 nats after 4 steps, peak RSS 11.7 GiB, 3.5 minutes
(experiments/results/scale_1b_dfa.json).
Evaluation reads 8 validation and test windows (one 1B forward per 2k characters).
"""

from opujax import config


def get_config():
  c = config.pre_ln(config.lm("dfa"))
  c.model.update(d_model=2048, depth=20, heads=16)
  c.optimizer.update(name="adafactor", learning_rate=1e-2, schedule="constant")
  c.update(dict(batch_size=4, steps=4, log_every=1, diagnostics_every=0,
                checkpoint_every=1000, keep_checkpoints=1, eval_examples=8))
  return c
