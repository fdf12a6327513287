"""python -m opujax.run --config configs/mnist_diffusion_dfa_opu.py

mnist: `mnist_diffusion_dfa` through the simulated OPU with realistic noise, the error (784
numbers an image, at the output) sent as the MLP's two-frame code (`devices.DFA_CODE`, in
`config.REALISTIC_OPU`); its 1,000 DDIM samples scored by the classifier in
runs/mnist_classifier (made by `python -m opujax.run --config configs/mnist_bp.py
--workdir runs/mnist_classifier`).
"""

from opujax import config


def get_config():
  return config.with_opu(config.diffusion("dfa"))
