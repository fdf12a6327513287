"""opujax.diffusion: the noising and the sampler against their formulas, the sample scores
on known inputs, the denoisers (the MLP's DFA step without the head's input gradient), and
tiny ones through the main job under every rule."""

import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from opujax import devices, dfa, diffusion
from opujax.dfa import hlo
from tests.test_run import ROOT, cli


@pytest.fixture(autouse=True)
def userpkg(monkeypatch):
  monkeypatch.syspath_prepend(str(ROOT / "tests"))


def test_patches_in_row_major_order_and_back():
  x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
  y = np.asarray(diffusion.patchify(jnp.asarray(x), 2))
  want = np.stack([np.stack([x[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2].ravel()
                             for i in range(2) for j in range(3)]) for b in range(2)])
  np.testing.assert_array_equal(y, want)
  np.testing.assert_array_equal(diffusion.unpatchify(jnp.asarray(y), 2, (4, 6, 3)), x)


def test_noising_follows_ddpm():
  abar = diffusion.alpha_bar(1000)
  betas = np.linspace(1e-4, 0.02, 1000)
  np.testing.assert_allclose(abar[[0, 499, 999]], [np.prod(1 - betas[:k + 1]) for k in
                                                   (0, 499, 999)], rtol=1e-12)
  x0 = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
  eps = np.random.default_rng(1).normal(size=x0.shape).astype(np.float32)
  t = np.array([0, 500, 999])
  x, y = diffusion.noised(jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps),
                          jnp.asarray(abar, jnp.float32), 1000, 2)
  a = abar[t][:, None, None, None]
  np.testing.assert_allclose(x[..., :1], np.sqrt(a) * x0 + np.sqrt(1 - a) * eps, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(x[:, 1, 2, 1], t / 1000)
  np.testing.assert_array_equal(y[..., :-2], diffusion.patchify(jnp.asarray(eps), 2))
  np.testing.assert_array_equal(y[..., -2:], 1.0)
  _, weighted = diffusion.noised(jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps),
                                 jnp.asarray(abar, jnp.float32), 1000, 2, min_snr=5.0)
  snr = abar[t] / (1 - abar[t])  # t = 0: SNR 1e4, weight 5e-4; t = 999: SNR < 5, weight 1
  np.testing.assert_allclose(weighted[..., -2], np.broadcast_to(
      (np.minimum(snr, 5.0) / snr)[:, None], (3, 4)), rtol=1e-3)  # 1 - ᾱ_0 in float32
  assert weighted[0, 0, -2] < 1e-3 and weighted[2, 0, -2] == 1.0
  _, whole = diffusion.noised(jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps),
                              jnp.asarray(abar, jnp.float32), 1000, 4, min_snr=5.0)
  chex.assert_shape(whole, (3, 18))  # one patch, the image: one error vector an image
  np.testing.assert_array_equal(whole[:, :-2], eps.reshape(3, 16))
  np.testing.assert_array_equal(whole[:, -2], weighted[:, 0, -2])


def test_v_prediction_is_salimans_and_hos_and_its_error_converts_to_the_noises():
  """v = √ᾱ ε - √(1-ᾱ) x0; the loss weight with min-SNR γ is min(SNR, γ) / (SNR + 1); the
  metric's factor ᾱ makes a v error the ε error it implies (ε = √(1-ᾱ) x_t + √ᾱ v)."""
  abar = diffusion.alpha_bar(1000)
  rng = np.random.default_rng(0)
  x0 = rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
  eps = rng.normal(size=x0.shape).astype(np.float32)
  t = np.array([0, 500, 999])
  a = abar[t][:, None, None, None]
  x, y = diffusion.noised(jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps),
                          jnp.asarray(abar, jnp.float32), 1000, 2, 5.0, "v")
  v = np.sqrt(a) * eps - np.sqrt(1 - a) * x0
  np.testing.assert_allclose(diffusion.unpatchify(y[..., :-2], 2, (4, 4, 1)), v, rtol=1e-4,
                             atol=1e-5)
  snr = abar[t] / (1 - abar[t])
  np.testing.assert_allclose(y[:, 0, -2], np.minimum(snr, 5.0) / (snr + 1), rtol=1e-3)
  np.testing.assert_allclose(y[:, 0, -1], abar[t], rtol=1e-6)
  np.testing.assert_allclose(diffusion.to_eps(v, np.asarray(x[..., :1]), a, "v"), eps,
                             rtol=1e-3, atol=1e-3)
  task = diffusion.Diffusion((4, 4, 1), patch=2, prediction="v")
  out = y[..., :-2] + 0.1 * jnp.asarray(rng.normal(size=(3, 4, 4)), jnp.float32)
  eps_hat = diffusion.to_eps(np.asarray(diffusion.unpatchify(out, 2, (4, 4, 1))),
                             np.asarray(x[..., :1]), a, "v")
  np.testing.assert_allclose(task.metrics(out, y)["loss"],
                             np.mean((eps_hat - eps) ** 2, axis=(1, 2, 3)), rtol=1e-3, atol=1e-7)


def test_the_cosine_schedule_is_nichol_and_dhariwals():
  abar = diffusion.alpha_bar(1000, "cosine")
  f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
  for t in (0, 10, 500, 900):  # far from the end, no β reaches the clip
    assert abar[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
  assert abar[-1] < 1e-4 and np.all(np.diff(abar) < 0)
  assert abar[499] > 4 * diffusion.alpha_bar(1000)[499]  # half-way, more of the image left


def test_a_ddim_step_with_eta_1_is_ddpms_ancestral_step():
  """Between consecutive times, η = 1 is Ho et al.'s sampler: x_{t-1} = μ̃ + √β̃ z with
  μ̃ = √ᾱ_{t-1} β_t / (1-ᾱ_t) x̂0 + √α_t (1-ᾱ_{t-1}) / (1-ᾱ_t) x_t,
  β̃ = (1-ᾱ_{t-1}) / (1-ᾱ_t) β_t."""
  abar, betas = diffusion.alpha_bar(1000), np.linspace(1e-4, 0.02, 1000)
  rng = np.random.default_rng(0)
  x_t, eps, z = rng.normal(size=(3, 6)) * 0.3
  for t in (1, 400, 999):
    a, a_prev, beta = abar[t], abar[t - 1], betas[t]
    x0 = np.clip((x_t - np.sqrt(1 - a) * eps) / np.sqrt(a), -1, 1)
    mean = (np.sqrt(a_prev) * beta / (1 - a) * x0
            + np.sqrt(1 - beta) * (1 - a_prev) / (1 - a) * x_t)
    want = mean + np.sqrt((1 - a_prev) / (1 - a) * beta) * z
    np.testing.assert_allclose(diffusion.ddim_step(x_t, eps, a, a_prev, 1.0, z), want,
                               rtol=1e-9, atol=1e-12)
  unclipped = np.sqrt(abar[5]) * 0.5 + np.sqrt(1 - abar[5]) * eps  # x̂0 = 0.5 exactly
  np.testing.assert_allclose(diffusion.ddim_step(unclipped, eps, abar[5], abar[2], 0.0, z),
                             np.sqrt(abar[2]) * 0.5 + np.sqrt(1 - abar[2]) * eps)  # η = 0
  bright = np.sqrt(abar[5]) * 3.0 + np.sqrt(1 - abar[5]) * eps  # x̂0 = 3, outside [-1, 1]
  np.testing.assert_allclose(diffusion.ddim_step(bright, eps, abar[5], abar[2], 0.0, z,
                                                 clip=False),
                             np.sqrt(abar[2]) * 3.0 + np.sqrt(1 - abar[2]) * eps)


@pytest.mark.parametrize("schedule, eta, prediction", [("linear", 0.0, "eps"),
                                                       ("cosine", 0.0, "eps"),
                                                       ("linear", 1.0, "eps"),
                                                       ("cosine", 0.0, "v")])
def test_ddim_with_the_exact_noise_recovers_the_image(schedule, eta, prediction):
  """For data that is one image x*, the exact ε given x_t is (x_t - √ᾱ x*) / √(1-ᾱ) (and
  v = √ᾱ ε - √(1-ᾱ) x*): DDIM with it must land on x*."""
  target = np.random.default_rng(0).uniform(-1, 1, (4, 4, 1))
  abar = diffusion.alpha_bar(200, schedule)

  def exact(packed):
    x, t = packed[..., :1], np.round(packed[:, 0, 0, 1] * 200).astype(int)
    a = abar[t][:, None, None, None]
    eps = (x - np.sqrt(a) * target) / np.sqrt(1 - a)
    return diffusion.patchify(np.sqrt(a) * eps - np.sqrt(1 - a) * target
                              if prediction == "v" else eps, 2)

  images = diffusion.ddim(exact, 5, (4, 4, 1), 2, 200, 10, jax.random.key(0),
                          schedule=schedule, eta=eta, prediction=prediction)
  np.testing.assert_allclose(images, np.broadcast_to(target, images.shape), atol=1e-4)


def test_guided_ddim_combines_the_labelled_and_the_null_output():
  """One DDIM step from T - 1 to ᾱ = 1 lands on x̂0 = clip((x - √(1-ᾱ) ε̃) / √ᾱ),
  ε̃ = (1 + w) ε(label) - w ε(null): each image's label and the null label reach the model in
  the channel before t."""
  seen = []

  def predict(packed):
    label = packed[:, 0, 0, 1]
    seen.append(label.copy())
    return diffusion.patchify(np.broadcast_to(
        np.where(label == 3, 0.5, 0.1 * label)[:, None, None, None], (len(packed), 4, 4, 1)), 2)

  labels, w = np.array([0, 1, 2, 0]), 2.0
  images = diffusion.ddim(predict, 4, (4, 4, 1), 2, 200, 1, jax.random.key(0),
                          labels=labels, guidance=w, null=3)
  a = diffusion.alpha_bar(200)[-1]
  x = np.asarray(jax.random.normal(jax.random.split(jax.random.key(0))[0], (4, 4, 4, 1)))
  eps = ((1 + w) * 0.1 * labels - w * 0.5)[:, None, None, None]
  np.testing.assert_allclose(images, np.clip((x - np.sqrt(1 - a) * eps) / np.sqrt(a), -1, 1),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(seen[0], labels)
  np.testing.assert_array_equal(seen[1], 3)


def test_conditional_training_drops_labels_and_the_dit_reads_them():
  task = diffusion.Diffusion((8, 8, 1), patch=2, classes=4, label_dropout=0.25)
  y = np.arange(4000) % 4
  x, _ = task.augment(jax.random.key(0), np.zeros((4000, 8, 8, 1), np.uint8), jnp.asarray(y))
  chex.assert_shape(x, (4000, 8, 8, 3))  # the image, its label, t / T
  label = np.asarray(x[:, 3, 5, 1])
  null = label == 4
  assert 0.23 < null.mean() < 0.27, null.mean()
  np.testing.assert_array_equal(label[~null], y[~null])
  model = diffusion.DiT(outputs=4, patch=2, d_model=16, depth=2, heads=2, steps=100,
                        label_classes=4)
  params = model.init(jax.random.key(1), x[:2])["params"]
  other = x[:2].at[..., 1].set(jnp.where(x[:2, ..., 1] == 0, 1, 0))
  assert not np.allclose(model.apply({"params": params}, x[:2]),
                         model.apply({"params": params}, other))
  chex.assert_shape(params["label"]["embedding"], (5, 16))


def test_the_mlp_denoiser_reads_the_label_and_returns_the_tasks_layout():
  """Whole-image outputs (B, H·W·C) with ``patch`` the image's side, else the same numbers
  in the DiT's patches (`patchify`); the label changes them; the skip gain starts at zero,
  so the output is the head's on [last layer, x_t]."""
  x = jnp.concatenate([jax.random.normal(jax.random.key(0), (3, 8, 8, 1)),
                       jnp.full((3, 8, 8, 1), 2.0), jnp.full((3, 8, 8, 1), 0.5)], -1)
  whole = diffusion.MLP(outputs=64, width=16, depth=2, steps=100, patch=8, skip_gain=True,
                        label_classes=4)
  params = whole.init(jax.random.key(1), x)["params"]
  out = whole.apply({"params": params}, x)
  chex.assert_shape(out, (3, 64))
  patched = diffusion.MLP(outputs=4, width=16, depth=2, steps=100, patch=2, skip_gain=True,
                          label_classes=4).apply({"params": params}, x)
  chex.assert_shape(patched, (3, 16, 4))
  np.testing.assert_allclose(patched, diffusion.patchify(out.reshape(3, 8, 8, 1), 2))
  assert not np.allclose(out, whole.apply({"params": params}, x.at[..., 1].set(4.0)))
  assert not np.any(params["gain"]["kernel"]) and set(params) >= {"label", "embed", "head"}


def quadrant_classifier(images):
  """A hand-made classifier of `squares`: logits from each quadrant's mean brightness,
  features the four means."""
  q = np.stack([images[:, 4 * r:4 * r + 4, 4 * c:4 * c + 4].mean((1, 2, 3))
                for r in (0, 1) for c in (0, 1)], -1)
  return 12.0 * (q - q.mean(-1, keepdims=True)), q


def test_real_images_score_near_the_top_and_noise_near_the_bottom():
  from userpkg.data import squares
  ds = squares()
  real = ds.train_x[:500] / 255.0
  reference = quadrant_classifier(ds.test_x / 255.0)[1]
  good = diffusion.sample_metrics(*quadrant_classifier(real), reference)
  noise = np.random.default_rng(0).uniform(0, 1, real.shape)
  bad = diffusion.sample_metrics(*quadrant_classifier(noise), reference)
  assert good["samples/recognised"] > 0.99 and bad["samples/recognised"] < 0.05
  assert good["samples/class_entropy"] == pytest.approx(np.log(4), abs=0.02)
  assert good["samples/fd"] < 0.02 and bad["samples/fd"] > 0.2  # measured 0.005, 0.52
  one_class = real[ds.train_y[:500] == 0]
  assert diffusion.sample_metrics(*quadrant_classifier(one_class), reference)[
      "samples/class_entropy"] == 0.0
  labelled = diffusion.sample_metrics(*quadrant_classifier(real), reference, ds.train_y[:500])
  assert labelled["samples/label_agreement"] == 1.0
  shifted = diffusion.sample_metrics(*quadrant_classifier(real), reference,
                                     (ds.train_y[:500] + 1) % 4)
  assert shifted["samples/label_agreement"] == 0.0


def test_frechet_distance_against_scipy():
  linalg = pytest.importorskip("scipy.linalg")
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(400, 5)), rng.normal(0.5, 2.0, size=(300, 5)) @ rng.normal(size=(5, 5))
  sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  want = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb)
          - 2 * np.trace(linalg.sqrtm(sa @ sb).real))
  assert diffusion.frechet(a, b) == pytest.approx(want, rel=1e-8)


TINY = '''
from opujax import config


def get_config():
  c = config.diffusion({rule!r}, {denoiser!r})
  if {optical}:
    c = config.with_opu(c)
  c.dataset = "userpkg.data:squares"
  if {denoiser!r} == "dit":  # class-conditional, as the MLP is by default
    c.model.update(patch=2, d_model=16, depth=2, heads=2, steps=100, label_classes=4)
    c.diffusion.guidance = 1.0
  else:
    c.model.update(patch=8, width=32, depth=2, steps=100)
  c.diffusion.update(samples=64, sample_steps=8, classifier={classifier!r})
  c.optimizer.update(learning_rate=3e-3, warmup=0)
  c.update(epochs=6, batch_size=40, log_every=30, checkpoint_every=1000, diagnostics_every=60)
  return c
'''


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
  """A BP MLP on `squares` in a run folder, as configs/mnist_bp.py makes MNIST's."""
  import sys
  sys.path.insert(0, str(ROOT / "tests"))
  workdir = tmp_path_factory.mktemp("classifier")
  path = workdir.parent / "classifier_config.py"
  path.write_text("from opujax import config\n\n\ndef get_config():\n"
                  "  c = config.default('userpkg.data:squares', 'bp')\n"
                  "  c.model.update(widths=(32,), dropout=0.0)\n"
                  "  c.update(epochs=3, batch_size=40)\n  return c\n")
  from opujax import run as run_lib
  assert run_lib.main(["opujax.run", "--config", str(path), "--workdir", str(workdir),
                       "--quiet"]) == 0
  return workdir


@pytest.mark.parametrize("rule, optical, denoiser", [("bp", False, "mlp"), ("dfa", False, "mlp"),
                                                     ("dfa", True, "mlp"), ("bp", False, "dit")])
def test_a_tiny_diffusion_model_trains_under_every_rule(rule, optical, denoiser, classifier,
                                                        tmp_path, capsys):
  path = tmp_path / "tiny.py"
  path.write_text(TINY.format(rule=rule, optical=optical, denoiser=denoiser,
                              classifier=str(classifier)))
  workdir = tmp_path / "run"
  status, lines = cli(["--config", str(path), "--workdir", str(workdir), "--quiet"], capsys)
  assert status == 0, lines
  records = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  tests = [r["test/loss"] for r in records if "test/loss" in r]
  assert tests[-1] < 0.8 * tests[0], tests  # the denoising error falls
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["final_test_loss"] == tests[-1]
  assert {"samples/recognised", "samples/class_entropy", "samples/fd"} <= set(summary["final"])
  assert "samples/label_agreement" in summary["final"]  # every one class-conditional
  assert (workdir / "samples.png").stat().st_size > 0
  assert any(k.startswith("align/") for r in records for k in r) == (rule != "bp")


def test_bad_diffusion_options_are_refused_in_one_line(tmp_path, capsys):
  path = tmp_path / "tiny.py"
  path.write_text(TINY.format(rule="bp", optical=False, denoiser="mlp",
                              classifier=str(tmp_path / "none")))
  status, lines = cli(["--config", str(path), "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and len(lines) == 1 and "is not a run folder; make it with python -m " \
      "opujax.run --config configs/mnist_bp.py" in lines[0], lines
  status, lines = cli(["--config", str(path), "--config.dataset=userpkg.data:blobs",
                       "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and "the diffusion task generates images" in lines[0], lines
  status, lines = cli(["--config", str(path), "--config.diffusion.min_snr=-1.0",
                       "--config.diffusion.classifier=",
                       "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and "diffusion.min_snr must be >= 0" in lines[0], lines
  status, lines = cli(["--config", str(path), "--config.diffusion.eta=1.5",
                       "--config.diffusion.classifier=",
                       "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and "diffusion.eta must be in [0, 1]" in lines[0], lines
  status, lines = cli(["--config", str(path), "--config.diffusion.schedule=quadratic",
                       "--config.diffusion.classifier=",
                       "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and lines == ["opujax.run: error: diffusion.schedule must be one of "
                                   "linear, cosine, got 'quadratic'."], lines
  status, lines = cli(["--config", str(path), "--config.diffusion.prediction=x0",
                       "--config.diffusion.classifier=",
                       "--workdir", str(tmp_path / "run")], capsys)
  assert status == 2 and lines == ["opujax.run: error: diffusion.prediction must be one of "
                                   "eps, v, got 'x0'."], lines
  for flag, message in [("--config.model.label_classes=3", "model.label_classes=3 does not cover"),
                        ("--config.diffusion.label_dropout=1.0",
                         "diffusion.label_dropout must be in [0, 1)"),
                        ("--config.diffusion.guidance=-1.0", "diffusion.guidance must be >= 0")]:
    status, lines = cli(["--config", str(path), flag, "--config.diffusion.classifier=",
                         "--workdir", str(tmp_path / "run")], capsys)
    assert status == 2 and len(lines) == 1 and message in lines[0], (flag, lines)
  assert not (tmp_path / "run").exists()


def test_the_mlps_dfa_step_never_forms_the_heads_input_gradient():
  """Under DFA (the error at the output, projected to each layer's input) the step holds
  no (B, width + H·W) <- H·W dot: the head's input gradient BP forms."""
  model = diffusion.MLP(outputs=64, width=24, depth=2, steps=100, patch=8, skip_gain=True,
                        label_classes=4)
  x = jnp.concatenate([jax.random.normal(jax.random.key(0), (16, 8, 8, 1)),
                       jnp.full((16, 8, 8, 1), 1.0), jnp.full((16, 8, 8, 1), 0.5)], -1)
  y = jax.random.normal(jax.random.key(1), (16, 64))
  params = model.init(jax.random.key(2), x)["params"]
  units = ("Layer_.*", "head")
  layout = dfa.layout(model, params, x, units)
  grad = jax.jit(dfa.grad_fn(model, lambda out, y: jnp.mean((out - y) ** 2), units))

  def dots(rule):
    return hlo.dots(grad.lower(params, rule, x, y, jax.random.key(0)).compile().as_text())

  head_input_gradient = hlo.Dot((16, 24 + 64), 64)
  assert head_input_gradient in dots(dfa.bp())
  assert head_input_gradient not in dots(dfa.dfa(devices.make(
      "opu", layout.in_features, layout.out_features, **devices.DFA_CODE)))
