"""python -m opujax.sweep --config configs/sweep_scale.py --parallel 2

MNIST MLPs of growing width (2 layers of 100 to 1600) and depth (1 to 8 layers of 800)
trained with BP and digital DFA for 5 epochs: test accuracy and step time (ms, batch 128)
against the architecture.
"""


def get_config():
  return {
      "base": "configs/mnist_dfa.py",
      "axes": {
          "model.widths": [(100,) * 2, (400,) * 2, (800,) * 2, (1600,) * 2,
                           (800,) * 1, (800,) * 4, (800,) * 8],
      },
      "fixed": {"epochs": 5},
      "rules": ["bp", "dfa"],
      "metrics": ["final_test_accuracy", "step_ms"],
  }
