"""The training loop's periodic work, as actions in the shape of clu's ``periodic_actions``:
each is called after every step with the steps done, the state and the step's outputs,
and acts when its schedule says so. The loop (`train.train_and_evaluate`) calls them in
order: the training figures (checked finite) before a checkpoint, a checkpoint before an
evaluation."""

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from opujax import accounting, averaging, checkpoint, files, tasks
from opujax.errors import Diverged
from opujax.metrics import MetricWriter, Progress

WINDOW = "train_window.json"  # `TrainLog.keep`'s file in the workdir


class Schedule(NamedTuple):
  """When a run logs, saves and evaluates."""

  total: int
  steps_per_epoch: int
  log_every: int
  checkpoint_every: int
  eval_every: int = 1  # epochs

  def epoch_end(self, done: int) -> bool:
    return done % self.steps_per_epoch == 0 or done == self.total

  def evaluate(self, done: int) -> bool:
    """The end of every ``eval_every``-th epoch, and the last step."""
    return done == self.total or done % (self.steps_per_epoch * self.eval_every) == 0

  def log(self, done: int) -> bool:
    return done % self.log_every == 0 or self.epoch_end(done)

  def save(self, done: int) -> bool:
    """A periodic checkpoint (the last step's is the loop's own, forced)."""
    return done % self.checkpoint_every == 0 and done != self.total


class TrainLog:
  """The training loss and the task's metrics, averaged over the steps since the last
  log, to the writer (``train/<k>``, ``examples_per_s``) and the progress line at each
  log step; checked finite there and before each checkpoint. A run interrupted between
  two logs keeps its steps' figures (`keep`) for the run resumed there (``start``), which
  then logs what an uninterrupted run does.

  Raises (on call):
    Diverged: a non-finite loss, naming the step and the checkpoint kept.
  """

  def __init__(self, schedule: Schedule, writer: MetricWriter, progress: Progress,
               batch_size: int, manager, workdir: Path, start: int = 0):
    self.schedule, self.writer, self.progress = schedule, writer, progress
    self.batch_size, self.manager, self.workdir = batch_size, manager, workdir
    self.window: list[tuple[Any, dict]] = _kept(workdir / WINDOW, start) if writer.enabled else []
    self.t_log = time.perf_counter()

  def keep(self, done: int) -> None:
    """Writes the figures of the steps since the last log, the run interrupted at ``done``."""
    if self.writer.enabled:
      files.write_json(self.workdir / WINDOW, {"step": done, "window": [
          [float(loss), {k: float(v) for k, v in m.items()}] for loss, m in self.window]})

  def __call__(self, done: int, state, out) -> None:
    del state
    self.window.append(out)
    log_now = self.schedule.log(done)
    if not (log_now or self.schedule.save(done)):
      return
    losses = np.asarray([loss for loss, _ in self.window])
    if not np.all(np.isfinite(losses)):
      raise Diverged(f"the training loss became {losses[~np.isfinite(losses)][0]} at or "
                     f"before step {done}; lower optimizer.learning_rate. The last good "
                     f"checkpoint (step {self.manager.latest_step()}) is kept in "
                     f"{self.workdir}.")
    if not log_now:
      return
    elapsed = time.perf_counter() - self.t_log
    means = {k: np.asarray([m[k] for _, m in self.window]).mean() for k in self.window[0][1]}
    self.writer.write(done, {"train/loss": losses.mean(),
                             **{f"train/{k}": v for k, v in means.items()},
                             "examples_per_s": len(self.window) * self.batch_size / elapsed})
    self.progress.update(done, loss=float(losses.mean()),
                         **{k: float(v) for k, v in means.items()})
    self.window, self.t_log = [], time.perf_counter()


def _kept(path: Path, start: int) -> list[tuple[Any, dict]]:
  """The window `TrainLog.keep` wrote at ``start`` ([] if none, or kept at another step;
  the file is removed)."""
  if not path.is_file():
    return []
  try:
    kept = json.loads(path.read_text())
    window = [(np.float32(loss), {k: np.float32(v) for k, v in m.items()})
              for loss, m in kept["window"]] if kept["step"] == start else []
  except (ValueError, KeyError, TypeError, AttributeError):
    logging.warning("Ignoring %s: damaged (the first training log after it averages fewer "
                    "steps).", path)
    window = []
  path.unlink()
  return window


class Save:
  """A checkpoint every ``schedule.checkpoint_every`` steps."""

  def __init__(self, schedule: Schedule, manager):
    self.schedule, self.manager = schedule, manager

  def __call__(self, done: int, state, out) -> None:
    del out
    if self.schedule.save(done):
      checkpoint.save(self.manager, done, state)


def save_now(manager, done: int, state) -> None:
  """A checkpoint at ``done`` (unless one is there), on disk when this returns."""
  if manager.latest_step() != done:
    checkpoint.save(manager, done, state, force=True)
  checkpoint.finish(manager)


class Evaluate:
  """Every evaluation split's metrics (`evaluate`, of the parameters' average where the
  optimizer keeps one: `averaging`) at the end of every ``eval_every``-th epoch and at the
  last step, logged as ``<split>/<k>`` with the epoch and the device's budget so far;
  ``history`` holds them."""

  def __init__(self, schedule: Schedule, writer: MetricWriter, eval_fn: Callable,
               evals: dict, eval_batch: int, budget_per_step=None):
    self.schedule, self.writer, self.eval_fn = schedule, writer, eval_fn
    self.evals, self.eval_batch, self.budget_per_step = evals, eval_batch, budget_per_step
    self.history: list[dict] = []

  def results(self, done: int, state) -> dict:
    out = {"epoch": done / self.schedule.steps_per_epoch}
    for split, (x, y) in self.evals.items():
      if len(x):
        for k, v in evaluate(self.eval_fn, averaging.averaged(state.params, state.opt_state),
                             state.model_state, x, y, self.eval_batch).items():
          out[f"{split}/{k}"] = v
    if self.budget_per_step is not None:
      out.update(accounting.budget_metrics(self.budget_per_step * done))
    return out

  def __call__(self, done: int, state, out) -> None:
    del out
    if self.schedule.evaluate(done):
      self.history.append(self.results(done, state))
      self.writer.write(done, self.history[-1])


def evaluate(eval_fn, params, model_state, x, y, batch: int) -> dict[str, float]:
  """Each metric's mean over every target of (x, y), in batches: ``eval_fn`` returns
  per-batch (sums, counts) of the task's metrics (`tasks.Task.metrics`)."""
  sums, counts = {}, {}
  for i in range(0, len(x), batch):
    s, n = eval_fn(params, model_state, x[i:i + batch], y[i:i + batch])
    for k in s:
      sums[k], counts[k] = sums.get(k, 0.0) + float(s[k]), counts.get(k, 0) + int(n[k])
  return {k: sums[k] / counts[k] for k in sums}


def eval_step(params, model_state, x, y, *, apply, task: tasks.Task, call_kwargs: dict):
  """The sums and counts of the task's metrics on one batch (no dropout or augmentation)."""
  out, _ = apply(params, model_state, task.preprocess(x), **call_kwargs)
  metrics = task.metrics(out, y)
  return ({k: v.sum() for k, v in metrics.items()},
          {k: np.int32(v.size) for k, v in metrics.items()})
