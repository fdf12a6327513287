"""python -m opujax.run --config configs/scale_1b_dfa_opu.py

scale_1b_dfa's 1.0-billion-parameter Transformer LM, the same initialisation and
batches, with the error projected through the simulated OPU: the realistic camera, the
shipped error code (`devices.DFA_CODE`) and the streamed medium (the transmission
matrix regenerated block by block from its key, never held in memory). 20 steps.
"""

from pathlib import Path

from opujax import config


def get_config():
  c = config.with_opu(config.load_file(str(Path(__file__).with_name("scale_1b_dfa.py"))))
  c.device.options.storage = "streamed"
  return c
