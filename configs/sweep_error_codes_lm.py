"""python -m opujax.sweep --config configs/sweep_error_codes_lm.py

The error-code study (configs/sweep_error_codes.py) on the character LM of
shakespeare_dfa_opu: the error is the gradient at the head's input (128 numbers a
token, not zero-sum), 400 steps, the train loss logged every 25 steps; digital DFA at
the same steps is the reference. ``experiments/error_codes.py`` makes the table.
"""

TERNARY = {"device.options.encoding": "ternary"}

CODES = [
    {**TERNARY, "device.options.threshold": 0.1},
    {**TERNARY, "device.options.threshold": 0.3, "device.options.common_mode": True},
    {**TERNARY, "device.options.threshold": 0.5, "device.options.threshold_by": "quantile",
     "device.options.common_mode": True},
    {"device.options.encoding": "sign"},
    {"device.options.encoding": "stochastic", "device.options.common_mode": True},
    {"device.options.encoding": "bitplanes", "device.options.bits": 2},
    {"device.options.encoding": "bitplanes", "device.options.bits": 4},
    *({"device.options.encoding": "bitplanes", "device.options.bits": b,
       "device.options.common_mode": True} for b in (3, 4, 5)),
]


def get_config():
  return {
      "base": "configs/shakespeare_dfa_opu.py",
      "points": CODES,
      "fixed": {"steps": 400, "log_every": 25, "diagnostics_every": 0,
                "checkpoint_every": 400},
      "seeds": [0],
      "references": ["configs/shakespeare_dfa.py"],
      "metrics": ["validation_loss"],
  }
