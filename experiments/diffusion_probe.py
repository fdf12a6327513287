"""python experiments/diffusion_probe.py --workdir runs/<diffusion run>

Where a trained denoiser (`opujax.diffusion`) stands: on 500 test images noised at fixed
times t, the noise's mean squared error and the error of the image it implies,
x̂0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t clipped to [-1, 1] (pixels in [-1, 1]); then 1,000
DDIM samples under sampler variants (x̂0 clipped at every step, never, or below t = 600;
50 or 100 steps), each scored by the run's classifier (`diffusion.sample_metrics`); and
the same DDIM started from 500 test images noised to t0 (SDEdit, Meng et al. 2022): the
share of the results the classifier recognises, and the share it gives the source's label.
Evaluates with the parameters the run evaluates with (its moving average, if it keeps
one). Writes ``diffusion_probe.json`` in the run folder and prints a table.
"""

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from opujax import averaging, build, checkpoint, data, files
from opujax import diffusion as D

TIMES = (50, 200, 500, 800, 950, 999)
SAMPLERS = {"clip every step": (lambda t: True, 50), "never clip": (lambda t: False, 50),
            "clip below t = 600": (lambda t: t < 600, 50), "clip, 100 steps": (lambda t: True, 100)}


def load(workdir: Path):
  """(config, the denoiser's predict(x) -> ε̂ in patches, the classifier, 500 test images
  and their labels)."""
  config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  o = config.get("diffusion") or {}
  if o.get("prediction", "eps") != "eps" or config.model.get("label_classes", 0):
    raise SystemExit(f"{workdir} holds a v-predicting or class-conditional denoiser; this "
                     "probe reads unconditional ε-predicting runs only.")
  step = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  saved = checkpoint.load(workdir, step)
  params = averaging.averaged(saved["params"], saved["opt_state"])
  ds = data.load(config.dataset, config.data.data_dir or None, config.data.manual_dir or None)
  model = build.model(config, build.task(config, ds).outputs(ds))
  predict = jax.jit(lambda x: model.apply({"params": params}, x))
  return config, predict, D.load_classifier(config.diffusion.classifier), ds.test_x[:500], ds.test_y[:500]


def errors(predict, x_uint8, patch: int, steps: int,
           schedule: str) -> dict[str, dict[str, float]]:
  """The noise's and the implied image's mean squared error at each of `TIMES`."""
  x0, abar, out = D.scaled(x_uint8), D.alpha_bar(steps, schedule), {}
  shape = x0.shape[1:]
  for t in TIMES:
    eps = np.random.default_rng(t).standard_normal(x0.shape).astype(np.float32)
    x, y = D.noised(x0, jnp.full((len(x0),), t), jnp.asarray(eps),
                    jnp.asarray(abar, jnp.float32), steps, patch)
    e = predict(x)
    implied = (x[..., :-1] - np.sqrt(1 - abar[t]) * D.unpatchify(e, patch, shape)) / np.sqrt(abar[t])
    out[str(t)] = {"noise_mse": float(jnp.mean((e - y[..., :-2]) ** 2)),
                   "x0_mse": float(jnp.mean((jnp.clip(implied, -1, 1) - x0) ** 2))}
  return out


def ddim(predict, n: int, shape, patch: int, steps: int, schedule: str, clip,
         sample_steps: int, seed: int, start=None):
  """`diffusion.ddim` (η = 0), with x̂0 clipped only where ``clip(t)``; from ``start`` =
  (x_t0, t0) instead of noise at T - 1 if given."""
  abar = D.alpha_bar(steps, schedule)
  t0, x = (steps - 1, np.asarray(jax.random.normal(jax.random.key(seed), (n, *shape)))
           ) if start is None else (start[1], start[0])
  times = np.linspace(t0, 0, sample_steps).round().astype(int)
  for i, t in enumerate(times):
    a, a_next = abar[t], abar[times[i + 1]] if i + 1 < len(times) else 1.0
    packed = np.concatenate([x, np.full((n, *shape[:2], 1), t / steps, np.float32)], -1)
    eps = np.concatenate([np.asarray(D.unpatchify(predict(packed[j:j + 500]), patch, shape))
                          for j in range(0, n, 500)])
    x = D.ddim_step(x, eps, a, a_next, 0.0, 0.0, clip(t))
  return np.clip(x, -1.0, 1.0)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  p.add_argument("--workdir", required=True, help="a finished diffusion run")
  a = p.parse_args()
  workdir = Path(a.workdir)
  config, predict, (classify, real), test, labels = load(workdir)
  patch, steps, shape = config.model.patch, config.model.steps, test.shape[1:]
  schedule = config.diffusion.get("schedule", "linear")
  result = {"errors": errors(predict, test, patch, steps, schedule), "samplers": {},
            "restarts": {}}
  _, reference = classify(real[:1000])
  abar, x0 = D.alpha_bar(steps, schedule), np.asarray(D.scaled(test))
  noise = np.random.default_rng(config.seed).standard_normal(x0.shape).astype(np.float32)
  for t0 in (300, 600):
    x_t0 = np.sqrt(abar[t0]) * x0 + np.sqrt(1 - abar[t0]) * noise
    images = ddim(predict, len(x0), shape, patch, steps, schedule, lambda t: True, t0 // 20, 0,
                  (x_t0, t0))
    logits, _ = classify((images + 1.0) / 2.0)
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    result["restarts"][str(t0)] = {"recognised": float(np.mean(prob.max(-1) >= 0.9)),
                                   "source_label": float(np.mean(prob.argmax(-1) == labels))}
  for name, (clip, n_steps) in SAMPLERS.items():
    images = ddim(predict, 1000, shape, patch, steps, schedule, clip, n_steps, config.seed)
    result["samplers"][name] = D.sample_metrics(*classify((images + 1.0) / 2.0), reference)
  files.write_json(workdir / "diffusion_probe.json", result)
  print("| t | noise MSE | x0 MSE |\n| --- | --- | --- |")
  for t, e in result["errors"].items():
    print(f"| {t} | {e['noise_mse']:.4f} | {e['x0_mse']:.3f} |")
  print("\n| sampler | recognised | class entropy | FD |\n| --- | --- | --- | --- |")
  for name, m in result["samplers"].items():
    print(f"| {name} | {m['samples/recognised']:.3f} | {m['samples/class_entropy']:.3f} | "
          f"{m['samples/fd']:.1f} |")
  print("\n| DDIM from test images at t0 | recognised | classified as the source's label |\n"
        "| --- | --- | --- |")
  for t0, m in result["restarts"].items():
    print(f"| {t0} | {m['recognised']:.3f} | {m['source_label']:.3f} |")


if __name__ == "__main__":
  main()
