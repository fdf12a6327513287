"""Learning rules (bp, fa, dfa, shallow) for any Flax Linen or NNX model."""

from opujax.dfa.adapter import is_unit
from opujax.dfa.core import (DEFAULT_UNITS, RULES, Layout, Rule, Slot, Step, bp, dfa, fa,
                             feedback_size, grad_fn, layout, make, project_error, shallow,
                             train_step_fn, unit_taps)
from opujax.dfa.diagnostics import angle_deg, diagnostics_fn

__all__ = ["DEFAULT_UNITS", "Layout", "RULES", "Rule", "Slot", "Step", "angle_deg", "bp",
           "diagnostics_fn", "dfa", "fa", "feedback_size", "grad_fn", "is_unit", "layout",
           "make", "project_error", "shallow", "train_step_fn", "unit_taps"]
