"""Metrics to ``metrics.jsonl`` and TensorBoard event files, and a progress line."""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def _plain(v):
  v = np.asarray(v).item() if hasattr(v, "shape") or isinstance(v, np.generic) else v
  return None if isinstance(v, float) and not math.isfinite(v) else v


class MetricWriter:
  """Appends one JSON object per call to metrics.jsonl and the scalars to TensorBoard;
  writes nothing when not ``enabled`` (the processes other than the first). A run
  resumed at step ``resumed_at`` hides what TensorBoard holds from that step on (its
  ``purge_step``: the killed run's events there are replaced, not doubled)."""

  def __init__(self, workdir: Path, enabled: bool = True, resumed_at: int | None = None):
    self.enabled = enabled
    if not enabled:
      return
    from tensorboardX import SummaryWriter
    self._jsonl = open(workdir / "metrics.jsonl", "a", encoding="utf-8")
    self._tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=resumed_at)

  def write(self, step: int, scalars: dict, jsonl: bool = True) -> None:
    """Logs ``scalars`` at ``step`` (to TensorBoard only, with ``jsonl=False``)."""
    if not self.enabled:
      return
    scalars = {k: _plain(v) for k, v in scalars.items()}
    if jsonl:
      self._jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
      self._jsonl.flush()
    for k, v in scalars.items():
      if isinstance(v, (int, float)):
        self._tb.add_scalar(k, v, step)

  def flush(self) -> None:
    """Puts TensorBoard's buffered events on disk (before a checkpoint: a run killed
    after it resumes there with its events up to it kept)."""
    if self.enabled:
      self._tb.flush()

  def close(self) -> None:
    if not self.enabled:
      return
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
