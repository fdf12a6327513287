"""python -m opujax.run --config configs/<name>.py [--config.key=value ...] [--workdir DIR]

Trains one config (`train.train_and_evaluate`, which validates it first), then draws its
alignment picture and OPU-versus-GPU report. Bad input
(config, data, workdir: `errors.UserError`) exits with status 2 and one line saying what
is wrong; a diverged run, or one that could not write its files, exits with 1 and keeps
its last complete checkpoint; SIGINT (Ctrl-C) or SIGTERM stops it after the step in
flight, with a checkpoint there: exit status 130 or 143.
"""

import datetime
import os
import sys
import tempfile
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from opujax import config as config_lib
from opujax.errors import ConfigError, Fault, Interrupted, UserError, WorkdirError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/<name>.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder (default: a new one under runs/).")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress line.")
flags.mark_flag_as_required("config")


def _fail(e: Exception) -> int:
  print(f"opujax.run: error: {e}", file=sys.stderr)
  return 2


def parse(argv: list[str]) -> list[str]:
  """Parses the command line into the flags; checks the config file and every
  ``--config.<key>`` against it first, so that each mistake gets its own sentence.

  Raises:
    ConfigError: no --config, a config file that does not load, an unknown key, or a
      value of the wrong type.
  """
  flags.FLAGS.unparse_flags()
  for name in [n for n in flags.FLAGS if n.startswith("config.")]:  # an earlier parse's
    delattr(flags.FLAGS, name)                                      # override flags
  args = argv[1:]
  paths = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
  paths += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
  if not paths:
    raise ConfigError("--config is required: python -m opujax.run --config configs/<name>.py")
  config = config_lib.load_file(paths[-1])
  for a in args:
    if a.startswith("--config."):
      config_lib.check_key(config, a.split("=", 1)[0][len("--config."):])
  argv_before, sys.argv = sys.argv, list(argv)  # config_flags reads overrides from sys.argv
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    raise ConfigError(str(e)) from e
  finally:
    sys.argv = argv_before


def parse_or_exit(argv: list[str]) -> list[str]:
  """`parse`, or exit with status 2 and its one line (absl's ``flags_parser``)."""
  try:
    return parse(argv)
  except UserError as e:
    sys.exit(_fail(e))


def _workdir(config_path: str) -> Path:
  if _WORKDIR.value:
    return Path(_WORKDIR.value)
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return Path("runs") / f"{Path(config_path).stem}-{stamp}"


def check_writable(workdir: Path) -> None:
  """Creates nothing that stays: a workdir that cannot be written fails here."""
  probe = workdir if workdir.exists() else next(
      (p for p in workdir.parents if p.exists()), Path("."))
  if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
    raise WorkdirError(f"workdir {workdir} is not writable ({probe} does not allow it); "
                       "pass --workdir to a folder you can write")
  try:
    with tempfile.TemporaryFile(dir=probe):
      pass
  except OSError as e:
    raise WorkdirError(f"workdir {workdir} is not writable ({e.strerror}); pass --workdir "
                       "to a folder you can write") from e


def interrupted(e: Interrupted, workdir: Path, new_workdir: bool) -> str:
  """The one line of a run stopped by a signal."""
  rerun = "rerun the same command" + (f" with --workdir {workdir}" if new_workdir else "")
  if e.step is None:
    return (f"interrupted ({e.args[0]}) outside a training step; nothing is lost since the "
            f"last checkpoint; {rerun} to resume")
  return f"interrupted ({e.args[0]}) at step {e.step}; checkpoint saved; {rerun} to resume"


def main(argv: list[str]) -> int:
  del argv
  logging.set_verbosity(logging.WARNING)
  import jax

  from opujax import plots, report, train
  config = _CONFIG.value
  workdir = _workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
  try:
    check_writable(workdir)
    summary = train.train_and_evaluate(config, workdir, quiet=_QUIET.value)
    if jax.process_index() == 0:
      plots.alignment(workdir)
      report.write(workdir)
  except UserError as e:
    return _fail(e)
  except Fault as e:
    print(f"opujax.run: stopped: {e}", file=sys.stderr)
    return 1
  except Interrupted as e:
    print(f"opujax.run: {interrupted(e, workdir, _WORKDIR.value is None)}", file=sys.stderr)
    return e.exit_code
  score = next(k[len("final_test_"):] for k in summary if k.startswith("final_test_"))
  losses = "".join(f", {k} {v:.4f}" for k, v in summary["final"].items()
                   if k.endswith("loss") and k != f"test/{score}")
  print(f"test {score} {summary[f'final_test_{score}']:.4f} (best "
        f"{summary[f'best_test_{score}']:.4f}){losses} in {summary['wall_time_s'] / 60:.1f} "
        f"min; results in {workdir}")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=parse_or_exit)
