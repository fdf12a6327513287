"""Copies a finished sweep's tables and plots into experiments/results/<sweep>/, writes
``table.md`` there (a row per run: its point, the sweep's metrics, the alignment of each
feedback unit at its last diagnostics, and the command that reruns it) and, with
``--reference``, draws the headline: each axis's accuracy minus the reference's (mean over
seeds), with the tolerance line, and lists where the sweep falls below it.

    python experiments/collect_sweep.py --config configs/sweep_noise.py \
        --reference mnist_dfa [--tolerance 0.01]
"""

import argparse
import json
import shlex
import shutil
from pathlib import Path

from opujax import files, sweep

import book  # experiments/book.py, beside this script

ROOT = Path(__file__).resolve().parents[1]


def mean_by(rows: list[dict], key: str, rule: str) -> dict:
  """Mean test accuracy of the non-reference ``rule`` rows at each value of ``key``."""
  by: dict = {}
  for r in rows:
    if (not r.get("reference") and r.get("rule") == rule and f"set:{key}" in r
        and "error" not in r):
      by.setdefault(r[f"set:{key}"], []).append(r["final_test_accuracy"])
  return {v: sum(a) / len(a) for v, a in sorted(by.items())}


def headline(spec: dict, rows: list[dict], reference: str, rule: str, tolerance: float,
             out: Path) -> list[str]:
  """Plots ``rule``'s accuracy minus the reference's along each numeric axis of an axes
  sweep; returns a line per axis."""
  ref = [r["final_test_accuracy"] for r in rows if r.get("reference") == reference]
  if not ref:
    raise SystemExit(f"no reference runs {reference!r} in the sweep's results")
  ref_mean = sum(ref) / len(ref)
  if "axes" not in spec:
    raise SystemExit("the headline reads an 'axes' sweep (one axis at a time)")
  axes = [k for k, values in spec["axes"].items()
          if all(isinstance(v, (int, float)) for v in values)]
  with files.figure(out / "headline.png", 1, len(axes), figsize=(3.2 * len(axes), 3.2),
                    sharey=True, squeeze=False) as (fig, grid):
    lines = []
    for ax, key in zip(grid[0], axes):
      means = mean_by(rows, key, rule)
      xs = list(means)
      drops = [100 * (means[x] - ref_mean) for x in xs]
      ax.plot(xs, drops, "o-")
      ax.axhline(-100 * tolerance, ls="--", color="C3")
      ax.axhline(0, color="grey", lw=0.8)
      sweep.log_axis(ax, xs)
      ax.set_yscale("symlog", linthresh=1)  # the 1-point line and the collapses alike
      ax.set(xlabel=key.split(".")[-1], title=key.split(".")[-1])
      ax.grid(True, alpha=0.3)
      below = [x for x, d in zip(xs, drops) if d < -100 * tolerance]
      lines.append(f"{key}: " + ", ".join(f"{x:g} {d:+.2f}" for x, d in zip(xs, drops)) +
                   f" (points vs {reference}); more than {100 * tolerance:g} below at: "
                   + (", ".join(f"{x:g}" for x in below) or "none"))
    grid[0, 0].set_ylabel(f"test accuracy − {reference} (points)")
    fig.suptitle(f"optical DFA against {reference} ({100 * ref_mean:.2f} %): dashed = "
                 f"−{100 * tolerance:g} point", fontsize=10)
  return lines


def shell_word(text: str) -> str:
  """``text`` as one shell word: double-quoted where it holds spaces, quotes or brackets."""
  if not any(c in text for c in " '()[]{}*?;&|<>"):
    return text
  return f'"{text}"' if not any(c in text for c in '"$`\\!') else shlex.quote(text)


def table(spec: dict, rows: list[dict]) -> str:
  """A Markdown table of a sweep's runs: point, metrics, the angle of each feedback unit's
  update to BP's gradient (degrees, at the last diagnostics; ``all_params``: of the whole
  update), command."""
  metrics = spec.get("metrics") or ["final_test_accuracy"]
  references = {Path(p).stem: p for p in spec.get("references") or ()}
  lines = ["| run | " + " | ".join(metrics) + " | alignment (°) | command |",
           "| --- " * (len(metrics) + 3) + "|"]
  for r in rows:
    config = references[r["reference"]] if r.get("reference") else spec["base"]
    flags = [shell_word(sweep.flag(k[4:], v)) for k, v in r.items() if k.startswith("set:")]
    angles = ", ".join(f"{k[6:]} {v:.0f}" for k, v in r.items() if k.startswith("align/"))
    cells = [r.get("point") or r.get("reference") or r["name"]]
    missing = "failed" if "error" in r else "–"  # a finished run without it: BP's budget
    cells += [missing if r.get(m) is None else f"{r[m]:.4g}" for m in metrics]
    cells += [angles, f"`python -m opujax.run --config {config} {' '.join(flags)}`"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True)
  p.add_argument("--workdir", help="sweep folder (default runs/<config name>)")
  p.add_argument("--reference", help="reference config stem for the headline")
  p.add_argument("--rule", default="dfa", help="rule of the swept runs to compare")
  p.add_argument("--tolerance", type=float, default=0.01)
  a = p.parse_args()
  name = Path(a.config).stem
  src = Path(a.workdir or ROOT / "runs" / name)
  out = ROOT / "experiments" / "results" / name
  out.mkdir(parents=True, exist_ok=True)
  for f in [*src.glob("results.*"), *src.glob("*.png")]:
    shutil.copy(f, out / f.name)
  rows = json.loads((src / "results.json").read_text())
  (out / "table.md").write_text(table(sweep.load_config(a.config), rows))
  failed = [r["name"] for r in rows if "error" in r]
  print(f"{len(rows)} rows, {len(failed)} failed {failed if failed else ''}")
  if a.reference:
    lines = headline(sweep.load_config(a.config), rows, a.reference, a.rule, a.tolerance,
                     out)
    (out / "headline.md").write_text("\n".join(f"- {l}" for l in lines) + "\n")
    print("\n".join(lines))
  book.refresh()


if __name__ == "__main__":
  main()
