"""opujax.files: whole files or nothing."""

import errno
import json
import os
import stat

import pytest

from opujax import files
from opujax.errors import WriteFailed


def test_write_json_replaces_the_whole_file_readable(tmp_path):
  path = tmp_path / "summary.json"
  path.write_text("old")
  files.write_json(path, {"a": 1})
  assert json.loads(path.read_text()) == {"a": 1}
  assert stat.S_IMODE(path.stat().st_mode) == 0o644
  assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
  path = tmp_path / "results.csv"
  path.write_text("old")

  def half(p):
    p.write_text("half")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    files.write_atomic(path, half)
  assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_figure_saves_what_was_drawn_or_nothing(tmp_path):
  with files.figure(tmp_path / "a.png", 1, 2) as (fig, axes):
    axes[0].plot([1, 2], [3, 4])
  assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG" and len(fig.axes) == 2
  with pytest.raises(ValueError):
    with files.figure(tmp_path / "b.png") as (_, ax):
      raise ValueError("drawing failed")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_a_full_disk_is_one_error_naming_the_file_and_the_old_file_stays(tmp_path):
  path = files.write_text(tmp_path / "summary.json", "old")

  def full(p):
    p.write_text("half")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  with pytest.raises(WriteFailed, match=rf"could not write {path}: No space left on device; "):
    files.write_atomic(path, full)
  assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]
  tensorstore = ValueError('RESOURCE_EXHAUSTED: Failed writing "x": No space left on device')
  assert files.write_failure(tensorstore) == "No space left on device"
  assert files.write_failure(OSError(errno.EROFS, "ro")) == "Read-only file system"
  assert files.write_failure(OSError(errno.ENOENT, "gone")) is None
  with pytest.raises(KeyError):  # not a write failure: as it was
    with files.writing(path):
      raise KeyError("x")
