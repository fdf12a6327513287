"""One interface over Flax Linen and NNX models: apply with their state, and a hook at
every feedback unit.

``adapter(model, units)`` returns an `Adapted` ``(apply, params, state)``:

    out, new_state = apply(params, state, x, hook=None, key=None, **kwargs)

runs the model once (``kwargs`` go to its call, e.g. ``train=True``) and returns its
output and its state after the call, as ``jax.grad`` training would see it:

* Linen: ``state`` is a dict of the model's collections besides ``params``
  (``{"batch_stats": ...}``; ``{}`` for none). All of them are mutable during the call;
  ``key`` becomes the ``dropout`` rng.
* NNX: ``state`` is the ``nnx.State`` of every variable that is not an ``nnx.Param``
  (``BatchStat``, RNG keys and counts, ...), at the model's own paths; ``key`` reseeds
  every RNG stream of the model, so dropout masks follow the key.

``params`` and ``state`` returned by ``adapter`` are the NNX model's own (``None`` for
Linen, whose variables live outside the module). With ``hook``, each outermost feedback
unit is called as ``hook(path, h, call, functional)``: ``h`` is the unit's first input,
``call(h)`` runs the unit on it (updating its state), and ``functional()`` returns
``(fn, p)`` with ``fn(p, h)`` a pure function of the unit's parameters ``p`` (its other
variables held at their current values).

Linen modules are intercepted with ``nn.intercept_methods``. NNX modules get module
surgery on a copy: each outermost unit is wrapped in `_Unit`, which calls the hook.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
from flax import nnx

Units = Sequence[type | str]
Hook = Callable[..., Any]


class Adapted(NamedTuple):
  apply: Callable[..., tuple[Any, Any]]
  params: Any
  state: Any


def path_str(path: tuple) -> str:
  return "/".join(str(p) for p in path)


def is_unit(module, path: tuple, units: Units) -> bool:
  """A module is a unit if it is an instance of a type in ``units`` or its path
  ('/'-joined names) fully matches a regex string in ``units``."""
  return any(isinstance(module, u) if isinstance(u, type) else re.fullmatch(u, path_str(path))
             for u in units)


def subtree(tree, path: tuple):
  for p in path:
    tree = tree[p]
  return tree


def _linen(model: nn.Module, units: Units):
  def run(params, state, x, key, kwargs):
    state = dict(state or {})
    rngs = {"dropout": key} if key is not None else None
    if not state:
      return model.apply({"params": params}, x, rngs=rngs, **kwargs), state
    out, new = model.apply({"params": params, **state}, x, rngs=rngs, mutable=list(state),
                           **kwargs)
    return out, dict(new)

  def apply(params, state, x, hook: Hook | None = None, key=None, **kwargs):
    if hook is None:
      return run(params, state, x, key, kwargs)
    depth = [0]

    def interceptor(next_fun, args, kw, context):
      module = context.module
      if (context.method_name != "__call__" or depth[0]
          or not is_unit(module, module.path, units)):
        return next_fun(*args, **kw)
      h, *rest = args

      def functional():
        unbound, variables = module.clone(parent=None), dict(module.variables)
        return (lambda p, h: unbound.apply({**variables, "params": p}, h, *rest, mutable=True,
                                           **kw)[0], variables["params"])

      depth[0] += 1
      try:
        return hook(module.path, h, lambda h: next_fun(h, *rest, **kw), functional)
      finally:
        depth[0] -= 1

    with nn.intercept_methods(interceptor):
      return run(params, state, x, key, kwargs)

  return Adapted(apply, None, None)


class _HookBox:
  """Where `_Unit` finds the hook of the running apply (static: part of the graphdef)."""

  def __init__(self):
    self.hook = None


class _Unit(nnx.Module):

  def __init__(self, inner: nnx.Module, path: tuple, box: _HookBox):
    self.inner, self.path, self.box = inner, path, box

  def __call__(self, h, *rest, **kwargs):
    if self.box.hook is None:
      return self.inner(h, *rest, **kwargs)

    def functional():
      graphdef, p, other = nnx.split(self.inner, nnx.Param, ...)
      return (lambda p, h: nnx.merge(graphdef, p, other)(h, *rest, **kwargs), p)

    return self.box.hook(self.path, h, lambda h: self.inner(h, *rest, **kwargs), functional)


def _reseed(module: nnx.Module, key) -> None:
  """Every RNG stream of ``module`` reseeded from ``key`` (one fold-in per stream)."""
  tags = sorted({v.tag for _, v in nnx.to_flat_state(nnx.state(module, nnx.RngKey))})
  if tags:
    nnx.reseed(module, **{t: jax.random.fold_in(key, i) for i, t in enumerate(tags)})


def _nnx(model: nnx.Module, units: Units):
  model = nnx.clone(model)
  box, wrapped = _HookBox(), []
  for path, module in list(nnx.iter_modules(model)):
    if path and is_unit(module, path, units) and not any(path[:len(w)] == w for w in wrapped):
      wrapped.append(path)
  for path in wrapped:
    parent = subtree_module(model, path[:-1])
    unit = _Unit(subtree_module(model, path), path, box)
    if isinstance(path[-1], int):
      parent[path[-1]] = unit
    else:
      setattr(parent, path[-1], unit)
  graphdef, params, state = nnx.split(model, nnx.Param, ...)

  def apply(params, state, x, hook: Hook | None = None, key=None, **kwargs):
    m = nnx.merge(graphdef, _wrapped(params, wrapped), _wrapped(state, wrapped), copy=True)
    if key is not None:
      _reseed(m, key)
    box.hook = hook
    try:
      out = m(x, **kwargs)
    finally:
      box.hook = None
    _, _, new = nnx.split(m, nnx.Param, ...)
    return out, _unwrapped(new, wrapped)

  return Adapted(apply, _unwrapped(params, wrapped), _unwrapped(state, wrapped))


def subtree_module(model, path: tuple):
  for p in path:
    model = model[p] if isinstance(p, int) else getattr(model, p)
  return model


def _rekey(state, wrapped, inner: bool):
  """The surgery adds an ``inner`` level under each unit; users see the original paths."""
  out = []
  for key, value in nnx.to_flat_state(state):
    for w in wrapped:
      if key[:len(w)] == w:
        rest = key[len(w):]
        if inner:
          key = w + ("inner",) + rest
        elif rest[:1] == ("inner",):
          key = w + rest[1:]
        break
    out.append((key, value))
  return nnx.from_flat_state(out)


def _wrapped(state, wrapped):
  return _rekey(state, wrapped, inner=True)


def _unwrapped(state, wrapped):
  return _rekey(state, wrapped, inner=False)


def adapter(model, units: Units) -> Adapted:
  """`Adapted` ``(apply, params, state)`` for a Linen or an NNX model (module doc)."""
  if isinstance(model, nn.Module):
    return _linen(model, units)
  if isinstance(model, nnx.Module):
    return _nnx(model, units)
  raise TypeError(f"Expected a Flax Linen or NNX module, got {type(model).__name__}.")
