"""opujax.workdir: one process per run folder, one config per run, each step once."""

import fcntl
import json
import os
import subprocess
import sys

import pytest

from opujax import config as config_lib
from opujax import workdir
from opujax.errors import WorkdirError


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
  holder = subprocess.Popen([sys.executable, "-c", (
      "import sys, time; from pathlib import Path; from opujax import workdir\n"
      f"with workdir.lock(Path({str(tmp_path)!r})):\n"
      "  print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WorkdirError, match=f"in use by process {holder.pid}"):
      with workdir.lock(tmp_path):
        pass
  finally:
    holder.kill()
    holder.wait()
  with workdir.lock(tmp_path):  # released with its process
    fd = os.open(tmp_path / ".lock", os.O_RDWR)
    with pytest.raises(BlockingIOError):
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_resuming_with_another_config_names_the_keys(tmp_path):
  c = config_lib.default()
  workdir.record_config(tmp_path, c)
  c.epochs, c.log_every, c.mesh.data = 90, 7, 2  # how long, what is logged, where: fine
  workdir.check_config(tmp_path, c)
  c.optimizer.learning_rate, c.seed = 0.5, 7
  with pytest.raises(WorkdirError, match=r"optimizer.learning_rate 0.001 -> 0.5, seed 0 -> 7"):
    workdir.check_config(tmp_path, c)


def test_rewind_drops_what_a_resumed_run_logs_again(tmp_path):
  lines = [{"step": 100, "train/loss": 1.0}, {"step": 100, "align/Dense_0": 80.0},
           {"step": 200, "train/loss": 0.9}, {"step": 200, "test/accuracy": 0.9},
           {"step": 200, "align/Dense_0": 70.0}, {"step": 300, "train/loss": 0.8},
           {"step": 300, "test/accuracy": 0.95}]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines)
                                          + '{"step": 310, "tra')  # torn by a kill
  workdir.rewind_metrics(tmp_path, 200)
  assert workdir.records(tmp_path) == lines[:4]
  assert workdir.best(tmp_path, "test/accuracy") == 0.9
  assert workdir.best(tmp_path, "no/such") is None


def test_a_run_started_when_configs_held_every_models_keys_resumes(tmp_path):
  c = config_lib.default()
  workdir.record_config(tmp_path, c)
  saved = json.loads((tmp_path / "config.json").read_text())
  saved["model"].update(d_model=128, depth=2, heads=4, norm="pre", positions="learned",
                        stem="stride", hidden=0, dtype="auto")  # the old shared layout
  (tmp_path / "config.json").write_text(json.dumps(saved))
  workdir.check_config(tmp_path, c)
  saved["model"]["widths"] = [400, 400]  # a key its model does take still counts
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(WorkdirError, match=r"model.widths \[400, 400\] -> \[800, 800\]"):
    workdir.check_config(tmp_path, c)


@pytest.mark.parametrize("recipe, added", [
    (config_lib.default, ("task", "label_smoothing")),
    (config_lib.diffusion, ("label_smoothing", "diffusion.schedule", "diffusion.eta"))])
def test_a_run_started_before_keys_were_added_resumes_with_their_old_values(tmp_path, recipe,
                                                                           added):
  c = recipe()
  workdir.record_config(tmp_path, c)
  saved = json.loads((tmp_path / "config.json").read_text())
  for key in added:
    parent, _, leaf = key.rpartition(".")
    del (saved[parent] if parent else saved)[leaf]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  workdir.check_config(tmp_path, c)
  c.label_smoothing = 0.1
  with pytest.raises(WorkdirError, match=r"label_smoothing 0.0 -> 0.1"):
    workdir.check_config(tmp_path, c)


def test_a_finished_diffusion_run_may_be_sampled_again_otherwise(tmp_path):
  c = config_lib.diffusion("bp")
  workdir.record_config(tmp_path, c)
  c.diffusion.update(samples=200, sample_steps=100, eta=1.0)
  workdir.check_config(tmp_path, c)
  c.diffusion.schedule = "cosine"
  with pytest.raises(WorkdirError, match=r"diffusion.schedule 'linear' -> 'cosine'"):
    workdir.check_config(tmp_path, c)


def test_a_damaged_record_names_its_file_and_line(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 1, "a": 1.0}\n[1, 2]\n{"step": 3, "a": 0.5}\n')
  with pytest.raises(WorkdirError, match=r"metrics.jsonl is damaged at line 2 \(not a record"):
    workdir.records(tmp_path)
  path.write_bytes(b'{"step": 1}\n\xff\xfe\n')
  with pytest.raises(WorkdirError, match=r"metrics.jsonl is damaged \(not text"):
    workdir.rewind_metrics(tmp_path, 1)
  path.write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a"')  # torn last line: dropped
  assert workdir.records(tmp_path) == [{"step": 1, "a": 1.0}]
  (tmp_path / "config.json").write_text('{"seed": 0, ')
  with pytest.raises(WorkdirError, match=r"config.json is damaged \(.*\); delete it"):
    workdir.check_config(tmp_path, config_lib.default())
  (tmp_path / ".lock").mkdir()
  with pytest.raises(WorkdirError, match=r"\.lock cannot be used as the run's lock"):
    with workdir.lock(tmp_path):
      pass
