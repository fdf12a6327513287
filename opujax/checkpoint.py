"""A run's checkpoints: an orbax `CheckpointManager` in ``workdir/checkpoints`` holding
the whole `TrainState` (typed PRNG keys stored as their raw data) and, beside it, a
fingerprint of every leaf, checked when the state is read back.

A step that cannot be read, or reads back other than it was saved (a leaf of the wrong
shape or dtype, not finite, or whose fingerprint differs), is skipped with a warning
naming it and set aside (``<step>.damaged``), and the newest good step before it
restored instead. A save that cannot be written (disk full, quota, permissions) raises
`WriteFailed` naming the folder; orbax's threads' own reports of it are kept off stderr
(their log records, and the writes that finish after orbax closed its event loop), and
its half-written step (``<step>.orbax-checkpoint-tmp``) is never read back.
"""

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from opujax import files
from opujax.errors import WorkdirError

FINGERPRINT = "fingerprint"


class _WriteFailureFilter(logging.Filter):
  """Drops the log records of orbax's threads whose exception is a write failure
  (`files.write_failure`): the main thread raises it as one line."""

  def filter(self, record: logging.LogRecord) -> bool:
    e = record.exc_info[1] if record.exc_info else None
    return e is None or files.write_failure(e) is None


_QUIET_WRITE_FAILURES = _WriteFailureFilter()


def _loop_closed(u) -> bool:
  """A write of orbax's (a tensorstore future) finished after its event loop closed: its
  callback's ``call_soon_threadsafe`` raised, and nothing awaits that write any more."""
  names, tb = [], u.exc_traceback
  while tb is not None:
    names.append(tb.tb_frame.f_code.co_name)
    tb = tb.tb_next
  return (isinstance(u.exc_value, RuntimeError) and str(u.exc_value) == "Event loop is closed"
          and names[-2:] == ["call_soon_threadsafe", "_check_closed"])


def _without_closed_loops(hook: Callable) -> Callable:
  """``hook`` (a `sys.unraisablehook`) that drops what `_loop_closed` names."""

  def unraisable(u):
    if not _loop_closed(u):
      hook(u)

  unraisable.drops_closed_loops = True
  return unraisable


def manager(workdir: Path, keep: int):
  import orbax.checkpoint as ocp
  logging.getLogger("absl").addFilter(_QUIET_WRITE_FAILURES)  # orbax logs through absl
  if not getattr(sys.unraisablehook, "drops_closed_loops", False):
    sys.unraisablehook = _without_closed_loops(sys.unraisablehook)
  return ocp.CheckpointManager((Path(workdir) / "checkpoints").absolute(),
                               item_handlers={"default": ocp.StandardCheckpointHandler(),
                                              FINGERPRINT: ocp.JsonCheckpointHandler()},
                               options=ocp.CheckpointManagerOptions(max_to_keep=keep))


def _legacy_manager(mngr):
  """A manager for steps saved before fingerprints (one unnamed item)."""
  import orbax.checkpoint as ocp
  return ocp.CheckpointManager(mngr.directory)


def _is_key(a) -> bool:
  return jnp.issubdtype(getattr(a, "dtype", None), jax.dtypes.prng_key)


def _savable(tree):
  """Typed PRNG keys as their raw uint32 data, which orbax can store."""
  return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, tree)


@jax.jit
def fingerprint(tree) -> tuple[list[jax.Array], list[jax.Array]]:
  """Per leaf: a uint32 checksum of its bits, ``sum_i bits_i * (2 i + 1) mod 2^32`` (a
  changed, swapped or lost word changes it; 64-bit types: their low 32 bits), and
  whether it is finite (non-float leaves: True)."""

  def checksum(a):
    bits = (jax.lax.bitcast_convert_type(a, jnp.dtype(f"uint{8 * a.dtype.itemsize}"))
            if a.dtype != jnp.bool_ else a)
    bits = bits.astype(jnp.uint32).ravel()
    return jnp.sum(bits * (2 * jax.lax.iota(jnp.uint32, bits.size) + 1), dtype=jnp.uint32)

  def finite(a):
    return jnp.isfinite(a).all() if jnp.issubdtype(a.dtype, jnp.floating) else jnp.bool_(True)

  leaves = jax.tree.leaves(tree)
  return [checksum(a) for a in leaves], [finite(a) for a in leaves]


def _legacy(mngr, step: int) -> bool:
  """A step saved before fingerprints (one unnamed item)."""
  return not (Path(mngr.directory) / str(step) / FINGERPRINT).exists()


@contextlib.contextmanager
def managed(workdir: Path, keep: int) -> Iterator:
  """`manager` for the block, closed at its end once its saves are on disk (a failure of
  theirs raises `WriteFailed`, unless the block raised first)."""
  mngr = manager(workdir, keep)
  try:
    yield mngr
  except BaseException:
    with contextlib.suppress(Exception):
      mngr.close()
    raise
  with files.writing(mngr.directory, "a checkpoint"):
    mngr.close()


def save(mngr, step: int, state, force: bool = False) -> None:
  """Starts saving ``state`` at ``step`` (orbax writes it in the background).

  Raises:
    WriteFailed: this or the previous save could not be written.
  """
  import orbax.checkpoint as ocp
  tree = _savable(state)
  prints = [int(p) for p in jax.device_get(fingerprint(tree)[0])]
  with files.writing(mngr.directory, "a checkpoint"):
    mngr.save(step, args=ocp.args.Composite(default=ocp.args.StandardSave(tree),
                                            **{FINGERPRINT: ocp.args.JsonSave(prints)}),
              force=force)


def finish(mngr) -> None:
  """Waits for the saves in flight.

  Raises:
    WriteFailed: one could not be written.
  """
  with files.writing(mngr.directory, "a checkpoint"):
    mngr.wait_until_finished()


def load(workdir: Path, step: int) -> dict:
  """The state saved at ``step`` in ``workdir`` as nested dicts of arrays (no template:
  for inspection)."""
  import orbax.checkpoint as ocp
  with manager(workdir, 1 << 30) as mngr:
    if _legacy(mngr, step):
      with _legacy_manager(mngr) as old:
        return old.restore(step, args=ocp.args.StandardRestore())
    return mngr.restore(step, args=ocp.args.Composite(default=ocp.args.StandardRestore()))[
        "default"]


def restore_latest(mngr, template, workdir: Path):
  """The newest good checkpoint in the shapes, dtypes and shardings of ``template``, or
  ``template`` itself where there is none; bad steps are skipped with a warning.

  Raises:
    WorkdirError: the newest checkpoint holds another model, rule or optimizer, or no
      checkpoint can be read back whole.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    return template
  _check_structure(mngr, steps[0], template, workdir)
  savable, problems = _savable(template), []
  for step in steps:
    try:
      restored = _restore(mngr, step, savable)
    except Exception as e:  # orbax and tensorstore raise many types for damaged files
      problem = f"unreadable ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    else:
      problem = _damage(restored[0], savable, restored[1])
      if problem is None:
        if problems:
          _set_aside(mngr, steps[:len(problems)])
          logging.warning("Resuming %s from checkpoint step %d instead.", workdir, step)
        return jax.tree.map(lambda t, a: jax.random.wrap_key_data(a) if _is_key(t) else a,
                            template, restored[0])
    logging.warning("Checkpoint step %d in %s is %s; trying the one before.", step,
                    workdir, problem)
    problems.append(f"step {step}: {problem}")
  raise WorkdirError(f"No checkpoint in {workdir / 'checkpoints'} can be read back whole "
                     f"({'; '.join(problems)}); delete that folder to start the run again, "
                     "or pass a new --workdir.")


def _set_aside(mngr, steps: list[int]) -> None:
  """Renames damaged step folders to ``<step>.damaged`` (kept for a look, out of the
  manager's way, so that the resumed run saves those steps again)."""
  for step in steps:
    folder = Path(mngr.directory) / str(step)
    target = folder.with_name(f"{step}.damaged")
    n = 1
    while target.exists():
      target, n = folder.with_name(f"{step}.damaged{n}"), n + 1
    folder.rename(target)
  mngr.reload()


def _check_structure(mngr, step: int, template, workdir: Path) -> None:
  """Refuses a checkpoint whose leaves (names, shapes) are not the template's; a
  checkpoint whose metadata cannot be read is left to `restore_latest`."""
  try:
    if _legacy(mngr, step):
      with _legacy_manager(mngr) as old:
        meta = old.item_metadata(step)
    else:
      meta = mngr.item_metadata(step)["default"]
    saved = [tuple(m.shape) for m in jax.tree.leaves(meta)]
  except Exception:  # damaged: restore_latest names it and falls back
    return
  wanted = [tuple(np.shape(a)) for a in jax.tree.leaves(_savable(template))]
  if saved and sorted(saved) != sorted(wanted):  # orbax names leaves its own way
    raise WorkdirError(f"{workdir} holds a checkpoint (step {step}) of a different model, "
                       "rule or optimizer; resume with its own config or pass a new "
                       "--workdir.")


def _restore(mngr, step: int, template):
  """(restored tree, saved fingerprints or None for a legacy step)."""
  import orbax.checkpoint as ocp
  if _legacy(mngr, step):
    with _legacy_manager(mngr) as old:
      return old.restore(step, args=ocp.args.StandardRestore(template)), None
  out = mngr.restore(step, args=ocp.args.Composite(
      default=ocp.args.StandardRestore(template), **{FINGERPRINT: ocp.args.JsonRestore()}))
  return out["default"], out[FINGERPRINT]


def _damage(restored, template, prints) -> str | None:
  """What is wrong with a restored tree, or None."""
  got, want = jax.tree.leaves(restored), jax.tree.leaves(template)
  if len(got) != len(want):
    return f"damaged ({len(got)} arrays instead of {len(want)})"
  for i, (a, t) in enumerate(zip(got, want)):
    if a.shape != t.shape or a.dtype != t.dtype:
      return f"damaged (array {i} is {a.dtype}{list(a.shape)}, not {t.dtype}{list(t.shape)})"
  checksums, finite = jax.device_get(fingerprint(restored))
  if not all(finite):
    return f"damaged (array {finite.index(False)} holds NaN or inf)"
  if prints is not None and [int(p) for p in checksums] != prints:
    return "damaged (its arrays differ from those saved: fingerprint mismatch)"
  return None
