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

TERNARY = {"device.options.encoding": "ternary"}
CODES = [
    {**TERNARY, "device.options.threshold": 0.1},
    {**TERNARY, "device.options.threshold": 0.3},
    {**TERNARY, "device.options.threshold": 0.5},
    {**TERNARY, "device.options.threshold": 0.05, "device.options.threshold_by": "absolute"},
    {**TERNARY, "device.options.threshold": 0.5, "device.options.threshold_by": "quantile"},
    {**TERNARY, "device.options.threshold": 0.8, "device.options.threshold_by": "quantile"},
    {**TERNARY, "device.options.threshold": 0.1, "device.options.common_mode": True},
    {**TERNARY, "device.options.threshold": 0.3, "device.options.common_mode": True},
    {**TERNARY, "device.options.threshold": 0.5, "device.options.threshold_by": "quantile",
     "device.options.common_mode": True},
    {"device.options.encoding": "sign"},
    {"device.options.encoding": "stochastic"},
    {"device.options.encoding": "stochastic", "device.options.common_mode": True},
    *({"device.options.encoding": "bitplanes", "device.options.bits": b} for b in (2, 4, 8)),
    *({"device.options.encoding": "bitplanes", "device.options.bits": b,
       "device.options.common_mode": True} for b in (2, 3, 4, 8)),
]


def get_config():
  return {
      "base": "configs/mnist_dfa_opu.py",
      "points": CODES,
      "fixed": {"steps": 400, "log_every": 25, "diagnostics_every": 0,
                "checkpoint_every": 400},
      "seeds": [0],
      "references": ["configs/mnist_dfa.py"],
      "metrics": ["final_test_accuracy"],
  }
