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
  """One status line on stderr: step, steps/s, ETA and the latest figures."""

  def __init__(self, total: int, start: int = 0, quiet: bool = False):
    self.total, self.start, self.quiet = total, start, quiet
    self.t0 = time.perf_counter()

  def update(self, step: int, **figures) -> None:
    if self.quiet:
      return
    rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    extra = " ".join(f"{k}={v:.4g}" for k, v in figures.items())
    sys.stderr.write(f"\rstep {step}/{self.total} {rate:.1f} steps/s "
                     f"ETA {eta // 60:.0f}m{eta % 60:02.0f}s {extra}   ")
    sys.stderr.flush()

  def flush(self) -> None:
    """Puts TensorBoard's buffered events on disk (before a checkpoint: a run killed
    after it resumes there with its events up to it kept)."""
    if self.enabled:
      self._tb.flush()

  def close(self) -> None:
    if not self.quiet:
      sys.stderr.write("\n")
