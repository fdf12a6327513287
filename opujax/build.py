"""From a config to the objects a run needs, in one place: the task, the model, the
optimizer, the feedback units, the device and the learning rule. The names a config
may use are the keys of these registries (`config.validate` reads them from here).

The model: ``model.name`` is a key of `MODELS` or an import path ``"package.module:attr"``
(a Linen or NNX module class, or a function returning a module instance); the other
keys of ``config.model`` are its keyword arguments, nothing else. Filled in when the
constructor takes them and the config does not set them: the task's output size (classes;
the vocabulary's size for text; a regression's targets) as the first of `OUTPUT_ARGS` it
takes, ``context`` (text:
the window length), and an NNX ``rngs`` (``nnx.Rngs(config.seed)``); a ``dtype`` given
as a string is a name of `DTYPES`. The model's call gets ``train`` only if it takes it.
"""

import importlib
import inspect
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from opujax import averaging, data, devices, dfa, models, tasks
from opujax.errors import ConfigError, UserError

MODELS: dict[str, Callable] = {"mlp": models.MLP, "cnn": models.CNN, "resnet": models.ResNet,
                               "nnx_cnn": models.NNXCNN, "transformer": models.TransformerLM}
TEXT_MODELS = ("transformer",)
OUTPUT_ARGS = ("num_classes", "classes", "vocab", "vocab_size", "num_outputs", "outputs")
OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda lr, o: optax.sgd(lr),
    "momentum": lambda lr, o: optax.sgd(lr, momentum=0.9),
    "adam": lambda lr, o: optax.adam(lr, o.b1, o.b2, o.eps),
    "adamw": lambda lr, o: optax.adamw(lr, o.b1, o.b2, o.eps, weight_decay=o.weight_decay),
    "adafactor": lambda lr, o: optax.adafactor(lr),
}
SCHEDULES: dict[str, Callable] = {
    "constant": lambda lr, steps: lr,
    "cosine": optax.cosine_decay_schedule,
}
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "auto": None}
UNIT_TYPES = {"Dense": nn.Dense, "Conv": nn.Conv, "Block": models.Block,
              "ResBlock": models.ResBlock, "Attention": nn.MultiHeadDotProductAttention}
OPTICAL = ("opu", "hardware")  # devices with a camera (``device.camera``)


def compute_dtype(name: str):
  """``auto``: bfloat16 where the backend is fast at it (GPU, TPU), else float32."""
  if name == "auto":
    return jnp.bfloat16 if jax.default_backend() in ("gpu", "tpu") else jnp.float32
  return DTYPES[name]


def augments(config) -> bool:
  """Whether the config augments its training images (``data.shift``, ``flip``, ``erase``)."""
  return bool(config.data.shift or config.data.flip or config.data.erase)


def classification(config, ds: data.Dataset) -> tasks.Classification:
  """Classification of ``ds``'s inputs by its integer labels (`tasks.Classification`).

  Raises:
    ConfigError: image augmentation asked of inputs that are not images (N, H, W, C).
    DataError: labels that are not (N,) integers in [0, classes).
  """
  if augments(config) and ds.train_x.ndim != 4:
    raise ConfigError(f"data.shift, data.flip and data.erase augment images (N, H, W, C); "
                      f"{config.dataset} holds inputs of shape {ds.train_x.shape[1:]}: leave "
                      "them at 0, False and 0.")
  classes = int(ds.train_y.max()) + 1 if ds.train_y.size else 0
  for split, x, y in (("train", ds.train_x, ds.train_y), ("test", ds.test_x, ds.test_y),
                      ("val", ds.val_x, ds.val_y)):
    if y.shape != (len(x),) or not jnp.issubdtype(y.dtype, jnp.integer):
      raise data.DataError(f"dataset={config.dataset!r}: {split}_y must be ({len(x)},) integer "
                           f"labels for classification, got shape {y.shape} and dtype "
                           f"{y.dtype}; or name a task of your own (task=...).")
    if y.size and (y.min() < 0 or y.max() >= classes):
      raise data.DataError(f"dataset={config.dataset!r}: {split}_y holds labels outside "
                           f"[0, {classes}) (the training labels').")
  return tasks.Classification(tasks.input_stats(ds), config.data.shift, config.data.flip,
                              config.label_smoothing, config.data.erase)


def text(config, ds: data.Dataset) -> tasks.Text:
  """Next-symbol prediction over windows of ``config.context`` symbols.

  Raises:
    ConfigError: a dataset without a vocabulary, or image augmentation asked of text.
  """
  if augments(config):
    raise ConfigError(f"data.shift, data.flip and data.erase augment images; leave them at 0, "
                      f"False and 0 for {config.dataset} (text).")
  if not ds.vocab:
    raise ConfigError(f"task='text' predicts the next symbol of a text; {config.dataset} is "
                      "not one (no vocab): leave task empty or name another.")
  return tasks.Text(config.context)


TASKS: dict[str, Callable] = {"classification": classification, "text": text}


def _load(kind: str, name: str) -> Callable:
  """The attribute an import path ``"package.module:attr"`` names.

  Raises:
    ConfigError: a name without ':', or a path that does not import.
  """
  module, sep, attr = name.partition(":")
  if not sep or not module or not attr:
    raise ConfigError(f"{kind}={name!r} is not an import path 'package.module:attr'.")
  try:
    return getattr(importlib.import_module(module), attr)
  except Exception as e:  # the user's module: any failure to import it is a config error
    raise ConfigError(f"{kind}={name!r} cannot be loaded: {type(e).__name__}: "
                f"{_one_line(e)}") from e


TASK_ATTRS = ("eval_batch", "score", "outputs", "rows", "splits", "batch", "augment",
              "preprocess", "loss", "metrics")  # what the loop asks of a task (`tasks.Task`)


def check_task(config) -> None:
  """``config.task`` checked before any data: "" (text for a dataset with a vocabulary,
  else classification), a name of `TASKS`, or ``"package.module:attr"`` that imports.

  Raises:
    ConfigError: an unknown name, or a path that does not import.
  """
  if config.task and config.task not in TASKS:
    if ":" not in config.task:
      raise ConfigError(f"task={config.task!r} is not one of {', '.join(TASKS)}, nor an "
                        "import path 'package.module:attr'.")
    _load("task", config.task)


def task(config, ds: data.Dataset) -> tasks.Task:
  """The config's task on ``ds`` (`check_task`): a shipped one, or what the function
  ``config.task`` names returns when called with ``(config, ds)``.

  Raises:
    ConfigError, DataError: the task refuses the config or the data; a user's function
      that fails, or returns something without the attributes of `tasks.Task`.
  """
  if not config.task or config.task in TASKS:
    return TASKS[config.task or ("text" if ds.vocab else "classification")](config, ds)
  try:
    made = _load("task", config.task)(config, ds)
  except UserError:
    raise
  except Exception as e:  # the user's function
    raise ConfigError(f"task={config.task!r} failed: {type(e).__name__}: {_one_line(e)}") from e
  lacking = [a for a in TASK_ATTRS if not hasattr(made, a)]
  if lacking:
    raise ConfigError(f"task={config.task!r} gave a {type(made).__name__} without "
                      f"{', '.join(lacking)}; return an opujax.tasks.Task (e.g. a subclass "
                      "of opujax.tasks.Supervised).")
  return made


def model_constructor(name: str) -> Callable:
  """`MODELS`' entry, or the attribute an import path ``"package.module:attr"`` names.

  Raises:
    ConfigError: an unknown name, or a path that does not import.
  """
  if name in MODELS:
    return MODELS[name]
  if ":" not in name:
    raise ConfigError(f"model.name={name!r} is not one of {', '.join(MODELS)}, nor an import "
                      "path 'package.module:attr'.")
  return _load("model.name", name)


def _signature(constructor: Callable) -> dict[str, inspect.Parameter]:
  """A class's ``__init__`` parameters (an NNX class's own signature is ``*args,
  **kwargs``) or a function's, without ``self`` and a Linen module's ``parent``, ``name``."""
  try:
    fn = constructor.__init__ if isinstance(constructor, type) else constructor
    params = inspect.signature(fn).parameters
  except (TypeError, ValueError) as e:
    raise ConfigError(f"model.name: {constructor!r} is not a module class or a function "
                      "returning a module.") from e
  return {k: p for k, p in params.items() if k not in ("self", "parent", "name")}


def _signature_text(name: str, params: dict[str, inspect.Parameter]) -> str:
  shown = [k if p.default is p.empty else f"{k}={p.default!r}" for k, p in params.items()]
  return f"{name}({', '.join(shown)})"


def model_kwargs(config, outputs: int, check: bool = False) -> dict:
  """The constructor's keyword arguments: ``config.model`` but ``name``, and what the run
  fills in (module doc). ``check``: for `check_model`, touching no JAX backend (which
  ``jax.distributed`` must start first): ``dtype="auto"`` stands as float32, no ``rngs``.

  Raises:
    ConfigError: a key the constructor does not take, or a required one missing.
  """
  signature = _signature(model_constructor(config.model.name))
  open_ended = any(p.kind == p.VAR_KEYWORD for p in signature.values())
  params = {k: p for k, p in signature.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
  kwargs = {k: tuple(v) if isinstance(v, list) else v
            for k, v in config.model.to_dict().items() if k != "name"}
  filled = {}
  output_arg = next((k for k in OUTPUT_ARGS if k in params), None)
  if output_arg:
    filled[output_arg] = outputs
  if "context" in params:
    filled["context"] = config.context
  if "rngs" in params:
    filled["rngs"] = None if check else nnx.Rngs(config.seed)
  unknown = sorted(set(kwargs) - set(params)) if not open_ended else []
  missing = [k for k, p in params.items()
             if p.default is p.empty and k not in kwargs and k not in filled]
  if unknown or missing:
    what = (f"unknown argument(s) {', '.join(unknown)}" if unknown else
            f"missing argument(s) {', '.join(missing)}")
    hint = "the model's keys are these parameters" if unknown else "set them as model.<name>"
    raise ConfigError(f"model: {what} for {_signature_text(config.model.name, params)}; "
                      f"{hint}.")
  if isinstance(kwargs.get("dtype"), str):
    if kwargs["dtype"] not in DTYPES:
      raise ConfigError(f"model.dtype={kwargs['dtype']!r} is not one of {', '.join(DTYPES)}.")
    kwargs["dtype"] = DTYPES[kwargs["dtype"]] or jnp.float32 if check else compute_dtype(
        kwargs["dtype"])
  return {**filled, **kwargs}


def _one_line(e: Exception) -> str:
  return " ".join(str(e).split())


def model(config, outputs: int, check: bool = False) -> nn.Module | nnx.Module:
  """The config's model, built from `model_kwargs` (an NNX model from the config's seed).

  Raises:
    ConfigError: a bad name, path, argument or value (the constructor's ValueError or
      TypeError), or a result that is not a Linen or NNX module.
  """
  kwargs = model_kwargs(config, outputs, check)
  try:
    built = model_constructor(config.model.name)(**kwargs)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"model: {_one_line(e)}") from e
  if not isinstance(built, (nn.Module, nnx.Module)):
    raise ConfigError(f"model.name={config.model.name!r} gave a {type(built).__name__}, not a "
                      "Flax Linen or NNX module.")
  return built


def check_model(config) -> None:
  """`model`'s checks before any data is loaded (2 outputs stand in for the task's): the
  constructor, its arguments and, for a Linen module class (cheap to build: no
  parameters), the values its own checks refuse.

  Raises:
    ConfigError: as `model`.
  """
  constructor = model_constructor(config.model.name)
  if isinstance(constructor, type) and issubclass(constructor, nn.Module):
    model(config, 2, check=True)
  else:
    model_kwargs(config, 2, check=True)


def call_kwargs(model, train: bool) -> dict:
  """``{"train": train}`` for a model whose call takes ``train`` (dropout, BatchNorm), else {}."""
  return {"train": train} if "train" in inspect.signature(model.__call__).parameters else {}


def optimizer(config, total_steps: int) -> optax.GradientTransformation:
  """The optimizer, its learning rate on the schedule (after ``optimizer.warmup`` steps
  of linear warm-up), its updates clipped to global norm ``optimizer.clip`` (0: not),
  the parameters averaged with decay ``optimizer.ema`` (0: not; `averaging`)."""
  o = config.optimizer
  lr = SCHEDULES[o.schedule](o.learning_rate, max(total_steps - o.warmup, 1))
  if o.warmup:
    after = lr if callable(lr) else optax.constant_schedule(lr)
    lr = optax.join_schedules([optax.linear_schedule(0.0, o.learning_rate, o.warmup), after],
                              [o.warmup])
  opt = OPTIMIZERS[o.name](lr, o)
  opt = optax.chain(optax.clip_by_global_norm(o.clip), opt) if o.clip else opt
  return optax.chain(opt, averaging.param_average(o.ema)) if o.get("ema") else opt


def units(config) -> tuple:
  """The feedback units: ``config.units`` (type names of `UNIT_TYPES` or path regexes),
  else every Transformer block and the head, or every Dense and Conv layer."""
  if config.units:
    return tuple(UNIT_TYPES.get(u, u) for u in config.units)
  return (models.Block, "head") if config.model.name in TEXT_MODELS else dfa.DEFAULT_UNITS


def camera(config) -> devices.Camera:
  """``device.camera`` as a `Camera` (0 for ``exposure``: auto; for ``adc_bits``: none)."""
  c = config.device.camera
  return devices.Camera(**{**c.to_dict(), "exposure": c.exposure or None,
                           "adc_bits": c.adc_bits or None})


def device_options(config) -> dict:
  """The keyword arguments of `devices.make` for the config's device."""
  options = {"seed": config.device.seed, **config.device.options.to_dict()}
  if config.device.name in OPTICAL:
    options["camera"] = camera(config)
  return options


def device(config, in_features: int, out_features: int) -> devices.ProjectionDevice:
  try:
    return devices.make(config.device.name, in_features, out_features,
                        **device_options(config))
  except (TypeError, ValueError) as e:
    raise ConfigError(f"device: {e}") from e


def check_rule(config) -> None:
  """The rule's keys, checked before any data: its name, the feedback's sharing, and the
  keys only DFA uses (``error_at``, a drifting medium).

  Raises:
    ConfigError: with what is allowed.
  """
  if config.rule not in dfa.RULES:
    raise ConfigError(f"rule={config.rule!r} is not one of {', '.join(dfa.RULES)}.")
  if config.feedback not in ("independent", "shared"):
    raise ConfigError(f"feedback={config.feedback!r} is not one of independent, shared.")
  if config.error_at and config.rule != "dfa":
    raise ConfigError("error_at chooses where dfa takes its error; leave it '' for "
                      f"rule={config.rule!r}.")
  if config.device.options.get("drift_per_frame") and config.rule != "dfa":
    raise ConfigError("device.options.drift_per_frame drifts the medium DFA projects "
                      "through; it needs rule='dfa'.")


def rule(config, model, params, x, units, state=None) -> dfa.Rule:
  """The config's learning rule for ``model`` at ``params`` on example input ``x``; for
  ``dfa``, its device shaped by the model's `dfa.layout`."""
  if config.rule == "fa":
    return dfa.make("fa", model=model, params=params, x=x, seed=config.seed, units=units,
                    state=state)
  if config.rule != "dfa":
    return dfa.make(config.rule)
  shared, error_at = config.feedback == "shared", config.error_at or None
  try:
    shape = dfa.layout(model, params, x, units, shared, error_at, state)
  except ValueError as e:
    raise ConfigError(f"feedback: {e}") from e
  return dfa.make("dfa", device(config, shape.in_features, shape.out_features), shared,
                  error_at)
