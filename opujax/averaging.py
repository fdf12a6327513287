"""An exponential moving average of the parameters (Polyak averaging), kept in the
optimizer's state as a last optax transformation: the weights a run evaluates and, for a
generative model, samples with (`averaged`), while training goes on with the raw ones.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class ParamAverageState(NamedTuple):
  count: jax.Array  # updates averaged so far
  param_average: Any  # the parameters' moving average, shaped as the parameters


def param_average(decay: float) -> optax.GradientTransformation:
  """Passes the updates on unchanged and averages the parameters they lead to:

    θ̄ ← d_n θ̄ + (1 - d_n) (θ + u),   d_n = min(decay, (1 + n) / (10 + n))

  at the n-th update (n from 0; θ̄ starts at the initial θ), the ramp of TensorFlow's
  ``ExponentialMovingAverage(num_updates=n)``, so the first updates are not swamped by
  the initialisation.

  Args:
    decay: the average's decay d in [0, 1); its memory is about 1 / (1 - d) updates.

  Returns:
    A transformation needing ``params`` in its update; chain it last.
  """

  def init(params):
    return ParamAverageState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.array, params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("param_average needs the parameters: update(updates, state, params).")
    n = state.count.astype(jnp.float32)
    d = jnp.minimum(decay, (1.0 + n) / (10.0 + n))
    new = optax.apply_updates(params, updates)
    average = jax.tree.map(lambda a, p: (d * a + (1.0 - d) * p).astype(a.dtype),
                           state.param_average, new)
    return updates, ParamAverageState(state.count + 1, average)

  return optax.GradientTransformation(init, update)


def averaged(params, opt_state):
  """The parameters' average kept in ``opt_state`` by `param_average`, else ``params``."""
  return optax.tree_utils.tree_get(opt_state, "param_average", default=params)
