"""python experiments/scale_1b.py [--workdir runs/scale_1b] [--out experiments/results/scale_1b]

The billion-parameter runs side by side: ``configs/scale_1b_dfa.py`` (digital DFA) and
``configs/scale_1b_dfa_opu.py`` (the same model, initialisation and batches, the error
through the simulated OPU), one after the other, each as ``python -m opujax.run`` in its
own process (so its peak RSS, from ``wait4``, is its own). Writes ``<out>.json`` (per
run: the train loss at every step, validation and test loss, the median step time,
peak RSS, wall time; the optical/digital ratios of the last step's loss and of the step
time) and ``<out>.png`` (both loss curves). A finished run is read back, not rerun.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from opujax import files
from opujax import workdir as workdir_lib

CONFIGS = {"dfa": "configs/scale_1b_dfa.py", "dfa_opu": "configs/scale_1b_dfa_opu.py"}


def run(config: str, workdir: Path) -> dict:
  """Trains ``config`` in ``workdir`` (unless finished); its figures."""
  measured = workdir / "process.json"
  if not measured.is_file():
    t = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "opujax.run", "--config", config,
                             "--workdir", str(workdir)])
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
      raise SystemExit(f"{config} failed (exit {os.waitstatus_to_exitcode(status)}); see "
                       "its output above")
    files.write_json(measured, {"peak_rss_gib": usage.ru_maxrss / 2 ** 20,
                                "wall_time_s": time.time() - t})
  summary = json.loads((workdir / "summary.json").read_text())
  records = workdir_lib.records(workdir)
  train = [r for r in records if "train/loss" in r]
  return {"command": f"python -m opujax.run --config {config}",
          "parameters": summary["parameters"],
          "train_losses": [r["train/loss"] for r in train],
          "validation_loss": summary["final"]["validation/loss"],
          "test_loss": summary["final"]["test/loss"],
          # examples/s of each logged step; the first holds the compilation
          "step_s": statistics.median(summary["config"]["batch_size"] / r["examples_per_s"]
                                      for r in train[1:]),
          **json.loads(measured.read_text())}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  p.add_argument("--workdir", default="runs/scale_1b")
  p.add_argument("--out", default="experiments/results/scale_1b")
  a = p.parse_args()
  rows = {rule: run(config, Path(a.workdir) / rule) for rule, config in CONFIGS.items()}
  opu, digital = rows["dfa_opu"], rows["dfa"]
  result = {**rows, "machine": "2-core CPU, 24 GB",
            "dfa_opu_over_dfa_last_loss": opu["train_losses"][-1] / digital["train_losses"][-1],
            "dfa_opu_over_dfa_step_time": opu["step_s"] / digital["step_s"]}
  out = Path(a.out)
  files.write_json(out.with_suffix(".json"), result)
  with files.figure(out.with_suffix(".png"), figsize=(6, 4)) as (_, ax):
    for rule, r in rows.items():
      ax.plot(range(1, len(r["train_losses"]) + 1), r["train_losses"], marker=".",
              label=f"{rule}: step {r['step_s']:.0f} s, peak RSS {r['peak_rss_gib']:.1f} GiB")
    ax.set(xlabel="step", ylabel="train loss (nats)",
           title=f"{digital['parameters'] / 1e9:.2f}B-parameter LM, DFA: digital and optical")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
  print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))
  for rule, r in rows.items():
    print(f"{rule}: losses {[round(x, 3) for x in r['train_losses']]}, step {r['step_s']:.1f} s, "
          f"peak RSS {r['peak_rss_gib']:.2f} GiB")


if __name__ == "__main__":
  main()
