"""opujax.metrics: the progress line."""

import errno
import io
import json
import os
import time

import numpy as np
import pytest

from opujax.errors import WriteFailed
from opujax.metrics import MetricWriter, Progress


def test_progress_lines_pace_and_eta():
  log = io.StringIO()  # not a terminal: a line per update
  p = Progress(total=10, start=2, stream=log)
  p.t0 = time.perf_counter() - 2.0  # 4 steps in 2 s
  p.update(6, loss=0.5)
  p.t0 = time.perf_counter() - 40.0  # 4 steps in 40 s: slower than one a second
  p.update(6)
  p.close()
  first, second = log.getvalue().splitlines()
  assert first.startswith("step 6/10 2.0 steps/s ETA 0m02s loss=0.5")
  assert second.startswith("step 6/10 10.0 s/step ETA 0m40s")
  assert "\r" not in log.getvalue()


def test_metric_writer_logs_both_files_and_names_the_one_it_cannot_write(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator
  writer = MetricWriter(tmp_path)
  writer.write(10, {"train/loss": np.float32(0.5), "test/accuracy": 0.75, "note": "x"})
  events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  events.Reload()  # on disk already, before close
  assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(10, 0.5)]
  assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {
      "step": 10, "train/loss": 0.5, "test/accuracy": 0.75, "note": "x"}

  class FullDisk(io.StringIO):
    def write(self, text):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  writer._jsonl = FullDisk()
  with pytest.raises(WriteFailed, match=r"metrics.jsonl: No space left on device"):
    writer.write(20, {"train/loss": 0.4})
  writer.close()
  resumed = MetricWriter(tmp_path, resumed_at=10)  # TensorBoard hides step 10 on from here
  resumed.write(10, {"train/loss": 0.25})
  resumed.close()
  events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  events.Reload()
  assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(10, 0.25)]
