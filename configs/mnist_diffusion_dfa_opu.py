"""python -m opujax.run --config configs/mnist_diffusion_dfa_opu.py

mnist: a DDPM denoiser (`config.diffusion`: a DiT on 4x4 patches) trained with optical DFA
through the simulated OPU with realistic noise, the error (d_model numbers a patch, at the
head's input) sent as 4-bit offset-binary planes as the ViT's (`config.PLANES_CODE`); its
1,000 DDIM samples scored by the classifier in runs/mnist_classifier (made by `python -m
opujax.run --config configs/mnist_bp.py --workdir runs/mnist_classifier`).
"""

from opujax import config


def get_config():
  c = config.with_opu(config.diffusion("dfa"))
  c.device.options.update(config.PLANES_CODE)
  return c
