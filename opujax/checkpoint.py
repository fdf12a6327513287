"""A run's checkpoints: an orbax `CheckpointManager` in ``workdir/checkpoints`` holding
the whole `TrainState` (typed PRNG keys stored as their raw data)."""

from pathlib import Path

import jax
import jax.numpy as jnp

from opujax.errors import WorkdirError


def manager(workdir: Path, keep: int):
  import orbax.checkpoint as ocp
  return ocp.CheckpointManager((Path(workdir) / "checkpoints").absolute(),
                               options=ocp.CheckpointManagerOptions(max_to_keep=keep))


def _is_key(a) -> bool:
  return jnp.issubdtype(getattr(a, "dtype", None), jax.dtypes.prng_key)


def _savable(tree):
  """Typed PRNG keys as their raw uint32 data, which orbax can store."""
  return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, tree)


def save(mngr, step: int, state, force: bool = False) -> None:
  import orbax.checkpoint as ocp
  mngr.save(step, args=ocp.args.StandardSave(_savable(state)), force=force)


def restore_latest(mngr, template, workdir: Path):
  """The newest checkpoint in the shapes, dtypes and shardings of ``template``, or
  ``template`` itself where there is none.

  Raises:
    WorkdirError: the checkpoint does not fit ``template`` (another model, rule or
      optimizer).
  """
  import orbax.checkpoint as ocp
  step = mngr.latest_step()
  if step is None:
    return template
  try:
    restored = mngr.restore(step, args=ocp.args.StandardRestore(_savable(template)))
  except (ValueError, KeyError, TypeError) as e:
    raise WorkdirError(f"{workdir} holds a checkpoint (step {step}) of a different model, "
                       "rule or optimizer; resume with its own config or pass a new "
                       "--workdir.") from e
  return jax.tree.map(lambda t, a: jax.random.wrap_key_data(a) if _is_key(t) else a,
                      template, restored)
