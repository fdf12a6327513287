"""The training loop: ``train_and_evaluate(config, workdir)``, setup and then a loop of
steps whose periodic work (logging, checkpoints, evaluation) are actions (`periodic`).

Data live on the device; each epoch's order is a permutation drawn from the seed and
the epoch, each step's key from the seed and the step, so a run resumed from any
checkpoint replays exactly what an uninterrupted run does.
"""

import contextlib
import enum
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from opujax import accounting, averaging, build, checkpoint
from opujax import config as config_lib
from opujax import data as data_lib
from opujax import devices, dfa, environment, files, models, parallel, periodic, tasks
from opujax import workdir as workdir_lib
from opujax.errors import ConfigError, Interrupted, WorkdirError
from opujax.interrupts import Interrupts
from opujax.metrics import MetricWriter, Progress


class Stream(enum.IntEnum):
  """Independent random streams of a run, folded into ``jax.random.key(seed)``."""

  DATA = 1   # each epoch's order
  STEP = 2   # each step's key: dropout, augmentation, the device's noise
  DRIFT = 3  # the medium's drift after a step (folded into the step's key)


@struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  rule: dfa.Rule
  model_state: Any  # Linen collections besides params ({} for none); NNX: non-Param state


def stream(seed: int, s: Stream) -> jax.Array:
  return jax.random.fold_in(jax.random.key(seed), s)


def step_key(seed: int, step) -> jax.Array:
  return jax.random.fold_in(stream(seed, Stream.STEP), step)


def init_variables(model, key, x) -> tuple[Any, Any]:
  """(params, state) of a new model: Linen from ``key``; NNX as built (its own rngs)."""
  if isinstance(model, nnx.Module):
    _, params, state = nnx.split(model, nnx.Param, ...)
    return params, state
  variables = dict(model.init(key, x))
  return variables.pop("params"), variables


def create_train_state(config, model, x, units, optimizer, mesh,
                       rule_fn=build.rule) -> TrainState:
  """Parameters, model state and optimizer state created in their shards on ``mesh``;
  the rule (``rule_fn(config, model, params, x, units, state)``) and its device split
  along its output."""

  def init(key):
    params, model_state = init_variables(model, key, x)
    return params, model_state, optimizer.init(params)

  params, model_state, opt_state = parallel.sharded_init(init, mesh,
                                                         jax.random.key(config.seed))
  rule = rule_fn(config, model, params, x, units, model_state)
  out = None if rule.device is None else rule.device.out_features
  rule = parallel.put(rule, parallel.state_shardings(rule, mesh, out))
  step = parallel.to_global(np.zeros((), np.int32), parallel.replicated(mesh))
  return TrainState(step, params, opt_state, rule, model_state)


def step_batch(task: tasks.Task, train_x, train_y, perm, i, step, *, seed: int,
               batch_size: int, mesh=None):
  """The inputs, targets and key of step ``step``: batch ``i`` of the epoch order
  ``perm``, augmented and preprocessed; the key (dropout, the device's noise) is the
  step's, split from the augmentation's."""
  idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
  x, y = task.batch(train_x, train_y, idx)
  if mesh is not None:
    x = jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh, x.ndim))
  key, k_augment = jax.random.split(step_key(seed, step))
  x, y = task.augment(k_augment, x, y)
  return task.preprocess(x), y, key


def train_step(state: TrainState, train_x, train_y, perm, i, *, task: tasks.Task, update,
               seed: int, batch_size: int, mesh):
  """One update (``update``: a `dfa.train_step_fn`) on batch ``i`` of the epoch order
  ``perm``; then the rule's `after_step` (a drifting medium moves on). Returns the new
  state and (loss, the batch means of the task's other metrics)."""
  x, y, key = step_batch(task, train_x, train_y, perm, i, state.step, seed=seed,
                         batch_size=batch_size, mesh=mesh)
  out = update(state.params, state.opt_state, state.rule, x, y, key, state.model_state)
  metrics = {k: jnp.mean(v) for k, v in task.metrics(out.logits, y).items() if k != "loss"}
  rule = state.rule.after_step(jax.random.fold_in(key, Stream.DRIFT),
                               task.rows(batch_size), state.step + 1)
  return (state.replace(step=state.step + 1, params=out.params, opt_state=out.opt_state,
                        rule=rule, model_state=out.state), (out.loss, metrics))


class Steps(NamedTuple):
  """A run's compiled functions: ``train(state, train_x, train_y, perm, i)``,
  ``evaluate(params, model_state, x, y)`` (`periodic.eval_step`), ``diagnose(state,
  train_x, train_y, perm, i)`` (`dfa.diagnostics_fn` on the batch, augmentation and key
  the step at ``state`` trains with) and ``permute(epoch)`` (the epoch's order)."""

  train: Callable
  evaluate: Callable
  diagnose: Callable
  permute: Callable
  predict: Callable  # (params, model_state, x) -> the model's output, no dropout


def compile_steps(config, task: tasks.Task, model, units, optimizer, state: TrainState,
                  example, items: int, mesh) -> Steps:
  """`Steps` for ``config``: each jitted, its outputs in their shardings on ``mesh``."""
  train_kwargs = build.call_kwargs(model, train=True)
  update = dfa.train_step_fn(model, task.loss, optimizer, units, train_kwargs=train_kwargs)
  rep = parallel.replicated(mesh)
  train = jax.jit(functools.partial(train_step, task=task, update=update, seed=config.seed,
                                    batch_size=config.batch_size, mesh=mesh),
                  out_shardings=(jax.tree.map(lambda a: a.sharding, state), rep),
                  donate_argnums=(0,))
  apply = dfa.adapter.adapter(model, units).apply
  eval_kwargs = build.call_kwargs(model, train=False)
  evaluate = jax.jit(functools.partial(periodic.eval_step, apply=apply, task=task,
                                       call_kwargs=eval_kwargs), out_shardings=rep)
  predict = jax.jit(lambda p, s, x: apply(p, s, x, **eval_kwargs)[0], out_shardings=rep)
  diagnostics = dfa.diagnostics_fn(model, task.loss, state.params, example, units,
                                   train_kwargs=train_kwargs, state=state.model_state)

  def diagnose(s, tx, ty, perm, i):
    x, y, key = step_batch(task, tx, ty, perm, i, s.step, seed=config.seed,
                           batch_size=config.batch_size)
    return diagnostics(s.params, s.rule, x, y, key, s.model_state)

  data_key = stream(config.seed, Stream.DATA)
  permute = jax.jit(lambda epoch: jax.random.permutation(jax.random.fold_in(data_key, epoch),
                                                         items), out_shardings=rep)
  return Steps(train, evaluate, jax.jit(diagnose, out_shardings=rep), permute, predict)


def setup(config):
  """The data, task, model, mesh and the parts a run is made of, before any workdir work.

  Raises:
    ConfigError, data.DataError: what the data or the config refuse.
  """
  ds = data_lib.load(config.dataset, config.data.data_dir or None,
                     config.data.manual_dir or None, config.data.validation)
  task = build.task(config, ds)
  splits = task.splits(ds, config.batch_size)
  if splits.steps_per_epoch < 1:
    raise ConfigError(f"batch_size={config.batch_size} exceeds the training examples of "
                      f"{config.dataset} ({splits.items}).")
  evals = splits.evals
  if config.eval_examples:
    evals = {k: (x[:config.eval_examples], y[:config.eval_examples])
             for k, (x, y) in evals.items()}
  try:
    mesh = parallel.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
    parallel.check_batch(config.batch_size, mesh)
  except ValueError as e:
    raise ConfigError(str(e)) from e
  model = build.model(config, task.outputs(ds))
  example, _ = task.augment(jax.random.key(0), *task.batch(splits.train_x, splits.train_y,
                                                           np.arange(2)))
  return task, splits._replace(evals=evals), mesh, model, jnp.asarray(task.preprocess(example))


def resume(manager, state: TrainState, workdir: Path, config, total: int,
           lead: bool) -> TrainState:
  """The state of the latest good checkpoint in ``workdir`` (``state`` if none); records
  the config and drops the metrics logged after that step.

  Raises:
    WorkdirError: a run of another config, or one past this config's steps.
  """
  if lead and manager.latest_step() is not None:
    workdir_lib.check_config(workdir, config)
  state = checkpoint.restore_latest(manager, state, workdir)
  start = int(state.step)
  if start > total:
    raise WorkdirError(f"{workdir} holds a checkpoint at step {start}, past this config's "
                       f"{total} steps; pass a new --workdir (or the config it was run with).")
  if lead:
    workdir_lib.rewind_metrics(workdir, start)
    workdir_lib.record_config(workdir, config)
  return state


def open_writer(workdir: Path, lead: bool, start: int) -> MetricWriter:
  """The run's writer; resumed at ``start``, what the killed run logged there and keeps
  is written to TensorBoard again (which purged it from ``start`` on)."""
  writer = MetricWriter(workdir, enabled=lead, resumed_at=start or None)
  if lead and start:
    for r in workdir_lib.records(workdir):
      if r["step"] == start:
        writer.write(start, {k: v for k, v in r.items() if k != "step"}, jsonl=False)
  return writer


class EpochOrder:
  """``(perm, i)`` of each step: the epoch's order (drawn once per epoch) and the batch."""

  def __init__(self, permute: Callable, steps_per_epoch: int):
    self.permute, self.steps_per_epoch, self.epoch, self.perm = permute, steps_per_epoch, -1, None

  def __call__(self, step: int):
    epoch, i = divmod(step, self.steps_per_epoch)
    if epoch != self.epoch:
      self.epoch, self.perm = epoch, self.permute(epoch)
    return self.perm, i


def train_and_evaluate(config, workdir: str | Path, quiet: bool = False,
                       rule_fn=build.rule) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns
  the summary also written to ``workdir/summary.json``. ``rule_fn(config, model, params,
  x, units, state)`` builds the learning rule (default `build.rule`: from the config;
  pass your own for a custom feedback device).

  Raises:
    ConfigError, data.DataError, WorkdirError: bad input, before anything is written.
    Diverged: NaN/inf loss; the last good checkpoint is kept.
    WriteFailed: a checkpoint, log or result could not be written (disk full, ...); the
      complete checkpoints are kept.
    Interrupted: SIGINT or SIGTERM; in the loop, after the step in flight, saved there.
  """
  config_lib.validate(config)
  d = config.distributed
  parallel.initialize(d.coordinator, d.processes, d.process_id)
  t_start = time.time()
  with contextlib.ExitStack() as stack:  # the signals' handlers and the workdir's lock
    interrupts = stack.enter_context(Interrupts(jax.process_count()))
    task, splits, mesh, model, example = setup(config)
    units = build.units(config)
    total = config.steps or splits.steps_per_epoch * config.epochs
    optimizer = build.optimizer(config, total)
    state = create_train_state(config, model, example, units, optimizer, mesh, rule_fn)
    lead, workdir = jax.process_index() == 0, Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if lead:
      stack.enter_context(workdir_lib.lock(workdir))
    manager = stack.enter_context(checkpoint.managed(workdir, config.keep_checkpoints))
    state = resume(manager, state, workdir, config, total, lead)
    start = int(state.step)
    steps = compile_steps(config, task, model, units, optimizer, state, example, splits.items,
                          mesh)
    rep = parallel.replicated(mesh)
    train_x, train_y = (parallel.to_global(a, rep) for a in (splits.train_x, splits.train_y))
    rows = task.rows(config.batch_size)
    budget = None if state.rule.device is None else state.rule.device.cost(rows)
    order = EpochOrder(steps.permute, splits.steps_per_epoch)
    diagnose = config.diagnostics_every and not state.rule.exact
    flops = accounting.step_flops(steps.train, (state, train_x, train_y, *order(start)),
                                  state.rule, rows)
    writer = stack.enter_context(contextlib.closing(open_writer(workdir, lead, start)))
    progress = stack.enter_context(contextlib.closing(Progress(total, start, quiet or not lead)))
    schedule = periodic.Schedule(total, splits.steps_per_epoch, config.log_every,
                                 config.checkpoint_every, config.eval_every)
    evaluation = periodic.Evaluate(schedule, writer, steps.evaluate, splits.evals,
                                   task.eval_batch, budget)
    log = periodic.TrainLog(schedule, writer, progress, config.batch_size, manager, workdir,
                            start)
    actions = [log, periodic.Save(schedule, manager), evaluation]
    try:
      with interrupts.deferred():
        for step in range(start, total):
          batch = order(step)
          if diagnose and step % config.diagnostics_every == 0:
            writer.write(step, steps.diagnose(state, train_x, train_y, *batch))
          state, out = steps.train(state, train_x, train_y, *batch)
          for action in actions:
            action(step + 1, state, out)
          if interrupts.stop(step + 1):
            log.keep(step + 1)
            periodic.save_now(manager, step + 1, state)
            raise Interrupted(interrupts.received, step + 1)
      periodic.save_now(manager, total, state)
      history = evaluation.history or [evaluation.results(total, state)]  # resumed when done
      if hasattr(task, "final"):  # the trained model's own figures (`tasks.Task`)
        params = averaging.averaged(state.params, state.opt_state)
        extra = task.final(functools.partial(steps.predict, params, state.model_state),
                           workdir if lead else None)
        history[-1].update(extra)
        if evaluation.history:  # else logged already, by the run that finished
          writer.write(total, extra)
    except jax.errors.JaxRuntimeError as e:  # a device's host error, as its own type
      devices.raise_host_error(state.rule.device, e)
      raise
  summary = summarise(config, task, workdir, history, state, total, start, budget, flops,
                      time.time() - t_start, lead)
  if lead:
    files.write_json(workdir / "summary.json", summary)
  return summary


def summarise(config, task: tasks.Task, workdir: Path, history: list[dict], state, total: int,
              start: int, budget, flops, wall_time_s: float, lead: bool) -> dict:
  """The run's summary: the last evaluation and the best of the task's score over the
  whole run (``final_test_<score>``, ``best_test_<score>``), size, steps, time, the
  device's budget, the step's FLOPs and what ran it (`environment.describe`)."""
  score, mode = task.score
  pick = max if mode == "max" else min
  best = workdir_lib.best(workdir, f"test/{score}", pick) if lead else None
  final = history[-1]
  return {
      "config": config.to_dict(),
      f"final_test_{score}": final[f"test/{score}"],
      f"best_test_{score}": pick(h[f"test/{score}"] for h in history) if best is None else best,
      "final": {k: v for k, v in final.items() if "/" in k and not k.startswith("budget")},
      "parameters": models.param_count(state.params),
      "steps": total,
      "resumed_from_step": start,
      "wall_time_s": wall_time_s,
      "budget": accounting.budget_metrics(budget * total) if budget else None,
      "flops": flops,
      "environment": environment.describe(),
  }
