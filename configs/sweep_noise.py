"""python -m opujax.sweep --config configs/sweep_noise.py --parallel 2

Optical DFA on MNIST against the camera, the encoding and the medium, one axis at a
time around the realistic default (1000 e- per pixel, 5 e- read noise, 8-bit ADC,
ternary threshold 0.1, a stable medium), 5 epochs, two seeds, with digital DFA and BP
at the same epochs and seeds as references: where does optical DFA fall more than one
point below digital DFA? The error is ternarised as mnist_dfa_opu sent it when this
sweep was run (no common mode), not in today's shipped code. Drift is per
camera frame; a step of 128 ternary errors takes
512 frames (2 encoding frames x 2 anchor frames), so eps decorrelates the medium over
about 2 / (512 eps) steps (1e-5: ~400 steps; 5 epochs are 2340).
"""


from opujax.config import code_point


def get_config():
  return {
      "base": "configs/mnist_dfa_opu.py",
      "axes": {
          "device.camera.photons": [1.0, 10.0, 100.0, 1000.0, 10000.0],
          "device.camera.read_noise": [0.0, 5.0, 20.0, 100.0],
          "device.camera.adc_bits": [1, 2, 4, 8],
          "device.options.threshold": [0.0, 0.1, 0.3],
          "device.options.drift_per_frame": [0.0, 1e-6, 1e-5, 1e-4],
      },
      "fixed": {**code_point("ternary", 0.1), "epochs": 5},
      "seeds": [0, 1],
      "references": ["configs/mnist_dfa.py", "configs/mnist_bp.py"],
      "metrics": ["final_test_accuracy", "train_test_gap"],
  }
