"""python experiments/opu_payoff.py [--frame-rates 1500,20000] [--utilisation 1.0]
    [--code-frames 4] [--out experiments/results/opu_payoff]

Where the optics pay off: the time and energy of a whole DFA training step, per token,
of a Transformer LM from 1M to 1T parameters, with the error's projection on the OPU
against everything on a GPU, for shared feedback (one d_model projection feeds every
block) and per-block feedback (a slice of its own per block: depth x d_model outputs).

The model family is the scale ladder's (d_model, depth), extended to 1T parameters at
P = 12 depth d_model^2; the error projected is the gradient at the head's input
(d_model numbers a token, the shipped LM recipe). Per token:

* electronics (everything but the projection, on the GPU): ``c P`` FLOPs, c from XLA's
  cost analysis of the scale ladder's digital-DFA Transformer rungs
  (experiments/results/scale_ladder.json: FLOPs / (parameters x tokens), the largest
  rung's; blocks are feedback units, so inside them the backward is BP's: c ~ 6);
* the projection: a `devices.Budget` of one d_model -> outputs projection, as the
  simulated OPU counts it (camera frames = ``code_frames`` x tiles, a tile being what one
  DMD frame and one camera frame hold: input mirrors beside the anchor, camera pixels),
  turned into time and energy by `devices.estimate` (published OPU constants: 1500
  TeraOPS, 30 W, the frame rate swept; an H100 at 989 TFLOP/s and 700 W) — the OPU takes
  one error vector a frame;
* all on the GPU: (electronics + 2 x projection MACs) / GPU FLOP/s; with the OPU:
  electronics on the GPU, then the projection on the OPU (time: their sum, the GPU
  waiting; energy: GPU power x its busy time + OPU power x its time; the GPU's idle power
  while it waits is not counted, in the OPU's favour).

Writes ``<out>.json``, ``<out>.md`` (a row per size and feedback, and the size from which
the OPU wins on time and on energy at each frame rate, or "never") and ``<out>.png``
(the ratios with the OPU / all on the GPU against the size).
"""

import argparse
import json
import math
from pathlib import Path

from opujax import files
from opujax import devices
from opujax.devices import budget as budget_lib
from opujax.devices import geometry

import book  # experiments/book.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
FAMILY = [(128, 5), (256, 12), (768, 14), (2048, 20), (4096, 48), (10240, 80), (25600, 128)]
FEEDBACK = ("shared", "per-block")


def electronics_flops_per_param_token(ladder: Path) -> float:
  """c of the largest digital-DFA Transformer rung measured: its XLA FLOPs per parameter
  and token (its own projection, 65 -> 2048 a token, is under 1e-4 of them)."""
  rows = [r for r in json.loads(ladder.read_text())
          if r.get("model") == "transformer" and r.get("rule") == "dfa" and r.get("hlo_flops")]
  r = max(rows, key=lambda r: r["parameters"])
  return r["hlo_flops"] / (r["parameters"] * r["items_per_step"])


def projection_budget(n_in: int, n_out: int, code_frames: int) -> budget_lib.Budget:
  """One n_in -> n_out projection on the largest OPU: tiles of (input mirrors beside an
  anchor of half as many) x (camera pixels), ``code_frames`` camera frames a tile; a
  partial last tile of outputs reads only its pixels."""
  mirrors = math.prod(geometry.MAX_DMD_SHAPE) * 2 // 3
  pixels = math.prod(geometry.MAX_CAMERA_SHAPE)
  row_tiles = math.ceil(n_in / mirrors)
  frames = code_frames * row_tiles * math.ceil(n_out / pixels)
  pixels_read = code_frames * row_tiles * n_out  # over all frames
  return budget_lib.Budget(
      projections=1, macs=n_in * n_out, frames=frames, dmd_frames=frames,
      optical_macs=pixels_read * min(n_in, mirrors) * 3 // 2,
      bytes_uploaded=frames * math.prod(geometry.MAX_DMD_SHAPE) // 8,
      bytes_read=pixels_read * devices.Camera().bytes_per_pixel)


def rows_for(c: float, frame_rates: list[float], utilisation: float,
             code_frames: int) -> list[dict]:
  gpu = budget_lib.GPUSpec(utilisation=utilisation)
  gpu_flops = gpu.flops_per_s * gpu.utilisation
  rows = []
  for d, depth in FAMILY:
    params = 12 * depth * d * d
    electronics_s = c * params / gpu_flops
    for feedback in FEEDBACK:
      n_out = d if feedback == "shared" else depth * d
      b = projection_budget(d, n_out, code_frames)
      row = {"parameters": params, "d_model": d, "depth": depth, "feedback": feedback,
             "projection_macs": b.macs, "frames_per_token": b.frames,
             "electronics_s": electronics_s, "electronics_j": electronics_s * gpu.power_w}
      projection_s = budget_lib.estimate(b, gpu=gpu).gpu_time_s
      gpu_s = electronics_s + projection_s
      row.update(all_gpu_s=gpu_s, all_gpu_j=gpu_s * gpu.power_w,
                 projection_share=projection_s / gpu_s)
      for rate in frame_rates:
        est = budget_lib.estimate(b, budget_lib.OPUSpec(frame_rate_hz=rate), gpu)
        row[f"with_opu_s@{rate:g}"] = electronics_s + est.opu_time_s
        row[f"with_opu_j@{rate:g}"] = electronics_s * gpu.power_w + est.opu_energy_j
      rows.append(row)
  return rows


def first_win(rows: list[dict], feedback: str, what: str, rate: float) -> str:
  for r in rows:
    if r["feedback"] == feedback and r[f"with_opu_{what}@{rate:g}"] < r[f"all_gpu_{what}"]:
      return f"{r['parameters']:.2g}"
  return "never (to 1T)"


def table(rows: list[dict], frame_rates: list[float]) -> str:
  cols = "".join(f" time / all-GPU @{r:g} Hz | energy / all-GPU @{r:g} Hz |" for r in frame_rates)
  lines = ["| parameters | feedback | frames a token | projection share (GPU) |" + cols,
           "|" + " --- |" * (4 + 2 * len(frame_rates))]
  for r in rows:
    ratios = "".join(f" {r[f'with_opu_s@{f:g}'] / r['all_gpu_s']:.3g} |"
                     f" {r[f'with_opu_j@{f:g}'] / r['all_gpu_j']:.3g} |" for f in frame_rates)
    lines.append(f"| {r['parameters']:.2g} | {r['feedback']} | {r['frames_per_token']} | "
                 f"{r['projection_share']:.2%} |" + ratios)
  lines += ["", "| feedback | frame rate | OPU wins on time from | on energy from |",
            "| --- | --- | --- | --- |"]
  for feedback in FEEDBACK:
    for rate in frame_rates:
      lines.append(f"| {feedback} | {rate:g} Hz | {first_win(rows, feedback, 's', rate)} | "
                   f"{first_win(rows, feedback, 'j', rate)} |")
  return "\n".join(lines) + "\n"


def picture(rows: list[dict], frame_rates: list[float], path: Path) -> None:
  """Per token, the step with the projection on the OPU over the step all on the GPU: time
  and energy (below 1: the OPU wins)."""
  with files.figure(path, 1, 2, figsize=(11, 4.2)) as (_, axes):
    for ax, what, label in zip(axes, ("s", "j"), ("time", "energy")):
      for feedback, color in zip(FEEDBACK, ("C0", "C1")):
        rs = [r for r in rows if r["feedback"] == feedback]
        for rate, ls in zip(frame_rates, ("-", "--", ":")):
          ax.plot([r["parameters"] for r in rs],
                  [r[f"with_opu_{what}@{rate:g}"] / r[f"all_gpu_{what}"] for r in rs],
                  color=color, ls=ls, marker=".", label=f"{feedback} feedback, {rate:g} Hz")
      ax.axhline(1.0, color="k", lw=0.8)
      ax.set(xscale="log", yscale="log", xlabel="parameters",
             ylabel=f"{label}: projection on the OPU / all on the GPU",
             title=f"DFA training step, {label} a token (below 1: the OPU wins)")
      ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  p.add_argument("--frame-rates", default="1500,20000")
  p.add_argument("--utilisation", type=float, default=1.0, help="of the GPU's peak")
  code_frames = devices.make("opu", 2, 2, **devices.DFA_CODE).frames_per_row
  p.add_argument("--code-frames", type=int, default=code_frames,
                 help="camera frames a projection (default: the shipped code's)")
  p.add_argument("--ladder", default=str(ROOT / "experiments/results/scale_ladder.json"))
  p.add_argument("--out", default=str(ROOT / "experiments/results/opu_payoff"))
  a = p.parse_args()
  rates = [float(r) for r in a.frame_rates.split(",")]
  c = electronics_flops_per_param_token(Path(a.ladder))
  rows = rows_for(c, rates, a.utilisation, a.code_frames)
  out = Path(a.out)
  md = (f"`python experiments/opu_payoff.py --frame-rates {a.frame_rates} --utilisation "
        f"{a.utilisation:g} --code-frames {a.code_frames}`: electronics {c:.2f} FLOPs per "
        "parameter and token (XLA, the largest digital-DFA Transformer rung of the scale "
        "ladder); the error is d_model numbers a token.\n\n" + table(rows, rates))
  files.write_text(out.with_suffix(".md"), md)
  book.refresh()
  files.write_json(out.with_suffix(".json"), {"flops_per_param_token": c, "rows": rows})
  picture(rows, rates, out.with_suffix(".png"))
  print(md)


if __name__ == "__main__":
  main()
