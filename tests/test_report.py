"""opujax.report: the arithmetic on a hand-computed case, the files, and bad input."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opujax import files, report
from opujax.devices import GPUSpec, OPUSpec

ROOT = Path(__file__).resolve().parents[1]
OPU = OPUSpec(ops_per_s=1e15, power_w=25.0, frame_rate_hz=1000.0, dmd_bytes_per_s=1e9,
              camera_bytes_per_s=2e9)
GPU = GPUSpec(flops_per_s=1e15, power_w=500.0, utilisation=0.5)
BUDGET = {"projections": 1000, "macs": 5 * 10 ** 14, "frames": 3000, "dmd_frames": 3000,
          "optical_macs": 10 ** 15, "bytes_uploaded": 10 ** 9, "bytes_read": 2 * 10 ** 9}
SUMMARY = {"config": {"dataset": "mnist", "model": {"name": "mlp"}, "rule": "dfa",
                      "device": {"name": "opu"}},
           "steps": 10, "budget": {f"budget/{k}": v for k, v in BUDGET.items()},
           "flops": {"train_step": 1e12, "projection": 1e11}}


def test_figures_match_the_hand_computation():
  f = report.figures(SUMMARY, OPU, GPU)
  # OPU: frames 3000 / 1 kHz = 3 s; optics 1e15 / 1e15 = 1 s; I/O 1e9/1e9 + 2e9/2e9 = 2 s.
  expected = {
      "frames_s": 3.0, "optics_s": 1.0, "dmd_s": 1.0, "camera_s": 1.0,
      "opu_s": 3.0, "opu_j": 75.0, "io_share": 2 / 3,
      # GPU: 2 * 5e14 / (1e15 * 0.5) = 2 s at 500 W.
      "gpu_s": 2.0, "gpu_j": 1000.0,
      # A frame at 1e15 / 1e3 = 1e12 MACs; 3 frames a projection: 3 * 5e14 / 2e3.
      "opu_fill": 1 / 3, "break_even_macs_per_row": 7.5e11,
      # Per row the OPU spends 3 frames * 25 W / 1 kHz = 0.075 J; the GPU 500 W /
      # 2.5e14 MAC/s = 2e-12 J per MAC.
      "break_even_energy_macs_per_row": 3.75e10,
      # Electronics: 10 * (1e12 - 1e11) = 9e12 FLOPs / 5e14 = 0.018 s at 500 W = 9 J.
      "electronics_flops": 9e12, "electronics_s": 0.018, "electronics_j": 9.0,
      "with_opu_j": 84.0, "all_gpu_j": 1009.0, "optics_share": 75 / 84}
  for k, v in expected.items():
    assert getattr(f, k) == pytest.approx(v), k


def test_break_even_is_never_when_the_opu_is_slower_per_mac():
  """3 frames a row at 5e14 GPU MAC/s is 1.5e15 MAC/s of OPU frames, past its 1e15
  ops rate: in the ops-bound regime the OPU stays slower, at any size."""
  f = report.figures(SUMMARY, OPU, GPUSpec(flops_per_s=1e15, power_w=500.0, utilisation=1))
  assert f.break_even_macs_per_row is None
  assert f.break_even_energy_macs_per_row == pytest.approx(3 * 0.025 * 5e14 / 500)


def test_write_leaves_markdown_and_png(tmp_path, drawn):
  (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))
  report.write(tmp_path, OPU, GPU)
  md = (tmp_path / "report.md").read_text()
  assert "| OPU | 3 | 75 |" in md and "| GPU | 2 | 1000 |" in md
  assert "I/O is 66.7 % of the OPU time" in md and "89.3 %" in md
  assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
  (fig,) = drawn()
  times, energy = fig.axes
  bars = lambda ax: {c.get_label(): [round(b.get_height(), 6) for b in c] for c in ax.containers}
  assert bars(times) == {"OPU": [3.0, 75.0], "GPU": [2.0, 1000.0]}
  assert bars(energy) == {"electronics": [9.0, 9.0], "projection": [75.0, 1000.0],
                          "total": [84.0, 1009.0]}
  assert times.get_yscale() == "log" and "I/O 66.7 %" in times.get_title()
  assert [t.get_text() for t in energy.get_xticklabels()] == ["projection on OPU", "all on GPU"]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "report.png",
                                                       "summary.json"]


def test_a_run_without_projections_reports_its_electronics(tmp_path):
  bp = {**SUMMARY, "budget": None, "flops": {"train_step": 1e12, "projection": 0.0}}
  (tmp_path / "summary.json").write_text(json.dumps(bp))
  f = report.write(tmp_path, OPU, GPU)
  assert f.opu_j == f.gpu_j == 0 and f.electronics_j == pytest.approx(10.0)
  assert "made no feedback projections" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--workdir={tmp}/missing"], "holds no summary.json"),
    (["--workdir={tmp}", "--gpu.power_w=0"], "GPUSpec power_w must be > 0"),
    (["--workdir={tmp}", "--gpu.power_w=lots"], "--gpu.power_w"),
    (["{tmp}"], "--workdir is required"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
  if "missing" not in args[0]:
    (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))
  proc = subprocess.run([sys.executable, "-m", "opujax.report",
                         *(a.format(tmp=tmp_path) for a in args)],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and message in proc.stderr, proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "report.md").exists()


def test_constants_come_from_the_command_line(tmp_path):
  (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))
  proc = subprocess.run([sys.executable, "-m", "opujax.report", f"--workdir={tmp_path}",
                         "--opu.frame_rate_hz=20000", "--gpu.utilisation=0.5"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert "frame_rate_hz 20000" in (tmp_path / "report.md").read_text()


def test_a_damaged_summary_or_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
  (tmp_path / "summary.json").write_text('{"config": ')
  assert report.main(["opujax.report", f"--workdir={tmp_path}"]) == 2
  assert "summary.json is damaged" in capsys.readouterr().err
  (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))

  def full_disk(path, write):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(files, "_write_atomic", full_disk)
  assert report.main(["opujax.report", f"--workdir={tmp_path}"]) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert err == [f"opujax.report: stopped: could not write {tmp_path / 'report.md'}: No space left on "
                 "device; free space there (or make it writable) and rerun the same command "
                 "(a run resumes from its last complete checkpoint)"]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
