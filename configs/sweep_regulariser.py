"""python -m opujax.sweep --config configs/sweep_regulariser.py --parallel 2

Is optical noise a regulariser, like dropout? Optical DFA on MNIST with no other
regulariser (no dropout, no shifted images), 6 epochs, three seeds: a noiseless camera
(no shot, read or dark noise; 16-bit ADC), the realistic one, a starved one (10 e- per
pixel), and the noiseless camera with dropout 0.2. Test accuracy and the train-test gap
(training examples evaluated like the test set) at equal steps. The error is ternarised
(threshold 0.1 of max|e|, no common mode), as when this sweep was run.
"""

from opujax.config import code_point

NOISELESS = {"device.camera.shot_noise": "off", "device.camera.read_noise": 0.0,
             "device.camera.dark_electrons": 0.0, "device.camera.adc_bits": 16}


def get_config():
  return {
      "base": "configs/mnist_dfa_opu.py",
      "points": [NOISELESS, {}, {"device.camera.photons": 10.0},
                 {**NOISELESS, "model.dropout": 0.2}],
      "fixed": {"epochs": 6, "model.dropout": 0.0, "data.shift": 0,
                **code_point("ternary", 0.1)},
      "seeds": [0, 1, 2],
      "references": ["configs/mnist_dfa.py"],
      "metrics": ["final_test_accuracy", "train_test_gap"],
  }
