"""From a config to the objects a run needs, in one place: the task, the model, the
optimizer, the feedback units, the device and the learning rule. The names a config
may use are the keys of these registries (`config.validate` reads them from here).
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from opujax import devices, dfa, models, tasks
from opujax.errors import ConfigError

MODELS: dict[str, Callable] = {
    "mlp": lambda c, classes: models.MLP(tuple(c.model.widths), classes, c.model.activation,
                                         c.model.dropout),
    "cnn": lambda c, classes: models.CNN(classes, c.model.activation),
    "resnet": lambda c, classes: models.ResNet(classes, tuple(c.model.widths), c.model.dropout,
                                               c.model.stem, c.model.hidden),
    "nnx_cnn": lambda c, classes: models.NNXCNN(classes, tuple(c.model.widths),
                                                dropout=c.model.dropout,
                                                rngs=nnx.Rngs(c.seed)),
    "transformer": lambda c, classes: models.TransformerLM(
        classes, c.model.d_model, c.model.depth, c.model.heads, c.context,
        dtype=compute_dtype(c.model.dtype), norm=c.model.norm, positions=c.model.positions),
}
TEXT_MODELS = ("transformer",)
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


def task(config) -> tasks.Task:
  if config.model.name in TEXT_MODELS:
    return tasks.Text(config.context)
  return tasks.Images(config.dataset, config.data.shift, config.data.flip)


def model(config, classes: int) -> nn.Module | nnx.Module:
  """The config's model; an NNX model is built here, from the config's seed."""
  return MODELS[config.model.name](config, classes)


def optimizer(config, total_steps: int) -> optax.GradientTransformation:
  """The optimizer, its learning rate on the schedule (after ``optimizer.warmup`` steps
  of linear warm-up), its updates clipped to global norm ``optimizer.clip`` (0: not)."""
  o = config.optimizer
  lr = SCHEDULES[o.schedule](o.learning_rate, max(total_steps - o.warmup, 1))
  if o.warmup:
    after = lr if callable(lr) else optax.constant_schedule(lr)
    lr = optax.join_schedules([optax.linear_schedule(0.0, o.learning_rate, o.warmup), after],
                              [o.warmup])
  opt = OPTIMIZERS[o.name](lr, o)
  return optax.chain(optax.clip_by_global_norm(o.clip), opt) if o.clip else opt


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
