"""opujax.periodic's schedule: when a run evaluates."""

import types

import numpy as np
import optax

from opujax import periodic


class Recorder:
  def __init__(self):
    self.steps = []

  def write(self, step, metrics):
    self.steps.append(step)


def test_evaluations_fall_every_eval_every_epochs_and_at_the_last_step():
  """10 steps an epoch, 75 steps, every 3rd epoch: evaluated at 30, 60 and 75 only, each
  time on the split's examples (the mean of the batches' sums over their counts)."""
  schedule = periodic.Schedule(75, 10, log_every=5, checkpoint_every=100, eval_every=3)
  writer, x = Recorder(), np.arange(7.0)

  def eval_fn(params, model_state, xb, yb):
    return {"loss": xb.sum() * params}, {"loss": len(xb)}

  evaluation = periodic.Evaluate(schedule, writer, eval_fn, {"test": (x, x)}, eval_batch=3)
  state = types.SimpleNamespace(params=2.0, opt_state=optax.EmptyState(), model_state=None)
  for done in range(1, 76):
    evaluation(done, state, None)
  assert writer.steps == [30, 60, 75]
  assert [h["epoch"] for h in evaluation.history] == [3.0, 6.0, 7.5]
  assert evaluation.history[-1]["test/loss"] == 2.0 * x.mean()
  every_epoch = periodic.Schedule(75, 10, log_every=5, checkpoint_every=100)
  assert [d for d in range(1, 76) if every_epoch.evaluate(d)] == [*range(10, 71, 10), 75]
