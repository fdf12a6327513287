"""Writing results: whole files or nothing, figures, and a failed write as one line."""

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opujax.errors import WriteFailed

# Why a write fails that the user fixes outside the run (errno, and the words in which
# tensorstore, under orbax, reports it).
WRITE_FAILURES = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                  errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied",
                  errno.EPERM: "Operation not permitted"}


def write_failure(e: BaseException) -> str | None:
  """Why ``e`` failed a write, when it is the disk's or the folder's (else None)."""
  if isinstance(e, OSError) and e.errno in WRITE_FAILURES:
    return WRITE_FAILURES[e.errno]
  return next((why for why in WRITE_FAILURES.values() if why in str(e)), None)


@contextlib.contextmanager
def writing(path: str | Path, what: str = "") -> Iterator[None]:
  """Turns a write failure (`write_failure`) inside the block into `WriteFailed`: one
  line naming ``path`` (and ``what`` was being written), why, and what to do."""
  try:
    yield
  except Exception as e:
    why = write_failure(e)
    if why is None:
      raise
    raise WriteFailed(f"could not write {what or path}{f' in {path}' if what else ''}: "
                      f"{why}; free space there (or make it writable) and rerun the same "
                      "command (a run resumes from its last complete checkpoint)") from e


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
  """Calls ``write(tmp)`` on a temporary file beside ``path``, then renames it to
  ``path``: readers see the old file or the whole new one, never a part; an exception
  in ``write`` leaves ``path`` as it was and no temporary file behind."""
  path = Path(path)
  with writing(path):
    return _write_atomic(path, write)


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
  fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
  os.close(fd)
  try:
    write(Path(tmp))
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return path


def write_text(path: str | Path, text: str) -> Path:
  return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
  return write_text(path, json.dumps(obj, indent=1, default=str))


@contextlib.contextmanager
def figure(path: str | Path, *subplots, dpi: int = 120, **kwargs) -> Iterator[tuple]:
  """``with figure(path, 1, 2, figsize=...) as (fig, axes):`` draws on a new Agg figure,
  then saves it atomically to ``path`` (tight layout) and closes it; ``subplots`` and
  ``kwargs`` are `plt.subplots`'. Nothing is written if the block raises."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(*subplots, **kwargs)
  try:
    yield fig, axes
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, dpi=dpi, format=Path(path).suffix[1:]))
  finally:
    plt.close(fig)
