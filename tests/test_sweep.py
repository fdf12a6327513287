"""opujax.sweep: planning, errors, and a tiny sweep run, killed and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from opujax import sweep
from opujax.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model.widths": (16,), "batch_size": 200, "steps": 30, "log_every": 10,
        "diagnostics_every": 0, "data.shift": 0}


def test_grid_axes_and_points():
  grid = sweep.points({"base": "x", "grid": {"a": [1, 2], "b.c": ["u", "v", "w"]}})
  assert len(grid) == 6 and {"a": 2, "b.c": "w"} in grid
  axes = sweep.points({"base": "x", "axes": {"a": [1, 2], "b.c": ["u"]}})
  assert axes == [{"a": 1}, {"a": 2}, {"b.c": "u"}]
  assert sweep.points({"base": "x", "points": [{"a": 3}]}) == [{"a": 3}]


@pytest.mark.parametrize("spec, message", [
    ({"grid": {}}, "exactly one non-empty"),
    ({"axes": {"seed": []}}, "is empty"),
    ({"grid": {"a": [1]}, "axes": {"b": [2]}}, "exactly one"),
    ({"axes": {"device.options.photon": [1]}}, "no key 'device.options.photon'"),
    ({"axes": {"seed": [1]}, "references": ["configs/nope.py"]}, "nope.py': no such file"),
])
def test_bad_sweeps_are_refused(spec, message):
  with pytest.raises(UserError, match=message):
    sweep.plan({"base": "configs/mnist_dfa.py", **spec})


@pytest.mark.parametrize("spec, message", [
    (["configs/mnist_dfa.py"], "returns a dict with 'base'.*got a list"),
    ({"grid": {"seed": [1]}}, "a sweep needs 'base'"),
    ({"base": "configs/mnist_dfa.py", "grid": {"seed": 3}}, r"grid\['seed'\] is 3: give a list"),
    ({"base": "configs/mnist_dfa.py", "axes": [("seed", [1])]}, "'axes' is a dict"),
    ({"base": "configs/mnist_dfa.py", "points": {"seed": 1}}, "'points' is a list"),
    ({"base": "configs/mnist_dfa.py", "grid": {"seed": [1]}, "metrics": ["acc"]},
     "unknown sweep metric.*'acc'.*final_test_accuracy"),
    ({"base": "configs/mnist_dfa.py", "grid": {"seed": [1]}, "metric": ["minutes"]},
     "unknown sweep entry 'metric'"),
])
def test_bad_sweep_specs_are_refused_before_any_run(spec, message):
  with pytest.raises(UserError, match=message):
    sweep.plan(spec)


def test_plan_names_rules_seeds_and_references():
  runs = sweep.plan({"base": "configs/mnist_dfa_opu.py",
                     "axes": {"device.camera.photons": [10.0, 100.0]},
                     "rules": ["dfa"], "seeds": [0, 1], "references": ["configs/mnist_bp.py"]})
  assert [r.name for r in runs] == [
      "photons=10.0,rule=dfa,seed=0", "photons=10.0,rule=dfa,seed=1",
      "photons=100.0,rule=dfa,seed=0", "photons=100.0,rule=dfa,seed=1",
      "ref_mnist_bp,seed=0", "ref_mnist_bp,seed=1"]
  assert runs[1].overrides == {"device.camera.photons": 10.0, "rule": "dfa", "seed": 1}
  assert runs[5].overrides == {"seed": 1} and runs[5].point is None


def test_points_at_the_base_share_its_run():
  """An axis at the base's value (after ``fixed``) is the base run, named once."""
  runs = sweep.plan({"base": "configs/mnist_dfa_opu.py",
                     "axes": {"device.camera.photons": [10.0, 1000.0],
                              "model.dropout": [0.0, 0.2]},
                     "fixed": {"model.dropout": 0.0, "epochs": 2,
                               "device.options.threshold": 0.3},
                     "references": ["configs/mnist_dfa.py"]})
  assert [r.name for r in runs] == ["photons=10.0", "base", "base", "dropout=0.2",
                                       "ref_mnist_dfa"]
  assert runs[1].point == {"device.camera.photons": 1000.0}
  assert runs[3].overrides == {"model.dropout": 0.2, "epochs": 2,
                                  "device.options.threshold": 0.3}
  # The digital reference has no threshold to fix.
  assert runs[4].overrides == {"model.dropout": 0.0, "epochs": 2}
  widths = sweep.plan({"base": "configs/mnist_dfa.py", "axes": {"model.widths": [(8, 4)]}})
  assert widths[0].name == "widths=8x4"


def test_tiny_sweep_runs_resumes_and_plots(tmp_path):
  base = tmp_path / "tiny_base.py"
  base.write_text("from opujax import config\n\n\ndef get_config():\n"
                  "  c = config.default('opujax.data.synthetic:digits', 'dfa')\n" +
                  "".join(f"  c.{k} = {v!r}\n" for k, v in {
                      **TINY, "steps": 120, "checkpoint_every": 10}.items()) + "  return c\n")
  cfg = tmp_path / "sweep_tiny.py"
  cfg.write_text(f"def get_config():\n  return {{'base': {str(base)!r}, "
                 "'axes': {'model.dropout': [0.2, 0.5], 'data.shift': [0]}, "
                 "'rules': ['dfa', 'shallow']}\n")
  out = tmp_path / "out"
  cmd = [sys.executable, "-m", "opujax.sweep", "--config", str(cfg), "--workdir", str(out),
         "--parallel", "2", "--quiet"]
  sweep = subprocess.Popen(cmd, cwd=ROOT, env=os.environ, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not list(out.glob("*/checkpoints/10")):  # a run in flight: stop the sweep
    assert sweep.poll() is None and time.time() < deadline
    time.sleep(0.02)
  sweep.send_signal(signal.SIGTERM)
  assert sweep.wait(timeout=300) == 143
  assert sweep.stderr.read().strip().splitlines() == [
      "opujax.sweep: interrupted (SIGTERM); the runs in flight stopped with a checkpoint; "
      "rerun the same command to continue"]
  stopped = [p.parent.parent for p in out.glob("*/checkpoints/10")]
  assert stopped and not any((p / "summary.json").exists() for p in stopped)
  proc = subprocess.run(cmd, cwd=ROOT, env=os.environ, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  assert all(json.loads((p / "summary.json").read_text())["resumed_from_step"] >= 10
             for p in stopped)
  rows = json.loads((out / "results.json").read_text())
  # dropout 0.2 and shift 0 are the base's values: one shared run per rule.
  assert len(rows) == 6 and {r["rule"] for r in rows} == {"dfa", "shallow"}
  assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
      "base,rule=dfa", "base,rule=shallow", "dropout=0.5,rule=dfa", "dropout=0.5,rule=shallow"]
  base = [r for r in rows if r["name"] == "base,rule=dfa"]
  assert len(base) == 2 and base[0]["final_test_accuracy"] == base[1]["final_test_accuracy"]
  assert {"set:model.dropout", "set:data.shift"} <= {k for r in base for k in r}
  assert all(0 < r["final_test_accuracy"] <= 1 and "train_test_gap" in r for r in rows), rows
  summary = json.loads((out / "dropout=0.5,rule=dfa" / "summary.json").read_text())
  r = next(r for r in rows if r["name"] == "dropout=0.5,rule=dfa")
  assert r["train_test_gap"] == pytest.approx(
      summary["final"]["train_eval/accuracy"] - summary["final_test_accuracy"])
  assert (out / "results.csv").read_text().count("\n") == 7
  assert (out / "model_dropout__final_test_accuracy.png").stat().st_size > 0
  assert (out / "data_shift__final_test_accuracy.png").stat().st_size > 0
  stamp = (out / "base,rule=dfa" / "summary.json").stat().st_mtime
  (out / "dropout=0.5,rule=shallow" / "summary.json").unlink()  # as if killed there
  proc = subprocess.run(cmd, cwd=ROOT, env=os.environ, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr
  assert (out / "base,rule=dfa" / "summary.json").stat().st_mtime == stamp
  assert (out / "dropout=0.5,rule=shallow" / "summary.json").is_file()


def test_rows_carry_the_alignment_of_the_last_diagnostics():
  records = [{"step": 0, "align/Dense_0": 80.0, "align/head": 0.0},
             {"step": 10, "train/loss": 1.0},
             {"step": 20, "align/Dense_0": 42.0, "align/head": 0.0, "update_norm/head": 3.0}]
  assert sweep.last_alignment(records) == {"align_step": 20, "align/Dense_0": 42.0,
                                           "align/head": 0.0}
  assert sweep.last_alignment(records[1:2]) == {}
  run = sweep.Run("p", "configs/mnist_dfa.py", {"seed": 0}, {"seed": 0}, "p")
  summary = {"config": {"rule": "dfa", "seed": 0, "batch_size": 8},
             "final_test_accuracy": 0.5, "best_test_accuracy": 0.6, "wall_time_s": 60.0}
  r = sweep.row(run, sweep.Outcome(summary, alignment=sweep.last_alignment(records)))
  assert r["align_step"] == 20 and r["align/Dense_0"] == 42.0 and "update_norm/head" not in r
  assert "frames_per_projection" not in r  # a digital run has no budget
  summary["budget"] = {"budget/projections": 4, "budget/frames": 8,
                       "budget/camera_pixels": 4 * 33750}
  r = sweep.row(run, sweep.Outcome(summary))
  assert r["frames_per_projection"] == 2 and r["camera_pixels_per_projection"] == 33750
  assert sweep._tick((0.22, 0.22)) == "0.22x0.22" and sweep._tick((800, 800)) == "2×800"


def test_a_finished_run_of_another_config_is_not_taken(tmp_path):
  """A workdir left by an earlier sweep with other settings is reported, not reused."""
  out = tmp_path / "photons=10.0"
  out.mkdir()
  (out / "summary.json").write_text(json.dumps({"config": {"epochs": 10, "device": {
      "camera": {"photons": 10.0}}}}))
  (out / "metrics.jsonl").write_text("")
  run = sweep.Run("photons=10.0", "configs/mnist_dfa_opu.py",
                  {"epochs": 6, "device.camera.photons": 10.0}, {}, "")
  done = sweep._execute(run, tmp_path, True, sweep.Children())
  assert "holds a finished run of another config (epochs=10)" in done.error


def test_plot_draws_mean_and_spread_per_rule_and_the_references(tmp_path, drawn):
  row = lambda rule, photons, seed, acc, ref="": {
      "rule": rule, "set:device.camera.photons": photons, "seed": seed,
      "final_test_accuracy": acc, "reference": ref, "point": ""}
  rows = [row("dfa", 10.0, 0, 0.90), row("dfa", 10.0, 1, 0.92), row("dfa", 1000.0, 0, 0.96),
          row("dfa", 1000.0, 1, 0.96), row("bp", None, 0, 0.98, "mnist_bp"),
          row("bp", None, 1, 0.99, "mnist_bp")]
  for r in rows[4:]:
    del r["set:device.camera.photons"]
  sweep.plot(rows, {"axes": {"device.camera.photons": [10.0, 1000.0]}}, tmp_path)
  assert (tmp_path / "device_camera_photons__final_test_accuracy.png").is_file()
  (fig,) = drawn()
  (ax,) = fig.axes
  (spread,) = [c for c in ax.containers if c.get_label() == "dfa"]
  curve = spread.lines[0]  # the means
  np.testing.assert_allclose(np.asarray(curve.get_xdata(), float), [10.0, 1000.0])
  np.testing.assert_allclose(np.asarray(curve.get_ydata(), float), [0.91, 0.96])
  segments = spread.lines[2][0].get_segments()  # the error bars: mean ± std over seeds
  np.testing.assert_allclose([s[:, 1] for s in segments],
                             [[0.91 - 0.01414, 0.91 + 0.01414], [0.96, 0.96]], atol=1e-4)
  (ref,) = [l for l in ax.get_lines() if l.get_label().startswith("mnist_bp")]
  assert ref.get_linestyle() == "--" and list(ref.get_ydata()) == [0.985, 0.985]
  assert ax.get_xscale() == "log" and ax.get_xlabel() == "device.camera.photons"
  assert ax.get_ylabel() == "final_test_accuracy"


def test_a_killed_sweep_takes_its_running_child_with_it(tmp_path):
  parent = subprocess.Popen([sys.executable, "-c", (
      "import subprocess, sys; from opujax import sweep\n"
      "child = subprocess.Popen(['sleep', '60'], preexec_fn=sweep.die_with_parent)\n"
      "print(child.pid, flush=True); child.wait()")], stdout=subprocess.PIPE, text=True)
  child = int(parent.stdout.readline())
  assert os.path.exists(f"/proc/{child}")
  parent.kill()
  parent.wait()
  deadline = time.time() + 10
  while os.path.exists(f"/proc/{child}") and time.time() < deadline:
    time.sleep(0.05)
  assert not os.path.exists(f"/proc/{child}")
