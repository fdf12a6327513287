"""python -m opujax.run --config configs/<name>.py [--config.<key>=<value> ...] [--workdir DIR]

Trains one config (`train.train_and_evaluate`, which validates it first), then draws its
alignment picture and OPU-versus-GPU report, all in the run folder; the same command
with the same --workdir resumes it from its last checkpoint. Exit status (`cli`): 0 done;
2 bad input (config, data, run folder), one line saying what is wrong; 1 a diverged run
or one that could not write its files, its last complete checkpoint kept; 130 / 143
SIGINT (Ctrl-C) / SIGTERM, stopped after the step in flight with a checkpoint there.
"""

import datetime
import os
import sys
import tempfile
from pathlib import Path

from absl import flags, logging
from ml_collections import config_flags

from opujax import cli
from opujax import config as config_lib
from opujax.errors import ConfigError, Interrupted, WorkdirError

FLAGS = flags.FlagValues()
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/<name>.py); its keys are overridden "
    "with --config.<key>=<value>.", flag_values=FLAGS, lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder (default: a new one under runs/); "
                               "rerun with the same one to resume.", flag_values=FLAGS)
_QUIET = flags.DEFINE_bool("quiet", False, "No progress line.", flag_values=FLAGS)
COMMAND = cli.Command("opujax.run", __doc__, FLAGS, configs="runs")


def parse(argv: list[str]) -> list[str]:
  """Parses the command line into the flags (`cli.parse`); checks the config file and
  every ``--config.<key>`` against it first, so that each mistake gets its own sentence.

  Raises:
    ConfigError: no --config, a config file that does not load, an unknown key, or a
      value of the wrong type.
  """
  for name in [n for n in FLAGS if n.startswith("config.")]:  # an earlier parse's
    delattr(FLAGS, name)                                       # override flags
  args = argv[1:]
  if not any(a in cli.HELP_FLAGS for a in args):
    paths = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    paths += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
    if not paths:
      raise ConfigError("--config is required: python -m opujax.run --config "
                        "configs/<name>.py (--help lists them)")
    config = config_lib.load_file(paths[-1])
    for a in args:
      if a.startswith("--config."):
        config_lib.check_key(config, a.split("=", 1)[0][len("--config."):])
  argv_before, sys.argv = sys.argv, list(argv)  # config_flags reads overrides from sys.argv
  try:
    return cli.parse(COMMAND, argv)
  finally:
    sys.argv = argv_before


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


def train_and_report(workdir: Path) -> tuple[int, str]:
  """Trains the parsed config in ``workdir``, then draws its pictures; its summary's line."""
  logging.set_verbosity(logging.WARNING)
  import jax

  from opujax import plots, report, train as train_lib
  check_writable(workdir)
  summary = train_lib.train_and_evaluate(_CONFIG.value, workdir, quiet=_QUIET.value)
  if jax.process_index() == 0:
    plots.alignment(workdir)
    report.write(workdir)
  score = next(k[len("final_test_"):] for k in summary if k.startswith("final_test_"))
  losses = "".join(f", {k} {v:.4f}" for k, v in summary["final"].items()
                   if k.endswith("loss") and k != f"test/{score}")
  return 0, (f"test {score} {summary[f'final_test_{score}']:.4f} (best "
             f"{summary[f'best_test_{score}']:.4f}){losses} in "
             f"{summary['wall_time_s'] / 60:.1f} min; results in {workdir}")


def main(argv: list[str]) -> int:
  """``python -m opujax.run`` with ``argv`` (the program first); its exit status."""
  workdir = None

  def body():
    nonlocal workdir
    workdir = _workdir(config_flags.get_config_filename(FLAGS["config"]))
    return train_and_report(workdir)

  return cli.main(COMMAND, body, argv, lambda e: interrupted(e, workdir, _WORKDIR.value is None),
                  parse_fn=parse)


if __name__ == "__main__":
  sys.exit(main(sys.argv))
