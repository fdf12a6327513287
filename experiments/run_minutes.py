"""python experiments/run_minutes.py RUN [RUN ...]

Where a finished run's wall time went, from the event times of its TensorBoard log: the
median time a step takes in the 100-step windows between training logs that hold no
evaluation, the steps' minutes at that rate, and the excess of the windows that begin
with an evaluation (an evaluation runs right after the training log of its step).
Prints one line a run.
"""

import argparse
import statistics
from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator


def minutes(run: Path) -> str:
  events = event_accumulator.EventAccumulator(str(run / "tensorboard"),
                                              size_guidance={"scalars": 0})
  events.Reload()
  logs = events.Scalars("train/loss")
  evaluated = {e.step for e in events.Scalars("test/loss")}
  windows = [(a.step, b.step, b.wall_time - a.wall_time) for a, b in zip(logs, logs[1:])]
  step_s = statistics.median(t / (end - start) for start, end, t in windows
                             if end - start == 100 and start not in evaluated)
  excess = sum(t - (end - start) * step_s for start, end, t in windows if start in evaluated)
  span = logs[-1].wall_time - logs[0].wall_time
  return (f"{run}: {logs[-1].step} steps, median {step_s * 1e3:.1f} ms a step, "
          f"{span / 60:.2f} min between the first and last training logs, "
          f"{logs[-1].step * step_s / 60:.2f} min of steps at the median, "
          f"{len(evaluated)} evaluations {excess:.0f} s ({excess / len(evaluated):.1f} s each)")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
  parser.add_argument("runs", nargs="+", type=Path)
  for run in parser.parse_args().runs:
    print(minutes(run))


if __name__ == "__main__":
  main()
