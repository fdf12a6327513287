"""python experiments/quality.py [--datasets mnist fashion_mnist] [--rules bp fa dfa dfa_opu shallow]

Trains every shipped config (rule x dataset) to completion, one after the other, and
writes the results table: experiments/results/quality.{json,md}. Each run is exactly
``python -m opujax.run --config configs/<dataset>_<rule>.py --workdir runs/quality/<name>``,
so a killed table resumes where it stopped.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path("experiments/results")


def run(name: str, workdir: Path) -> dict:
  cmd = [sys.executable, "-m", "opujax.run", "--config", f"configs/{name}.py", "--workdir",
         str(workdir), "--quiet"]
  print(" ".join(cmd[1:]), flush=True)
  subprocess.run(cmd, check=True)
  summary = json.loads((workdir / "summary.json").read_text())
  return {"config": name, "command": f"python -m opujax.run --config configs/{name}.py",
          "test_accuracy": summary["final_test_accuracy"],
          "best_test_accuracy": summary["best_test_accuracy"],
          "minutes": summary["wall_time_s"] / 60, "steps": summary["steps"],
          "parameters": summary["parameters"]}


def markdown(rows: list[dict]) -> str:
  lines = ["| config | test accuracy | best | minutes | command |", "| --- | --- | --- | --- | --- |"]
  for r in rows:
    lines.append(f"| {r['config']} | {100 * r['test_accuracy']:.2f}% | "
                 f"{100 * r['best_test_accuracy']:.2f}% | {r['minutes']:.1f} | "
                 f"`{r['command']}` |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
  parser.add_argument("--rules", nargs="+", default=["bp", "fa", "dfa", "dfa_opu", "shallow"])
  args = parser.parse_args()
  RESULTS.mkdir(parents=True, exist_ok=True)
  rows = []
  for d in args.datasets:
    for r in args.rules:
      rows.append(run(f"{d}_{r}", Path("runs/quality") / f"{d}_{r}"))
      for suffix, text in (("json", json.dumps(rows, indent=1)), ("md", markdown(rows))):
        tmp = RESULTS / f"quality.{suffix}.tmp"
        tmp.write_text(text)
        os.replace(tmp, RESULTS / f"quality.{suffix}")
  print(markdown(rows))


if __name__ == "__main__":
  main()
