"""opujax.parallel: mesh, sharding rules, sharded init, and the same training on 1 device,
8 devices and 2 processes x 4 devices."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from opujax import config as config_lib
from opujax import build, devices, dfa, models, parallel, train

ROOT = Path(__file__).resolve().parents[1]


def test_mesh_sizes_and_errors():
  mesh = parallel.make_mesh(data=-1, fsdp=4)
  assert dict(mesh.shape) == {"data": 2, "fsdp": 4, "tensor": 1}
  assert dict(parallel.make_mesh(2, 2, 2).shape) == {"data": 2, "fsdp": 2, "tensor": 2}
  for sizes, match in [((3, 1, 1), "needs 3 devices"), ((-1, 3, 1), "does not divide"),
                       ((-1, -1, 1), "one may be -1"), ((0, 8, 1), "positive")]:
    with pytest.raises(ValueError, match=match):
      parallel.make_mesh(*sizes)
  with pytest.raises(ValueError, match="batch_size=12 is not divisible by data x fsdp = 8"):
    parallel.check_batch(12, mesh)


def test_param_spec_rules():
  mesh = parallel.make_mesh(2, 2, 2)
  assert parallel.param_spec((784, 32), mesh) == P("fsdp", "tensor")
  assert parallel.param_spec((6, 32), mesh) == P("tensor", "fsdp")  # largest dim to fsdp
  assert parallel.param_spec((7, 5), mesh) == P(None, None)  # nothing divides
  assert parallel.param_spec((32,), mesh) == P("fsdp")  # vectors: no tensor split
  assert parallel.param_spec((), mesh) == P()
  rule_tree = {"w": jnp.zeros((10, 64)), "field": jnp.zeros((10, 2, 64)), "b": jnp.zeros(64)}
  sh = parallel.state_shardings(rule_tree, mesh, out_features=64)
  assert {k: v.spec for k, v in sh.items()} == {
      "w": P(None, parallel.AXES), "field": P(None, None, parallel.AXES),
      "b": P(parallel.AXES)}


def test_sharded_init_equals_plain_init_and_lands_sharded():
  mesh = parallel.make_mesh(data=2, fsdp=4)
  model = models.MLP((64, 32), 10)
  x = jnp.ones((2, 784))
  opt = optax.adam(1e-3)

  def init(key):
    params = model.init(key, x)["params"]
    return params, opt.init(params)

  params, opt_state = parallel.sharded_init(init, mesh, jax.random.key(0))
  ref_params, ref_opt = init(jax.random.key(0))
  chex.assert_trees_all_close(params, ref_params)
  chex.assert_trees_all_close(opt_state, ref_opt)
  kernel = params["Dense_0"]["kernel"]
  assert kernel.sharding.spec == P("fsdp", None)
  assert {s.data.shape for s in kernel.addressable_shards} == {(196, 64)}
  assert opt_state[0].mu["Dense_0"]["kernel"].sharding.spec == P("fsdp", None)


def test_train_state_feedback_device_split_along_its_output():
  mesh = parallel.make_mesh(data=2, fsdp=4)
  c = config_lib.default("mnist", "dfa")
  c.model.widths = (32,)
  model = build.model(c, 10)
  x = jnp.ones((2, 28, 28, 1))
  state = train.create_train_state(c, model, x, dfa.DEFAULT_UNITS, optax.sgd(0.1), mesh)
  w = state.rule.device.weights
  assert w.shape == (10, 32) and w.sharding.spec == P(None, parallel.AXES)
  assert {s.data.shape for s in w.addressable_shards} == {(10, 4)}
  np.testing.assert_array_equal(np.asarray(w),
                                np.asarray(devices.make("digital", 10, 32, seed=1).weights))


DIGITS = "--config.dataset=opujax.data.synthetic:digits"  # MNIST's shapes, made in memory


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _losses(workdir: Path) -> list[float]:
  lines = (json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines())
  return [l["train/loss"] for l in lines if "train/loss" in l]


def test_same_losses_on_1_device_8_devices_and_2_processes(tmp_path):
  """5 DFA steps of a tiny MLP: one device; data x fsdp = 2 x 4 emulated devices; data x
  fsdp x tensor = 2 x 2 x 2; and jax.distributed with 2 processes of 4 devices each on
  localhost."""
  common = [sys.executable, "-m", "opujax.run", "--config", "configs/mnist_dfa.py", DIGITS,
            "--config.model.widths=(32,)", "--config.batch_size=64", "--config.steps=5",
            "--config.log_every=1", "--config.diagnostics_every=0", "--quiet"]
  sharded = ["--config.mesh.data=2", "--config.mesh.fsdp=4"]

  def launch(name, devices_per_process, extra):
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices_per_process)}
    return subprocess.Popen(common + ["--workdir", str(tmp_path / name)] + extra, cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)

  port = _free_port()
  cube = ["--config.mesh.data=2", "--config.mesh.fsdp=2", "--config.mesh.tensor=2"]
  procs = [launch("one", 1, []), launch("eight", 8, sharded), launch("cube", 8, cube)] + [
      launch("two_by_four", 4, sharded + [f"--config.distributed.coordinator=localhost:{port}",
                                          "--config.distributed.processes=2",
                                          f"--config.distributed.process_id={i}"])
      for i in range(2)]
  for p in procs:
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
  one = _losses(tmp_path / "one")
  assert len(one) == 5 and np.all(np.isfinite(one)) and len(set(one)) == 5
  np.testing.assert_allclose(_losses(tmp_path / "eight"), one, rtol=1e-5)
  np.testing.assert_allclose(_losses(tmp_path / "cube"), one, rtol=1e-5)
  np.testing.assert_allclose(_losses(tmp_path / "two_by_four"), one, rtol=1e-5)
  assert len(list((tmp_path / "two_by_four").glob("metrics.jsonl"))) == 1


def test_sigterm_to_one_process_stops_both_at_the_same_step(tmp_path):
  """A scheduler's SIGTERM reaches one of two processes: JAX's preemption notice tells
  the other, both save the checkpoint of the step they agree on and exit 143."""
  workdir = tmp_path / "run"
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, "-m", "opujax.run", "--config", "configs/mnist_dfa.py", DIGITS,
       "--config.model.widths=(32,)", "--config.batch_size=64", "--config.steps=5000",
       "--config.checkpoint_every=100", "--config.diagnostics_every=0",
       "--config.mesh.data=2", "--quiet", "--workdir", str(workdir),
       f"--config.distributed.coordinator=localhost:{port}",
       "--config.distributed.processes=2", f"--config.distributed.process_id={i}"],
      cwd=ROOT, env={**os.environ, "JAX_NUM_CPU_DEVICES": "1"}, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  deadline = time.time() + 300
  while not (workdir / "checkpoints" / "100").is_dir():
    assert all(p.poll() is None for p in procs) and time.time() < deadline
    time.sleep(0.02)
  procs[1].send_signal(signal.SIGTERM)
  lines = []
  for p in procs:
    _, err = p.communicate(timeout=300)
    assert p.returncode == 143, err
    lines.append([l for l in err.splitlines() if l.startswith("opujax.run:")])
  assert lines[0] == lines[1] and len(lines[0]) == 1, lines
  step = int(lines[0][0].split(" at step ")[1].split(";")[0])
  assert 100 <= step < 5000 and (workdir / "checkpoints" / str(step)).is_dir()
