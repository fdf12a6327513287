"""The main job end to end: python -m opujax.run, as a user runs it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

from opujax import periodic
from opujax import run as run_lib

ROOT = Path(__file__).resolve().parents[1]
DIGITS = "--config.dataset=opujax.data.synthetic:digits"  # MNIST's shapes, made in memory
TINY = [DIGITS, "--config.model.widths=(32,)", "--config.batch_size=200", "--config.epochs=1",
        "--config.model.dropout=0.0",
        "--config.log_every=40", "--config.checkpoint_every=50", "--config.diagnostics_every=100",
        "--quiet"]


def run(args, **kw):
  return subprocess.run([sys.executable, "-m", "opujax.run", *args], cwd=ROOT, env=os.environ,
                        capture_output=True, text=True, timeout=600, **kw)


def restore(workdir: Path, step: int):
  from opujax import checkpoint
  return checkpoint.load(workdir, step)


def copy_run(finished, workdir: Path) -> Path:
  shutil.copytree(finished[0], workdir)
  return workdir


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """One uninterrupted tiny DFA run."""
  workdir = tmp_path_factory.mktemp("uninterrupted")
  result = run(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)])
  assert result.returncode == 0, result.stderr
  return workdir, result


def test_run_leaves_what_a_researcher_needs(finished):
  from tensorboard.backend.event_processing import event_accumulator
  workdir, result = finished
  assert "test accuracy" in result.stdout
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["steps"] == 300 and summary["parameters"] == 784 * 32 + 32 + 32 * 10 + 10
  assert 0.7 < summary["final_test_accuracy"] <= summary["best_test_accuracy"] <= 1
  assert summary["config"]["rule"] == "dfa" and summary["budget"]["budget/macs"] > 0
  env = summary["environment"]
  assert env["packages"]["jax"] == jax.__version__ and env["backend"] == "cpu"
  lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert any("align/Dense_0" in l for l in lines) and any("test/accuracy" in l for l in lines)
  assert any("examples_per_s" in l for l in lines)
  assert (workdir / "alignment.png").stat().st_size > 0
  # One 200 x 10 error projected to the 32 hidden features: 2 * 200 * 10 * 32 FLOPs.
  assert summary["flops"]["projection"] == 2 * 200 * 10 * 32
  assert summary["flops"]["train_step"] > 2 * 200 * (784 * 32 + 32 * 10)  # forward alone
  assert "ran on a digital device" in (workdir / "report.md").read_text()
  assert (workdir / "report.png").stat().st_size > 0
  events = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
  events.Reload()
  assert events.Scalars("test/accuracy")[-1].value == pytest.approx(
      summary["final_test_accuracy"])


def signal_after_checkpoint(args: list[str], env: dict, workdir: Path, step: int,
                            sig: int = signal.SIGKILL) -> subprocess.CompletedProcess:
  """Starts ``args`` and sends it ``sig`` once ``workdir`` holds the checkpoint at
  ``step``, before it finishes; returns how it ended."""
  proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not (workdir / "checkpoints" / str(step)).is_dir():
    assert proc.poll() is None and time.time() < deadline, f"no checkpoint at step {step}"
    time.sleep(0.02)
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=300)
  assert not (workdir / "summary.json").exists()
  return subprocess.CompletedProcess(args, proc.returncode, out, err)


def kill_after_checkpoint(args: list[str], env: dict, workdir: Path, step: int) -> None:
  """`signal_after_checkpoint` with SIGKILL."""
  signal_after_checkpoint(args, env, workdir, step)


def metrics_but_speed(workdir: Path) -> list[dict]:
  return [{k: v for k, v in json.loads(l).items() if k != "examples_per_s"}
          for l in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_interrupted_run_saves_where_it_stopped_and_resumes_bit_identical(
    finished, tmp_path):
  """Ctrl-C, then SIGTERM on the resumed run: each stops after the step in flight with a
  checkpoint there and one line; the twice-resumed run logs and ends as the
  uninterrupted one."""
  reference, _ = finished
  workdir = tmp_path / "interrupted"
  args = [sys.executable, "-m", "opujax.run", "--config", "configs/mnist_dfa.py", *TINY,
          "--workdir", str(workdir)]
  env, stopped = os.environ, 50
  for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
    result = signal_after_checkpoint(args, env, workdir, stopped, sig)
    assert result.returncode == status, result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"opujax.run: interrupted ({sig.name}) at step "), line
    assert line.endswith("checkpoint saved; rerun the same command to resume"), line
    step = int(line.split(" at step ")[1].split(";")[0])
    assert stopped <= step < 300 and (workdir / "checkpoints" / str(step)).is_dir()
    stopped = step + 50 - step % 50  # the resumed run's first periodic checkpoint
  result = run(args[3:])
  assert result.returncode == 0, result.stderr
  assert json.loads((workdir / "summary.json").read_text())["resumed_from_step"] == step
  got, want = restore(workdir, 300), restore(reference, 300)
  chex.assert_trees_all_equal(got, want)
  assert metrics_but_speed(workdir) == metrics_but_speed(reference)
  assert not (workdir / periodic.WINDOW).exists()


def test_killed_run_resumes_to_the_same_parameters(finished, tmp_path):
  reference, _ = finished
  workdir = tmp_path / "killed"
  kill_after_checkpoint([sys.executable, "-m", "opujax.run", "--config", "configs/mnist_dfa.py",
                         *TINY, "--workdir", str(workdir)], os.environ,
                        workdir, 100)
  result = run(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)])
  assert result.returncode == 0, result.stderr
  got, want = restore(workdir, 300), restore(reference, 300)
  for a, b in zip(jax.tree.leaves(got["params"]), jax.tree.leaves(want["params"])):
    np.testing.assert_array_equal(a, b)
  assert json.loads((workdir / "summary.json").read_text())["resumed_from_step"] >= 100
  logged = [tuple(sorted(json.loads(l))) + (json.loads(l)["step"],)
            for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert len(logged) == len(set(logged))  # no step logged twice
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
  events.Reload()
  for tag in ("train/loss", "test/accuracy", "align/Dense_0"):
    steps = [e.step for e in events.Scalars(tag)]
    assert len(steps) == len(set(steps)), (tag, steps)  # the killed run's tail purged
  assert {e.step for e in events.Scalars("train/loss")} == {
      json.loads(l)["step"] for l in (workdir / "metrics.jsonl").read_text().splitlines()
      if "train/loss" in json.loads(l)}


@pytest.fixture
def small_disk(tmp_path):
  """A 700 kB tmpfs (room for the tiny run's first checkpoint, not its second), or skip
  where this process may not mount one (not root)."""
  disk = tmp_path / "disk"
  disk.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(disk)],
                    capture_output=True).returncode != 0:
    pytest.skip("cannot mount a tmpfs here (needs root)")
  yield disk
  subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_stops_in_one_line_and_the_run_resumes_once_freed(
    finished, small_disk):
  workdir = small_disk / "run"
  args = ["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)]
  result = run(args)
  assert result.returncode == 1, result.stderr
  assert result.stderr.strip().splitlines() == [
      f"opujax.run: stopped: could not write a checkpoint in {workdir}/checkpoints: No space "
      "left on device; free space there (or make it writable) and rerun the same command "
      "(a run resumes from its last complete checkpoint)"], result.stderr
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["50"]
  subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
  result = run(args)
  assert result.returncode == 0, result.stderr
  assert json.loads((workdir / "summary.json").read_text())["resumed_from_step"] == 50
  chex.assert_trees_all_equal(restore(workdir, 300), restore(finished[0], 300))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(finished, tmp_path):
  workdir = copy_run(finished, tmp_path / "diverge")
  (workdir / "config.json").unlink()  # a run folder older than the config record: resumable
  result = run(["--config", "configs/mnist_dfa.py", *TINY, "--config.epochs=2",
                "--config.optimizer.learning_rate=1e38", "--workdir", str(workdir)])
  assert result.returncode == 1
  assert "loss became" in result.stderr and "Traceback" not in result.stderr
  steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  assert steps[-1] == 300  # nothing saved after the blow-up
  assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(
      restore(workdir, 300)["params"]))


def test_rerunning_a_finished_run_reports_it_again(finished, tmp_path):
  workdir = copy_run(finished, tmp_path / "again")
  result = run(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)])
  assert result.returncode == 0, result.stderr
  again = json.loads((workdir / "summary.json").read_text())
  first = json.loads((finished[0] / "summary.json").read_text())
  assert again["resumed_from_step"] == 300
  assert again["final_test_accuracy"] == first["final_test_accuracy"]
  assert again["best_test_accuracy"] == first["best_test_accuracy"]  # over the whole run
  assert (workdir / "metrics.jsonl").read_text() == (finished[0] / "metrics.jsonl").read_text()


def _largest_data_file(step_dir: Path) -> Path:
  return max((p for p in (step_dir / "default").rglob("*") if p.is_file()),
             key=lambda p: p.stat().st_size)


def _truncate(step_dir: Path):
  f = _largest_data_file(step_dir)
  f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _flip_bytes(step_dir: Path):
  f = _largest_data_file(step_dir)
  b = bytearray(f.read_bytes())
  b[len(b) // 2:len(b) // 2 + 64] = bytes(x ^ 0x5A for x in b[len(b) // 2:len(b) // 2 + 64])
  f.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes,
                                    lambda d: shutil.rmtree(d / "default")],
                         ids=["truncated", "flipped_bytes", "default_deleted"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(
    damage, finished, tmp_path, capsys, caplog):
  workdir = copy_run(finished, tmp_path / "damaged")
  steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  damage(workdir / "checkpoints" / str(steps[-1]))
  status, lines = cli(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)],
                      capsys)
  assert status == 0, lines
  assert f"Checkpoint step {steps[-1]} in {workdir} is" in caplog.text
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["resumed_from_step"] == steps[-2]
  got, want = restore(workdir, steps[-1]), restore(finished[0], steps[-1])
  for a, b in zip(jax.tree.leaves(got["params"]), jax.tree.leaves(want["params"])):
    # Recomputed from the step before (in this process, whose compiled step may round
    # differently from the subprocess that made the reference: 1 ulp here and there).
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert (workdir / "checkpoints" / f"{steps[-1]}.damaged").is_dir()  # kept for a look


def test_no_readable_checkpoint_is_a_clear_error(finished, tmp_path, capsys):
  workdir = copy_run(finished, tmp_path / "all_damaged")
  for d in (workdir / "checkpoints").iterdir():
    if d.name.isdigit():
      _truncate(d)
  status, lines = cli(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)],
                      capsys)
  assert status == 2 and len(lines) == 1 and "can be read back whole" in lines[0], lines
  assert (workdir / "summary.json").read_text() == (finished[0] / "summary.json").read_text()


@pytest.mark.parametrize("change, message", [
    ("--config.optimizer.name=sgd", "holds a run of another config (optimizer.name 'adam' -> "
     "'sgd')"),
    ("--config.optimizer.learning_rate=0.5", "optimizer.learning_rate 0.001 -> 0.5"),
    ("--config.steps=100", "a checkpoint at step 300, past this config's 100 steps"),
])
def test_resuming_another_config_is_a_clear_error(change, message, finished, tmp_path):
  workdir = copy_run(finished, tmp_path / "other")
  before = sorted(p.name for p in workdir.rglob("*"))
  result = run(["--config", "configs/mnist_dfa.py", *TINY, change, "--workdir", str(workdir)])
  assert result.returncode == 2 and message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert sorted(p.name for p in workdir.rglob("*")) == before


BAD = [
    (["--config", "configs/no_such.py"], "cannot load config file"),
    (["--config.batch_size=8"], "--config is required"),
    (["--config", "configs/mnist_dfa.py", "--config.no_such_key=1"], "unknown config key"),
    (["--config", "configs/mnist_dfa.py", "--config.optimizer.lr=0.1"],
     "unknown config key 'optimizer.lr' (optimizer has keys: b1"),
    (["--config", "configs/mnist_dfa.py", "--config.train.learning_rate=0.1"],
     "unknown config key 'train.learning_rate'"),
    (["--config", "configs/mnist_dfa.py", "--config.batch_size=many"], "batch_size"),
    (["--config", "configs/mnist_dfa.py", "--config.dataset=CIFAR-10"],
     "dataset='CIFAR-10' is not one of"),
    (["--config", "configs/mnist_dfa.py", "--config.dataset=no_such_set"],
     "Unknown dataset 'no_such_set': not one of mnist"),
    (["--config", "configs/mnist_dfa.py", "--config.model.name=vgg"], "model.name"),
    (["--config", "configs/mnist_dfa.py", "--config.dataset=tiny_shakespeare"],
     "tiny_shakespeare is text for model.name='transformer'"),
    (["--config", "configs/mnist_dfa.py", DIGITS, "--config.mesh.data=3"], "needs 3 devices"),
    (["--config", "configs/mnist_dfa.py", "--config.rule=backprop"], "rule='backprop'"),
    (["--config", "configs/mnist_dfa.py", "--config.device.name=laser"], "device.name"),
    (["--config", "configs/mnist_dfa.py", "--config.optimizer.learning_rate=0"], "learning_rate"),
    (["--config", "configs/mnist_dfa.py", "--config.optimizer.learning_rate=-1"],
     "learning_rate"),
    (["--config", "configs/mnist_dfa.py", "--config.batch_size=0"], "batch_size"),
    (["--config", "configs/mnist_dfa.py", "--config.batch_size=-5"], "batch_size"),
    (["--config", "configs/mnist_dfa.py", "--config.epochs=0"], "epochs"),
    (["--config", "configs/mnist_dfa.py", DIGITS, "--config.batch_size=70000"],
     "exceeds the training examples of opujax.data.synthetic:digits (60000)"),
    (["--config", "configs/mnist_dfa_opu.py", "--config.device.camera.adc_bits=40"],
     "device.camera: adc_bits must be in 1..16"),
    (["--config", "configs/mnist_dfa_opu.py", "--config.device.options.encoding=morse"],
     "device: Unknown encoding 'morse'"),
    (["--config", "configs/mnist_dfa.py"], "not writable"),
]
BAD_FILES = {  # config files that fail to load, and the line named
    "def get_config(:\n  pass\n": "line 1: SyntaxError",
    "import no_such_module\n": "line 1: ModuleNotFoundError",
    "def get_config():\n  return undefined_name\n": "line 2: NameError",
    "CONFIG = 1\n": "does not define get_config()",
    ("from opujax import config\ndef get_config():\n  c = config.default()\n"
     "  c.optimizer.learning_rate = c.optimizer.learnin_rate\n  return c\n"):
        "line 4: AttributeError: 'learnin_rate' Did you mean \"learning_rate\"",
}


def cli(argv: list[str], capsys) -> tuple[int, list[str]]:
  """What ``python -m opujax.run ARGV`` does, in this process: (exit status, stderr)."""
  status = run_lib.main(["opujax.run", *argv])
  return status, capsys.readouterr().err.strip().splitlines()


DAMAGED = {  # a record of a run folder, damaged; the start of the line that names it
    "config.json": (lambda p: p.write_text('{"rule": "dfa", '), "config.json is damaged"),
    "metrics.jsonl": (lambda p: p.write_text("garbage\n" + p.read_text()),
                      "metrics.jsonl is damaged at line 1"),
    ".lock": (lambda p: (p.unlink(), p.mkdir()), ".lock cannot be used as the run's lock"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_run_folder_record_is_one_line_and_exit_2(name, finished, tmp_path, capsys):
  workdir = copy_run(finished, tmp_path / "damaged")
  damage, message = DAMAGED[name]
  damage(workdir / name)

  def stamps():  # but the lock's, which holds the pid of the process that took it last
    return sorted((p.relative_to(workdir), p.stat().st_mtime_ns) for p in workdir.rglob("*")
                  if p.name != ".lock")

  before = stamps()
  status, lines = cli(["--config", "configs/mnist_dfa.py", *TINY, "--workdir", str(workdir)],
                      capsys)
  assert status == 2 and len(lines) == 1 and message in lines[0], lines
  assert "delete" in lines[0] or "remove" in lines[0]
  assert stamps() == before


@pytest.mark.parametrize("args,message", BAD, ids=[b[1] for b in BAD])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
  workdir = tmp_path / "run"
  if message == "not writable":  # root may write anywhere, so: below a plain file
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    workdir = blocker / "run"
  status, lines = cli([*args, "--workdir", str(workdir), "--quiet"], capsys)
  assert status == 2 and len(lines) == 1 and message in lines[0], lines
  assert lines[0].startswith("opujax.run: error: ")
  assert not workdir.exists()


@pytest.mark.parametrize("text,message", BAD_FILES.items(), ids=list(BAD_FILES.values()))
def test_a_config_file_that_fails_names_its_line(text, message, tmp_path, capsys):
  path = tmp_path / "bad_config.py"
  path.write_text(text)
  status, lines = cli(["--config", str(path), "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and len(lines) == 1 and message in lines[0] and str(path) in lines[0]
  assert not (tmp_path / "run").exists()


def test_bad_input_from_the_shell_is_one_line_without_traceback(tmp_path):
  for args in (["--config.no_such_key=1"], ["--config.device.name=laser"]):
    result = run(["--config", "configs/mnist_dfa.py", *args, "--workdir", str(tmp_path / "r")])
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "r").exists()


def test_training_through_the_hardware_device_from_the_cli(tmp_path, capsys):
  """In a process of its own with one device, as on a user's machine: with this one's 8
  emulated devices, 7 wait at a collective while device 0 runs the driver's Python
  callback, and on a loaded machine XLA's rendezvous timeout can abort the session."""
  workdir = tmp_path / "hardware"
  result = run(["--config", "configs/mnist_dfa_hardware.py", *TINY, "--config.steps=100",
                "--config.optimizer.learning_rate=0.01", "--workdir", str(workdir)])
  assert result.returncode == 0, result.stderr
  summary = json.loads((workdir / "summary.json").read_text())
  # It learns the synthetic digits (chance: 10 % and a loss of ln 10 = 2.303) through the
  # emulated driver's noisy 8-bit camera.
  assert summary["final_test_accuracy"] > 0.9 and summary["final"]["test/loss"] < 0.5
  # 200 rows x 2 code frames x 2 anchor frames a step, every one from the driver.
  assert summary["budget"]["budget/frames"] == 100 * 200 * 2 * 2
  status, lines = cli(["--config", "configs/mnist_dfa_hardware.py",
                       "--config.device.options.driver=mylab.opu:connect",
                       "--workdir", str(tmp_path / "nolab")], capsys)
  assert status == 2 and len(lines) == 1 and "Driver 'mylab.opu:connect' cannot be loaded" \
      in lines[0], lines


USER_CONFIG = '''
from opujax import config


def get_config():
  c = config.default("userpkg.data:blobs", {rule!r})
  if {optical}:
    c = config.with_opu(c)
  c.model = {model!r}
  c.optimizer.learning_rate = 3e-3
  c.update(steps=120, batch_size=64, log_every=20, checkpoint_every=60, diagnostics_every=20)
  return c
'''


@pytest.mark.parametrize("model, rule, optical", [
    ({"name": "userpkg.models:TanhNet", "hidden": 32, "depth": 2}, "bp", False),
    ({"name": "userpkg.models:TanhNet", "hidden": 32, "depth": 2}, "dfa", False),
    ({"name": "userpkg.models:TanhNet", "hidden": 32, "depth": 2}, "dfa", True),
    ({"name": "userpkg.models:DropoutNet", "in_features": 12, "hidden": 32}, "bp", False),
    ({"name": "userpkg.models:DropoutNet", "in_features": 12, "hidden": 32}, "dfa", False),
    ({"name": "userpkg.models:DropoutNet", "in_features": 12, "hidden": 32}, "dfa", True),
])
def test_a_users_own_model_and_data_through_the_main_job(model, rule, optical, tmp_path, capsys,
                                                         monkeypatch):
  """A Linen model whose call takes no ``train`` and an NNX model with dropout, from a
  package outside opujax, with keyword arguments of their own, under each rule, on
  Gaussian blobs from a user's function (float feature vectors, no validation split,
  standardised with their own statistics): nothing outside the repository."""
  monkeypatch.syspath_prepend(str(ROOT / "tests"))
  path = tmp_path / "my_config.py"
  path.write_text(USER_CONFIG.format(rule=rule, optical=optical, model=model))
  status, lines = cli(["--config", str(path), "--workdir", str(tmp_path / "run"), "--quiet"],
                      capsys)
  assert status == 0, lines
  summary = json.loads((tmp_path / "run" / "summary.json").read_text())
  assert summary["parameters"] == 12 * 32 + 32 + 32 * 4 + 4 + (
      32 * 32 + 32 if model.get("depth") == 2 else 0)
  assert summary["final_test_accuracy"] > 0.9, summary["final"]  # 4 well-separated blobs
  assert "validation/loss" not in summary["final"]
  records = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert any(k.startswith("align/") for r in records for k in r) == (rule != "bp")
  assert bool(summary["budget"] and summary["budget"]["budget/frames"]) == optical
