"""The default experiment config; each file in configs/ starts from it."""

import ml_collections

REALISTIC_OPU = {
    # Simulated OPU as the published one: 8-bit camera, shot and read noise, dark
    # signal, the error ternarised into two DMD frames (threshold: 10% of max|e|).
    "encoding": "ternary", "threshold": 0.1, "camera": "realistic", "photons": 1000.0,
    "read_noise": 5.0, "adc_bits": 8,
}


def default(dataset: str = "mnist", rule: str = "dfa") -> ml_collections.ConfigDict:
  """A 784-800-800-10 tanh MLP (dropout 0.2) trained with ``rule`` on ``dataset`` for 60
  epochs, Adam with a cosine decay: 3 minutes on 2 CPU cores (6.5 through the OPU)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.dataset = dataset
  # data_dir: TFDS data dir ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets); manual_dir:
  # folder of original files ('' = $OPUJAX_MANUAL_DIR, else download); validation:
  # training examples held out.
  c.data = ml_collections.ConfigDict({"data_dir": "", "manual_dir": "", "validation": 0})
  c.model = ml_collections.ConfigDict({"name": "mlp", "widths": (800, 800),
                                       "activation": "tanh", "dropout": 0.2, "d_model": 128,
                                       "depth": 2, "heads": 4})
  c.context = 128  # transformer context (tokens)
  c.rule = rule  # bp | fa | dfa | shallow
  c.units = ()  # feedback units: type names (Dense, Conv, Block) or path regexes
  c.device = ml_collections.ConfigDict({"name": "digital", "seed": 1,
                                        "options": ml_collections.ConfigDict()})
  c.optimizer = ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3,
                                           "schedule": "cosine", "weight_decay": 0.0})
  c.batch_size = 128
  c.epochs = 60
  c.log_every = 100
  c.diagnostics_every = 500  # 0: never
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  return c


def with_opu(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  c.device.name = "opu"
  c.device.options = ml_collections.ConfigDict(REALISTIC_OPU)
  return c
