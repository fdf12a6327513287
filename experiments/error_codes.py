"""python experiments/error_codes.py --config configs/sweep_error_codes.py [--out NAME]

The error-code study: from a finished sweep of error codes (``configs/sweep_error_codes*.py``,
each point one `devices.Encoding` of the optical device, digital DFA the reference), a
table of camera frames per projection, the train loss (mean over the ``log_every`` steps
before) at steps 25, 50, 100 and 400 against digital DFA's, and the final test accuracy
or validation loss; and the loss curves in one picture. Writes
``experiments/results/<out>.{md,json,png}`` (out: the sweep's name).
"""

import argparse
import json
from pathlib import Path

from opujax import files, sweep
from opujax.devices import DFA_CODE
from opujax import workdir as workdir_lib
from opujax.devices import encoding as encoding_lib
from opujax.devices.opu import frames_per_row

import book  # experiments/book.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
STEPS = (25, 50, 100, 400)


def describe(options: dict) -> str:
  """A code's short name: ``ternary max 0.1 +cm``, ``bitplanes 4 +cm``, ``sign``."""
  kind = options["encoding"]
  name = kind
  if kind == "ternary":
    name += f" {options['threshold_by']} {options['threshold']:g}"
  if kind == "bitplanes":
    name += f" {options['bits']}"
  return name + (" +cm" if options.get("common_mode") else "")


def encoding(options: dict) -> encoding_lib.Encoding:
  return encoding_lib.Encoding(options["encoding"], options["threshold"], options["bits"],
                               options["threshold_by"], options["common_mode"])


def camera_frames(options: dict) -> int:
  return frames_per_row(options.get("mode", "linear"), encoding(options),
                        options.get("calibrated_anchor", True))


def curve(run_dir: Path) -> dict[int, float]:
  return {r["step"]: r["train/loss"] for r in workdir_lib.records(run_dir) if "train/loss" in r}


def rows_of(sweep_dir: Path) -> list[dict]:
  """A row per finished run of the sweep: its code, frames, losses and final figures."""
  rows = []
  for run in sorted(p for p in sweep_dir.iterdir() if (p / "summary.json").is_file()):
    summary = json.loads((run / "summary.json").read_text())
    config = summary["config"]
    losses = curve(run)
    row = {"run": run.name, "steps": summary["steps"],
           "final_test_accuracy": summary["final_test_accuracy"],
           "validation_loss": summary["final"].get("validation/loss"),
           "curve": losses, **{f"loss@{s}": losses.get(s) for s in STEPS}}
    if config["device"]["name"] == "digital":
      row.update(code="digital DFA", camera_frames=0)
    else:
      options = config["device"]["options"]
      row.update(code=describe(options), camera_frames=camera_frames(options),
                 dmd_frames=encoding(options).frames)
    rows.append(row)
  return rows


def table(rows: list[dict]) -> str:
  digital = next((r for r in rows if r["code"] == "digital DFA"), None)
  if digital is None:
    raise SystemExit("the sweep has no digital DFA reference run yet")
  text = lambda v, fmt: "" if v is None else format(v, fmt)
  head = ("| code | camera frames | " + " | ".join(f"loss @{s}" for s in STEPS)
          + " | @100 / digital | @400 / digital | test acc. | val. loss |")
  lines = [head, "|" + " --- |" * (head.count("|") - 1)]
  for r in sorted(rows, key=lambda r: (r["code"] != "digital DFA", r["camera_frames"])):
    ratio = lambda s: (None if r[f"loss@{s}"] is None or not digital[f"loss@{s}"]
                       else r[f"loss@{s}"] / digital[f"loss@{s}"])
    lines.append(f"| {r['code']} | {r['camera_frames'] or '-'} | "
                 + " | ".join(text(r[f'loss@{s}'], '.3f') for s in STEPS)
                 + f" | {text(ratio(100), '.2f')} | {text(ratio(400), '.2f')} | "
                 f"{text(r['final_test_accuracy'], '.2%')} | {text(r['validation_loss'], '.3f')} |")
  return "\n".join(lines) + "\n"


def picture(rows: list[dict], path: Path, title: str, shipped: str) -> None:
  """Every code's loss curve (a colour each, the line style by frames), digital DFA dashed
  black and the ``shipped`` code bold."""
  import matplotlib

  styles = {2: ":", 4: "-", 6: "-.", 8: "--"}
  with files.figure(path, figsize=(10, 6)) as (_, ax):
    for i, r in enumerate(sorted(rows, key=lambda r: r["camera_frames"])):
      steps = sorted(r["curve"])
      digital, bold = r["code"] == "digital DFA", r["code"] == shipped
      ax.plot(steps, [r["curve"][s] for s in steps],
              color="k" if digital else "r" if bold else matplotlib.colormaps["tab20"](i % 20),
              ls="--" if digital else styles.get(r["camera_frames"], (0, (1, 3))),
              lw=2.5 if digital or bold else 1.2,
              label=r["code"] + ("" if digital else f" ({r['camera_frames']} frames)")
              + (", shipped" if bold else ""))
    ax.set(xlabel="step", ylabel="train loss (mean of the logged window)", yscale="log",
           title=title)
    ax.legend(fontsize=7, ncol=2)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--config", required=True, help="the sweep config (configs/sweep_error_codes*.py)")
  p.add_argument("--workdir", help="the sweep's folder (default runs/<config name>)")
  p.add_argument("--out", help="name under experiments/results (default: the config's)")
  args = p.parse_args()
  name = Path(args.config).stem
  sweep.check(sweep.load_config(args.config))
  rows = rows_of(Path(args.workdir or f"runs/{name}"))
  out = ROOT / "experiments" / "results" / (args.out or name)
  md = (f"`python -m opujax.sweep --config {args.config}` then "
        f"`python experiments/error_codes.py --config {args.config}`\n\n" + table(rows))
  files.write_text(out.with_suffix(".md"), md)
  book.refresh()
  files.write_json(out.with_suffix(".json"), rows)
  picture(rows, out.with_suffix(".png"), f"error codes: {name}", describe(DFA_CODE))
  print(md)


if __name__ == "__main__":
  main()
