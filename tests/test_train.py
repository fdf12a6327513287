"""opujax.train's data plumbing against NumPy, and the language-model loop end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import data as data_lib
from opujax import devices, dfa, train

ROOT = Path(__file__).resolve().parents[1]


def test_windows_pair_each_character_with_the_next():
  text = np.arange(23, dtype=np.uint8)
  x, y = train.windows(text, 5)
  assert x.shape == y.shape == (4, 5) and x.dtype == np.int32
  np.testing.assert_array_equal(x.ravel(), np.arange(20))
  np.testing.assert_array_equal(y.ravel(), np.arange(1, 21))


class GetBatchTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_windows_start_at_the_indices(self):
    text = jnp.asarray(np.random.default_rng(0).integers(0, 65, 1000), jnp.uint8)
    idx = jnp.array([0, 17, 990 - 8])
    x, y = self.variant(lambda i: train.get_batch(text, None, i, 8))(idx)
    ref = np.stack([np.asarray(text)[i:i + 9] for i in np.asarray(idx)])
    np.testing.assert_array_equal(x, ref[:, :-1])
    np.testing.assert_array_equal(y, ref[:, 1:])


def test_shift_matches_a_numpy_translation():
  rng = np.random.default_rng(1)
  imgs = rng.integers(1, 255, (6, 28, 28, 1)).astype(np.float32)
  key = jax.random.key(3)
  out = np.asarray(jax.jit(train.shift, static_argnums=2)(key, jnp.asarray(imgs), 2))
  offsets = np.asarray(jax.random.randint(key, (6, 2), 0, 5)) - 2
  for img, o, got in zip(imgs, offsets, out):
    ref = np.zeros_like(img)
    dy, dx = -o  # a crop starting at +o moves the content by -o
    src = img[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
    ref[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    np.testing.assert_array_equal(got, ref)
  assert (offsets != 0).any()


def test_language_model_learns_and_reports_validation_loss(data_env, tmp_path):
  """A tiny char LM trained with block-level DFA goes below the unigram entropy."""
  ds = data_lib.load("tiny_shakespeare")
  counts = np.bincount(ds.train_x, minlength=len(ds.vocab)) / len(ds.train_x)
  unigram = -np.sum(counts[counts > 0] * np.log(counts[counts > 0]))
  args = ["--config", "configs/shakespeare_dfa.py", "--config.model.d_model=32",
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


@pytest.mark.parametrize("key, value, message", [
    ("dataset", "tiny_shakespeare", "tiny_shakespeare is text"),
    ("model.name", "transformer", "tiny_shakespeare is text"),
    ("data.shift", -1, "data.shift must be an integer >= 0"),
    ("feedback", "per_block", "feedback='per_block' is not one of"),
    ("mesh.fsdp", 0, "mesh.fsdp must be a positive integer or -1"),
    ("device.options.drift_per_frame", 1e-5, "needs device.name='opu'"),
    ("device.recalibrate_every", -1, "device.recalibrate_every must be an integer >= 0"),
])
def test_validate_refuses(key, value, message):
  from opujax import config as config_lib
  c = config_lib.default()
  *parents, leaf = key.split(".")
  node = c
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(train.ConfigError, match=message):
    train.validate(c)


class DriftTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_the_medium_decorrelates_and_the_anchor_recalibrates(self):
    """k steps of f frames each leave corr(R_k, R_0) = (1 - eps)^(k f / 2); the anchor
    reference is re-measured after every 2nd step only."""
    eps, rows = 1e-2, 4
    rule = dfa.dfa(devices.make("opu", 40, 256, seed=0, camera="ideal", drift_per_frame=eps))
    frames = rows * rule.device.frames_per_row
    step = self.variant(lambda r, k, done: train.drift(r, k, done, rows, 2))
    r = rule
    for done in range(1, 6):
      r = step(r, jax.random.key(done), jnp.asarray(done))
      v = r.device.anchor_field
      fresh = np.asarray(v[0] ** 2 + v[1] ** 2)
      stale = not np.allclose(r.device.anchor_reference, fresh)
      assert stale == (done % 2 == 1), done
    w0, w5 = (np.asarray(x.device.weights).ravel() for x in (rule, r))
    assert np.corrcoef(w0, w5)[0, 1] == pytest.approx((1 - eps) ** (5 * frames / 2), abs=0.03)
    assert np.std(w5) == pytest.approx(np.std(w0), rel=0.05)


def test_a_stable_medium_or_a_digital_rule_does_not_drift():
  for rule in (dfa.dfa(devices.make("opu", 8, 32, seed=0)),
               dfa.dfa(devices.make("digital", 8, 32, seed=0)), dfa.bp()):
    assert train.drift(rule, jax.random.key(0), 1, 4, 1) is rule


def test_a_run_drifts_its_medium_by_the_frames_it_takes(data_env, tmp_path):
  """3 steps of 200 ternary errors (4 frames each) through a drifting OPU leave its
  medium correlated (1 - eps)^(3 * 800 / 2) with the one it started from."""
  import orbax.checkpoint as ocp
  from opujax import config as config_lib
  eps = 5e-4
  args = ["--config", "configs/mnist_dfa_opu.py", "--config.model.widths=(64,)",
          "--config.batch_size=200", "--config.steps=3", "--config.log_every=1",
          "--config.diagnostics_every=0", f"--config.device.options.drift_per_frame={eps}",
          "--quiet", "--workdir", str(tmp_path)]
  proc = subprocess.run([sys.executable, "-m", "opujax.run", *args], cwd=ROOT, env=os.environ,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  with ocp.CheckpointManager((tmp_path / "checkpoints").absolute()) as m:
    drifted = np.asarray(m.restore(3)["rule"]["device"]["weights"]).ravel()
  start = devices.make("opu", 10, 64, seed=1, **config_lib.REALISTIC_OPU)
  assert start.frames_per_row == 4
  r = np.corrcoef(np.asarray(start.weights).ravel(), drifted)[0, 1]
  assert r == pytest.approx((1 - eps) ** (3 * 200 * 4 / 2), abs=0.08)
  assert json.loads((tmp_path / "summary.json").read_text())["flops"]["drift"] > 0


@pytest.mark.parametrize("model, widths", [("resnet", (4, 8, 8)), ("nnx_cnn", (4, 8))])
def test_a_stateful_model_resumes_to_the_same_state(model, widths, data_env, tmp_path):
  """A BatchNorm model (Linen batch_stats; NNX BatchStat, dropout RNG streams) trained 6
  steps at once, or 3 then resumed for 3 more: the same parameters and model state, bit
  for bit; the running statistics have moved from their initial values."""
  import orbax.checkpoint as ocp
  from opujax import config as config_lib
  c = config_lib.stateful(model, "dfa")
  c.dataset, c.data.shift, c.model.widths, c.batch_size = "mnist", 0, widths, 32
  c.optimizer.schedule, c.checkpoint_every, c.log_every = "constant", 3, 3
  c.diagnostics_every, c.eval_examples, c.steps = 3, 100, 6
  train.train_and_evaluate(c, tmp_path / "once", quiet=True)
  c.steps = 3
  train.train_and_evaluate(c, tmp_path / "resumed", quiet=True)
  c.steps = 6
  summary = train.train_and_evaluate(c, tmp_path / "resumed", quiet=True)
  assert summary["resumed_from_step"] == 3
  restored = []
  for name in ("once", "resumed"):
    with ocp.CheckpointManager((tmp_path / name / "checkpoints").absolute()) as m:
      restored.append(m.restore(6))
  for part in ("params", "model_state"):
    chex.assert_trees_all_equal(restored[0][part], restored[1][part])
  means = [a for p, a in jax.tree_util.tree_leaves_with_path(restored[0]["model_state"])
           if "mean" in jax.tree_util.keystr(p)]
  assert means and all(np.abs(m).max() > 0 for m in means)
