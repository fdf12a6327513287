"""python -m opujax.sweep --config configs/sweep_error_codes.py --parallel 2

Which binary code of the error learns like digital DFA, per camera frame? The
784-800-800-10 MLP of mnist_dfa_opu through the simulated OPU (realistic camera, anchor
protocol with a calibrated I(a): 2 camera frames per DMD frame), 400 steps, the train
loss logged every 25 steps; each point one code (`devices.encoding`): ternary at a
threshold relative to max|e|, absolute or a per-row quantile of |e|, with and without the
common mode (the calibrated projection of the all-ones frame), the one-frame sign code,
stochastic ternary, bit-planes of 2-8 bits (sign-magnitude: 2k frames; offset binary with
the common mode: k frames). Digital DFA at the same steps is the reference;
``experiments/error_codes.py`` turns the runs into the table and the loss curves.
"""

from opujax.config import code_point as code
from opujax.config import code_study

CODES = [
    code("ternary", 0.1), code("ternary", 0.3), code("ternary", 0.5),
    code("ternary", 0.05, threshold_by="absolute"),
    code("ternary", 0.5, threshold_by="quantile"), code("ternary", 0.8, threshold_by="quantile"),
    code("ternary", 0.1, common_mode=True), code("ternary", 0.3, common_mode=True),
    code("ternary", 0.5, threshold_by="quantile", common_mode=True),
    code("sign"), code("stochastic"), code("stochastic", common_mode=True),
    *(code("bitplanes", bits=b) for b in (2, 4, 8)),
    *(code("bitplanes", bits=b, common_mode=True) for b in (2, 3, 4, 8)),
]


def get_config():
  return code_study("configs/mnist_dfa_opu.py", CODES, "configs/mnist_dfa.py",
                    "final_test_accuracy")
