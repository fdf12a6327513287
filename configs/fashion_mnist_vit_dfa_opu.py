"""python -m opujax.run --config configs/fashion_mnist_vit_dfa_opu.py

fashion_mnist: a Vision Transformer (`config.vit`: 7x7 patches, d_model 128, 6 post-LN
blocks) trained with optical DFA through the simulated OPU with realistic noise (Launay
et al.'s recipe, as `fashion_mnist_vit_dfa`). The error, 128 numbers a token taken at the
head's input, is sent as 4-bit offset-binary planes (`config.PLANES_CODE`: 4 DMD frames,
8 camera frames a projection) rather than the MLP's two-frame stochastic code (`devices.DFA_CODE`): with
that code the ViT trails digital DFA by a point, with the planes by a quarter
(docs/results.md).
"""

from opujax import config


def get_config():
  c = config.with_opu(config.vit("dfa"))
  c.device.options.update(config.PLANES_CODE)
  return c
