"""The training loop: ``train_and_evaluate(config, workdir)``.

Data live on the device; each epoch's order is a permutation drawn from the seed and
the epoch, each step's key from the seed and the step, so a run resumed from any
checkpoint replays exactly what an uninterrupted run does.
"""

import dataclasses
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from opujax import data as data_lib
from opujax import devices, dfa, models
from opujax.metrics import MetricWriter, Progress

MODELS = ("mlp", "cnn", "transformer")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine")
UNIT_TYPES = {"Dense": nn.Dense, "Conv": nn.Conv, "Block": models.Block}


class ConfigError(ValueError):
  """A config value that cannot run, with what is allowed."""


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""


@struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  rule: dfa.Rule


def _choice(name: str, value, allowed) -> None:
  if value not in allowed:
    raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}.")


def _positive(name: str, value) -> None:
  if not isinstance(value, (int, float)) or value <= 0:
    raise ConfigError(f"{name} must be a positive number, got {value!r}.")


def validate(config) -> None:
  """Checks what can be checked before touching data or the workdir."""
  _choice("dataset", config.dataset, data_lib.DATASETS)
  _choice("model.name", config.model.name, MODELS)
  _choice("rule", config.rule, dfa.RULES)
  _choice("device.name", config.device.name, ("digital", "opu", "hardware"))
  _choice("optimizer.name", config.optimizer.name, OPTIMIZERS)
  _choice("optimizer.schedule", config.optimizer.schedule, SCHEDULES)
  for key in ("optimizer.learning_rate", "batch_size", "epochs"):
    sub, _, leaf = key.rpartition(".")
    _positive(key, getattr(config[sub] if sub else config, leaf))
  if config.dataset == "tiny_shakespeare" or config.model.name == "transformer":
    raise ConfigError("the language-model loop (tiny_shakespeare with model.name="
                      "'transformer') is not built yet; train mlp or cnn on mnist or "
                      "fashion_mnist.")
  for key in ("log_every", "checkpoint_every", "keep_checkpoints"):
    if not isinstance(config[key], int) or config[key] < 1:
      raise ConfigError(f"{key} must be an integer >= 1, got {config[key]!r}.")


def make_model(config, classes: int) -> nn.Module:
  m = config.model
  if m.name == "mlp":
    return models.MLP(tuple(m.widths), classes, m.activation, m.dropout)
  if m.name == "cnn":
    return models.CNN(classes, m.activation)
  return models.TransformerLM(classes, m.d_model, m.depth, m.heads, config.context)


def feedback_units(config) -> tuple:
  if config.units:
    return tuple(UNIT_TYPES.get(u, u) for u in config.units)
  return (models.Block, "head") if config.model.name == "transformer" else dfa.DEFAULT_UNITS


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
  o = config.optimizer
  lr = (optax.cosine_decay_schedule(o.learning_rate, total_steps) if o.schedule == "cosine"
        else o.learning_rate)
  if o.name == "sgd":
    return optax.sgd(lr)
  if o.name == "momentum":
    return optax.sgd(lr, momentum=0.9)
  if o.name == "adamw":
    return optax.adamw(lr, weight_decay=o.weight_decay)
  return optax.adam(lr)


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


# Pixel mean and standard deviation over the training images (in [0, 1]); inputs are
# standardised with them, which keeps a tanh network's first layer in its linear range.
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}


def preprocess(x, dataset: str = "mnist"):
  if dataset not in PIXEL_STATS:
    return x
  mean, std = PIXEL_STATS[dataset]
  return (x.astype(jnp.float32) / 255.0 - mean) / std


def make_rule(config, model, params, x, classes: int, units) -> dfa.Rule:
  if config.rule in ("bp", "shallow"):
    return dfa.make(config.rule)
  if config.rule == "fa":
    return dfa.fa(model, params, x, seed=config.seed, units=units)
  logits = jax.eval_shape(lambda p: model.apply({"params": p}, x), params)
  size = dfa.feedback_size(model, params, x, logits_ndim=logits.ndim, units=units)
  try:
    device = devices.make(config.device.name, classes, size, seed=config.device.seed,
                          **config.device.options.to_dict())
  except (TypeError, ValueError) as e:
    raise ConfigError(f"device: {e}") from e
  return dfa.dfa(device)


def create_train_state(config, model, x, classes: int, units, optimizer) -> TrainState:
  params = model.init(jax.random.key(config.seed), x)["params"]
  rule = make_rule(config, model, params, x, classes, units)
  return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), rule)


def train_step(state: TrainState, train_x, train_y, idx, key, *, grad, optimizer, dataset):
  x, y = train_x[idx], train_y[idx]
  loss, grads, aux = grad(state.params, state.rule, preprocess(x, dataset), y, key)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  correct = jnp.mean(jnp.argmax(aux["logits"], -1) == y)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), (loss, correct)


def eval_step(params, x, y, *, model, dataset):
  logits = model.apply({"params": params}, preprocess(x, dataset))
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
  return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == y)


def evaluate(eval_fn, params, x, y, batch: int) -> dict[str, float]:
  loss, correct = 0.0, 0
  for i in range(0, len(x), batch):
    l, c = eval_fn(params, x[i:i + batch], y[i:i + batch])
    loss, correct = loss + float(l), correct + int(c)
  return {"loss": loss / len(x), "accuracy": correct / len(x)}


def _savable(tree):
  """Typed PRNG keys as their raw uint32 data, which orbax can store."""
  return jax.tree.map(lambda a: jax.random.key_data(a) if jnp.issubdtype(
      getattr(a, "dtype", None), jax.dtypes.prng_key) else a, tree)


def _restore_keys(template, tree):
  return jax.tree.map(lambda t, a: jax.random.wrap_key_data(a) if jnp.issubdtype(
      getattr(t, "dtype", None), jax.dtypes.prng_key) else a, template, tree)


def write_json_atomic(path: Path, obj) -> None:
  with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
    json.dump(obj, f, indent=1, default=str)
  os.replace(f.name, path)


def train_and_evaluate(config, workdir: str | Path, quiet: bool = False) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns
  the summary also written to ``workdir/summary.json``.

  Raises:
    ConfigError, data.DataError: bad configuration or data, before anything is written.
    Diverged: NaN/inf loss; the last good checkpoint is kept.
  """
  import orbax.checkpoint as ocp

  validate(config)
  t_start = time.time()
  ds = data_lib.load(config.dataset, config.data.data_dir or None,
                     config.data.manual_dir or None, config.data.validation)
  n_train = len(ds.train_x)
  if config.batch_size > n_train:
    raise ConfigError(f"batch_size={config.batch_size} exceeds the {n_train} training "
                      f"examples of {config.dataset}.")
  classes = int(ds.train_y.max()) + 1
  model = make_model(config, classes)
  units = feedback_units(config)
  steps_per_epoch = n_train // config.batch_size
  total = steps_per_epoch * config.epochs
  optimizer = make_optimizer(config, total)
  example = jnp.asarray(preprocess(ds.train_x[:config.batch_size], config.dataset))
  state = create_train_state(config, model, example[:2], classes,
                             units, optimizer)

  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  manager = ocp.CheckpointManager(
      (workdir / "checkpoints").absolute(),
      options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints))
  if manager.latest_step() is not None:
    try:
      restored = manager.restore(manager.latest_step(),
                                 args=ocp.args.StandardRestore(_savable(state)))
    except (ValueError, KeyError, TypeError) as e:
      manager.close()
      raise ConfigError(f"{workdir} holds a checkpoint (step {manager.latest_step()}) of a "
                        "different model, rule or optimizer; resume with its own config or "
                        "pass a new --workdir.") from e
    state = _restore_keys(state, restored)
  start = int(state.step)

  grad = dfa.grad_fn(model, xent, units, train_kwargs={"train": True})
  step_fn = jax.jit(lambda s, tx, ty, i, k: train_step(
      s, tx, ty, i, k, grad=grad, optimizer=optimizer, dataset=config.dataset),
                    donate_argnums=(0,))
  eval_fn = jax.jit(lambda p, x, y: eval_step(p, x, y, model=model, dataset=config.dataset))
  diag_fn = jax.jit(dfa.diagnostics_fn(model, xent, state.params, example, units))
  train_x, train_y = jnp.asarray(ds.train_x), jnp.asarray(ds.train_y)
  seed = jax.random.key(config.seed)
  data_key, step_key = jax.random.split(jax.random.fold_in(seed, 1))
  budget_per_step = state.rule.device.cost(config.batch_size) if config.rule == "dfa" else None

  writer = MetricWriter(workdir)
  progress = Progress(total, start, quiet)
  history, window, t_log = [], [], time.perf_counter()

  def eval_all(done: int) -> dict:
    results = {"epoch": done / steps_per_epoch}
    for split, (ex, ey) in {"test": (ds.test_x, ds.test_y),
                            "validation": (ds.val_x, ds.val_y)}.items():
      if len(ex):
        for k, v in evaluate(eval_fn, state.params, ex, ey, 1000).items():
          results[f"{split}/{k}"] = v
    if budget_per_step is not None:
      results.update(_budget_metrics(budget_per_step * done))
    writer.write(done, results)
    return results

  try:
    for step in range(start, total):
      epoch, i = divmod(step, steps_per_epoch)
      if i == 0 or step == start:
        perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n_train)
      idx = jax.lax.dynamic_slice_in_dim(perm, i * config.batch_size, config.batch_size)
      key = jax.random.fold_in(step_key, step)
      if config.diagnostics_every and step % config.diagnostics_every == 0 and config.rule != "bp":
        x, y = preprocess(train_x[idx], config.dataset), train_y[idx]
        writer.write(step, diag_fn(state.params, state.rule, x, y, key))
      state, (loss, acc) = step_fn(state, train_x, train_y, idx, key)
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
        manager.save(done, args=ocp.args.StandardSave(_savable(state)))
      if done % steps_per_epoch == 0 or done == total:
        history.append(eval_all(done))
    if not history:  # resumed a finished run
      history.append(eval_all(total))
    if manager.latest_step() != total:
      manager.save(total, args=ocp.args.StandardSave(_savable(state)), force=True)
    manager.wait_until_finished()
  finally:
    progress.close()
    writer.close()
    manager.close()

  summary = {
      "config": config.to_dict(),
      "final_test_accuracy": history[-1]["test/accuracy"],
      "best_test_accuracy": max(h["test/accuracy"] for h in history),
      "parameters": models.param_count(state.params),
      "steps": total,
      "resumed_from_step": start,
      "wall_time_s": time.time() - t_start,
      "budget": _budget_metrics(budget_per_step * total) if budget_per_step else None,
  }
  write_json_atomic(workdir / "summary.json", summary)
  return summary


def _budget_metrics(budget: devices.Budget) -> dict[str, float]:
  est = devices.estimate(budget)
  out = {f"budget/{k}": v for k, v in dataclasses.asdict(budget).items()}
  out.update({f"budget/{k}": v for k, v in dataclasses.asdict(est).items()})
  return out
