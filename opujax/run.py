"""python -m opujax.run --config configs/<name>.py [--config.key=value ...] [--workdir DIR]

Trains one config. User errors (config, data, workdir) exit with status 2 and one line
saying what is wrong; a diverged run exits with 1 and keeps its last good checkpoint.
"""

import datetime
import os
import sys
import tempfile
from pathlib import Path

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/<name>.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder (default: a new one under runs/).")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress line.")


def _fail(message: str) -> int:
  print(f"opujax.run: error: {message}", file=sys.stderr)
  return 2


def _unknown_key(argv: list[str], missing: str) -> str:
  for arg in argv:
    if arg.startswith("--config.") and arg.split("=")[0].split(".")[-1] == missing:
      return f"unknown config key {arg.split('=')[0][len('--config.'):]!r}"
  return f"unknown config key {missing!r}"


def _workdir(config_path: str) -> Path:
  if _WORKDIR.value:
    return Path(_WORKDIR.value)
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return Path("runs") / f"{Path(config_path).stem}-{stamp}"


def _check_writable(workdir: Path) -> None:
  """Creates nothing that stays: a workdir that cannot be written fails here."""
  probe = workdir if workdir.exists() else next(
      (p for p in workdir.parents if p.exists()), Path("."))
  if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
    raise PermissionError(f"workdir {workdir} is not writable ({probe} does not allow it); "
                          "pass --workdir to a folder you can write")
  try:
    with tempfile.TemporaryFile(dir=probe):
      pass
  except OSError as e:
    raise PermissionError(f"workdir {workdir} is not writable ({e.strerror}); pass --workdir "
                          "to a folder you can write") from e


def main(argv: list[str]) -> int:
  try:
    flags.FLAGS(argv)
  except flags.Error as e:
    return _fail(str(e))
  except AttributeError as e:
    if "get_config" in str(e):
      return _fail("the config file does not define get_config(); see configs/ for examples")
    return _fail(f"{_unknown_key(argv, str(e).strip(chr(34) + chr(39)))}; "
                 "see the config file for its keys")
  except OSError:
    return _fail(f"cannot load config file {flags.FLAGS['config'].value or argv}: no such file; "
                 "the configs are in configs/")
  if not flags.FLAGS["config"].present:
    return _fail("--config is required: python -m opujax.run --config configs/<name>.py")
  path = config_flags.get_config_filename(flags.FLAGS["config"])
  try:
    config = _CONFIG.value
    config.to_dict()  # a file that failed to load raises here
  except (OSError, AttributeError):
    return _fail(f"cannot load config file {path!r}: no such file, or it does not define "
                 "get_config(); the configs are in configs/")

  from opujax import data, train
  workdir = _workdir(path)
  try:
    train.validate(config)
    _check_writable(workdir)
    summary = train.train_and_evaluate(config, workdir, quiet=_QUIET.value)
  except (train.ConfigError, data.DataError, PermissionError) as e:
    return _fail(str(e))
  except train.Diverged as e:
    print(f"opujax.run: stopped: {e}", file=sys.stderr)
    return 1
  losses = "".join(f", {k} {v:.4f}" for k, v in summary["final"].items() if k.endswith("loss"))
  print(f"test accuracy {summary['final_test_accuracy']:.4f} (best "
        f"{summary['best_test_accuracy']:.4f}){losses} in {summary['wall_time_s'] / 60:.1f} "
        f"min; results in {workdir}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
