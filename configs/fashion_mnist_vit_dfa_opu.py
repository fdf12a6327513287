"""python -m opujax.run --config configs/fashion_mnist_vit_dfa_opu.py

fashion_mnist: a Vision Transformer (`config.vit`: 7x7 patches, d_model 128, 4 post-LN
blocks) trained with optical DFA through the simulated OPU with realistic noise (Launay
et al.'s recipe, as `fashion_mnist_vit_dfa`; the error sent in the shipped code,
`devices.DFA_CODE`).
"""

from opujax import config


def get_config():
  return config.with_opu(config.vit("dfa"))
