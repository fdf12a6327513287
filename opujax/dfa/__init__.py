"""Learning rules (bp, fa, dfa, shallow) for any Flax Linen or NNX model."""

from opujax.dfa.core import (DEFAULT_UNITS, RULES, Rule, bp, dfa, fa, feedback_size, grad_fn,
                             make, project_error, shallow, train_step_fn, unit_taps)
from opujax.dfa.diagnostics import angle_deg, diagnostics_fn
from opujax.dfa.models import is_unit

__all__ = ["DEFAULT_UNITS", "RULES", "Rule", "angle_deg", "bp", "diagnostics_fn", "dfa", "fa", "feedback_size", "grad_fn",
           "is_unit", "make", "project_error", "shallow", "train_step_fn", "unit_taps"]
