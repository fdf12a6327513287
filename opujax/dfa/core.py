"""Learning rules that turn any Flax model (Linen or NNX) into a trainer.

Rules: ``bp`` (exact autodiff, the control), ``fa`` (feedback alignment: each unit's
input gradient uses fixed random weights B of its parameters' shape in place of its
own), ``dfa`` (the global error projected straight to every unit), ``shallow`` (only
the output layer learns).

DFA runs the forward once with the chain cut (``stop_gradient``) at the input of every
*feedback unit* — by default every Dense/Conv layer, or any module type / name-path
regex, so that a whole block can be one unit — and records each unit's input h (a
*tap*). One ``vjp`` then injects

* ``e = dL/dy`` at the logits: the output layer gets the true error;
* at each tap k, ``g * (e @ B_k) / sqrt(d_k)``: ``B_k`` is tap k's slice of one device
  projection of e (one camera frame on an OPU), ``d_k`` the tap's size per position, and
  ``g`` the inverse RMS of the device's effective matrix — so the feedback has the scale
  BP's ``W^T e`` has below a fan-in-initialised layer of width d_k.

A cotangent injected at h_k flows back through what lies between the previous unit and
h_k (the activation: a Dense unit receives (B e) * f'(a), as in DFA) into the previous
unit's parameters, and stops at the cut. Inside a unit: ordinary autodiff; between
units: direct feedback. No unit's input gradient is ever formed: one forward and one
local backward. Taps are (B, *S, *F) under logits (B, *S, C): each position's error is
projected to that position (sequences); a conv map (B, H, W, C) under logits (B, C)
reads H*W*C features. Taps that do not depend on the parameters (the model's input)
get no feedback. With an OPU, the error's encoding (e.g. ternary, 2 binary frames, each
costing 2 camera frames with the anchor protocol) is the device's.

A physical device projects e once (one frame). The exact digital device gives the same
numbers unit by unit (``e @ W[:, slice_k]``), so XLA can free each feedback signal as
soon as its unit's update is formed instead of holding all of them at once.
"""

import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.extend.core as jex_core
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from opujax.dfa import models
from opujax.devices import DigitalProjection

Array = jax.Array
RULES = ("bp", "fa", "dfa", "shallow")
DEFAULT_UNITS = (nn.Dense, nn.Conv, nnx.Linear, nnx.Conv)


@struct.dataclass
class Rule:
  """A learning rule; a pytree, so its device and weights are jit arguments."""

  device: Any = None
  feedback: Any = None
  name: str = struct.field(pytree_node=False, default="bp")
  gain: float = struct.field(pytree_node=False, default=1.0)
  shared: bool = struct.field(pytree_node=False, default=False)


def bp() -> Rule:
  """Exact backpropagation, the control."""
  return Rule(name="bp")


def shallow() -> Rule:
  """Only the output layer learns (zero feedback): the lower bound papers report."""
  return Rule(name="shallow")


def dfa(device, shared: bool = False) -> Rule:
  """Direct feedback alignment through ``device`` (any `ProjectionDevice`).

  With ``shared``, every unit reads the first d_k features of the projection instead of
  its own slice: units that write into one residual stream (Transformer blocks) then all
  push it along the same direction B e, which the head aligns with, instead of along
  ``depth`` independent ones; the device needs only max_k d_k outputs, not their sum.
  """
  rms = float(jnp.sqrt(jnp.mean(jnp.square(device.effective_matrix()))))
  return Rule(device=device, name="dfa", gain=1.0 / rms, shared=shared)


def fa(model, params, x, seed: int = 0, units=DEFAULT_UNITS) -> Rule:
  """Feedback alignment: fixed random backward weights per unit, each leaf normal with
  the RMS of the unit's parameter leaf at ``params`` (its initialisation scale)."""
  key = jax.random.key(seed)
  feedback = {}
  for i, (path, _) in enumerate(unit_taps(model, params, x, units, all_units=True)):
    sub = models.subtree(params, path)
    leaves, tree = jax.tree.flatten(sub)
    rand = [jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, i), j), a.shape,
                              a.dtype) * jnp.sqrt(jnp.mean(jnp.square(a)))
            for j, a in enumerate(leaves)]
    feedback[models.path_str(path)] = jax.tree.unflatten(tree, rand)
  return Rule(feedback=feedback, name="fa")


def make(name: str, device=None, **fa_args) -> Rule:
  """The rule called ``name``; ``dfa`` needs a device, ``fa`` model, params and x."""
  if name not in RULES:
    raise ValueError(f"Unknown learning rule {name!r}; choose one of {', '.join(RULES)}.")
  if name == "dfa" and device is None:
    raise ValueError("The dfa rule needs a projection device (opujax.devices.make(...)).")
  return {"bp": bp, "shallow": shallow, "dfa": lambda: dfa(device),
          "fa": lambda: fa(**fa_args)}[name]()


def _cut(apply):
  """params, x -> (logits, taps, paths): the forward with every unit's input cut."""

  def forward(params, x, **kwargs):
    taps, paths = [], []

    def hook(path, h, call, functional):
      del functional
      taps.append(h)
      paths.append(path)
      return call(jax.lax.stop_gradient(h))

    return apply(params, x, hook, **kwargs), taps, paths

  return forward


def _depends(closed, n_in: int) -> list[bool]:
  """For each output of a closed jaxpr, whether it depends on its first n_in inputs."""
  live = set(closed.jaxpr.invars[:n_in])
  for eqn in closed.jaxpr.eqns:
    if any(isinstance(v, jex_core.Var) and v in live for v in eqn.invars):
      live.update(eqn.outvars)
  return [isinstance(v, jex_core.Var) and v in live for v in closed.jaxpr.outvars]


def _live_taps(forward, params, x, **kwargs):
  """(does each tap depend on the parameters, unit paths, the taps' closed jaxpr)."""
  paths = []

  def taps_of(p):
    _, taps, tap_paths = forward(p, x, **kwargs)
    paths.extend(tap_paths)
    return taps

  closed = jax.make_jaxpr(taps_of)(params)
  return _depends(closed, len(jax.tree.leaves(params))), paths, closed


def unit_taps(model, params, x, units=DEFAULT_UNITS, all_units: bool = False):
  """[(unit path, tap shape)] in call order, for the taps that carry feedback (or all).

  Raises:
    ValueError: no unit found.
  """
  apply, _ = models.adapter(model, units)
  live, paths, closed = _live_taps(_cut(apply), params, x)
  if not paths:
    names = ", ".join(u.__name__ if isinstance(u, type) else repr(u) for u in units)
    raise ValueError(f"No feedback unit found in {type(model).__name__}: looked for modules "
                     f"of type or path {names}; pass units=... naming the model's layers.")
  shapes = [tuple(v.aval.shape) for v in closed.jaxpr.outvars]
  return [(p, s) for p, s, d in zip(paths, shapes, live) if d or all_units]


def feedback_size(model, params, x, logits_ndim: int = 2, units=DEFAULT_UNITS,
                  shared: bool = False) -> int:
  """Device outputs DFA needs for this model: the sum of the taps' sizes per position
  (their maximum, with ``shared`` feedback)."""
  sizes = [math.prod(s[logits_ndim - 1:]) for _, s in unit_taps(model, params, x, units)]
  return max(sizes) if shared else sum(sizes)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fa_unit(fn, p, b, h):
  return fn(p, h)


def _fa_fwd(fn, p, b, h):
  return fn(p, h), (p, b, h)


def _fa_bwd(fn, res, dy):
  p, b, h = res
  (dp,) = jax.vjp(lambda p: fn(p, h), p)[1](dy)
  (dh,) = jax.vjp(lambda h: fn(b, h), h)[1](dy)
  return dp, jax.tree.map(jnp.zeros_like, b), dh


_fa_unit.defvjp(_fa_fwd, _fa_bwd)


def grad_fn(model, loss_fn: Callable[[Array, Any], Array], units=DEFAULT_UNITS,
            train_kwargs: dict | None = None):
  """Returns ``fn(params, rule, x, labels, key) -> (loss, grads, aux)``.

  ``train_kwargs`` (e.g. ``{"train": True}``) go to the model's call, with a "dropout"
  rng split from ``key`` for Linen models.

  ``grads`` is the rule's gradient pytree, what an optax optimizer consumes (for ``bp``
  it is ``jax.grad``); ``aux`` holds ``logits`` and, for dfa, ``feedback`` (the signal
  injected at each tap). ``loss_fn(logits, labels)`` returns a scalar. ``params`` is the
  Linen parameter dict, or ``nnx.state(model, nnx.Param)`` for an NNX model.
  """
  apply, _ = models.adapter(model, units)
  forward = _cut(apply)

  def fn(params, rule: Rule, x, labels, key):
    kw = {}
    if train_kwargs is not None:
      key, k_dropout = jax.random.split(key)
      kw = {**train_kwargs, "rngs": {"dropout": k_dropout}}
    if rule.name in ("bp", "fa"):
      hook = None if rule.name == "bp" else _fa_hook(rule.feedback)

      def loss_of(p):
        logits = apply(p, x, hook, **kw)
        return loss_fn(logits, labels), logits

      (loss, logits), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
      return loss, grads, {"logits": logits}
    (logits, taps), vjp = jax.vjp(lambda p: forward(p, x, **kw)[:2], params)
    loss, e = jax.value_and_grad(loss_fn)(logits, labels)
    if rule.name == "shallow":
      feedback = [jnp.zeros_like(t) for t in taps]
    else:
      live, _, _ = _live_taps(forward, params, x, **kw)
      feedback = project_error(rule, e, taps, live, key)
    (grads,) = vjp((e, feedback))
    return loss, grads, {"logits": logits, "feedback": feedback}

  return fn


def train_step_fn(model, loss_fn: Callable[[Array, Any], Array],
                  optimizer: optax.GradientTransformation, units=DEFAULT_UNITS):
  """Returns ``step(params, opt_state, rule, x, labels, key) -> (params, opt_state, loss,
  logits)``: the rule's gradients through any optax optimizer. Pure; jit it, donating
  params and opt_state."""
  grad = grad_fn(model, loss_fn, units)

  def step(params, opt_state, rule: Rule, x, labels, key):
    loss, grads, aux = grad(params, rule, x, labels, key)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, aux["logits"]

  return step


def _fa_hook(feedback):
  def hook(path, h, call, functional):
    b = feedback.get(models.path_str(path))
    if b is None:
      return call(h)
    fn, p = functional()
    return _fa_unit(fn, p, b, h)

  return hook


def project_error(rule: Rule, e: Array, taps: list[Array], live: list[bool], key: Array):
  """The DFA feedback for each tap: slices of one projection of e, scaled (module doc)."""
  lead = e.shape[:-1]
  sizes = []
  for t, d in zip(taps, live):
    if t.shape[:len(lead)] != lead:
      raise ValueError(f"A unit input of shape {t.shape} does not start with the logits' "
                       f"leading shape {lead}; each position's error is projected to it.")
    sizes.append(math.prod(t.shape[len(lead):]) if d else 0)
  total = max(sizes) if rule.shared else sum(sizes)
  if total > rule.device.out_features:
    raise ValueError(f"The feedback units need {total} projected features (per unit: "
                     f"{sizes}), but the device gives {rule.device.out_features}; make the "
                     f"device with out_features >= {total}.")
  e_2d = e.reshape(-1, e.shape[-1])
  exact = rule.device.weights if isinstance(rule.device, DigitalProjection) else None
  projected = rule.device.project(e_2d, key) if exact is None else None
  starts = [0] * len(sizes) if rule.shared else np.cumsum([0] + sizes)
  out = []
  for t, size, start in zip(taps, sizes, starts):
    if not size:
      out.append(jnp.zeros_like(t))
      continue
    scale = rule.gain / math.sqrt(size)
    fb = ((e_2d * scale) @ exact[:, start:start + size] if exact is not None  # scale the
          else projected[:, start:start + size] * scale)  # small operand, not the output
    out.append(fb.reshape(t.shape).astype(t.dtype))
  return out
