"""What can go wrong in a run, by who can fix it.

A `UserError` is bad input (a config, a file, data, a workdir): the CLIs print its
message as one line and exit with status 2. A `Fault` is the run's, not the input's (the
loss diverged, the optical hardware failed): one line and exit status 1. Anything else
is a fault of the code. `Interrupted` is a signal's (SIGINT, SIGTERM): one line and exit
status 128 + the signal's number, as a shell reports it.
"""

import signal


class UserError(Exception):
  """Bad input, with what is wrong and how to fix it."""


class ConfigError(UserError, ValueError):
  """A config (file, key or value) that cannot run, with what is allowed."""


class WorkdirError(UserError):
  """A workdir that cannot be used: not writable, or holding another run."""


class Fault(RuntimeError):
  """The run failed through no fault of its input."""


class Diverged(Fault):
  """The loss became NaN or infinite."""


class HardwareError(Fault):
  """The optical hardware did not deliver a checked measurement."""


class WriteFailed(Fault):
  """A file of the run could not be written (disk full, quota, read-only, permissions)."""


class Interrupted(BaseException):
  """SIGINT or SIGTERM stopped the run: at ``step`` with a checkpoint saved there, or (None)
  where nothing was in flight since the last one. A `BaseException`, as KeyboardInterrupt
  is: no ``except Exception`` on its way takes it for a failure."""

  def __init__(self, signum: int, step: int | None = None):
    super().__init__(signal.Signals(signum).name, step)
    self.signum, self.step = signum, step

  @property
  def exit_code(self) -> int:
    return 128 + self.signum
