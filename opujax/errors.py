"""What can go wrong in a run, by who can fix it.

A `UserError` is bad input (a config, a file, data, a workdir): the CLIs print its
message as one line and exit with status 2. A `Fault` is the run's, not the input's (the
loss diverged, the optical hardware failed): one line and exit status 1. Anything else
is a fault of the code.
"""


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
