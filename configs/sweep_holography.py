"""python -m opujax.sweep --config configs/sweep_holography.py --parallel 2

A sweep on MNIST: optical DFA through holography
(mnist_holography_dfa_opu) against its speckle grain and reference power, one axis at a
time, its carrier (from 0.22 cycles/pixel, where the sideband overlaps the |S|^2 term
and the device warns of the leakage, to 0.36), 5 epochs, two seeds; the references at
the same epochs and seeds: the anchor protocol on the same speckle field
(mnist_speckle_dfa_opu) and on independent pixels (mnist_dfa_opu, the shipped device),
digital DFA and BP, and holography through the packed rectangle
(mnist_packed_holography_dfa_opu). Camera frames and pixels per projection come from
each run's budget (``budget/frames``, ``budget/camera_pixels``).
"""


def get_config():
  return {
      "base": "configs/mnist_holography_dfa_opu.py",
      "axes": {
          "device.options.grain": [3.5, 4.0, 6.0, 8.0],
          "device.options.reference_power": [0.25, 1.0, 4.0],
          "device.options.carrier": [(0.22, 0.22), (0.26, 0.26), (0.32, 0.32), (0.36, 0.36)],
      },
      "fixed": {"epochs": 5},
      "seeds": [0, 1],
      "references": ["configs/mnist_packed_holography_dfa_opu.py",
                     "configs/mnist_speckle_dfa_opu.py", "configs/mnist_dfa_opu.py",
                     "configs/mnist_dfa.py", "configs/mnist_bp.py"],
      "metrics": ["final_test_accuracy", "train_test_gap", "frames_per_projection",
                  "camera_pixels_per_projection"],
  }
