"""opujax.config: validation of every value before any work, and config files."""

import pytest

from opujax import config as config_lib
from opujax.errors import ConfigError


@pytest.mark.parametrize("key, value, message", [
    ("dataset", "tiny_shakespeare", "tiny_shakespeare is text"),
    ("model.name", "transformer", r"unknown argument\(s\) activation, dropout, widths for "
     "transformer"),
    ("data.shift", -1, "data.shift must be an integer >= 0"),
    ("eval_every", 0, "eval_every must be an integer >= 1"),
    ("label_smoothing", 1.0, r"label_smoothing must be in \[0, 1\)"),
    ("optimizer.learning_rate", float("nan"), "learning_rate must be a positive finite"),
    ("optimizer.learning_rate", float("inf"), "learning_rate must be a positive finite"),
    ("lm:data.flip", True, "data.shift, data.flip and data.erase augment images"),
    ("lm:data.erase", 0.25, "data.shift, data.flip and data.erase augment images"),
    ("data.erase", 1.5, r"data.erase is the probability .* in \[0, 1\]"),
    ("feedback", "per_block", "feedback='per_block' is not one of"),
    ("resnet:model.stem", "patch", "model: stem='patch' is not one of stride, pool"),
    ("resnet:model.hidden", -1, "model: hidden must be an integer >= 0"),
    ("mesh.fsdp", 0, "mesh.fsdp must be a positive integer or -1"),
    ("device.options.drift_per_frame", 1e-5, r"Unknown option\(s\) drift_per_frame for device "
     "'digital'"),
    ("opu:device.options.recalibrate_every", 5, "recalibrate_every re-measures a drifting"),
    ("opu:device.options.recalibrate_every", -1, "recalibrate_every must be an integer >= 0"),
    ("opu:device.options.encoding", "morse", "Unknown encoding 'morse'"),
    ("opu:device.options.storage", "disk", "Unknown storage 'disk'"),
    ("opu:device.options.photons", 10.0, r"Unknown option\(s\) photons for device 'opu'"),
    ("opu:device.camera.adc_bits", 40, "device.camera: adc_bits must be in 1..16"),
    ("opu:device.camera.photons", -1.0, "device.camera: camera photons must be > 0"),
    ("opu:device.camera.shot_noise", "loud", "Unknown shot_noise 'loud'"),
    ("opu:rule", "bp", "drift_per_frame drifts the medium DFA projects through"),
])
def test_validate_refuses(key, value, message):
  c = config_lib.default()
  if key.startswith("lm:"):
    key, c = key[len("lm:"):], config_lib.lm()
  if key.startswith("resnet:"):
    key, c = key[len("resnet:"):], config_lib.stateful("resnet")
  if key.startswith("opu:"):
    key = key[len("opu:"):]
    c = config_lib.with_opu(c)
    if key == "rule":
      c.device.options.drift_per_frame = 1e-5
  *parents, leaf = key.split(".")
  node = c
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(c)


def test_the_camera_sub_config_is_the_camera():
  from opujax import build, devices
  c = config_lib.with_opu(config_lib.default())
  assert build.camera(c) == devices.Camera()
  c.device.camera = config_lib.camera(devices.Camera.ideal())
  assert build.camera(c) == devices.Camera.ideal()
  assert (c.device.camera.adc_bits, c.device.camera.exposure) == (0, 0.0)  # none, auto


def test_check_key_names_the_keys_that_exist():
  c = config_lib.default()
  config_lib.check_key(c, "optimizer.learning_rate")
  with pytest.raises(ConfigError, match=r"'optimizer.lr' \(optimizer has keys: b1, b2"):
    config_lib.check_key(c, "optimizer.lr")
  with pytest.raises(ConfigError, match="'seed.value' \\(seed has no keys below it\\)"):
    config_lib.check_key(c, "seed.value")


def test_load_file_returns_get_config(tmp_path):
  path = tmp_path / "c.py"
  path.write_text("def get_config():\n  return {'base': 'x'}\n")
  assert config_lib.load_file(str(path)) == {"base": "x"}
  path.write_text("def get_config():\n  return 1 / 0\n")
  with pytest.raises(ConfigError, match="line 2: ZeroDivisionError"):
    config_lib.load_file(str(path))


def test_validation_leaves_the_jax_backend_unstarted():
  """jax.distributed.initialize must come before any JAX computation: validating a config
  (the LM's 'auto' dtype, an NNX model's rngs) starts no backend."""
  import subprocess
  import sys
  code = ("from jax._src import xla_bridge\nfrom opujax import config\n"
          "for c in (config.lm(), config.stateful('nnx_cnn'), config.stateful('resnet')):\n"
          "  config.validate(c)\nprint(xla_bridge.backends_are_initialized())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert out.stdout.strip() == "False", out.stderr
