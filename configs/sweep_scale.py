"""python -m opujax.sweep --config configs/sweep_scale.py --parallel 2

MNIST MLPs of growing width and depth trained with BP and DFA (20 epochs each): test
accuracy and step time against the architecture.
"""


def get_config():
  return {
      "base": "configs/mnist_dfa.py",
      "axes": {
          "model.widths": [(100,) * 2, (200,) * 2, (400,) * 2, (800,) * 2, (1600,) * 2,
                           (800,) * 1, (800,) * 3, (800,) * 4, (800,) * 6],
      },
      "fixed": {"epochs": 20},
      "rules": ["bp", "dfa"],
      "metrics": ["final_test_accuracy", "examples_per_s"],
  }
