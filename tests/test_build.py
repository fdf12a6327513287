"""opujax.build: a config's objects, each from one registry."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from opujax import build, config as config_lib, devices, dfa, models
from opujax.errors import ConfigError


def test_warmup_then_the_schedule():
  c = config_lib.default()
  c.optimizer.update(name="sgd", learning_rate=0.1, warmup=10, schedule="cosine")
  opt = build.optimizer(c, total_steps=110)
  params = {"w": jnp.zeros(())}
  state = opt.init(params)
  got = []
  for _ in range(110):
    updates, state = opt.update({"w": jnp.ones(())}, state)
    got.append(-float(updates["w"]))
  want = [0.1 * i / 10 for i in range(10)] + [
      float(optax.cosine_decay_schedule(0.1, 100)(i)) for i in range(100)]
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
  c.optimizer.schedule = "constant"
  opt = build.optimizer(c, total_steps=110)
  state = opt.init(params)
  for i in range(12):
    updates, state = opt.update({"w": jnp.ones(())}, state)
    assert -float(updates["w"]) == pytest.approx(min(i, 10) / 10 * 0.1)


def test_clipping_bounds_the_update():
  c = config_lib.default()
  c.optimizer.update(name="sgd", learning_rate=1.0, schedule="constant", clip=0.5)
  opt = build.optimizer(c, 10)
  updates, _ = opt.update({"w": jnp.full((4,), 3.0)}, opt.init({"w": jnp.zeros(4)}))
  assert float(jnp.linalg.norm(updates["w"])) == pytest.approx(0.5)


def test_every_registered_model_builds():
  for name in build.MODELS:
    c = config_lib.lm() if name in build.TEXT_MODELS else config_lib.stateful(name) \
        if name in ("resnet", "nnx_cnn") else config_lib.default()
    c.model.name = name
    assert build.model(c, 10) is not None
  assert build.task(config_lib.lm()).context == 128
  assert build.task(config_lib.default()).dataset == "mnist"


def test_units_by_type_name_or_path():
  c = config_lib.default()
  assert build.units(c) == dfa.DEFAULT_UNITS
  c.units = ("ResBlock", "head", "Block_[1-9]")
  assert build.units(c) == (models.ResBlock, "head", "Block_[1-9]")
  assert build.units(config_lib.lm("bp")) == (models.Block, "head")


def test_rule_builds_the_configured_device():
  c = config_lib.with_opu(config_lib.default())
  c.model.widths = (16,)
  c.device.camera.photons = 50.0
  model = build.model(c, 10)
  x = jnp.zeros((2, 28, 28, 1))
  params = model.init(__import__("jax").random.key(0), x)["params"]
  rule = build.rule(c, model, params, x, build.units(c))
  assert rule.name == "dfa" and rule.device.camera == devices.Camera(photons=50.0)
  assert (rule.device.in_features, rule.device.out_features) == (10, 16)
  code = config_lib.REALISTIC_OPU
  assert rule.device.encoding == devices.Encoding(code["encoding"], code["threshold"], code["bits"],
                                                  code["threshold_by"], code["common_mode"])
  c.units = ("NoSuchLayer",)
  with pytest.raises(ConfigError, match="feedback:"):
    build.rule(c, model, params, x, build.units(c))


def test_dfa_make_refuses_what_a_rule_does_not_take():
  device = devices.make("digital", 3, 4)
  assert dfa.make("dfa", device, shared=True).shared
  with pytest.raises(ValueError, match="does not take shared"):
    dfa.make("bp", shared=True)
  with pytest.raises(ValueError, match="does not take error_at"):
    dfa.make("fa", error_at="head")
  assert dfa.make("shallow", device).device is None  # nothing to project
