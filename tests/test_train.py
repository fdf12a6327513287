"""opujax.train's data plumbing against NumPy, and the language-model loop end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

from opujax import config as config_lib
from opujax import data as data_lib
from opujax import checkpoint, devices, train, workdir

ROOT = Path(__file__).resolve().parents[1]
DIGITS, TEXT = "opujax.data.synthetic:digits", "opujax.data.synthetic:text"  # made in memory


def test_language_model_learns_and_reports_validation_loss(tmp_path):
  """A tiny char LM trained with block-level DFA goes below the unigram entropy."""
  ds = data_lib.load(TEXT)
  counts = np.bincount(ds.train_x, minlength=len(ds.vocab)) / len(ds.train_x)
  unigram = -np.sum(counts[counts > 0] * np.log(counts[counts > 0]))
  args = ["--config", "configs/shakespeare_dfa.py", f"--config.dataset={TEXT}",
          "--config.model.d_model=32",
          "--config.model.depth=2", "--config.context=32", "--config.batch_size=32",
          "--config.steps=300", "--config.optimizer.learning_rate=1e-2",
          "--config.eval_examples=200", "--config.diagnostics_every=50", "--quiet",
          "--workdir", str(tmp_path)]
  proc = subprocess.run([sys.executable, "-m", "opujax.run", *args], cwd=ROOT, env=os.environ,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  summary = json.loads((tmp_path / "summary.json").read_text())
  final = summary["final"]
  assert set(final) == {f"{s}/{m}" for s in ("test", "validation", "train_eval")
                        for m in ("loss", "accuracy")}
  assert final["validation/loss"] < unigram - 0.3, (final, unigram)
  lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert any("align/Block_1" in l for l in lines)
  assert summary["budget"]["budget/projections"] == 300 * 32 * 32  # one per position


def test_a_run_drifts_its_medium_by_the_frames_it_takes(tmp_path):
  """3 steps of 200 errors (the shipped code: 4 camera frames each) through a drifting OPU
  leave its medium correlated (1 - eps)^(3 * 800 / 2) with the one it started from."""
  eps = 5e-4
  args = ["--config", "configs/mnist_dfa_opu.py", f"--config.dataset={DIGITS}",
          "--config.model.widths=(64,)",
          "--config.batch_size=200", "--config.steps=3", "--config.log_every=1",
          "--config.diagnostics_every=0", f"--config.device.options.drift_per_frame={eps}",
          "--quiet", "--workdir", str(tmp_path)]
  proc = subprocess.run([sys.executable, "-m", "opujax.run", *args], cwd=ROOT, env=os.environ,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  drifted = np.asarray(checkpoint.load(tmp_path, 3)["rule"]["device"]["weights"]).ravel()
  start = devices.make("opu", 10, 64, seed=1, **config_lib.REALISTIC_OPU)
  assert start.frames_per_row == 4
  r = np.corrcoef(np.asarray(start.weights).ravel(), drifted)[0, 1]
  assert r == pytest.approx((1 - eps) ** (3 * 200 * 4 / 2), abs=0.08)
  assert json.loads((tmp_path / "summary.json").read_text())["flops"]["drift"] > 0


@pytest.mark.parametrize("model, widths", [("resnet", (4, 8, 8)), ("nnx_cnn", (4, 8))])
def test_a_stateful_model_resumes_to_the_same_state(model, widths, tmp_path):
  """A BatchNorm model (Linen batch_stats; NNX BatchStat, dropout RNG streams) trained 6
  steps at once (with alignment diagnostics), or 3 then resumed for 3 more: the same
  parameters and model state, bit for bit; the running statistics have moved from their
  initial values."""
  c = config_lib.stateful(model, "dfa")
  c.dataset, c.data.shift, c.model.widths, c.batch_size = DIGITS, 0, widths, 32
  c.optimizer.schedule, c.checkpoint_every, c.log_every = "constant", 3, 3
  c.diagnostics_every, c.eval_examples, c.steps = 3, 100, 6
  train.train_and_evaluate(c, tmp_path / "once", quiet=True)
  records = workdir.records(tmp_path / "once")
  assert [r["step"] for r in records if any(k.startswith("align/") for k in r)] == [0, 3]
  c.diagnostics_every, c.steps = 0, 3  # diagnostics do not touch the state
  train.train_and_evaluate(c, tmp_path / "resumed", quiet=True)
  c.steps = 6
  summary = train.train_and_evaluate(c, tmp_path / "resumed", quiet=True)
  assert summary["resumed_from_step"] == 3
  restored = [checkpoint.load(tmp_path / name, 6) for name in ("once", "resumed")]
  for part in ("params", "model_state"):
    chex.assert_trees_all_equal(restored[0][part], restored[1][part])
  means = [a for p, a in jax.tree_util.tree_leaves_with_path(restored[0]["model_state"])
           if "mean" in jax.tree_util.keystr(p)]
  assert means and all(np.abs(m).max() > 0 for m in means)


def test_a_checkpoint_that_cannot_be_written_stops_the_run_in_one_error(
    tmp_path, monkeypatch, caplog):
  """orbax's thread writing step 4 meets a full disk (an injected ENOSPC): the run raises
  `WriteFailed` naming the folder, orbax's own tracebacks of it stay off the logs, step 2
  is kept, the half-written step 4 is not read back, and with space again the run
  resumes from step 2."""
  import errno

  from orbax.checkpoint._src.path import async_path

  from opujax.errors import WriteFailed
  write_text = async_path.write_text

  async def full_disk(path, text):
    if "checkpoints/4." in str(path):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return await write_text(path, text)

  c = config_lib.default(DIGITS, "dfa")
  c.data.shift, c.model.widths, c.batch_size, c.eval_examples = 0, (8,), 32, 100
  c.steps, c.checkpoint_every, c.log_every, c.diagnostics_every = 6, 2, 2, 0
  monkeypatch.setattr(async_path, "write_text", full_disk)
  with pytest.raises(WriteFailed, match=r"could not write a checkpoint in \S+/checkpoints: No "
                                        r"space left on device; free space there"):
    train.train_and_evaluate(c, tmp_path, quiet=True)
  assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
  assert (tmp_path / "checkpoints" / "2").is_dir() and not (tmp_path / "summary.json").exists()
  monkeypatch.undo()
  assert train.train_and_evaluate(c, tmp_path, quiet=True)["resumed_from_step"] == 2
