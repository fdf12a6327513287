"""Learning rules that turn any Flax model (Linen or NNX) into a trainer.

Rules: ``bp`` (exact autodiff, the control), ``fa`` (feedback alignment: each unit's
input gradient uses fixed random weights B of its parameters' shape in place of its
own), ``dfa`` (the global error projected straight to every unit), ``shallow`` (only
the output layer learns).

DFA runs the forward once with the chain cut (``stop_gradient``) at the input of every
*feedback unit* — by default every Dense/Conv layer, or any module type / name-path
regex, so that a whole block (or a sublayer) can be one unit — and records each unit's
input h (a *tap*). One ``vjp`` then injects

* ``e = dL/dy`` at the logits: the output layer gets the true error;
* at each tap k, ``g * (ε @ B_k) / sqrt(d_k)``: ε is the error the rule projects, ``B_k``
  tap k's slice of one device projection of ε (one camera frame on an OPU), ``d_k`` the
  tap's size per position, and ``g`` the inverse RMS of the device's effective matrix —
  so the feedback has the scale BP's ``W^T e`` has below a fan-in-initialised layer.

ε is ``e`` itself (strict DFA), or with ``dfa(..., error_at=unit)`` the true gradient
at the input of that unit (e.g. the head: ``e W_head^T``, d_model numbers a position,
as Launay et al. 2020 project), which the device then projects instead.

A cotangent injected at h_k flows back through what lies between the previous unit and
h_k (the activation: a Dense unit receives (B e) * f'(a), as in DFA) into the previous
unit's parameters, and stops at the cut. Inside a unit: ordinary autodiff; between
units: direct feedback. No unit's input gradient is ever formed: one forward and one
local backward. Taps are (B, *S, *F) under logits (B, *S, C): each position's error is
projected to that position (sequences); a conv map (B, H, W, C) under logits (B, C)
reads H*W*C features. Taps that do not depend on the parameters (the model's input)
get no feedback. `layout` says which projection columns feed which tap. With an OPU, the
error's encoding (e.g. ternary, 2 binary frames, each costing 2 camera frames with the
anchor protocol) is the device's.

Models with state (Linen collections such as ``batch_stats``, NNX ``BatchStat`` and RNG
streams) run the same forward under every rule, so the state after a step is the one a
``jax.grad`` step gives; every step's key also seeds the model's dropout.

A physical device projects ε once (one frame). The exact digital device gives the same
numbers unit by unit (``ε @ W[:, slice_k]``), so XLA can free each feedback signal as
soon as its unit's update is formed instead of holding all of them at once.
"""

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.extend.core as jex_core
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from opujax.dfa import adapter
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
  error_at: str | None = struct.field(pytree_node=False, default=None)

  @property
  def exact(self) -> bool:
    """Whether the rule's gradients are the true ones (BP): no alignment to diagnose."""
    return self.name == "bp"

  def after_step(self, key: Array, rows: int, done: Array | int) -> "Rule":
    """The rule after a training step of ``rows`` projections, ``done`` steps in: its
    device's `after_step` (a drifting medium moves on), any other rule unchanged."""
    device = None if self.device is None else self.device.after_step(key, rows, done)
    return self if device is self.device else self.replace(device=device)


class Slot(NamedTuple):
  """Tap ``path`` (the input of that unit; its feedback trains the units before it)
  reads projection columns ``start:start + size``."""

  path: str
  start: int
  size: int


class Layout(NamedTuple):
  """What a DFA device must project for a model: ``in_features`` error numbers per
  position (the logits', or the ``error_at`` unit's input's), ``out_features`` outputs,
  and each tap's columns (``slots``, in call order; the model's input has none)."""

  in_features: int
  out_features: int
  slots: tuple[Slot, ...]


class Step(NamedTuple):
  params: Any
  opt_state: Any
  loss: Array
  logits: Array
  state: Any


def bp() -> Rule:
  """Exact backpropagation, the control."""
  return Rule(name="bp")


def shallow() -> Rule:
  """Only the output layer learns (zero feedback): the lower bound papers report."""
  return Rule(name="shallow")


def dfa(device, shared: bool = False, error_at: str | None = None) -> Rule:
  """Direct feedback alignment through ``device`` (any `ProjectionDevice`).

  Args:
    device: projects the error; its shape is `layout`'s (in_features, out_features).
    shared: every unit reads the first d_k features of the projection instead of its
      own slice: units that write into one residual stream (Transformer blocks) then all
      push it along the same direction B ε; the device needs only max_k d_k outputs.
    error_at: None projects the error at the logits; the path (regex, as in ``units``)
      of a feedback unit projects the true gradient at that unit's input instead (the
      unit itself is trained by the true error).
  """
  m = device.effective_matrix()  # its RMS in float64 where jax_enable_x64 allows it
  rms = float(jnp.sqrt(jnp.mean(jnp.square(m.astype(jax.dtypes.canonicalize_dtype(float))))))
  return Rule(device=device, name="dfa", gain=1.0 / rms, shared=shared, error_at=error_at)


def fa(model, params, x, seed: int = 0, units=DEFAULT_UNITS, state=None) -> Rule:
  """Feedback alignment: fixed random backward weights per unit, each leaf normal with
  the RMS of the unit's parameter leaf at ``params`` (its initialisation scale)."""
  key = jax.random.key(seed)
  feedback = {}
  for i, (path, _) in enumerate(unit_taps(model, params, x, units, all_units=True,
                                          state=state)):
    sub = adapter.subtree(params, path)
    leaves, tree = jax.tree.flatten(sub)
    rand = [jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, i), j), a.shape,
                              a.dtype) * jnp.sqrt(jnp.mean(jnp.square(a)))
            for j, a in enumerate(leaves)]
    feedback[adapter.path_str(path)] = jax.tree.unflatten(tree, rand)
  return Rule(feedback=feedback, name="fa")


def make(name: str, device=None, shared: bool = False, error_at: str | None = None,
         **fa_args) -> Rule:
  """The rule called ``name`` (one of `RULES`): ``dfa`` projects through ``device`` (with
  ``shared`` and ``error_at``, see `dfa`); ``fa`` takes `fa`'s model, params, x, seed,
  units and state as ``fa_args``; the other rules project nothing and leave ``device``
  unused (one device can serve a loop over rules).

  Raises:
    ValueError: an unknown name, dfa without a device, or ``shared``, ``error_at`` or
      ``fa_args`` for a rule that does not take them (rather than dropping them).
  """
  if name not in RULES:
    raise ValueError(f"Unknown learning rule {name!r}; choose one of {', '.join(RULES)}.")
  if name == "dfa" and device is None:
    raise ValueError("The dfa rule needs a projection device (opujax.devices.make(...)).")
  given = {"shared": shared, "error_at": error_at, "fa_args": fa_args}
  takes = {"dfa": ("shared", "error_at"), "fa": ("fa_args",)}.get(name, ())
  extra = [k for k, v in given.items() if v and k not in takes]
  if extra:
    raise ValueError(f"The {name} rule does not take {', '.join(extra)}.")
  if name == "dfa":
    return dfa(device, shared, error_at)
  return fa(**fa_args) if name == "fa" else {"bp": bp, "shallow": shallow}[name]()


def _cut(apply, error_at: str | None = None):
  """(params, probe, state, x, key) -> ((logits, taps), (new state, paths)): the forward
  with every unit's input cut; ``probe`` (zeros) is added to the ``error_at`` unit's input
  after the cut, so its cotangent is the true gradient there."""

  def forward(params, probe, state, x, key, **kwargs):
    taps, paths = [], []

    def hook(path, h, call, functional):
      del functional
      taps.append(h)
      paths.append(path)
      h_in = jax.lax.stop_gradient(h)
      if probe is not None and adapter.is_unit(None, path, (error_at,)):
        h_in = h_in + probe.astype(h_in.dtype)
      return call(h_in)

    logits, new_state = apply(params, state, x, hook, key, **kwargs)
    return (logits, taps), (new_state, paths)

  return forward


def _depends(closed, n_in: int) -> list[bool]:
  """For each output of a closed jaxpr, whether it depends on its first n_in inputs."""
  live = set(closed.jaxpr.invars[:n_in])
  for eqn in closed.jaxpr.eqns:
    if any(isinstance(v, jex_core.Var) and v in live for v in eqn.invars):
      live.update(eqn.outvars)
  return [isinstance(v, jex_core.Var) and v in live for v in closed.jaxpr.outvars]


class _Trace(NamedTuple):
  paths: list[tuple]
  shapes: list[tuple[int, ...]]
  live: list[bool]
  logits_shape: tuple[int, ...]


def _trace(forward, params, state, x, key=None, **kwargs) -> _Trace:
  """The taps' paths and shapes, whether each depends on the parameters, the logits'
  shape: from one abstract trace (no computation)."""
  paths = []

  def outputs(p):
    (logits, taps), (_, tap_paths) = forward(p, None, state, x, key, **kwargs)
    paths.extend(tap_paths)
    return [logits, *taps]

  closed = jax.make_jaxpr(outputs)(params)
  shapes = [tuple(v.aval.shape) for v in closed.jaxpr.outvars]
  live = _depends(closed, len(jax.tree.leaves(params)))[1:]
  return _Trace(paths, shapes[1:], live, shapes[0])


def _default_state(state, adapted: adapter.Adapted):
  return adapted.state if state is None else state


def _traced(model, params, x, units, state) -> _Trace:
  adapted = adapter.adapter(model, units)
  tr = _trace(_cut(adapted.apply), params, _default_state(state, adapted), x)
  if not tr.paths:
    names = ", ".join(u.__name__ if isinstance(u, type) else repr(u) for u in units)
    raise ValueError(f"No feedback unit found in {type(model).__name__}: looked for modules "
                     f"of type or path {names}; pass units=... naming the model's layers.")
  return tr


def unit_taps(model, params, x, units=DEFAULT_UNITS, all_units: bool = False, state=None):
  """[(unit path, tap shape)] in call order, for the taps that carry feedback (or all).

  Raises:
    ValueError: no unit found.
  """
  tr = _traced(model, params, x, units, state)
  return [(p, s) for p, s, d in zip(tr.paths, tr.shapes, tr.live) if d or all_units]


def _sizes(shapes, live, lead: tuple[int, ...]) -> list[int]:
  """Features per position of each tap (0: no feedback), checking its leading shape."""
  sizes = []
  for s, d in zip(shapes, live):
    if tuple(s[:len(lead)]) != tuple(lead):
      raise ValueError(f"A unit input of shape {tuple(s)} does not start with the logits' "
                       f"leading shape {tuple(lead)}; each position's error is projected "
                       "to it.")
    sizes.append(math.prod(s[len(lead):]) if d else 0)
  return sizes


def _starts(sizes: list[int], shared: bool) -> list[int]:
  return [0] * len(sizes) if shared else [int(s) for s in np.cumsum([0] + sizes[:-1])]


def _error_index(paths, error_at: str) -> int:
  hits = [i for i, p in enumerate(paths) if adapter.is_unit(None, p, (error_at,))]
  if len(hits) != 1:
    names = ", ".join(adapter.path_str(p) for p in paths)
    raise ValueError(f"error_at={error_at!r} must name exactly one feedback unit; it "
                     f"matches {len(hits)} of: {names}.")
  return hits[0]


def layout(model, params, x, units=DEFAULT_UNITS, shared: bool = False,
           error_at: str | None = None, state=None) -> Layout:
  """The device shape DFA needs for this model and which columns feed which tap.

  Each position of the logits (B, *S, C) is one error vector; a tap (B, *S, *F) reads
  prod(F) columns, its own slice (call order) or, ``shared``, the first prod(F).

  Raises:
    ValueError: no unit found, or ``error_at`` matches no unit or several.
  """
  tr = _traced(model, params, x, units, state)
  lead = tr.logits_shape[:-1]
  sizes = _sizes(tr.shapes, tr.live, lead)
  in_features = tr.logits_shape[-1]
  if error_at is not None:
    in_features = math.prod(tr.shapes[_error_index(tr.paths, error_at)][len(lead):])
  starts = _starts(sizes, shared)
  slots = tuple(Slot(adapter.path_str(p), st, s)
                for p, st, s in zip(tr.paths, starts, sizes) if s)
  return Layout(in_features, max(sizes) if shared else sum(sizes), slots)


def feedback_size(model, params, x, units=DEFAULT_UNITS, shared: bool = False,
                  state=None) -> int:
  """Device outputs DFA needs for this model: `layout`'s ``out_features``."""
  return layout(model, params, x, units, shared, state=state).out_features


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fa_input_grad(fn_b, y, h, b):
  """``y`` (the unit's output), whose cotangent reaches ``h`` through ``fn_b(b, h)``:
  the unit with its feedback weights b in place of its parameters."""
  del fn_b, h, b
  return y


def _fa_fwd(fn_b, y, h, b):
  return y, (h, b)


def _fa_bwd(fn_b, res, dy):
  h, b = res
  (dh,) = jax.vjp(lambda h: fn_b(b, h), h)[1](dy)
  return dy, dh, jax.tree.map(jnp.zeros_like, b)


_fa_input_grad.defvjp(_fa_fwd, _fa_bwd)


def _fa_hook(feedback):
  def hook(path, h, call, functional):
    b = feedback.get(adapter.path_str(path))
    if b is None:
      return call(h)
    fn, _ = functional()
    return _fa_input_grad(fn, call(jax.lax.stop_gradient(h)), h, b)

  return hook


def grad_fn(model, loss_fn: Callable[[Array, Any], Array], units=DEFAULT_UNITS,
            train_kwargs: dict | None = None):
  """Returns ``fn(params, rule, x, labels, key, state=None) -> (loss, grads, aux)``.

  ``params`` is the Linen parameter dict, or ``nnx.state(model, nnx.Param)`` for an NNX
  model; ``state`` the model's other variables (Linen: ``{"batch_stats": ...}``; NNX:
  ``nnx.state(model, nnx.Not(nnx.Param))``, by default the model's own). ``train_kwargs``
  (e.g. ``{"train": True}``) go to the model's call; ``key`` also seeds its dropout.

  ``grads`` is the rule's gradient pytree, what an optax optimizer consumes (for ``bp``
  it is ``jax.grad``); ``aux`` holds ``logits``, ``state`` (the model's state after the
  forward, as a ``jax.grad`` step leaves it) and, for dfa, ``feedback`` (the signal
  injected at each tap) and ``error`` (what the device projected). ``loss_fn(logits,
  labels)`` returns a scalar.
  """
  adapted = adapter.adapter(model, units)
  kwargs = dict(train_kwargs or {})

  def fn(params, rule: Rule, x, labels, key, state=None):
    state = _default_state(state, adapted)
    key, k_model = jax.random.split(key)
    if rule.name in ("bp", "fa"):
      hook = None if rule.name == "bp" else _fa_hook(rule.feedback)

      def loss_of(p):
        logits, new_state = adapted.apply(p, state, x, hook, k_model, **kwargs)
        return loss_fn(logits, labels), (logits, new_state)

      (loss, (logits, new_state)), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
      return loss, grads, {"logits": logits, "state": new_state}
    forward = _cut(adapted.apply, rule.error_at)
    tr = _trace(forward, params, state, x, k_model, **kwargs)
    probe = None
    if rule.error_at is not None:
      i = _error_index(tr.paths, rule.error_at)
      probe = jnp.zeros(tr.shapes[i], jnp.float32)
    (logits, taps), vjp, (new_state, _) = jax.vjp(
        lambda p, z: forward(p, z, state, x, k_model, **kwargs), params, probe, has_aux=True)
    loss, e = jax.value_and_grad(loss_fn)(logits, labels)
    zeros = [jnp.zeros_like(t) for t in taps]
    if rule.name == "shallow":
      feedback, error = zeros, e
    else:
      # The true gradient at the error unit's input: only the path logits -> probe is
      # live in this vjp (XLA drops the rest).
      error = e if probe is None else vjp((e, zeros))[1]
      feedback = project_error(rule, error, taps, tr.live, key)
    grads, _ = vjp((e, feedback))
    return loss, grads, {"logits": logits, "state": new_state, "feedback": feedback,
                         "error": error}

  return fn


def train_step_fn(model, loss_fn: Callable[[Array, Any], Array],
                  optimizer: optax.GradientTransformation, units=DEFAULT_UNITS,
                  train_kwargs: dict | None = None):
  """Returns ``step(params, opt_state, rule, x, labels, key, state=None) -> Step``: the
  rule's gradients through any optax optimizer, and the model's new state (`grad_fn`).
  Pure; jit it, donating params, opt_state and state."""
  grad = grad_fn(model, loss_fn, units, train_kwargs)

  def step(params, opt_state, rule: Rule, x, labels, key, state=None) -> Step:
    loss, grads, aux = grad(params, rule, x, labels, key, state)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return Step(optax.apply_updates(params, updates), opt_state, loss, aux["logits"],
                aux["state"])

  return step


def project_error(rule: Rule, e: Array, taps: list[Array], live: list[bool], key: Array):
  """The DFA feedback for each tap: slices of one projection of e, scaled (module doc)."""
  lead = e.shape[:-1]
  sizes = _sizes([t.shape for t in taps], live, lead)
  total = max(sizes) if rule.shared else sum(sizes)
  if total > rule.device.out_features:
    raise ValueError(f"The feedback units need {total} projected features (per unit: "
                     f"{sizes}), but the device gives {rule.device.out_features}; make the "
                     f"device with out_features >= {total}.")
  if e.shape[-1] != rule.device.in_features:
    raise ValueError(f"The error has {e.shape[-1]} features a position, but the device "
                     f"takes {rule.device.in_features}; make it with in_features="
                     f"{e.shape[-1]} (dfa.layout gives both).")
  e_2d = e.reshape(-1, e.shape[-1])
  exact = rule.device.weights if isinstance(rule.device, DigitalProjection) else None
  projected = rule.device.project(e_2d, key) if exact is None else None
  out = []
  for t, size, start in zip(taps, sizes, _starts(sizes, rule.shared)):
    if not size:
      out.append(jnp.zeros_like(t))
      continue
    scale = rule.gain / math.sqrt(size)
    fb = ((e_2d * scale) @ exact[:, start:start + size] if exact is not None  # scale the
          else projected[:, start:start + size] * scale)  # small operand, not the output
    out.append(fb.reshape(t.shape).astype(t.dtype))
  return out
