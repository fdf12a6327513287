"""python -m opujax.report --workdir DIR [--opu.FIELD=VALUE ...] [--gpu.FIELD=VALUE ...]

The OPU-versus-GPU report of a finished run: for the feedback projections the run did
(its `Budget`: projections, camera frames and pixels, optical MACs, bytes through the
DMD and the camera), the time and energy on an OPU and on a GPU, the share of I/O in the OPU's
time, and the whole training's energy split between electronics (everything but the
projection, on the GPU) and optics. Writes ``report.md`` and ``report.png`` in DIR
(also written at the end of every run).

    OPU time = max(frames / frame_rate, optical MACs / ops_per_s, t_DMD + t_camera)
    t_DMD = bytes uploaded / dmd_bytes_per_s,  t_camera = bytes read / camera_bytes_per_s
    GPU time = 2 MACs / (flops_per_s * utilisation);  energy = power * time (each side)
    electronics = steps * (FLOPs of a train step - FLOPs of its projection) on the GPU

FLOPs are XLA's cost analysis of the compiled step (loops counted once: a streamed
OPU's scan understates both terms alike). Every constant is a field of `OPUSpec` or
`GPUSpec` (defaults and their sources in `opujax.devices.budget`).
"""

import dataclasses
import json
import sys
from pathlib import Path

from absl import flags

from opujax import cli, files
from opujax.devices.budget import Budget, GPUSpec, OPUSpec, estimate, opu_bounds
from opujax.errors import UserError


class ReportError(UserError, ValueError):
  """A workdir or constant the report cannot use, with what to do."""


@dataclasses.dataclass(frozen=True)
class Figures:
  """Every number of a run's report. The budget's counts (whole run); the OPU's time on
  each limit (``frames_s``, ``optics_s``, ``dmd_s``, ``camera_s``); ``opu_*`` and
  ``gpu_*`` times (s) and energies (J) of the projections and the I/O share of the
  OPU's time. With camera frames: ``opu_fill`` (optical MACs over frames x the MACs a
  frame does at the published ops rate), ``break_even_macs_per_row`` and
  ``break_even_energy_macs_per_row`` (in x out per projection from which the OPU's time,
  or energy, is below the GPU's; None: never, the OPU being ops-bound and slower per MAC
  there). With the run's FLOPs: ``electronics_*``, the energy of training with the
  projection on the OPU (``with_opu_j``) or on the GPU (``all_gpu_j``), and the optics'
  share of the former."""

  projections: int
  macs: int
  frames: int
  dmd_frames: int
  optical_macs: int
  bytes_uploaded: int
  bytes_read: int
  camera_pixels: int
  frames_s: float
  optics_s: float
  dmd_s: float
  camera_s: float
  opu_s: float
  opu_j: float
  gpu_s: float
  gpu_j: float
  io_share: float
  opu_fill: float | None = None
  break_even_macs_per_row: float | None = None
  break_even_energy_macs_per_row: float | None = None
  electronics_flops: float | None = None
  electronics_s: float | None = None
  electronics_j: float | None = None
  with_opu_j: float | None = None
  all_gpu_j: float | None = None
  optics_share: float | None = None


def figures(summary: dict, opu: OPUSpec = OPUSpec(), gpu: GPUSpec = GPUSpec()) -> Figures:
  """Every number of the report from a run's ``summary.json`` (a dict)."""
  raw = summary.get("budget") or {}
  budget = Budget(**{f.name: int(raw.get(f"budget/{f.name}", 0))
                     for f in dataclasses.fields(Budget)})
  est = estimate(budget, opu, gpu)
  out = {**dataclasses.asdict(budget), **opu_bounds(budget, opu),
         "opu_s": est.opu_time_s, "opu_j": est.opu_energy_j,
         "gpu_s": est.gpu_time_s, "gpu_j": est.gpu_energy_j,
         "io_share": est.opu_io_time_s / est.opu_time_s if est.opu_time_s else 0.0}
  if budget.frames:
    # What the published ops rate assumes a frame does, and the projection sizes (MACs
    # per row) at which the OPU's frame-bound time and energy equal the GPU's.
    frames_per_row = budget.frames / budget.projections
    gpu_macs_per_s = gpu.flops_per_s * gpu.utilisation / 2
    out["opu_fill"] = budget.optical_macs / (budget.frames * opu.ops_per_s / opu.frame_rate_hz)
    # Past ops_per_s / frame_rate MACs a frame the OPU is ops-bound: if it is slower (or
    # costlier) per MAC than the GPU there, it never catches up (None).
    reachable = frames_per_row * gpu_macs_per_s < opu.ops_per_s
    out["break_even_macs_per_row"] = (frames_per_row * gpu_macs_per_s / opu.frame_rate_hz
                                      if reachable else None)
    reachable = frames_per_row * opu.power_w / opu.ops_per_s < gpu.power_w / gpu_macs_per_s
    out["break_even_energy_macs_per_row"] = (frames_per_row * opu.power_w / opu.frame_rate_hz
                                             * gpu_macs_per_s / gpu.power_w
                                             if reachable else None)
  flops = summary.get("flops")
  if flops:
    physics = flops["projection"] + flops.get("drift", 0.0)
    work = summary["steps"] * (flops["train_step"] - physics)
    seconds = work / (gpu.flops_per_s * gpu.utilisation)
    joules = seconds * gpu.power_w
    with_opu = joules + out["opu_j"]
    out.update(electronics_flops=work, electronics_s=seconds, electronics_j=joules,
               with_opu_j=with_opu, all_gpu_j=joules + out["gpu_j"],
               optics_share=out["opu_j"] / with_opu if with_opu else 0.0)
  return Figures(**out)


def markdown(f: Figures, summary: dict, opu: OPUSpec, gpu: GPUSpec) -> str:
  """The report's text from `figures` ``f`` of the run ``summary``."""
  c = summary.get("config", {})
  lines = [f"# OPU versus GPU: {c.get('dataset', '?')} {c.get('model', {}).get('name', '?')}, "
           f"rule {c.get('rule', '?')}, device {c.get('device', {}).get('name', '?')}, "
           f"{summary.get('steps', '?')} steps", ""]
  if not f.projections:
    lines += ["This run made no feedback projections (only DFA projects its error).", ""]
  elif not f.frames:
    lines += [f"The run's {f.projections} projections ({f.macs:.4g} MACs) ran on a "
              f"digital device: {f.gpu_s:.4g} s and {f.gpu_j:.4g} J on the GPU. It "
              "took no camera frames to cost on an OPU; run with device.name='opu' for "
              "the OPU's figures.", ""]
  else:
    lines += ["## Work done by the feedback projections", "", "| count | value |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {getattr(f, k):.4g} |" for k in (
        "projections", "macs", "frames", "camera_pixels", "optical_macs", "bytes_uploaded",
        "bytes_read")]
    lines += ["", "## The same projections on an OPU and on a GPU", "",
              "| | time (s) | energy (J) |", "|---|---|---|",
              f"| OPU | {f.opu_s:.4g} | {f.opu_j:.4g} |",
              f"| GPU | {f.gpu_s:.4g} | {f.gpu_j:.4g} |",
              f"| OPU / GPU | {_ratio(f.opu_s, f.gpu_s)} | "
              f"{_ratio(f.opu_j, f.gpu_j)} |", "",
              f"OPU time bounds: frames {f.frames_s:.4g} s, optical MACs "
              f"{f.optics_s:.4g} s, I/O {f.dmd_s + f.camera_s:.4g} s (DMD upload "
              f"{f.dmd_s:.4g} s, camera readout {f.camera_s:.4g} s): I/O is "
              f"{100 * f.io_share:.1f} % of the OPU time.", "",
              f"Each frame used {100 * f.opu_fill:.2g} % of the optical MACs a frame does "
              f"at the published rate ({opu.ops_per_s / opu.frame_rate_hz:.3g}); this run's "
              f"projections are {f.macs / f.projections:.3g} MACs (in x out) each. At "
              f"{f.frames / f.projections:g} frames a projection, the OPU "
              + _break_even(f.break_even_macs_per_row, f.break_even_energy_macs_per_row),
              ""]
  if f.electronics_j is not None:
    optical = [f"| projection on the OPU | {f.electronics_j:.4g} | {f.opu_j:.4g} | "
               f"{f.with_opu_j:.4g} |"] if f.frames else []
    lines += ["## Training energy: electronics and optics", "",
              "| | electronics (J) | projection (J) | total (J) |", "|---|---|---|---|",
              *optical,
              f"| all on the GPU | {f.electronics_j:.4g} | {f.gpu_j:.4g} | "
              f"{f.all_gpu_j:.4g} |", "",
              f"Electronics: {f.electronics_flops:.4g} FLOPs (forward, local updates, "
              "optimizer) on the GPU." + (f" Optics' share of the energy with an OPU: "
                                          f"{100 * f.optics_share:.1f} %." if optical else ""),
              ""]
  else:
    lines += ["This run's summary has no FLOP counts (it predates them): no energy split.", ""]
  lines += ["## Constants", "",
            "OPU: " + ", ".join(f"{k} {v:g}" for k, v in dataclasses.asdict(opu).items()),
            "(LightOn OPU, Launay et al. 2020; see opujax.devices.budget.OPUSpec).", "",
            "GPU: " + ", ".join(f"{k} {v:g}" for k, v in dataclasses.asdict(gpu).items()),
            "(NVIDIA H100 SXM5 datasheet; see opujax.devices.budget.GPUSpec).", ""]
  return "\n".join(lines)


def _break_even(time_macs: float | None, energy_macs: float | None) -> str:
  time = ("never beats the GPU's time (with full frames it is ops-bound and slower per "
          "MAC)" if time_macs is None else
          f"beats the GPU's time from {time_macs:.3g} MACs per projection")
  energy = ("never uses less energy" if energy_macs is None else
            f"uses less energy from {energy_macs:.3g}")
  return f"{time}; it {energy}."


def _ratio(a: float, b: float) -> str:
  return f"{a / b:.3g}" if b else "-"


def plot(f: Figures, path: Path) -> None:
  """Projection time and energy, OPU against GPU (log scale), and the training energy
  split (electronics + projection) with the projection on the OPU or on the GPU."""
  split = f.electronics_j is not None and f.frames
  with files.figure(path, 1, 2 if split else 1, figsize=(9 if split else 4.5, 3.6),
                    squeeze=False) as (_, axes):
    sides = {"OPU": [f.opu_s, f.opu_j]} if f.frames else {}
    _bars(axes[0, 0], ["time (s)", "energy (J)"], {**sides, "GPU": [f.gpu_s, f.gpu_j]},
          f"feedback projections (I/O {100 * f.io_share:.3g} % of OPU time)" if sides
          else "feedback projections on the GPU")
    if split:
      _bars(axes[0, 1], ["projection on OPU", "all on GPU"],
            {"electronics": [f.electronics_j] * 2, "projection": [f.opu_j, f.gpu_j],
             "total": [f.with_opu_j, f.all_gpu_j]},
            f"training energy (J): optics {100 * f.optics_share:.3g} % with an OPU")


def _bars(ax, groups: list[str], series: dict[str, list[float]], title: str) -> None:
  """Grouped bars, one colour per series, on a log scale when all are positive."""
  width = 0.8 / len(series)
  for i, (name, values) in enumerate(series.items()):
    ax.bar([g + width * (i - (len(series) - 1) / 2) for g in range(len(groups))], values,
           width, label=name, color=f"C{i}")
  ax.set_xticks(range(len(groups)), groups)
  if all(v > 0 for values in series.values() for v in values):
    ax.set_yscale("log")
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=8)


def write(workdir: Path, opu: OPUSpec = OPUSpec(), gpu: GPUSpec = GPUSpec()) -> Figures:
  """Writes ``report.md`` and ``report.png`` for the run in ``workdir``; returns the
  figures. Raises ReportError when the workdir holds no finished run."""
  workdir = Path(workdir)
  path = workdir / "summary.json"
  if not path.is_file():
    raise ReportError(f"{workdir} holds no summary.json; pass the workdir of a finished "
                      "run (python -m opujax.run writes one at the end)")
  try:
    summary = json.loads(path.read_text())
  except ValueError as e:
    raise ReportError(f"{path} is damaged ({e}); rerun the run's command to write it "
                      "again (the run resumes at its end)") from e
  f = figures(summary, opu, gpu)
  files.write_text(workdir / "report.md", markdown(f, summary, opu, gpu))
  plot(f, workdir / "report.png")
  return f


def _spec(cls, values: dict[str, float]):
  """``cls`` (OPUSpec or GPUSpec) with ``values`` over its defaults, all positive."""
  spec = cls(**values)
  bad = [k for k, v in dataclasses.asdict(spec).items() if not v > 0]
  if bad:
    raise ReportError(f"{cls.__name__} {', '.join(bad)} must be > 0")
  return spec


FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string("workdir", None, "A finished run's folder.", flag_values=FLAGS,
                               required=True)
_SPECS = {prefix: {f.name: flags.DEFINE_float(f"{prefix}.{f.name}", None, f"{cls.__name__}."
                                              f"{f.name} (default {f.default:g})",
                                              flag_values=FLAGS)
                   for f in dataclasses.fields(cls)}
          for prefix, cls in (("opu", OPUSpec), ("gpu", GPUSpec))}
COMMAND = cli.Command("opujax.report", __doc__, FLAGS)


def report() -> tuple[int, str]:
  """Writes the parsed run's report; its line."""
  given = {p: {k: h.value for k, h in holders.items() if h.value is not None}
           for p, holders in _SPECS.items()}
  f = write(Path(_WORKDIR.value), _spec(OPUSpec, given["opu"]), _spec(GPUSpec, given["gpu"]))
  return 0, (f"OPU {f.opu_s:.3g} s / {f.opu_j:.3g} J, GPU {f.gpu_s:.3g} s / {f.gpu_j:.3g} J "
             f"for {f.projections} projections; report.md and report.png in {_WORKDIR.value}")


def main(argv: list[str]) -> int:
  """``python -m opujax.report`` with ``argv`` (the program first); its exit status."""
  return cli.main(COMMAND, report, argv, lambda e: f"interrupted ({e.args[0]})")


if __name__ == "__main__":
  sys.exit(main(sys.argv))
