"""python -m opujax.run --config configs/mnist_diffusion_bp.py

mnist: a DDPM denoiser (`config.diffusion`: a DiT on 4x4 patches) trained with backpropagation; its
1,000 DDIM samples scored by the classifier in runs/mnist_classifier (made by `python -m
opujax.run --config configs/mnist_bp.py --workdir runs/mnist_classifier`).
"""

from opujax import config


def get_config():
  return config.diffusion("bp")
