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
from flax import nnx, struct

from opujax import data as data_lib
from opujax import devices, dfa, models, parallel, plots, report
from opujax.metrics import MetricWriter, Progress

MODELS = ("mlp", "cnn", "resnet", "nnx_cnn", "transformer")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adafactor")
SCHEDULES = ("constant", "cosine")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "auto": None}
UNIT_TYPES = {"Dense": nn.Dense, "Conv": nn.Conv, "Block": models.Block,
              "ResBlock": models.ResBlock, "Attention": nn.MultiHeadDotProductAttention}
NORMS = ("pre", "post")
POSITIONS = ("learned", "sinusoidal")


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
  model_state: Any  # Linen collections besides params ({} for none); NNX: non-Param state


def _choice(name: str, value, allowed) -> None:
  if value not in allowed:
    raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}.")


def _positive(name: str, value) -> None:
  if not isinstance(value, (int, float)) or value <= 0:
    raise ConfigError(f"{name} must be a positive number, got {value!r}.")


def _count(name: str, value, minimum: int) -> None:
  if not isinstance(value, int) or value < minimum:
    raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def validate(config) -> None:
  """Checks what can be checked before touching data, devices or the workdir."""
  _choice("dataset", config.dataset, data_lib.DATASETS)
  _choice("model.name", config.model.name, MODELS)
  _choice("model.dtype", config.model.dtype, tuple(DTYPES))
  _choice("model.norm", config.model.norm, NORMS)
  _choice("model.positions", config.model.positions, POSITIONS)
  _choice("rule", config.rule, dfa.RULES)
  _choice("feedback", config.feedback, ("independent", "shared"))
  _choice("device.name", config.device.name, ("digital", "opu", "hardware"))
  _choice("optimizer.name", config.optimizer.name, OPTIMIZERS)
  _choice("optimizer.schedule", config.optimizer.schedule, SCHEDULES)
  for key in ("optimizer.learning_rate", "optimizer.eps", "batch_size", "epochs"):
    sub, _, leaf = key.rpartition(".")
    _positive(key, getattr(config[sub] if sub else config, leaf))
  for key in ("b1", "b2"):
    if not isinstance(config.optimizer[key], float) or not 0 <= config.optimizer[key] < 1:
      raise ConfigError(f"optimizer.{key} must be in [0, 1), got {config.optimizer[key]!r}.")
  if not isinstance(config.optimizer.clip, (int, float)) or config.optimizer.clip < 0:
    raise ConfigError(f"optimizer.clip must be >= 0 (0: no clipping), got "
                      f"{config.optimizer.clip!r}.")
  _count("optimizer.warmup", config.optimizer.warmup, 0)
  if config.error_at and config.rule != "dfa":
    raise ConfigError("error_at chooses where dfa takes its error; leave it '' for "
                      f"rule={config.rule!r}.")
  if (config.dataset == "tiny_shakespeare") != (config.model.name == "transformer"):
    raise ConfigError("tiny_shakespeare is text for model.name='transformer'; mnist and "
                      "fashion_mnist are images for 'mlp', 'cnn', 'resnet' or 'nnx_cnn'.")
  for key in ("log_every", "checkpoint_every", "keep_checkpoints", "context"):
    _count(key, config[key], 1)
  for key in ("steps", "diagnostics_every", "eval_examples"):
    _count(key, config[key], 0)
  _count("data.shift", config.data.shift, 0)
  _count("device.recalibrate_every", config.device.recalibrate_every, 0)
  options = config.device.options
  if options.get("drift_per_frame") and (config.device.name != "opu" or config.rule != "dfa"
                                         or options.get("storage") == "streamed"):
    raise ConfigError("device.options.drift_per_frame drifts a simulated OPU's medium held "
                      "in memory; it needs device.name='opu', rule='dfa' and storage "
                      "'materialised'.")
  if config.device.recalibrate_every and not options.get("drift_per_frame"):
    raise ConfigError("device.recalibrate_every re-measures a drifting OPU's anchor; set "
                      "device.options.drift_per_frame > 0 or leave it at 0.")
  if config.data.shift and is_lm(config):
    raise ConfigError("data.shift translates images; set it to 0 for tiny_shakespeare.")
  for axis in parallel.AXES:
    size = config.mesh[axis]
    if not isinstance(size, int) or size == 0 or size < -1:
      raise ConfigError(f"mesh.{axis} must be a positive integer or -1 (the rest), got "
                        f"{size!r}.")


def compute_dtype(name: str):
  """``auto``: bfloat16 where the backend is fast at it (GPU, TPU), else float32."""
  if name == "auto":
    return jnp.bfloat16 if jax.default_backend() in ("gpu", "tpu") else jnp.float32
  return DTYPES[name]


def is_lm(config) -> bool:
  return config.model.name == "transformer"


def make_model(config, classes: int) -> nn.Module | nnx.Module:
  """The config's model; an NNX model is built here, from the config's seed."""
  m = config.model
  if m.name == "mlp":
    return models.MLP(tuple(m.widths), classes, m.activation, m.dropout)
  if m.name == "cnn":
    return models.CNN(classes, m.activation)
  if m.name == "resnet":
    return models.ResNet(classes, tuple(m.widths), m.dropout)
  if m.name == "nnx_cnn":
    return models.NNXCNN(classes, tuple(m.widths), dropout=m.dropout,
                         rngs=nnx.Rngs(config.seed))
  return models.TransformerLM(classes, m.d_model, m.depth, m.heads, config.context,
                              dtype=compute_dtype(m.dtype), norm=m.norm,
                              positions=m.positions)


def feedback_units(config) -> tuple:
  if config.units:
    return tuple(UNIT_TYPES.get(u, u) for u in config.units)
  return (models.Block, "head") if is_lm(config) else dfa.DEFAULT_UNITS


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
  o = config.optimizer
  decay = max(total_steps - o.warmup, 1)
  lr = (optax.cosine_decay_schedule(o.learning_rate, decay) if o.schedule == "cosine"
        else o.learning_rate)
  if o.warmup:
    lr = optax.join_schedules([optax.linear_schedule(0.0, o.learning_rate, o.warmup),
                               optax.schedules.constant_schedule(lr) if isinstance(lr, float)
                               else lr], [o.warmup])
  if o.name == "sgd":
    opt = optax.sgd(lr)
  elif o.name == "momentum":
    opt = optax.sgd(lr, momentum=0.9)
  elif o.name == "adamw":
    opt = optax.adamw(lr, o.b1, o.b2, o.eps, weight_decay=o.weight_decay)
  elif o.name == "adafactor":
    opt = optax.adafactor(lr)
  else:
    opt = optax.adam(lr, o.b1, o.b2, o.eps)
  return optax.chain(optax.clip_by_global_norm(o.clip), opt) if o.clip else opt


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


def windows(text: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
  """Non-overlapping (inputs, next characters) windows of ``context`` over ``text``."""
  n = (len(text) - 1) // context
  x = text[:n * context].reshape(n, context).astype(np.int32)
  return x, text[1:n * context + 1].reshape(n, context).astype(np.int32)


def get_batch(train_x, train_y, idx, context: int = 0):
  """Examples ``idx``; for text (context > 0), the windows starting at ``idx``."""
  if not context:
    return train_x[idx], train_y[idx]
  w_BxT1 = train_x[idx[:, None] + jnp.arange(context + 1)].astype(jnp.int32)
  return w_BxT1[:, :-1], w_BxT1[:, 1:]


def shift(key, x_BxHxWxC, pixels: int):
  """Each image translated by its own random offset in [-pixels, pixels]^2, zero fill."""
  p = pixels
  pad = jnp.pad(x_BxHxWxC, ((0, 0), (p, p), (p, p), (0, 0)))
  offsets = jax.random.randint(key, (x_BxHxWxC.shape[0], 2), 0, 2 * p + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), x_BxHxWxC.shape[1:])
  return jax.vmap(crop)(pad, offsets)


def init_variables(model, key, x) -> tuple[Any, Any]:
  """(params, state) of a new model: Linen from ``key``; NNX as built (its own rngs)."""
  if isinstance(model, nnx.Module):
    _, params, state = nnx.split(model, nnx.Param, ...)
    return params, state
  variables = dict(model.init(key, x))
  return variables.pop("params"), variables


def make_rule(config, model, params, x, classes: int, units, state=None) -> dfa.Rule:
  if config.rule in ("bp", "shallow"):
    return dfa.make(config.rule)
  if config.rule == "fa":
    return dfa.fa(model, params, x, seed=config.seed, units=units, state=state)
  del classes
  shared, error_at = config.feedback == "shared", config.error_at or None
  try:
    shape = dfa.layout(model, params, x, units, shared, error_at, state)
    device = devices.make(config.device.name, shape.in_features, shape.out_features,
                          seed=config.device.seed, **config.device.options.to_dict())
  except (TypeError, ValueError) as e:
    raise ConfigError(f"device: {e}") from e
  return dfa.dfa(device, shared, error_at)


def create_train_state(config, model, x, classes: int, units, optimizer, mesh,
                       rule_fn=make_rule) -> TrainState:
  """Parameters, model state and optimizer state created in their shards on ``mesh``;
  the rule (from ``rule_fn``, with `make_rule`'s arguments) and its device split along
  its output."""

  def init(key):
    params, model_state = init_variables(model, key, x)
    return params, model_state, optimizer.init(params)

  params, model_state, opt_state = parallel.sharded_init(init, mesh,
                                                         jax.random.key(config.seed))
  rule = rule_fn(config, model, params, x, classes, units, state=model_state)
  out = getattr(rule.device, "out_features", None)
  rule = parallel.put(rule, parallel.state_shardings(rule, mesh, out))
  step = parallel.to_global(np.zeros((), np.int32), parallel.replicated(mesh))
  return TrainState(step, params, opt_state, rule, model_state)


def step_key(seed: int, step) -> jax.Array:
  return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), step)


def epoch_batch(train_x, train_y, perm, i, config):
  """Batch ``i`` of the epoch order ``perm`` (windows starting there, for text)."""
  idx = jax.lax.dynamic_slice_in_dim(perm, i * config.batch_size, config.batch_size)
  return get_batch(train_x, train_y, idx, config.context if is_lm(config) else 0)


def train_step(state: TrainState, train_x, train_y, perm, i, *, grad, optimizer, config,
               mesh, rows: int):
  """One update on batch ``i`` of the epoch order ``perm`` (``rows`` error vectors:
  examples, or examples x positions for text)."""
  x, y = epoch_batch(train_x, train_y, perm, i, config)
  x = jax.lax.with_sharding_constraint(x, parallel.batch_sharding(mesh, x.ndim))
  key, k_shift = jax.random.split(step_key(config.seed, state.step))
  if config.data.shift:
    x = shift(k_shift, x, config.data.shift)
  loss, grads, aux = grad(state.params, state.rule, preprocess(x, config.dataset), y, key,
                          state.model_state)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  correct = jnp.mean(jnp.argmax(aux["logits"], -1) == y)
  rule = drift(state.rule, jax.random.fold_in(key, 3), state.step + 1, rows,
               config.device.recalibrate_every)
  return (state.replace(step=state.step + 1, params=params, opt_state=opt_state, rule=rule,
                        model_state=aux["state"]), (loss, correct))


def drift(rule: dfa.Rule, key: jax.Array, done: jax.Array | int, rows: int,
          recalibrate_every: int) -> dfa.Rule:
  """The rule after a step's camera frames (``rows`` projections) of transmission-matrix
  drift (simulated OPU with ``drift_per_frame`` > 0; any other rule unchanged), its anchor
  recalibrated when ``done`` (steps done) is a multiple of ``recalibrate_every`` (0:
  never; the step-0 calibration goes stale). Recalibration frames are not budgeted."""
  device = rule.device
  if not getattr(device, "drift_per_frame", 0.0):
    return rule
  device = device.drifted(key, rows * device.frames_per_row)
  if recalibrate_every:
    fresh = device.recalibrated().anchor_reference
    device = device.replace(anchor_reference=jnp.where(
        done % recalibrate_every == 0, fresh, device.anchor_reference))
  return rule.replace(device=device)


def eval_step(params, model_state, x, y, *, apply, dataset):
  logits, _ = apply(params, model_state, preprocess(x, dataset), train=False)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
  return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == y)


def evaluate(eval_fn, params, model_state, x, y, batch: int) -> dict[str, float]:
  """Mean loss and accuracy over every label (every character, for text)."""
  loss, correct = 0.0, 0
  for i in range(0, len(x), batch):
    l, c = eval_fn(params, model_state, x[i:i + batch], y[i:i + batch])
    loss, correct = loss + float(l), correct + int(c)
  return {"loss": loss / y.size, "accuracy": correct / y.size}


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


def _splits(config, ds) -> tuple[np.ndarray, np.ndarray, int, int, dict]:
  """(train x, train y, items to draw from, steps per epoch, {split: (x, y)} to evaluate).

  The ``train_eval`` split is the first training examples (text), as many as the test
  split has, evaluated like it (no dropout, no shift): the train-test gap on equal
  footing (``train/*`` are the running training batches').
  """
  if is_lm(config):
    text, t = ds.train_x, config.context
    evals = {s: windows(x, t) for s, x in (("test", ds.test_x), ("validation", ds.val_x),
                                           ("train_eval", text[:len(ds.test_x)]))}
    return text, ds.train_y, len(text) - t, len(text) // (config.batch_size * t), evals
  n = len(ds.test_x)
  evals = {"test": (ds.test_x, ds.test_y), "validation": (ds.val_x, ds.val_y),
           "train_eval": (ds.train_x[:n], ds.train_y[:n])}
  return ds.train_x, ds.train_y, len(ds.train_x), len(ds.train_x) // config.batch_size, evals


def train_and_evaluate(config, workdir: str | Path, quiet: bool = False,
                       rule_fn=make_rule) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint) and returns
  the summary also written to ``workdir/summary.json``. ``rule_fn(config, model, params,
  x, classes, units)`` builds the learning rule (default `make_rule`: from the config;
  pass your own for a custom feedback device).

  Raises:
    ConfigError, data.DataError: bad configuration or data, before anything is written.
    Diverged: NaN/inf loss; the last good checkpoint is kept.
  """
  import orbax.checkpoint as ocp

  validate(config)
  d = config.distributed
  parallel.initialize(d.coordinator, d.processes, d.process_id)
  t_start = time.time()
  # Several processes: one prepares the dataset, the others wait on its file lock.
  ds = data_lib.load(config.dataset, config.data.data_dir or None,
                     config.data.manual_dir or None, config.data.validation)
  train_x, train_y, n_items, steps_per_epoch, evals = _splits(config, ds)
  if config.eval_examples:
    evals = {k: (x[:config.eval_examples], y[:config.eval_examples]) for k, (x, y) in evals.items()}
  if steps_per_epoch < 1:
    raise ConfigError(f"batch_size={config.batch_size} exceeds the training examples of "
                      f"{config.dataset} ({n_items}).")
  try:
    mesh = parallel.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor)
    parallel.check_batch(config.batch_size, mesh)
  except ValueError as e:
    raise ConfigError(str(e)) from e
  classes = len(ds.vocab) if is_lm(config) else int(ds.train_y.max()) + 1
  model = make_model(config, classes)
  units = feedback_units(config)
  total = config.steps or steps_per_epoch * config.epochs
  optimizer = make_optimizer(config, total)
  context = config.context if is_lm(config) else 0
  example, _ = get_batch(train_x, train_y, np.arange(2), context)
  example = jnp.asarray(preprocess(example, config.dataset))
  state = create_train_state(config, model, example, classes, units, optimizer, mesh,
                             rule_fn)

  lead = jax.process_index() == 0
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
  if start > total:
    manager.close()
    raise ConfigError(f"{workdir} holds a checkpoint at step {start}, past this config's "
                      f"{total} steps; pass a new --workdir (or the config it was run with).")

  grad = dfa.grad_fn(model, xent, units, train_kwargs={"train": True})
  state_sh = jax.tree.map(lambda a: a.sharding, state)
  rep = parallel.replicated(mesh)
  rows = config.batch_size * max(context, 1)
  step_fn = jax.jit(lambda s, tx, ty, p, i: train_step(
      s, tx, ty, p, i, grad=grad, optimizer=optimizer, config=config, mesh=mesh, rows=rows),
                    out_shardings=(state_sh, rep), donate_argnums=(0,))
  apply = dfa.adapter.adapter(model, units).apply
  eval_fn = jax.jit(lambda p, s, x, y: eval_step(p, s, x, y, apply=apply,
                                                 dataset=config.dataset), out_shardings=rep)
  diagnose = dfa.diagnostics_fn(model, xent, state.params, example, units,
                                train_kwargs={"train": True}, state=state.model_state)

  def diag(s, tx, ty, p, i):
    x, y = epoch_batch(tx, ty, p, i, config)
    return diagnose(s.params, s.rule, preprocess(x, config.dataset), y,
                    step_key(config.seed, s.step), s.model_state)

  diag_fn = jax.jit(diag, out_shardings=rep)
  data_key = jax.random.fold_in(jax.random.key(config.seed), 1)
  permute = jax.jit(lambda epoch: jax.random.permutation(
      jax.random.fold_in(data_key, epoch), n_items), out_shardings=rep)
  train_x, train_y = (parallel.to_global(a, rep) for a in (train_x, train_y))
  budget_per_step = state.rule.device.cost(rows) if config.rule == "dfa" else None
  flops = step_flops(step_fn, (state, train_x, train_y, permute(start // steps_per_epoch), 0),
                     state.rule, rows, config.device.recalibrate_every)

  writer = MetricWriter(workdir, enabled=lead)
  progress = Progress(total, start, quiet or not lead)
  history, window, t_log = [], [], time.perf_counter()

  def eval_all(done: int) -> dict:
    results = {"epoch": done / steps_per_epoch}
    for split, (ex, ey) in evals.items():
      if len(ex):
        for k, v in evaluate(eval_fn, state.params, state.model_state, ex, ey,
                             64 if context else 1000).items():
          results[f"{split}/{k}"] = v
    if budget_per_step is not None:
      results.update(_budget_metrics(budget_per_step * done))
    writer.write(done, results)
    return results

  try:
    for step in range(start, total):
      epoch, i = divmod(step, steps_per_epoch)
      if i == 0 or step == start:
        perm = permute(epoch)
      if config.diagnostics_every and step % config.diagnostics_every == 0 and config.rule != "bp":
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

  final = history[-1]
  summary = {
      "config": config.to_dict(),
      "final_test_accuracy": final["test/accuracy"],
      "best_test_accuracy": max(h["test/accuracy"] for h in history),
      "final": {k: v for k, v in final.items() if "/" in k and not k.startswith("budget")},
      "parameters": models.param_count(state.params),
      "steps": total,
      "resumed_from_step": start,
      "wall_time_s": time.time() - t_start,
      "budget": _budget_metrics(budget_per_step * total) if budget_per_step else None,
      "flops": flops,
  }
  if lead:
    write_json_atomic(workdir / "summary.json", summary)
    plots.alignment(workdir)
    report.write(workdir)
  return summary


def step_flops(step_fn, args, rule: dfa.Rule, rows: int,
               recalibrate_every: int) -> dict[str, float] | None:
  """XLA's FLOP counts of one train step and, within it, of the simulated physics: the
  ``rows``-row feedback projection and the medium's drift (0 where absent). None where
  the backend gives no cost analysis before compiling (GPU plugins)."""

  def count(lowered) -> float | None:
    cost = lowered.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) if cost and "flops" in cost else None

  out = {"train_step": count(step_fn.lower(*args)), "projection": 0.0, "drift": 0.0}
  if rule.name == "dfa":
    e = jax.ShapeDtypeStruct((rows, rule.device.in_features), jnp.float32)
    project = jax.jit(lambda device, x, key: device.project(x, key))
    out["projection"] = count(project.lower(rule.device, e, jax.random.key(0)))
  if getattr(rule.device, "drift_per_frame", 0.0):
    step = jax.jit(lambda r, key: drift(r, key, 1, rows, recalibrate_every))
    out["drift"] = count(step.lower(rule, jax.random.key(0)))
  return None if None in out.values() else out


def _budget_metrics(budget: devices.Budget) -> dict[str, float]:
  est = devices.estimate(budget)
  out = {f"budget/{k}": v for k, v in dataclasses.asdict(budget).items()}
  out.update({f"budget/{k}": v for k, v in dataclasses.asdict(est).items()})
  return out
