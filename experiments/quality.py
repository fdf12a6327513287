"""python experiments/quality.py [--datasets mnist fashion_mnist shakespeare] [--rules bp fa dfa dfa_opu shallow]

Trains every shipped config (rule x dataset) to completion, one after the other, and
writes the results tables (accuracy for images; validation loss in nats per character,
against the characters' unigram entropy, for the language model):
experiments/results/quality.{json,md}. Each run is exactly
``python -m opujax.run --config configs/<dataset>_<rule>.py --workdir runs/quality/<name>``,
so a killed table resumes where it stopped.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from opujax import files

import book  # experiments/book.py, beside this script

RESULTS = Path("experiments/results")


def run(name: str, workdir: Path) -> dict:
  cmd = [sys.executable, "-m", "opujax.run", "--config", f"configs/{name}.py", "--workdir",
         str(workdir), "--quiet"]
  print(" ".join(cmd[1:]), flush=True)
  subprocess.run(cmd, check=True)
  summary = json.loads((workdir / "summary.json").read_text())
  return {"config": name, "command": f"python -m opujax.run --config configs/{name}.py",
          "validation_loss": summary["final"].get("validation/loss"),
          "test_loss": summary["final"]["test/loss"],
          "test_accuracy": summary["final_test_accuracy"],
          "best_test_accuracy": summary["best_test_accuracy"],
          "minutes": summary["wall_time_s"] / 60, "steps": summary["steps"],
          "parameters": summary["parameters"]}


def unigram_entropy() -> float:
  from opujax import data
  text = data.load("tiny_shakespeare").train_x
  p = np.bincount(text) / len(text)
  return float(-np.sum(p[p > 0] * np.log(p[p > 0])))


def markdown(rows: list[dict]) -> str:
  images = [r for r in rows if not r["config"].startswith("shakespeare")]
  text = [r for r in rows if r["config"].startswith("shakespeare")]
  lines = []
  if images:
    lines += ["| config | test accuracy | best | minutes | command |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['config']} | {100 * r['test_accuracy']:.2f}% | "
              f"{100 * r['best_test_accuracy']:.2f}% | {r['minutes']:.1f} | `{r['command']}` |"
              for r in images]
  if text:
    bp = next((r["validation_loss"] for r in text if r["config"] == "shakespeare_bp"), None)
    lines += ["", f"Unigram entropy of the characters: {unigram_entropy():.3f} nats.", "",
              "| config | validation loss (nats/char) | / BP | test loss | minutes | command |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['config']} | {r['validation_loss']:.3f} | "
              f"{r['validation_loss'] / bp if bp else float('nan'):.3f} | {r['test_loss']:.3f} | "
              f"{r['minutes']:.1f} | `{r['command']}` |" for r in text]
  return "\n".join(lines) + "\n"


def save(row: dict) -> list[dict]:
  """Adds ``row`` to quality.{json,md}, or replaces that config's row where it stands; the
  other configs' rows stay."""
  path = RESULTS / "quality.json"
  rows = json.loads(path.read_text()) if path.is_file() else []
  if any(x["config"] == row["config"] for x in rows):
    rows = [row if x["config"] == row["config"] else x for x in rows]
  else:
    rows.append(row)
  files.write_json(RESULTS / "quality.json", rows)
  files.write_text(RESULTS / "quality.md", markdown(rows))
  book.refresh()
  return rows


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist", "shakespeare"])
  parser.add_argument("--rules", nargs="+", default=["bp", "fa", "dfa", "dfa_opu", "shallow"])
  args = parser.parse_args()
  RESULTS.mkdir(parents=True, exist_ok=True)
  for d in args.datasets:
    for r in args.rules:
      name = f"{d}_{r}"
      if Path(f"configs/{name}.py").is_file():
        rows = save(run(name, Path("runs/quality") / name))
  print(markdown(rows))


if __name__ == "__main__":
  main()
