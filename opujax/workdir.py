"""A run folder's contract: one process at a time, one config per run, each step logged
once, and the run's best taken over all of it."""

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from opujax import files
from opujax.errors import WorkdirError

# The model keys every config held before each held its own model's (old run folders).
OLD_MODEL_KEYS = tuple(f"model.{k}" for k in ("widths", "activation", "dropout", "d_model",
                                               "depth", "heads", "norm", "positions", "stem",
                                               "hidden", "dtype"))
# Keys added since, with the value a run started before held (where its config has them).
ADDED = {"task": "", "label_smoothing": 0.0, "diffusion.schedule": "linear",
         "diffusion.eta": 0.0, "diffusion.prediction": "eps", "diffusion.label_dropout": 0.1,
         "diffusion.guidance": 0.0, "model.label_classes": 0, "eval_every": 1,
         "data.erase": 0.0}
# Keys a resumed run may change: how long it runs, what it logs and keeps, where the data
# are, how it is spread over devices and processes, how a diffusion run samples at the end
# (rerunning a finished one samples it again).
RESUMABLE = ("epochs", "steps", "log_every", "checkpoint_every", "keep_checkpoints",
             "diagnostics_every", "eval_examples", "eval_every", "data.data_dir",
             "data.manual_dir", "mesh", "distributed", "diffusion.samples",
             "diffusion.sample_steps", "diffusion.eta", "diffusion.guidance")
DIAGNOSTICS = ("align/", "update_norm/", "feedback_norm/")


@contextlib.contextmanager
def lock(workdir: Path) -> Iterator[None]:
  """Holds ``workdir/.lock`` (an exclusive ``flock``, released when the process ends).

  Raises:
    WorkdirError: another process holds it, named by its pid; or it cannot be opened.
  """
  path = Path(workdir) / ".lock"
  try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise WorkdirError(f"{path} cannot be used as the run's lock ({e.strerror}); remove it "
                       "(no run holds it then) or pass another --workdir") from e
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
      raise WorkdirError(f"{workdir} is in use by process {holder}; wait for it to finish "
                         "or pass another --workdir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    yield
  finally:
    os.close(fd)


def _flat(tree: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _plain(config) -> dict:
  return json.loads(json.dumps(config.to_dict(), default=str))


def check_config(workdir: Path, config) -> None:
  """Refuses to resume the run in ``workdir`` with a config that differs from the one it
  was started with in anything but `RESUMABLE` keys.

  Raises:
    WorkdirError: naming each differing key with both values; or a damaged config.json.
  """
  path = Path(workdir) / "config.json"
  if not path.is_file():
    return
  try:
    before = json.loads(path.read_text())
    if not isinstance(before, dict):
      raise ValueError("not a JSON object")
  except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    raise WorkdirError(f"{path} is damaged ({e}); delete it to resume with this config "
                       "(the checkpoints are kept), or pass a new --workdir") from e
  before, now = _flat(before), _flat(_plain(config))
  # Runs started when every config held every model's keys: those its model does not take.
  before = {k: v for k, v in before.items() if k in now or k not in OLD_MODEL_KEYS}
  before = {**{k: v for k, v in ADDED.items() if k in now}, **before}
  changed = [k for k in sorted(set(before) | set(now))
             if before.get(k) != now.get(k)
             and not any(k == r or k.startswith(r + ".") for r in RESUMABLE)]
  if changed:
    diff = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
    raise WorkdirError(f"{workdir} holds a run of another config ({diff}); resume it with "
                       "its own config or pass a new --workdir")


def record_config(workdir: Path, config) -> None:
  files.write_json(Path(workdir) / "config.json", _plain(config))


def _parsed(lines: list[str], path: Path) -> list[dict]:
  """The records of ``lines``, but a last line torn by a killed process.

  Raises:
    WorkdirError: an earlier line that is not a record.
  """
  out = []
  for i, line in enumerate(lines):
    try:
      record = json.loads(line)
      if not (isinstance(record, dict) and isinstance(record.get("step"), int)):
        raise ValueError("not a record with a step")
    except ValueError as e:
      if i == len(lines) - 1:  # torn by a killed process: what the resumed run drops
        continue
      raise WorkdirError(f"{path} is damaged at line {i + 1} ({e}); delete that line (or the "
                         "file: its logged figures are lost, the checkpoints kept) or pass "
                         "a new --workdir") from e
    out.append(record)
  return out


def _lines(path: Path) -> list[str]:
  try:
    return path.read_text().splitlines() if path.is_file() else []
  except UnicodeDecodeError as e:
    raise WorkdirError(f"{path} is damaged (not text: {e}); delete it (its logged figures "
                       "are lost, the checkpoints kept) or pass a new --workdir") from e


def records(workdir: Path) -> list[dict]:
  """The records of ``metrics.jsonl``, but a last line torn by a killed process.

  Raises:
    WorkdirError: the file is damaged elsewhere.
  """
  path = Path(workdir) / "metrics.jsonl"
  return _parsed(_lines(path), path)


def rewind_metrics(workdir: Path, step: int) -> None:
  """Drops what a run logged after ``step`` (and its diagnostics at ``step``, which a run
  resumed there logs again), so that no step is logged twice."""
  path = Path(workdir) / "metrics.jsonl"
  lines = _lines(path)
  kept = [r for r in _parsed(lines, path) if r["step"] < step or (
      r["step"] == step and not any(k.startswith(DIAGNOSTICS) for k in r))]
  if len(kept) < len(lines):
    files.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def best(workdir: Path, key: str, pick: Callable = max) -> float | None:
  """The best (``pick``: `max` or `min`) ``key`` logged over the whole run (None: never
  logged)."""
  values = [r[key] for r in records(workdir) if r.get(key) is not None]
  return pick(values) if values else None
