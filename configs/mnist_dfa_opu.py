"""python -m opujax.run --config configs/mnist_dfa_opu.py

mnist: a 784-800-800-10 tanh MLP trained with optical DFA through the simulated OPU with
realistic noise (8-bit camera, shot and read noise), the error in the shipped code
(`devices.DFA_CODE`: stochastic ternary with the common mode, 2 DMD frames an example).
"""

from opujax import config


def get_config():
  return config.with_opu(config.default("mnist", "dfa"))
