"""The default experiment config; each file in configs/ starts from it."""

import ml_collections

REALISTIC_OPU = {
    # Simulated OPU as the published one: 8-bit camera, shot and read noise, dark
    # signal, the error ternarised into two DMD frames (threshold: 10% of max|e|);
    # bits: the depth of encoding="bitplanes" (2 x bits frames), unused by "ternary".
    "encoding": "ternary", "threshold": 0.1, "bits": 8, "camera": "realistic",
    "photons": 1000.0, "read_noise": 5.0, "adc_bits": 8,
    # Transmission-matrix drift per camera frame (0: a stable medium; see
    # SimulatedOPU.drifted); device.recalibrate_every re-measures the anchor.
    "drift_per_frame": 0.0,
}


def default(dataset: str = "mnist", rule: str = "dfa") -> ml_collections.ConfigDict:
  """A 784-800-800-10 tanh MLP (dropout 0.2; MNIST images shifted by up to 2 pixels)
  trained with ``rule`` on ``dataset`` for 60 epochs, Adam with a cosine decay: 3
  minutes on 2 CPU cores (6.5 through the OPU)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.dataset = dataset
  # data_dir: TFDS data dir ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets); manual_dir:
  # folder of original files ('' = $OPUJAX_MANUAL_DIR, else download); validation:
  # training examples held out; shift: random translation of each training image by up
  # to this many pixels (0: none; MNIST 2: +0.6 points for BP and DFA; Fashion-MNIST
  # loses 1.1 points with it).
  c.data = ml_collections.ConfigDict({"data_dir": "", "manual_dir": "", "validation": 0,
                                      "shift": 2 if dataset == "mnist" else 0})
  c.model = ml_collections.ConfigDict({"name": "mlp", "widths": (800, 800),
                                       "activation": "tanh", "dropout": 0.2, "d_model": 128,
                                       "depth": 2, "heads": 4, "norm": "pre",
                                       "positions": "learned",
                                       "dtype": "auto"})
  c.context = 128  # transformer context (tokens)
  c.rule = rule  # bp | fa | dfa | shallow
  c.units = ()  # feedback units: type names (Dense, Conv, Block) or path regexes
  c.feedback = "independent"  # dfa: each unit its own slice of B, or "shared" (one B)
  # dfa: where the projected error is taken: "" the logits, or a feedback unit's path
  # regex (e.g. "head": the true gradient at the head's input, Launay et al. 2020).
  c.error_at = ""
  # recalibrate_every: steps between measurements of the OPU's anchor I(a) under drift
  # (0: calibrated once, at the start).
  c.device = ml_collections.ConfigDict({"name": "digital", "seed": 1, "recalibrate_every": 0,
                                        "options": ml_collections.ConfigDict()})
  # b1, b2, eps: Adam's (adam, adamw); clip: global gradient-norm clipping (0: none);
  # warmup: steps of linear warm-up before the schedule.
  c.optimizer = ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3,
                                           "schedule": "cosine", "weight_decay": 0.0,
                                           "b1": 0.9, "b2": 0.999, "eps": 1e-8, "clip": 0.0,
                                           "warmup": 0})
  # Devices: a (data, fsdp, tensor) mesh over all of them (-1: the rest); processes:
  # jax.distributed from these keys or $JAX_COORDINATOR_ADDRESS, ... (opujax.parallel).
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.distributed = ml_collections.ConfigDict({"coordinator": "", "processes": 0,
                                             "process_id": -1})
  c.batch_size = 128
  c.epochs = 60
  c.steps = 0  # > 0: train this many steps instead of epochs * steps per epoch
  c.eval_examples = 0  # > 0: evaluate on the first this many examples (text: windows)
  c.log_every = 100
  c.diagnostics_every = 500  # 0: never
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  return c


def lm(rule: str = "dfa") -> ml_collections.ConfigDict:
  """A character-level Transformer LM on tiny_shakespeare (d_model 128, 4 post-LayerNorm
  blocks, 4 heads, context 128, fixed sinusoidal positions; 0.8M parameters), 2000 steps
  of 32 windows, Adam (lr 1e-3, beta2 0.98, eps 1e-9, gradients clipped at norm 0.5)
  with a cosine decay: Launay et al. 2020's recipe, for BP and DFA alike. With ``dfa``,
  the error is taken at the head's input (the true gradient there, d_model numbers a
  token) and projected to every block's output but the first's (the embedding learns
  through the first block); all blocks share one feedback matrix (`dfa.dfa`)."""
  c = default("tiny_shakespeare", rule)
  c.model.name = "transformer"
  c.model.depth = 4
  c.model.norm = "post"
  c.model.positions = "sinusoidal"
  c.optimizer.update(learning_rate=1e-3, b2=0.98, eps=1e-9, clip=0.5)
  if rule == "dfa":
    c.feedback = "shared"
    c.error_at = "head"
    c.units = ("Block_[1-9][0-9]*", "head")
  c.batch_size = 32
  c.steps = 2000
  c.log_every = 50
  c.diagnostics_every = 250
  c.checkpoint_every = 500
  return c


def pre_ln(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The LM recipe `lm` shipped before Launay et al.'s (what scale_1b_dfa and
  experiments/lm_feedback_matrix.py measured): pre-LN blocks, learned positions, the
  error at the logits projected to every block's input, Adam (DFA 3e-3) unclipped."""
  c.model.update(norm="pre", positions="learned")
  c.optimizer.update(learning_rate=3e-3 if c.rule == "dfa" else 1e-3, b2=0.999, eps=1e-8,
                     clip=0.0)
  c.error_at, c.units = "", ()
  return c


def stateful(model: str = "resnet", rule: str = "dfa") -> ml_collections.ConfigDict:
  """Fashion-MNIST with a model that carries state besides its weights: ``resnet`` (Linen,
  BatchNorm ``batch_stats``; with DFA each residual block is one feedback unit) or
  ``nnx_cnn`` (NNX, BatchNorm and dropout; each conv/Dense layer one unit); Adam with a
  cosine decay, 10 epochs."""
  c = default("fashion_mnist", rule)
  c.model.name = model
  if model == "resnet":
    c.model.widths, c.model.dropout = (16, 32, 64), 0.2
    c.units = ("ResBlock", "head")
  else:
    c.model.widths, c.model.dropout = (32, 64), 0.3
  c.epochs = 10
  return c


def with_opu(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  c.device.name = "opu"
  c.device.options = ml_collections.ConfigDict(REALISTIC_OPU)
  return c
