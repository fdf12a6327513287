"""python -m opujax.sweep --config configs/sweep_noise_tuned.py --parallel 2

sweep_noise's question at the ternary threshold it found best (0.3 of max|e|; its
results in docs/results.md): where do
the photon budget, the ADC, read noise and drift take optical DFA more than one point
below digital DFA? One axis at a time near where they bite, 5 epochs, seed 0. The error
is ternarised without the common mode, as when this sweep was run.
"""


from opujax.config import code_point


def get_config():
  return {
      "base": "configs/mnist_dfa_opu.py",
      "axes": {
          "device.camera.photons": [3.0, 10.0, 30.0, 100.0, 1000.0],
          "device.camera.adc_bits": [2, 3, 8],
          "device.camera.read_noise": [5.0, 100.0],
          "device.options.drift_per_frame": [0.0, 1e-7, 3e-7, 1e-6],
      },
      "fixed": {**code_point("ternary", 0.3), "epochs": 5},
      "seeds": [0],
      "references": ["configs/mnist_dfa.py", "configs/mnist_bp.py"],
      "metrics": ["final_test_accuracy", "train_test_gap"],
  }
