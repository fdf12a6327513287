"""One interface over Flax Linen and NNX models: apply with a hook at every feedback unit.

``adapter(model, units)`` returns ``(apply, params)``: ``apply(params, x, hook, **kwargs)``
runs the model (``kwargs`` go to its call; ``rngs`` to Linen's ``apply``) and calls ``hook(path, h, call, functional)`` in place of every outermost feedback
unit, where ``h`` is the unit's first input, ``call(h)`` runs the unit on it, and
``functional()`` returns ``(fn, p)`` with ``fn(p, h) == call(h)`` a pure function of the
unit's parameters ``p``. ``params`` is the model's parameter pytree (``None`` for Linen,
whose parameters live outside the module).

Linen modules are intercepted with ``nn.intercept_methods``. NNX modules get module
surgery on a copy: each outermost unit is wrapped in `_Unit`, which calls the hook.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
from flax import nnx

Units = Sequence[type | str]
Hook = Callable[..., Any]


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
  def apply(params, x, hook: Hook | None = None, **kwargs):
    if hook is None:
      return model.apply({"params": params}, x, **kwargs)
    depth = [0]

    def interceptor(next_fun, args, kwargs, context):
      module = context.module
      if (context.method_name != "__call__" or depth[0]
          or not is_unit(module, module.path, units)):
        return next_fun(*args, **kwargs)
      h, *rest = args

      def functional():
        unbound = module.clone(parent=None)
        return (lambda p, h: unbound.apply({"params": p}, h, *rest, **kwargs),
                module.variables["params"])

      depth[0] += 1
      try:
        return hook(module.path, h, lambda h: next_fun(h, *rest, **kwargs), functional)
      finally:
        depth[0] -= 1

    with nn.intercept_methods(interceptor):
      return model.apply({"params": params}, x, **kwargs)

  return apply


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
  graphdef, params, other = nnx.split(model, nnx.Param, ...)

  def apply(params, x, hook: Hook | None = None, **kwargs):
    kwargs.pop("rngs", None)  # NNX modules hold their own
    m = nnx.merge(graphdef, _unwrap(params, wrapped), other)
    box.hook = hook
    try:
      return m(x, **kwargs)
    finally:
      box.hook = None

  return apply, _wrap_free(params, wrapped)


def subtree_module(model, path: tuple):
  for p in path:
    model = model[p] if isinstance(p, int) else getattr(model, p)
  return model


def _wrap_free(params, wrapped):
  """The surgery adds an ``inner`` level under each unit; users see the original paths."""
  flat = nnx.to_flat_state(params)
  out = []
  for key, value in flat:
    for w in wrapped:
      if key[:len(w)] == w and key[len(w):len(w) + 1] == ("inner",):
        key = key[:len(w)] + key[len(w) + 1:]
        break
    out.append((key, value))
  return nnx.from_flat_state(out)


def _unwrap(params, wrapped):
  flat = nnx.to_flat_state(params)
  out = []
  for key, value in flat:
    for w in wrapped:
      if key[:len(w)] == w:
        key = key[:len(w)] + ("inner",) + key[len(w):]
        break
    out.append((key, value))
  return nnx.from_flat_state(out)


def adapter(model, units: Units):
  """(apply, params) for a Linen or an NNX model; see the module docstring."""
  if isinstance(model, nn.Module):
    return _linen(model, units), None
  if isinstance(model, nnx.Module):
    return _nnx(model, units)
  raise TypeError(f"Expected a Flax Linen or NNX module, got {type(model).__name__}.")
