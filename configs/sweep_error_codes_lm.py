"""python -m opujax.sweep --config configs/sweep_error_codes_lm.py

The error-code study (configs/sweep_error_codes.py) on the character LM of
shakespeare_dfa_opu: the error is the gradient at the head's input (128 numbers a
token, not zero-sum), 400 steps, the train loss logged every 25 steps; digital DFA at
the same steps is the reference. ``experiments/error_codes.py`` makes the table.
"""

from opujax.config import code_point as code
from opujax.config import code_study

CODES = [
    code("ternary", 0.1), code("ternary", 0.3, common_mode=True),
    code("ternary", 0.5, threshold_by="quantile", common_mode=True),
    code("sign"), code("stochastic", common_mode=True),
    code("bitplanes", bits=2), code("bitplanes", bits=4),
    *(code("bitplanes", bits=b, common_mode=True) for b in (3, 4, 5)),
]


def get_config():
  return code_study("configs/shakespeare_dfa_opu.py", CODES, "configs/shakespeare_dfa.py",
                    "validation_loss")
