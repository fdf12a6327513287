"""The training loop: ``train_and_evaluate(config, workdir)``.

Data live on the device; each epoch's order is a permutation drawn from the seed and
the epoch, each step's key from the seed and the step, so a run resumed from any
checkpoint replays exactly what an uninterrupted run does.
"""

import contextlib
import enum
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from opujax import accounting, build, checkpoint
from opujax import config as config_lib
from opujax import data as data_lib
from opujax import devices, dfa, files, models, parallel, tasks
from opujax import workdir as workdir_lib
from opujax.errors import ConfigError, Diverged, WorkdirError
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


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


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


def epoch_batch(task: tasks.Task, train_x, train_y, perm, i, batch_size: int):
  """Batch ``i`` of the epoch order ``perm``."""
  idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
  return task.batch(train_x, train_y, idx)


def train_step(state: TrainState, train_x, train_y, perm, i, *, task: tasks.Task, update,
               seed: int, batch_size: int, mesh):
  """One update (``update``: a `dfa.train_step_fn`) on batch ``i`` of the epoch order
  ``perm``; then the rule's `after_step` (a drifting medium moves on)."""
  x, y = epoch_batch(task, train_x, train_y, perm, i, batch_size)
  x = jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh, x.ndim))
  key, k_augment = jax.random.split(step_key(seed, state.step))
  x = task.preprocess(task.augment(k_augment, x))
  out = update(state.params, state.opt_state, state.rule, x, y, key, state.model_state)
  correct = jnp.mean(jnp.argmax(out.logits, -1) == y)
  rule = state.rule.after_step(jax.random.fold_in(key, Stream.DRIFT),
                               task.rows(batch_size), state.step + 1)
  return (state.replace(step=state.step + 1, params=out.params, opt_state=out.opt_state,
                        rule=rule, model_state=out.state), (out.loss, correct))


def eval_step(params, model_state, x, y, *, apply, task: tasks.Task, call_kwargs: dict):
  logits, _ = apply(params, model_state, task.preprocess(x), **call_kwargs)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
  return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == y)


def evaluate(eval_fn, params, model_state, x, y, batch: int) -> dict[str, float]:
  """Mean loss and accuracy over every label (every character, for text)."""
  loss, correct = 0.0, 0
  for i in range(0, len(x), batch):
    l, c = eval_fn(params, model_state, x[i:i + batch], y[i:i + batch])
    loss, correct = loss + float(l), correct + int(c)
  return {"loss": loss / y.size, "accuracy": correct / y.size}


def train_and_evaluate(config, workdir: str | Path, quiet: bool = False,
                       rule_fn=build.rule) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns
  the summary also written to ``workdir/summary.json``. ``rule_fn(config, model, params,
  x, units, state)`` builds the learning rule (default `build.rule`: from the config;
  pass your own for a custom feedback device).

  Raises:
    ConfigError, data.DataError, WorkdirError: bad input, before anything is written.
    Diverged: NaN/inf loss; the last good checkpoint is kept.
  """
  config_lib.validate(config)
  d = config.distributed
  parallel.initialize(d.coordinator, d.processes, d.process_id)
  t_start = time.time()
  # Several processes: one prepares the dataset, the others wait on its file lock.
  ds = data_lib.load(config.dataset, config.data.data_dir or None,
                     config.data.manual_dir or None, config.data.validation)
  task = build.task(config, ds)
  splits = task.splits(ds, config.batch_size)
  evals = splits.evals
  if config.eval_examples:
    evals = {k: (x[:config.eval_examples], y[:config.eval_examples]) for k, (x, y) in evals.items()}
  if splits.steps_per_epoch < 1:
    raise ConfigError(f"batch_size={config.batch_size} exceeds the training examples of "
                      f"{config.dataset} ({splits.items}).")
  try:
    mesh = parallel.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
    parallel.check_batch(config.batch_size, mesh)
  except ValueError as e:
    raise ConfigError(str(e)) from e
  model = build.model(config, task.classes(ds))
  units = build.units(config)
  steps_per_epoch = splits.steps_per_epoch
  total = config.steps or steps_per_epoch * config.epochs
  optimizer = build.optimizer(config, total)
  example, _ = task.batch(splits.train_x, splits.train_y, np.arange(2))
  example = jnp.asarray(task.preprocess(example))
  state = create_train_state(config, model, example, units, optimizer, mesh, rule_fn)

  lead = jax.process_index() == 0
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  with contextlib.ExitStack() as stack:  # the workdir's lock, held to the end
    if lead:
      stack.enter_context(workdir_lib.lock(workdir))
    manager = checkpoint.manager(workdir, config.keep_checkpoints)
    try:
      if lead and manager.latest_step() is not None:
        workdir_lib.check_config(workdir, config)
      state = checkpoint.restore_latest(manager, state, workdir)
    except WorkdirError:
      manager.close()
      raise
    start = int(state.step)
    if start > total:
      manager.close()
      raise WorkdirError(f"{workdir} holds a checkpoint at step {start}, past this config's "
                         f"{total} steps; pass a new --workdir (or the config it was run with).")
    if lead:
      workdir_lib.record_config(workdir, config)
      workdir_lib.rewind_metrics(workdir, start)

    train_kwargs = build.call_kwargs(model, train=True)
    update = dfa.train_step_fn(model, xent, optimizer, units, train_kwargs=train_kwargs)
    state_sh = jax.tree.map(lambda a: a.sharding, state)
    rep = parallel.replicated(mesh)
    rows = task.rows(config.batch_size)
    step_fn = jax.jit(lambda s, tx, ty, p, i: train_step(
        s, tx, ty, p, i, task=task, update=update, seed=config.seed,
        batch_size=config.batch_size, mesh=mesh), out_shardings=(state_sh, rep),
                      donate_argnums=(0,))
    apply = dfa.adapter.adapter(model, units).apply
    eval_fn = jax.jit(lambda p, s, x, y: eval_step(
        p, s, x, y, apply=apply, task=task, call_kwargs=build.call_kwargs(model, train=False)),
                      out_shardings=rep)
    diagnose = dfa.diagnostics_fn(model, xent, state.params, example, units,
                                  train_kwargs=train_kwargs, state=state.model_state)

    def diag(s, tx, ty, p, i):
      x, y = epoch_batch(task, tx, ty, p, i, config.batch_size)
      return diagnose(s.params, s.rule, task.preprocess(x), y, step_key(config.seed, s.step),
                      s.model_state)

    diag_fn = jax.jit(diag, out_shardings=rep)
    data_key = stream(config.seed, Stream.DATA)
    permute = jax.jit(lambda epoch: jax.random.permutation(
        jax.random.fold_in(data_key, epoch), splits.items), out_shardings=rep)
    train_x, train_y = (parallel.to_global(a, rep) for a in (splits.train_x, splits.train_y))
    budget_per_step = None if state.rule.device is None else state.rule.device.cost(rows)
    flops = accounting.step_flops(
        step_fn, (state, train_x, train_y, permute(start // steps_per_epoch), 0), state.rule, rows)

    writer = MetricWriter(workdir, enabled=lead, resumed_at=start or None)
    if lead and start:  # what the killed run logged at ``start`` and keeps: TensorBoard
      for r in workdir_lib.records(workdir):  # purged it from ``start`` on, so again there
        if r["step"] == start:
          writer.write(start, {k: v for k, v in r.items() if k != "step"}, jsonl=False)
    progress = Progress(total, start, quiet or not lead)
    history, window, t_log = [], [], time.perf_counter()

    def eval_all(done: int, log: bool = True) -> dict:
      results = {"epoch": done / steps_per_epoch}
      for split, (ex, ey) in evals.items():
        if len(ex):
          for k, v in evaluate(eval_fn, state.params, state.model_state, ex, ey,
                               task.eval_batch).items():
            results[f"{split}/{k}"] = v
      if budget_per_step is not None:
        results.update(accounting.budget_metrics(budget_per_step * done))
      if log:
        writer.write(done, results)
      return results

    try:
      for step in range(start, total):
        epoch, i = divmod(step, steps_per_epoch)
        if i == 0 or step == start:
          perm = permute(epoch)
        diagnose_now = config.diagnostics_every and step % config.diagnostics_every == 0
        if diagnose_now and not state.rule.exact:
          writer.write(step, diag_fn(state, train_x, train_y, perm, i))
        state, (loss, acc) = step_fn(state, train_x, train_y, perm, i)
        window.append((loss, acc))
        done = step + 1
        log_now = done % config.log_every == 0 or done % steps_per_epoch == 0 or done == total
        save_now = done % config.checkpoint_every == 0 and done != total
        if log_now or save_now:
          losses, accs = (np.asarray(v) for v in zip(*window))
          if not np.all(np.isfinite(losses)):
            raise Diverged(f"the training loss became {losses[~np.isfinite(losses)][0]} at or "
                           f"before step {done}; lower optimizer.learning_rate. The last good "
                           f"checkpoint (step {manager.latest_step()}) is kept in {workdir}.")
        if log_now:
          elapsed = time.perf_counter() - t_log
          writer.write(done, {"train/loss": losses.mean(), "train/accuracy": accs.mean(),
                              "examples_per_s": len(window) * config.batch_size / elapsed})
          progress.update(done, loss=float(losses.mean()), acc=float(accs.mean()))
          window, t_log = [], time.perf_counter()
        if save_now:
          writer.flush()
          checkpoint.save(manager, done, state)
        if done % steps_per_epoch == 0 or done == total:
          history.append(eval_all(done))
      if not history:  # resumed a finished run: evaluated again, logged once already
        history.append(eval_all(total, log=False))
      if manager.latest_step() != total:
        checkpoint.save(manager, total, state, force=True)
      manager.wait_until_finished()
    except jax.errors.JaxRuntimeError as e:  # a device's host error, as its own type
      devices.raise_host_error(state.rule.device, e)
      raise
    finally:
      progress.close()
      writer.close()
      manager.close()

    final = history[-1]
    best = workdir_lib.best(workdir, "test/accuracy") if lead else None
    summary = {
        "config": config.to_dict(),
        "final_test_accuracy": final["test/accuracy"],
        "best_test_accuracy": best or max(h["test/accuracy"] for h in history),
        "final": {k: v for k, v in final.items() if "/" in k and not k.startswith("budget")},
        "parameters": models.param_count(state.params),
        "steps": total,
        "resumed_from_step": start,
        "wall_time_s": time.time() - t_start,
        "budget": accounting.budget_metrics(budget_per_step * total) if budget_per_step else None,
        "flops": flops,
    }
    if lead:
      files.write_json(workdir / "summary.json", summary)
    return summary
