"""python -m opujax.run --config configs/fashion_mnist_vit_dfa_opu.py

fashion_mnist: a Vision Transformer (`config.vit`: 4x4 patches, d_model 64, 4 pre-LN
blocks) trained with optical DFA through the simulated OPU with realistic noise, each
block one feedback unit, the error sent in the shipped code (`devices.DFA_CODE`).
"""

from opujax import config


def get_config():
  return config.with_opu(config.vit("dfa"))
