"""Metrics to ``metrics.jsonl`` and TensorBoard event files, and a progress line."""

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from opujax import files


def _plain(v):
  v = np.asarray(v).item() if hasattr(v, "shape") or isinstance(v, np.generic) else v
  return None if isinstance(v, float) and not math.isfinite(v) else v


class MetricWriter:
  """Appends one JSON object per call to metrics.jsonl and the scalars to a TensorBoard
  event file, both on disk when the call returns; writes nothing when not ``enabled``
  (the processes other than the first). A run resumed at step ``resumed_at`` hides what
  TensorBoard holds from that step on (a ``SessionLog.START`` there: the killed run's
  events are replaced, not doubled). Events are written by tensorboardX's `EventsWriter`
  in the caller's thread: its `SummaryWriter`'s thread dies on a full disk and then
  blocks the loop, where here a failed write raises `WriteFailed` naming the file."""

  def __init__(self, workdir: Path, enabled: bool = True, resumed_at: int | None = None):
    self.enabled = enabled
    if not enabled:
      return
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto.event_pb2 import Event, SessionLog
    self.jsonl_path, self.tb_path = workdir / "metrics.jsonl", workdir / "tensorboard"
    with files.writing(self.jsonl_path):
      self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
    with files.writing(self.tb_path):
      self.tb_path.mkdir(exist_ok=True)
      # TensorBoard reads a folder's event files in name order: a run resumed within the
      # second its files were named must sort after them (its purge comes later).
      self._tb = EventsWriter(str(self.tb_path / "events"), f".{time.time_ns()}.{os.getpid()}")
      if resumed_at is not None:
        self._tb.write_event(Event(wall_time=time.time(), step=resumed_at,
                                   session_log=SessionLog(status=SessionLog.START)))
      self._tb.flush()

  def write(self, step: int, scalars: dict, jsonl: bool = True) -> None:
    """Logs ``scalars`` at ``step`` (to TensorBoard only, with ``jsonl=False``).

    Raises:
      WriteFailed: a file could not be written (disk full, ...).
    """
    if not self.enabled:
      return
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary
    scalars = {k: _plain(v) for k, v in scalars.items()}
    if jsonl:
      with files.writing(self.jsonl_path):
        self._jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
        self._jsonl.flush()
    values = [Summary.Value(tag=k, simple_value=v) for k, v in scalars.items()
              if isinstance(v, (int, float))]
    with files.writing(self.tb_path):
      self._tb.write_event(Event(wall_time=time.time(), step=step,
                                 summary=Summary(value=values)))
      self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tb.close()


class Progress:
  """A status line on stderr: step, pace (steps/s, or s/step when slower than one a
  second), ETA and the latest figures; redrawn in place on a terminal, one line per
  update otherwise (a log file stays line by line)."""

  def __init__(self, total: int, start: int = 0, quiet: bool = False, stream=None):
    self.total, self.start, self.quiet = total, start, quiet
    self.stream = stream or sys.stderr
    self.t0 = time.perf_counter()

  def line(self, step: int, **figures) -> str:
    rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    pace = f"{rate:.1f} steps/s" if rate >= 1 else f"{1 / rate:.1f} s/step" if rate > 0 else ""
    extra = " ".join(f"{k}={v:.4g}" for k, v in figures.items())
    when = f"ETA {eta // 60:.0f}m{eta % 60:02.0f}s" if math.isfinite(eta) else "ETA ?"
    return f"step {step}/{self.total} {pace} {when} {extra}"

  def update(self, step: int, **figures) -> None:
    if self.quiet:
      return
    text = self.line(step, **figures)
    self.stream.write(f"\r{text}   " if self.stream.isatty() else text + "\n")
    self.stream.flush()

  def close(self) -> None:
    if not self.quiet and self.stream.isatty():
      self.stream.write("\n")
