"""What every DFA paper reports: per-unit alignment with BP and signal norms.

Run on demand (every N steps), not in every train step: it costs a BP step on top.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from opujax.dfa import adapter, core

Array = jax.Array


def angle_deg(a, b) -> Array:
  """Angle in degrees between two pytrees seen as flat vectors (90 if either is zero)."""
  a, b = jax.tree.leaves(a), jax.tree.leaves(b)
  dot = sum(jnp.vdot(u, v) for u, v in zip(a, b))
  na = jnp.sqrt(sum(jnp.vdot(u, u) for u in a))
  nb = jnp.sqrt(sum(jnp.vdot(v, v) for v in b))
  cos = jnp.where(na * nb > 0, dot / jnp.maximum(na * nb, 1e-30), 0.0)
  return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


def diagnostics_fn(model, loss_fn: Callable[[Array, Any], Array], params, x,
                   units=core.DEFAULT_UNITS, train_kwargs: dict | None = None, state=None):
  """Returns ``fn(params, rule, x, labels, key, state=None) -> dict`` of scalars, per
  unit path p:

  * ``align/p``: angle between the rule's update of unit p and the BP gradient (both
    from the same forward: same batch, state and dropout key);
  * ``update_norm/p``: the norm of the rule's update of unit p;
  * ``feedback_norm/p``: the norm of the signal injected at unit p's input (dfa);
  * ``align/all_params``: the angle over every parameter, those of no unit included (the
    layers before a tap, trained through it).

  ``params``, ``x`` and ``state`` (example values) fix the units.
  """
  taps = core.unit_taps(model, params, x, units, all_units=True, state=state)
  paths = [p for p, _ in taps]
  rule_fn = core.grad_fn(model, loss_fn, units, train_kwargs)

  def fn(params, rule: core.Rule, x, labels, key, state=None) -> dict[str, Array]:
    _, grads, aux = rule_fn(params, rule, x, labels, key, state)
    _, bp_grads, _ = rule_fn(params, core.bp(), x, labels, key, state)
    out = {"align/all_params": angle_deg(grads, bp_grads)}
    for path in paths:
      name = adapter.path_str(path)
      g, g_bp = adapter.subtree(grads, path), adapter.subtree(bp_grads, path)
      out[f"align/{name}"] = angle_deg(g, g_bp)
      out[f"update_norm/{name}"] = jnp.sqrt(sum(jnp.vdot(u, u) for u in jax.tree.leaves(g)))
    for path, fb in zip(paths, aux.get("feedback", [])):
      out[f"feedback_norm/{adapter.path_str(path)}"] = jnp.linalg.norm(fb)
    return out

  return fn
