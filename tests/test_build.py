"""opujax.build: a config's objects, each from one registry."""

from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from opujax import build, config as config_lib, data, devices, dfa, models, tasks
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
        if name in ("resnet", "nnx_cnn") else model_config(name=name)
    assert build.model(c, 10) is not None
  text = data.Dataset(*[np.zeros(4, np.int32)] * 6, vocab="ab")
  assert build.task(config_lib.lm(), text).context == 128
  images = data.Dataset(*[np.zeros((4, 28, 28, 1), np.uint8), np.zeros(4, np.int32)] * 3,
                        stats=data.PIXEL_STATS["mnist"])
  assert build.task(config_lib.default(), images).stats == data.PIXEL_STATS["mnist"]
  vectors = images._replace(train_x=np.zeros((4, 12), np.float32))
  with pytest.raises(ConfigError, match=r"data.shift, data.flip and data.erase augment images "
                     r"\(N, H, W, C\)"):
    build.task(config_lib.default(), vectors)  # MNIST's default shifts images


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


@pytest.fixture
def userpkg(monkeypatch):
  """tests/ on sys.path, so that ``userpkg`` imports as a user's own package would."""
  monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))


def model_config(**model):
  c = config_lib.default()
  c.model = ml_collections.ConfigDict(model)
  return c


def test_a_model_by_import_path_gets_its_own_arguments_and_what_the_run_fills_in(userpkg):
  from flax import nnx
  c = model_config(name="userpkg.models:TanhNet", hidden=8, depth=3)
  config_lib.validate(c)
  net = build.model(c, 7)
  assert (type(net).__name__, net.num_classes, net.hidden, net.depth) == ("TanhNet", 7, 8, 3)
  assert build.call_kwargs(net, train=True) == {}
  c = model_config(name="userpkg.models:DropoutNet", in_features=784, hidden=4)
  config_lib.validate(c)
  net = build.model(c, 5)
  assert isinstance(net, nnx.Module) and net.head.out_features == 5
  assert build.call_kwargs(net, train=True) == {"train": True}
  net = build.model(model_config(name="userpkg.models:tanh_net", width=6), 3)
  assert (net.hidden, net.num_classes) == (6, 3)
  assert build.model(model_config(name="mlp", widths=(5,)), 4).classes == 4


@pytest.mark.parametrize("model, message", [
    (dict(name="userpkg.models:TanhNet", widht=8),
     r"model: unknown argument\(s\) widht for userpkg.models:TanhNet\(num_classes, "
     r"hidden=32, depth=2\); the model's keys are these parameters."),
    (dict(name="userpkg.models:tanh_net"), r"missing argument\(s\) width for "),
    (dict(name="userpkg.nowhere:Net"), "cannot be loaded: ModuleNotFoundError"),
    (dict(name="userpkg.models:Missing"), "cannot be loaded: AttributeError"),
    (dict(name="vgg"), "model.name='vgg' is not one of mlp, cnn, resnet, nnx_cnn, "
     "transformer, nor an import path"),
    (dict(name="resnet", stem="patch"), "model: stem='patch' is not one of stride, pool"),
    (dict(name="transformer", d_model=8, dtype="float64"), "model.dtype='float64' is not one"),
    (dict(name="mlp", widths=(8,), d_model=8), r"unknown argument\(s\) d_model for mlp\(widths="),
])
def test_a_bad_model_is_refused_before_any_data(userpkg, model, message):
  with pytest.raises(ConfigError, match=message):
    build.check_model(model_config(**model))


def test_a_factory_must_return_a_module(userpkg):
  c = model_config(name="userpkg.models:not_a_model")
  build.check_model(c)  # a function is only called to build the model
  with pytest.raises(ConfigError, match="gave a int, not a Flax Linen or NNX module"):
    build.model(c, 10)


def blob_config(**overrides):
  c = config_lib.default("userpkg.data:blobs")
  c.data.shift = 0
  c.update(overrides)
  return c


def test_the_task_follows_the_data_or_the_config(userpkg):
  blobs = data.load("userpkg.data:blobs")
  task = build.task(blob_config(), blobs)
  assert isinstance(task, tasks.Classification) and task.outputs(blobs) == 4
  assert build.task(blob_config(task="classification"), blobs) == task
  waves = data.load("userpkg.data:waves")
  c = blob_config(dataset="userpkg.data:waves", task="userpkg.tasks:regression")
  config_lib.validate(c)
  regression = build.task(c, waves)
  assert regression.outputs(waves) == 2 and regression.score == ("loss", "min")
  mean, std = regression.stats
  assert mean == pytest.approx(waves.train_x.mean(), abs=1e-6) and std == pytest.approx(
      waves.train_x.std(), rel=1e-6)
  with pytest.raises(ConfigError, match="task='text' predicts the next symbol"):
    build.task(blob_config(task="text"), blobs)


@pytest.mark.parametrize("dataset, message", [
    ("userpkg.data:float_labels", r"train_y must be \(2000,\) integer labels for "
     r"classification, got shape \(2000,\) and dtype float32; or name a task of your own"),
    ("userpkg.data:waves", r"train_y must be \(1600,\) integer labels for classification, "
     r"got shape \(1600, 2\)"),
])
def test_classification_refuses_targets_that_are_not_labels(userpkg, dataset, message):
  with pytest.raises(data.DataError, match=message):
    build.task(blob_config(dataset=dataset), data.load(dataset))
  ds = data.load("userpkg.data:blobs")
  ds = ds._replace(test_y=np.where(ds.test_y == 0, 7, ds.test_y).astype(np.int32))
  with pytest.raises(data.DataError, match=r"test_y holds labels outside \[0, 4\)"):
    build.task(blob_config(), ds)


@pytest.mark.parametrize("task, message", [
    ("regress", "task='regress' is not one of classification, text, nor an import path"),
    ("userpkg.nowhere:regression", "task='userpkg.nowhere:regression' cannot be loaded: "
     "ModuleNotFoundError"),
    ("userpkg.tasks:missing", "cannot be loaded: AttributeError"),
])
def test_a_bad_task_is_refused_before_any_data(userpkg, task, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(blob_config(task=task))


@pytest.mark.parametrize("task, message", [
    ("userpkg.tasks:not_a_task", "gave a object without eval_batch, score, outputs, rows"),
    ("userpkg.tasks:failing", "task='userpkg.tasks:failing' failed: KeyError: 'targets'"),
])
def test_a_task_function_that_fails_or_returns_no_task_is_one_line(userpkg, task, message):
  with pytest.raises(ConfigError, match=message):
    build.task(blob_config(task=task), data.load("userpkg.data:blobs"))
