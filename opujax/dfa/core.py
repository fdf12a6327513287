"""Learning rules that turn any Flax Linen model into a trainer: bp, dfa, shallow.

The forward pass runs once with the chain cut (``stop_gradient``) at the input of every
*feedback unit* — by default every Dense/Conv layer, or any module type / name path —
and records each unit's input ``h`` (a "tap"). One ``vjp`` then injects

* ``e = dL/dy`` at the logits: the output layer gets the true error;
* at each tap, the feedback signal of the rule: for DFA ``g (e @ B_k) / sqrt(d_k)``
  where ``B_k`` is tap k's slice of one device projection of e, ``d_k`` the tap's size
  per position and ``g`` the inverse RMS of the device's effective matrix (so the
  feedback has the scale that BP's ``W^T e`` has at a fan-in-scaled layer).

A cotangent injected at a unit's input h_k flows back through whatever lies between the
previous unit and h_k (the activation f, so a Dense unit receives (B e) * f'(a)) into
the previous unit's parameters, and stops at the cut. Inside a unit: ordinary
autodiff; between units: direct feedback. No input gradient of a unit is ever formed,
and the cost is one forward and one local backward.

Taps are (B, *S, *F) for logits (B, *S, C): each position's error is projected to that
position (sequences), and a unit whose input is a conv map (B, H, W, C) under logits
(B, C) reads H*W*C features. All taps are slices of one projection, as one camera frame
on the OPU. Taps that do not depend on the parameters (the model's input) are skipped.
"""

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.extend.core as jex_core
import jax.numpy as jnp
import numpy as np
from flax import struct

Array = jax.Array
RULES = ("bp", "dfa", "shallow")
DEFAULT_UNITS = (nn.Dense, nn.Conv)


@struct.dataclass
class Rule:
  """A learning rule; a pytree, so a device inside it is a jit argument, not a constant."""

  device: Any = None
  name: str = struct.field(pytree_node=False, default="bp")
  gain: float = struct.field(pytree_node=False, default=1.0)


def bp() -> Rule:
  """Exact backpropagation, the control."""
  return Rule(name="bp")


def shallow() -> Rule:
  """Only the output layer learns (zero feedback): the lower bound papers report."""
  return Rule(name="shallow")


def dfa(device) -> Rule:
  """Direct feedback alignment through ``device`` (any `ProjectionDevice`)."""
  rms = float(jnp.sqrt(jnp.mean(jnp.square(device.effective_matrix()))))
  return Rule(device=device, name="dfa", gain=1.0 / rms)


def make(name: str, device=None) -> Rule:
  if name not in RULES:
    raise ValueError(f"Unknown learning rule {name!r}; choose one of {', '.join(RULES)}.")
  if name == "dfa":
    if device is None:
      raise ValueError("The dfa rule needs a projection device (opujax.devices.make(...)).")
    return dfa(device)
  return bp() if name == "bp" else shallow()


def is_unit(module: nn.Module, units: Sequence[type | str]) -> bool:
  """A module is a unit if it is an instance of a type in ``units`` or its path
  ('/'-joined names) fully matches a regex string in ``units``."""
  path = "/".join(module.path)
  return any(isinstance(module, u) if isinstance(u, type) else re.fullmatch(u, path)
             for u in units)


def _cut_forward(model: nn.Module, units: Sequence[type | str]):
  """params, x -> (logits, taps, paths): the forward with every unit's input cut."""

  def forward(params, x):
    taps, paths, depth = [], [], [0]

    def interceptor(next_fun, args, kwargs, context):
      if context.method_name != "__call__" or depth[0] or not is_unit(context.module, units):
        return next_fun(*args, **kwargs)
      h, *rest = args
      taps.append(h)
      paths.append(context.module.path)
      depth[0] += 1
      try:
        return next_fun(jax.lax.stop_gradient(h), *rest, **kwargs)
      finally:
        depth[0] -= 1

    with nn.intercept_methods(interceptor):
      logits = model.apply({"params": params}, x)
    return logits, taps, paths

  return forward


def _depends(jaxpr, n_in: int) -> list[bool]:
  """For each output of a closed jaxpr, whether it depends on the first n_in inputs."""
  live = set(jaxpr.jaxpr.invars[:n_in])
  for eqn in jaxpr.jaxpr.eqns:
    if any(isinstance(v, jex_core.Var) and v in live for v in eqn.invars):
      live.update(eqn.outvars)
  return [isinstance(v, jex_core.Var) and v in live for v in jaxpr.jaxpr.outvars]


def unit_taps(model: nn.Module, params, x, units=DEFAULT_UNITS):
  """Static description of the units: [(path, tap shape)] for taps that carry feedback.

  Raises:
    ValueError: no unit found.
  """
  forward = _cut_forward(model, units)
  paths = []

  def taps_of(p):
    _, taps, tap_paths = forward(p, x)
    paths.extend(tap_paths)
    return taps

  closed = jax.make_jaxpr(taps_of)(params)
  if not paths:
    names = ", ".join(u.__name__ if isinstance(u, type) else repr(u) for u in units)
    raise ValueError(f"No feedback unit found in {type(model).__name__}: looked for modules "
                     f"of type or path {names}; pass units=... naming the model's layers.")
  n_params = len(jax.tree.leaves(params))
  shapes = [tuple(v.aval.shape) for v in closed.jaxpr.outvars]
  return [(p, s) for p, s, d in zip(paths, shapes, _depends(closed, n_params)) if d]


def feedback_size(model: nn.Module, params, x, logits_ndim: int = 2, units=DEFAULT_UNITS) -> int:
  """Device outputs DFA needs for this model: the sum of the taps' sizes per position."""
  return sum(math.prod(s[logits_ndim - 1:]) for _, s in unit_taps(model, params, x, units))


def grad_fn(model: nn.Module, loss_fn: Callable[[Array, Any], Array],
            units: Sequence[type | str] = DEFAULT_UNITS):
  """Returns ``fn(params, rule, x, labels, key) -> (loss, grads, logits)``.

  ``grads`` is the rule's gradient pytree (what an optax optimizer consumes); for
  ``bp`` it equals ``jax.grad``. ``loss_fn(logits, labels)`` returns a scalar.
  """
  forward = _cut_forward(model, units)

  def fn(params, rule: Rule, x, labels, key):
    if rule.name == "bp":
      def loss_of(p):
        logits = model.apply({"params": p}, x)
        return loss_fn(logits, labels), logits
      (loss, logits), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
      return loss, grads, logits
    (logits, taps), vjp = jax.vjp(lambda p: forward(p, x)[:2], params)
    loss, e = jax.value_and_grad(loss_fn)(logits, labels)
    if rule.name == "shallow":
      feedback = [jnp.zeros_like(t) for t in taps]
    else:
      live = _depends(jax.make_jaxpr(lambda p: forward(p, x)[1])(params),
                      len(jax.tree.leaves(params)))
      feedback = project_error(rule, e, taps, live, key)
    (grads,) = vjp((e, feedback))
    return loss, grads, logits

  return fn


def project_error(rule: Rule, e: Array, taps: list[Array], live: list[bool], key: Array):
  """The DFA feedback for each tap: slices of one projection of e, scaled (see module doc)."""
  lead = e.shape[:-1]
  sizes = []
  for t, d in zip(taps, live):
    if t.shape[:len(lead)] != lead:
      raise ValueError(f"A unit input of shape {t.shape} does not start with the logits' "
                       f"leading shape {lead}; each position's error is projected to it.")
    sizes.append(math.prod(t.shape[len(lead):]) if d else 0)
  total = sum(sizes)
  if total > rule.device.out_features:
    raise ValueError(f"The feedback units need {total} projected features (per unit: "
                     f"{sizes}), but the device gives {rule.device.out_features}; make the "
                     f"device with out_features >= {total}.")
  projected = rule.device.project(e.reshape(-1, e.shape[-1]), key)
  out = []
  for t, size, start in zip(taps, sizes, np.cumsum([0] + sizes)):
    fb = projected[:, start:start + size] * (rule.gain / math.sqrt(max(size, 1)))
    out.append(fb.reshape(t.shape).astype(t.dtype) if size else jnp.zeros_like(t))
  return out
