"""SIGINT and SIGTERM as a request to stop at the next step boundary, with a checkpoint
there: what the Flax and T5X trainers do at a preemption notice, and across processes
through JAX's own (`jax.experimental.multihost_utils.reached_preemption_sync_point`)."""

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from opujax.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
  """While entered in the main thread, SIGINT and SIGTERM stop the work (elsewhere: no-op).

  Outside `deferred`, a signal raises `Interrupted` at once: nothing is in flight that a
  checkpoint would keep. Inside, it is noted (``received``, then ``notify(signum)``) and
  the loop asks `stop` after each step; a second signal ends the process at once, status
  128 + its number, leaving every complete checkpoint as it was (orbax finalises a step
  by renaming its folder). With several processes SIGTERM is left to JAX's preemption
  notifier, which tells every process; SIGINT is passed on to it as a SIGTERM, and `stop`
  is true at the step all processes agree on (``processes``: `jax.process_count()`).
  """

  def __init__(self, processes: int = 1, notify: Callable[[int], None] | None = None):
    self.processes, self.notify, self.received, self.deferring = processes, notify, None, False
    self._previous: dict[int, object] = {}

  def __enter__(self) -> "Interrupts":
    if threading.current_thread() is threading.main_thread():
      for s in SIGNALS[:1] if self.processes > 1 else SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def _handle(self, signum: int, frame) -> None:
    del frame
    if self.received is not None:
      sys.stderr.write(f"{signal.Signals(signum).name} again: stopped at once; rerun the "
                       "same command to resume from the last complete checkpoint\n")
      sys.stderr.flush()
      os._exit(128 + signum)
    if not self.deferring:
      raise Interrupted(signum)
    self.received = signum
    if self.processes > 1:
      os.kill(os.getpid(), signal.SIGTERM)
    if self.notify is not None:
      self.notify(signum)

  @contextlib.contextmanager
  def deferred(self) -> Iterator["Interrupts"]:
    """Signals inside are noted for `stop`, not raised."""
    self.deferring = True
    try:
      yield self
    finally:
      self.deferring = False

  def stop(self, step: int) -> bool:
    """Whether to stop after ``step`` (every process: at the same step)."""
    if self.processes > 1:
      from jax.experimental import multihost_utils
      if not multihost_utils.reached_preemption_sync_point(step):
        return False
      self.received = self.received or signal.SIGTERM
      return True
    return self.received is not None
