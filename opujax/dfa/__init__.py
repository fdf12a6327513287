"""Learning rules (bp, dfa, shallow) for any Flax Linen model."""

from opujax.dfa.core import (DEFAULT_UNITS, RULES, Rule, bp, dfa, feedback_size, grad_fn,
                             is_unit, make, project_error, shallow, unit_taps)

__all__ = ["DEFAULT_UNITS", "RULES", "Rule", "bp", "dfa", "feedback_size", "grad_fn", "is_unit",
           "make", "project_error", "shallow", "unit_taps"]
