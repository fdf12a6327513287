"""What can go wrong in a run, by who can fix it.

A `UserError` is bad input (a config, a file, data, a workdir): the CLIs print its
message as one line and exit with status 2. Anything else is a fault of the run
(`Diverged`) or of the code.
"""


class UserError(Exception):
  """Bad input, with what is wrong and how to fix it."""


class ConfigError(UserError, ValueError):
  """A config (file, key or value) that cannot run, with what is allowed."""


class WorkdirError(UserError):
  """A workdir that cannot be used: not writable, or holding another run."""


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""
