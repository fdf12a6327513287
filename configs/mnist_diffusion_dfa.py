"""python -m opujax.run --config configs/mnist_diffusion_dfa.py

mnist: a class-conditional DDPM denoiser (`config.diffusion`: an MLP on the whole image,
v-prediction) trained with DFA, the error at the output (784 numbers an image) projected
to each layer's input; its 1,000 DDIM samples, drawn of balanced labels with
classifier-free guidance (w = 2), scored by the classifier in runs/mnist_classifier (made
by `python -m opujax.run --config configs/mnist_bp.py --workdir runs/mnist_classifier`).
"""

from opujax import config


def get_config():
  return config.diffusion("dfa")
