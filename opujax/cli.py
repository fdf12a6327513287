"""What opujax's commands share (``python -m opujax.run``, ``opujax.sweep``,
``opujax.report``): absl flags, each command's in a `flags.FlagValues` of its own (they
are imported side by side); ``--help``, which prints the usage, the flags and where every
config key is documented; and one way to end:

* 0: done, the result's line on stdout (1 for a sweep some of whose runs failed: a line
  each on stderr);
* 2: a user's error (a flag, a config, the data, a run folder): one line on stderr,
  ``<command>: error: ...``, nothing written;
* 1: a fault (a diverged run, a disk that is full): one line, ``<command>: stopped: ...``,
  the last complete checkpoints kept;
* 130 / 143: SIGINT / SIGTERM, one line saying how to resume.
"""

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from absl import flags

from opujax.errors import ConfigError, Fault, Interrupted, UserError

HELP_FLAGS = ("-h", "--help", "--helpshort", "--helpfull")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
KEYS = ("Every config key is documented where it is set: opujax/config.py (`default` and "
        "the recipes below it); docs/configs.md lists them.")


class Command(NamedTuple):
  name: str  # as the lines it prints start: "opujax.run"
  doc: str  # the module's docstring: its first line the usage
  flag_values: flags.FlagValues
  configs: str = ""  # the shipped config files it takes: "runs", "sweeps" or "" (none)


def shipped_configs(kind: str) -> list[str]:
  """The config files under configs/ of ``kind``: "sweeps" (sweep_*.py) or "runs" (the rest)."""
  return sorted(f"configs/{p.name}" for p in CONFIGS.glob("*.py")
                if p.name.startswith("sweep_") == (kind == "sweeps"))


def help_text(command: Command) -> str:
  """The usage, the command's description, its flags and, for a command taking configs,
  the shipped ones and `KEYS`."""
  listed = [f for fs in command.flag_values.flags_by_module_dict().values() for f in fs]
  lines = [f"  --{f.name}: {f.help}" + ("" if f.default is None else f" (default {f.default})")
           for f in sorted(listed, key=lambda f: f.name)]
  parts = [command.doc.strip(), "Flags:\n" + "\n".join(lines)]
  if command.configs:
    parts.append("Shipped configs:\n" + "\n".join(f"  {n}" for n in shipped_configs(command.configs)))
    parts.append(KEYS)
  return "\n\n".join(parts) + "\n"


def parse(command: Command, argv: list[str]) -> list[str]:
  """Parses ``argv`` (the program first) into the command's flags; with a help flag,
  prints `help_text` and exits 0.

  Raises:
    ConfigError: an unknown flag, a missing one or a value of the wrong type.
  """
  if any(a in HELP_FLAGS for a in argv[1:]):
    print(help_text(command), end="")
    sys.exit(0)
  fv = command.flag_values
  fv.unparse_flags()
  try:
    rest = fv(argv)
    fv.validate_all_flags()
  except flags.Error as e:
    missing = re.match(r"flag --(\S+)=None: Flag --\S+ must have a value other than None", str(e))
    what = f"--{missing[1]} is required" if missing else str(e)
    raise ConfigError(f"{what}; see python -m {command.name} --help") from e
  if len(rest) > 1:
    raise ConfigError(f"unexpected argument {rest[1]!r}; see python -m {command.name} --help")
  return rest


def main(command: Command, body: Callable[[], tuple[int, str]], argv: list[str],
         interrupted: Callable[[Interrupted], str],
         parse_fn: Callable[[list[str]], object] | None = None) -> int:
  """Parses ``argv`` (with ``parse_fn``, default `parse`), runs ``body`` and ends as the
  module's docstring says: ``body`` returns the exit status and the result's line;
  ``interrupted`` makes the line of a signal's stop. Returns the exit status."""
  name = command.name
  try:
    (parse_fn or (lambda a: parse(command, a)))(argv)
    status, line = body()
  except UserError as e:
    print(f"{name}: error: {e}", file=sys.stderr)
    return 2
  except Fault as e:
    print(f"{name}: stopped: {e}", file=sys.stderr)
    return 1
  except Interrupted as e:
    print(f"{name}: {interrupted(e)}", file=sys.stderr)
    return e.exit_code
  print(line)
  return status
