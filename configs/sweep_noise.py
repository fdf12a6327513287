"""python -m opujax.sweep --config configs/sweep_noise.py --parallel 2

Optical DFA on MNIST against the camera and encoding noise, one axis at a time around
the realistic default (1000 e- per pixel, 5 e- read noise, 8-bit ADC, ternary threshold
0.1), two seeds, with digital DFA and BP as references: where does optical DFA fall more
than one point below digital DFA?
"""


def get_config():
  return {
      "base": "configs/mnist_dfa_opu.py",
      "axes": {
          "device.options.photons": [3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 10000.0],
          "device.options.read_noise": [0.0, 5.0, 20.0, 50.0, 100.0],
          "device.options.adc_bits": [1, 2, 3, 4, 6, 8, 12],
          "device.options.threshold": [0.0, 0.05, 0.1, 0.2, 0.4, 0.7],
      },
      "seeds": [0, 1],
      "references": ["configs/mnist_dfa.py", "configs/mnist_bp.py"],
      "metrics": ["final_test_accuracy", "train_test_gap"],
  }
