"""python -m opujax.run --config configs/mnist_dfa_hardware.py

mnist: the 784-800-800-10 tanh MLP trained with optical DFA through the `hardware`
device, here driving the emulated DMD and camera (`EmulatedDriver`, NumPy, called from
the jitted step through `jax.pure_callback`, every frame checked). For a real OPU, point
``device.options.driver`` at your factory, e.g. ``--config.device.options.driver=
mylab.opu:connect``, and put its keyword arguments in ``device.options.driver_options``.
"""

import ml_collections

from opujax import config
from opujax.devices import DFA_CODE


def get_config():
  c = config.default("mnist", "dfa")
  c.device.name = "hardware"
  c.device.options = ml_collections.ConfigDict({
      # driver: 'module:factory' or an 'opujax.drivers' entry point; driver_options: its
      # keyword arguments (the emulator: a 4x4 DMD for the 10 error values and the
      # anchor, a 40x40 camera for the 1600 hidden units).
      "driver": "emulated",
      "driver_options": {"dmd_shape": (4, 4), "camera_shape": (40, 40)},
      # exposure: photoelectrons per unit intensity (~1000 e- on the mean pixel);
      # saturation: 'count' or 'error'; the error sent as on the simulated OPU.
      "exposure": 100.0, "saturation": "count", **DFA_CODE,
  })
  return c
