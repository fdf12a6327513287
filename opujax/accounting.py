"""What a run costs: XLA's FLOP counts of its step and of the simulated physics in it,
and the photonic `Budget` of its feedback projections as metrics (`report` turns both
into time and energy on an OPU and a GPU)."""

import dataclasses

import jax
import jax.numpy as jnp

from opujax import devices, dfa


def _flops(lowered) -> float | None:
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"]) if cost and "flops" in cost else None


def step_flops(step_fn, args, rule: dfa.Rule, rows: int) -> dict[str, float] | None:
  """XLA's FLOP counts of one train step (``step_fn`` jitted, called on ``args``) and,
  within it, of the simulated physics: the ``rows``-row feedback projection and the
  device's `after_step` (a drifting medium; 0 where the medium is stable). None where the backend
  gives no cost analysis before compiling (GPU plugins)."""
  out = {"train_step": _flops(step_fn.lower(*args)), "projection": 0.0, "drift": 0.0}
  if rule.device is not None:
    e = jax.ShapeDtypeStruct((rows, rule.device.in_features), jnp.float32)
    project = jax.jit(lambda device, x, key: device.project(x, key))
    out["projection"] = _flops(project.lower(rule.device, e, jax.random.key(0)))
  if getattr(rule.device, "drift_per_frame", 0.0):
    after = jax.jit(lambda r, key: r.after_step(key, rows, 1))
    out["drift"] = _flops(after.lower(rule, jax.random.key(0)))
  return None if None in out.values() else out


def budget_metrics(budget: devices.Budget) -> dict[str, float]:
  """``budget/<count>`` and ``budget/<estimate>`` of a `Budget` and its `estimate`."""
  est = devices.estimate(budget)
  out = {f"budget/{k}": v for k, v in dataclasses.asdict(budget).items()}
  out.update({f"budget/{k}": v for k, v in dataclasses.asdict(est).items()})
  return out
