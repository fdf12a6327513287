"""Experiment configs: the defaults every file in configs/ starts from, and their
validation (`validate`), run once before any data or model work.

    python -m opujax.run --config configs/<name>.py --config.<key>=<value>
"""

import dataclasses
import math
import re

import ml_collections

from opujax.devices import DFA_CODE
from opujax.errors import ConfigError

REALISTIC_OPU = {
    # Simulated OPU as the published one (its camera: `device.camera`, the `Camera`
    # defaults), the error sent as `devices.DFA_CODE` (encoding, threshold, bits,
    # threshold_by, common_mode: see `devices.Encoding`).
    **DFA_CODE,
    # Transmission-matrix drift per camera frame (0: a stable medium; see
    # SimulatedOPU.drifted); recalibrate_every: steps between measurements of the
    # anchor's I(a) and the all-ones frame's P(1) under drift (0: once, at the start).
    "drift_per_frame": 0.0, "recalibrate_every": 0,
}
# The error code of the Transformers' optical configs (the ViT): 4-bit offset-binary
# planes, 4 DMD frames a projection, for an error of d_model numbers a token that has no
# few large entries for the two-frame `DFA_CODE` to keep (docs/results.md).
PLANES_CODE = {"encoding": "bitplanes", "bits": 4, "common_mode": True}
DENOISERS = ("mlp", "dit")  # `diffusion`'s recipes


TFDS_NAME = re.compile(r"[a-z][a-z0-9_]*(/[\w.-]+)?(:[\d.*]+)?")


def camera(cam=None) -> ml_collections.ConfigDict:
  """A `devices.Camera` (default: the realistic one) as ``device.camera``: its fields,
  with 0 for an automatic ``exposure`` and for ``adc_bits`` meaning no ADC."""
  from opujax.devices.camera import Camera
  fields = dataclasses.asdict(cam or Camera())
  fields.update(exposure=fields["exposure"] or 0.0, adc_bits=fields["adc_bits"] or 0)
  return ml_collections.ConfigDict(fields)


def default(dataset: str = "mnist", rule: str = "dfa") -> ml_collections.ConfigDict:
  """A 784-800-800-10 tanh MLP (dropout 0.2; MNIST images shifted by up to 2 pixels)
  trained with ``rule`` on ``dataset`` for 60 epochs, Adam with a cosine decay."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # A name of `data.DATASETS`, another TFDS name (online), or "package.module:attr" (`data.own`).
  c.dataset = dataset
  # data_dir: TFDS data dir ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets); manual_dir:
  # folder of original files ('' = $OPUJAX_MANUAL_DIR, else download); validation:
  # training examples held out; shift: random translation of each training image by up
  # to this many pixels (0: none; MNIST gains with 2, Fashion-MNIST loses: docs/results.md);
  # flip: mirror each training image left-right with
  # probability 1/2; erase: the probability that a training image has a random rectangle
  # filled with noise (random erasing, `tasks.erase`).
  c.data = ml_collections.ConfigDict({"data_dir": "", "manual_dir": "", "validation": 0,
                                      "shift": 2 if dataset == "mnist" else 0,
                                      "flip": False, "erase": 0.0})
  # name: a model of `build.MODELS` or "package.module:attr"; the other keys are its
  # constructor's keyword arguments (`build.model_kwargs`).
  c.model = ml_collections.ConfigDict({"name": "mlp", "widths": (800, 800),
                                       "activation": "tanh", "dropout": 0.2})
  c.context = 128  # text: the window length (tokens)
  # What is learned and measured: "" (text for a dataset with a vocabulary, else
  # classification), a name of `build.TASKS`, or "package.module:attr" (`build.task`).
  c.task = ""
  c.label_smoothing = 0.0  # classification: train against (1 - α) one-hot + α / classes
  c.rule = rule  # bp | fa | dfa | shallow
  c.units = ()  # feedback units: type names (Dense, Conv, Block) or path regexes
  c.feedback = "independent"  # dfa: each unit its own slice of B, or "shared" (one B)
  # dfa: where the projected error is taken: "" the logits, or a feedback unit's path
  # regex (e.g. "head": the true gradient at the head's input, Launay et al. 2020).
  c.error_at = ""
  # options: the keyword arguments of the device's builder (devices.digital, opu,
  # hardware); camera: the camera of an optical device (opu, hardware).
  c.device = ml_collections.ConfigDict({"name": "digital", "seed": 1,
                                        "options": ml_collections.ConfigDict(),
                                        "camera": camera()})
  # b1, b2, eps: Adam's (adam, adamw); clip: global gradient-norm clipping (0: none);
  # warmup: steps of linear warm-up before the schedule; ema: the decay of a moving
  # average of the parameters that evaluation and a task's final figures use (0: none).
  c.optimizer = ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3,
                                           "schedule": "cosine", "weight_decay": 0.0,
                                           "b1": 0.9, "b2": 0.999, "eps": 1e-8, "clip": 0.0,
                                           "warmup": 0, "ema": 0.0})
  # Devices: a (data, fsdp, tensor) mesh over all of them (-1: the rest); processes:
  # jax.distributed from these keys or $JAX_COORDINATOR_ADDRESS, ... (opujax.parallel).
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.distributed = ml_collections.ConfigDict({"coordinator": "", "processes": 0,
                                             "process_id": -1})
  c.batch_size = 128
  c.epochs = 60
  c.steps = 0  # > 0: train this many steps instead of epochs * steps per epoch
  c.eval_examples = 0  # > 0: evaluate on the first this many examples (text: windows)
  c.eval_every = 1  # epochs between evaluations (and the last step)
  c.log_every = 100
  c.diagnostics_every = 500  # 0: never
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  return c


def lm(rule: str = "dfa") -> ml_collections.ConfigDict:
  """A character-level Transformer LM on tiny_shakespeare (d_model 128, 4 post-LayerNorm
  blocks, 4 heads, context 128, fixed sinusoidal positions; 0.8M parameters), 1500 steps
  of 32 windows, Adam (lr 1e-3, beta2 0.98,
  eps 1e-9, gradients clipped at norm 0.5) with a cosine decay: Launay et al. 2020's
  recipe, for BP and DFA alike. With ``dfa``, the error is taken at the head's input (the
  true gradient there, d_model numbers a token) and projected to every block's output but
  the first's (the embedding learns through the first block); all blocks share one
  feedback matrix (`dfa.dfa`)."""
  c = default("tiny_shakespeare", rule)
  c.model = ml_collections.ConfigDict({"name": "transformer", "d_model": 128, "depth": 4,
                                       "heads": 4, "norm": "post", "positions": "sinusoidal",
                                       "dtype": "auto"})
  c.optimizer.update(learning_rate=1e-3, b2=0.98, eps=1e-9, clip=0.5)
  if rule == "dfa":
    launay_dfa(c)
  c.batch_size = 32
  c.steps = 1500
  c.log_every = 50
  c.diagnostics_every = 250
  c.checkpoint_every = 500
  return c


def launay_dfa(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Launay et al. 2020's DFA for Transformers: the error taken at the head's input (the
  true gradient there, d_model numbers a token), projected by one feedback matrix shared
  by every block but the first (which learns through the second's input) and the head."""
  c.update(feedback="shared", error_at="head", units=("Block_[1-9][0-9]*", "head"))
  return c


def pre_ln(c: ml_collections.ConfigDict, learning_rate: float = 3e-3) -> ml_collections.ConfigDict:
  """The other LM recipe (scale_1b_dfa's and experiments/lm_feedback_matrix.py's):
  pre-LN blocks, learned positions, the error at the logits projected to every block's
  input, Adam unclipped at ``learning_rate``."""
  c.model.update(norm="pre", positions="learned")
  c.optimizer.update(learning_rate=learning_rate, b2=0.999, eps=1e-8, clip=0.0)
  c.error_at, c.units = "", ()
  return c


def stateful(model: str = "resnet", rule: str = "dfa") -> ml_collections.ConfigDict:
  """Fashion-MNIST with a model that carries state besides its weights, Adam with a cosine
  decay. ``resnet`` (Linen, BatchNorm ``batch_stats``): a stride-1 stem of 16 channels
  and 2x2 max pooling, residual blocks of 16, 32 and 64 channels, the flattened 4x4x64
  map through a Dense layer of 256 with BatchNorm, dropout 0.3; training images mirrored
  left-right at random; 10 epochs. With DFA the error is projected to the hidden Dense
  layer's input and the head's input (the convolutional trunk learns through the hidden
  layer's input, as the LM's embedding learns through its first block; fed to the
  feature maps of the earlier blocks, feedback did not align with BP: docs/results.md).
  ``nnx_cnn`` (NNX, BatchNorm and dropout; each conv/Dense layer
  one feedback unit), 3 epochs."""
  c = default("fashion_mnist", rule)
  if model == "resnet":
    c.model = ml_collections.ConfigDict({"name": model, "widths": (16, 32, 64),
                                         "dropout": 0.3, "stem": "pool", "hidden": 256})
    c.data.flip = True
    if rule == "dfa":
      c.units = ("hidden", "head")
    c.epochs = 10
  else:
    c.model = ml_collections.ConfigDict({"name": model, "widths": (32, 64), "dropout": 0.3})
    c.epochs = 3
  return c


def vit(rule: str = "dfa") -> ml_collections.ConfigDict:
  """A Vision Transformer on Fashion-MNIST, named by import path as a user's model would
  be (`opujax.models.vit`): 7x7 patches (16 tokens and a class token), d_model 128, 6
  post-LN blocks of 4 heads, MLP ratio 2, training images mirrored left-right at random;
  Adam 1e-3 (DFA: 3e-3; BP: AdamW 2e-3, weight decay 0.05, and dropout 0.1 after the
  embedding) after 200 steps of warm-up, cosine decay, batch 128, 15 epochs, evaluated
  every 3rd (an evaluation reads 20,000 images). With ``dfa``, Launay et al.'s
  Transformer recipe (as `lm`): the error taken at the head's input, projected by one
  feedback matrix shared by the blocks but the first (which learns through the second's
  input) and the head; fed to every block of a pre-LN ViT, DFA did not learn
  (docs/results.md)."""
  c = patch_transformer(default("fashion_mnist", rule), name="opujax.models.vit:ViT",
                        pool="cls", dropout=0.0)
  c.model.update(patch=7, d_model=128, depth=6)
  c.data.flip, c.epochs, c.eval_every = True, 15, 3
  if rule == "dfa":
    c.optimizer.learning_rate = 3e-3
  if rule == "bp":
    c.optimizer.update(name="adamw", learning_rate=2e-3, weight_decay=0.05)
    c.model.dropout = 0.1
  return c


def patch_transformer(c: ml_collections.ConfigDict, **model) -> ml_collections.ConfigDict:
  """The ViT's and the DiT's recipe: the ``model`` (its name and keys) on 4x4 patches,
  d_model 64, 4 post-LN blocks of 4 heads, MLP ratio 2; each block a feedback unit and
  the head (`launay_dfa` for dfa); Adam after 200 steps of warm-up; 8 epochs."""
  c.model = ml_collections.ConfigDict({**model, "patch": 4, "d_model": 64, "depth": 4,
                                       "heads": 4, "mlp_ratio": 2, "norm": "post"})
  c.units = ("Block", "head")
  if c.rule == "dfa":
    launay_dfa(c)
  c.optimizer.warmup = 200
  c.epochs = 8
  return c


def diffusion(rule: str = "dfa", denoiser: str = "mlp") -> ml_collections.ConfigDict:
  """Denoising diffusion on MNIST (`opujax.diffusion`, by import path as a user's model
  and task are), T = 1000, Adam 3e-3 after 200 steps of warm-up, cosine decay, batch 128,
  10 epochs; evaluated and sampled with the parameters' moving average (decay 0.999). At
  the end, 1,000 DDIM samples (50 steps) are scored by the BP MLP classifier in
  runs/mnist_classifier (``python -m opujax.run --config configs/mnist_bp.py --workdir
  runs/mnist_classifier``).

  ``denoiser="mlp"`` (the shipped configs): `opujax.diffusion.MLP`, class-conditional (10
  % of the training labels dropped), 4 post-LN residual layers of 1,024 with the skip
  gain, predicting v; sampled with classifier-free guidance w = 2, the samples' labels
  balanced. With ``dfa``, the error at the output (784 numbers an image) is projected to
  each layer's input, each its own feedback. ``"dit"``: the DiT recipe of docs/results.md
  9.4, unconditional, ε, on 4x4 patches (d_model 64, 4 post-LN blocks of 4 heads, MLP
  ratio 2, U-ViT's long skips); with ``dfa``, the LM's and the ViT's recipe (the error at
  the head's input, each patch's; one feedback matrix shared by the blocks but the first,
  and the head)."""
  if denoiser not in DENOISERS:
    raise ValueError(f"denoiser={denoiser!r} is not one of {', '.join(DENOISERS)}.")
  c = default("mnist", rule)
  if denoiser == "dit":
    c = patch_transformer(c, name="opujax.diffusion:DiT", steps=1000, long_skips=True,
                          label_classes=0)
  c.data.shift, c.epochs = 0, 10
  c.optimizer.update(learning_rate=3e-3, ema=0.999)
  c.task = "opujax.diffusion:task"
  c.diffusion = ml_collections.ConfigDict({"samples": 1000, "sample_steps": 50,
                                           "classifier": "runs/mnist_classifier",
                                           "min_snr": 0.0, "schedule": "linear",
                                           "eta": 0.0, "prediction": "eps",
                                           "label_dropout": 0.1, "guidance": 0.0})
  if denoiser == "mlp":
    c.model = ml_collections.ConfigDict({"name": "opujax.diffusion:MLP", "patch": 28,
                                         "width": 1024, "depth": 4, "steps": 1000,
                                         "skip_gain": True, "plain": False,
                                         "label_classes": 10})
    c.units = ("Layer_.*", "head")
    c.optimizer.warmup = 200
    c.diffusion.update(prediction="v", guidance=2.0)
  return c


def with_opu(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``c`` through the simulated OPU as published (`REALISTIC_OPU`, realistic camera)."""
  c.device.name = "opu"
  c.device.options = ml_collections.ConfigDict(REALISTIC_OPU)
  return c


def holography(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``c``'s simulated OPU recovering the projection by off-axis holography: speckle of 4
  camera pixels, the reference beam as bright as the speckle of a half-on frame, the
  carrier at (0.32, 0.32) cycles/pixel (grain 4's `speckle.default_carrier`, clear of the
  |S|^2 term for every grain from 3.5)."""
  c.device.options.update(protocol="holography", grain=4.0, reference_power=1.0,
                          carrier=(0.32, 0.32))
  return c


def packed_holography(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``c``'s simulated OPU recovering the projection by off-axis holography through the
  packed rectangle (`speckle.rectangle`): about 6 camera pixels a mode, the least a
  clear sideband needs, the reference beam as bright as the speckle of a half-on frame."""
  c.device.options.update(protocol="holography", pupil="rectangle", reference_power=1.0)
  return c


def code_point(encoding: str, threshold: float = 0.0, bits: int = 4, threshold_by: str = "max",
               common_mode: bool = False) -> dict:
  """Every ``device.options`` key of an error code (`devices.Encoding`), as a sweep point's
  overrides: the point then does not depend on the code its base config ships."""
  return {f"device.options.{k}": v for k, v in dict(
      encoding=encoding, threshold=threshold, bits=bits, threshold_by=threshold_by,
      common_mode=common_mode).items()}


def code_study(base: str, codes: list[dict], reference: str, metric: str) -> dict:
  """A sweep of error codes (each a `code_point`) on the config file ``base``: 400 steps,
  the train loss logged every 25, seed 0, against the config file ``reference`` (digital
  DFA) at the same steps; ``experiments/error_codes.py`` makes its table and picture."""
  return {"base": base, "points": codes, "seeds": [0], "references": [reference],
          "fixed": {"steps": 400, "log_every": 25, "diagnostics_every": 0,
                    "checkpoint_every": 400},
          "metrics": [metric]}


def _choice(name: str, value, allowed) -> None:
  if value not in allowed:
    raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}.")


def _positive(name: str, value) -> None:
  if not isinstance(value, (int, float)) or not 0 < value < math.inf:
    raise ConfigError(f"{name} must be a positive finite number, got {value!r}.")


def _count(name: str, value, minimum: int) -> None:
  if not isinstance(value, int) or value < minimum:
    raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks every value before any data, model or workdir work: names against the
  registries of `build` (and `data`, `dfa`, `devices`), numbers against their ranges,
  the device's options and camera with the code the device itself runs.

  Raises:
    ConfigError: the first bad value, with what is allowed.
  """
  from opujax import build, data, devices, parallel

  if not (data.own.is_path(config.dataset) or TFDS_NAME.fullmatch(config.dataset)):
    raise ConfigError(f"dataset={config.dataset!r} is not one of {', '.join(data.DATASETS)}, "
                      "a TFDS name ('cifar10', 'name/config:1.0.0'), nor an import path "
                      "'package.module:attr'.")
  build.check_task(config)
  build.check_model(config)
  build.check_rule(config)
  _choice("device.name", config.device.name, tuple(devices.BUILDERS))
  _choice("optimizer.name", config.optimizer.name, tuple(build.OPTIMIZERS))
  _choice("optimizer.schedule", config.optimizer.schedule, tuple(build.SCHEDULES))
  for key in ("optimizer.learning_rate", "optimizer.eps", "batch_size", "epochs"):
    sub, _, leaf = key.rpartition(".")
    _positive(key, getattr(config[sub] if sub else config, leaf))
  for key in ("b1", "b2", "ema"):
    if not isinstance(config.optimizer[key], float) or not 0 <= config.optimizer[key] < 1:
      raise ConfigError(f"optimizer.{key} must be in [0, 1), got {config.optimizer[key]!r}.")
  clip = config.optimizer.clip
  if not isinstance(clip, (int, float)) or not 0 <= clip < math.inf:
    raise ConfigError(f"optimizer.clip must be >= 0 (0: no clipping), got "
                      f"{config.optimizer.clip!r}.")
  _count("optimizer.warmup", config.optimizer.warmup, 0)
  text = config.dataset in data.TEXT_DATASETS
  shipped = config.model.name in build.MODELS and config.dataset in data.DATASETS
  if shipped and (config.model.name in build.TEXT_MODELS) != text:
    raise ConfigError("tiny_shakespeare is text for model.name='transformer'; mnist and "
                      "fashion_mnist are images for 'mlp', 'cnn', 'resnet' or 'nnx_cnn'.")
  for key in ("log_every", "checkpoint_every", "keep_checkpoints", "context", "eval_every"):
    _count(key, config[key], 1)
  for key in ("steps", "diagnostics_every", "eval_examples"):
    _count(key, config[key], 0)
  _count("data.shift", config.data.shift, 0)
  smoothing = config.label_smoothing
  if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
    raise ConfigError(f"label_smoothing must be in [0, 1) (0: the labels themselves), got "
                      f"{smoothing!r}.")
  erase = config.data.erase
  if not isinstance(erase, (int, float)) or not 0 <= erase <= 1:
    raise ConfigError(f"data.erase is the probability that a training image has a rectangle "
                      f"erased, in [0, 1] (0: none), got {erase!r}.")
  if build.augments(config) and text:
    raise ConfigError("data.shift, data.flip and data.erase augment images; leave them at 0, "
                      "False and 0 for tiny_shakespeare.")
  try:
    build.camera(config)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"device.camera: {e}") from e
  try:
    devices.check(config.device.name, **build.device_options(config))
  except (TypeError, ValueError) as e:
    raise ConfigError(f"device: {e}") from e
  for axis in parallel.AXES:
    size = config.mesh[axis]
    if not isinstance(size, int) or size == 0 or size < -1:
      raise ConfigError(f"mesh.{axis} must be a positive integer or -1 (the rest), got "
                        f"{size!r}.")


def load_file(path: str):
  """What the ``get_config()`` of the Python file ``path`` returns.

  Raises:
    ConfigError: no such file, no ``get_config``, or the file or ``get_config`` failed
      (a syntax error, a bad import or name, ...), named with its line.
  """
  import importlib.util
  import traceback
  from pathlib import Path

  if not Path(path).is_file():
    raise ConfigError(f"cannot load config file {path!r}: no such file; the configs are in "
                      "configs/")
  spec = importlib.util.spec_from_file_location(Path(path).stem, path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
      raise ConfigError(f"config file {path} does not define get_config(); see configs/ for "
                        "examples")
    return module.get_config()
  except ConfigError:
    raise
  except Exception as e:  # the user's code: any error in it is a config error
    where = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
    line = e.lineno if isinstance(e, SyntaxError) else (where[-1].lineno if where else "?")
    text = e
    while isinstance(text, (AttributeError, KeyError)) and text.args:  # ml_collections
      text = text.args[0]                                # wraps its KeyError's 2-line text
    text = " ".join(str(text).split())
    raise ConfigError(f"config file {path} failed at line {line}: {type(e).__name__}: "
                      f"{text}") from e


def check_key(config, key: str) -> None:
  """Raises ConfigError unless ``key`` (dotted) names a value in ``config``."""
  node = config
  for i, part in enumerate(key.split(".")):
    if not hasattr(node, "keys") or part not in node:
      known = sorted(node.keys()) if hasattr(node, "keys") else []
      where = ".".join(key.split(".")[:i]) or "the config"
      raise ConfigError(f"unknown config key {key!r} ({where} has "
                        + (f"keys: {', '.join(known)})" if known else "no keys below it)"))
    node = node[part]
