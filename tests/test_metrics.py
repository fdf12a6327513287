"""opujax.metrics: the progress line."""

import io
import time

from opujax.metrics import Progress


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
