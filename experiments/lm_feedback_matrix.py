"""Why does the character LM train worse through the OPU? Feedback matrices compared.

    python experiments/lm_feedback_matrix.py [--steps 300] [--variants a,b,...]

Trains configs/shakespeare_dfa.py (shared block feedback) for ``--steps`` steps with the
feedback device swapped, and prints the validation loss of each variant:

* digital: the exact Gaussian projection (the shipped DFA);
* opu_matrix: an exact digital projection holding the noiseless OPU's effective matrix
  M = Re(conj(v_q) R[p, q]), whose columns carry the anchor's speckle amplitudes |v_q|;
* speckle_gaussian: a Gaussian matrix times Rayleigh column amplitudes drawn afresh
  (the spread alone, no OPU code);
* opu_8bit / opu_4bit / opu_ternary: the simulated OPU with an ideal camera and the
  error in 8 or 4 bit planes, or ternarised; opu_realistic: the shipped realistic device
  (ternary); opu_realistic_4bit / _8bit: its camera with bit planes;
* ..._equalised: the same with each camera pixel divided by its anchor amplitude |v_q|
  (known on hardware from the calibration frame I(a) = |v_q|^2).

Writes experiments/results/lm_feedback_matrix.json.
"""

import argparse
import json
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import struct

from opujax import config as config_lib
from opujax import devices, dfa, train
from opujax.devices import base

ROOT = Path(__file__).resolve().parents[1]
OPU = {"8bit": dict(camera="ideal", encoding="bitplanes", bits=8),
       "4bit": dict(camera="ideal", encoding="bitplanes", bits=4),
       "ternary": dict(camera="ideal", encoding="ternary", threshold=0.1),
       "realistic": config_lib.REALISTIC_OPU,
       "realistic_4bit": {**config_lib.REALISTIC_OPU, "encoding": "bitplanes", "bits": 4},
       "realistic_8bit": {**config_lib.REALISTIC_OPU, "encoding": "bitplanes", "bits": 8}}


@struct.dataclass
class ColumnScaled(base.Projects):
  """``inner``'s projection with output q multiplied by ``scale[q]``."""

  inner: object
  scale: jax.Array

  in_features = property(lambda self: self.inner.in_features)
  out_features = property(lambda self: self.inner.out_features)
  mode = property(lambda self: self.inner.mode)

  def measure(self, x, key):
    m = self.inner.measure(x, key)
    return m._replace(y=m.y * self.scale)

  def cost(self, rows):
    return self.inner.cost(rows)

  def effective_matrix(self):
    return self.inner.effective_matrix() * self.scale


def device_for(variant: str, n: int, m: int, seed: int):
  """The feedback device of ``variant`` for an (n -> m) projection."""
  if variant == "digital":
    return devices.digital(n, m, seed=seed)
  kind, _, equalised = variant.partition("_equalised")
  if kind in ("opu_matrix", "speckle_gaussian"):
    if kind == "opu_matrix":
      opu = devices.opu(n, m, seed=seed, camera="ideal")
      w = opu.effective_matrix() / (_amplitude(opu) if equalised else 1.0)
    else:
      k1, k2 = jax.random.split(jax.random.key(seed))
      amplitude = jnp.sqrt(jax.random.exponential(k2, (m,)))  # Rayleigh, like |v_q|
      w = jax.random.normal(k1, (n, m)) * amplitude
    return devices.DigitalProjection(jax.random.key(seed), w, n, m)
  opu = devices.opu(n, m, seed=seed, **OPU[kind.removeprefix("opu_")])
  if not equalised:
    return opu
  return ColumnScaled(opu, 1.0 / _amplitude(opu))


def _amplitude(opu) -> jax.Array:
  """|v_q| = |(a R)_q|, the anchor's field amplitude on each output pixel."""
  return jnp.sqrt(opu.anchor_field[0] ** 2 + opu.anchor_field[1] ** 2)


def run(variant: str, steps: int) -> dict:
  c = config_lib.lm("dfa")
  c.steps, c.eval_examples, c.diagnostics_every, c.log_every = steps, 400, 0, 50

  def make_rule(config, model, params, x, classes, units):
    logits = jax.eval_shape(lambda p: model.apply({"params": p}, x), params)
    size = dfa.feedback_size(model, params, x, logits.ndim, units, True)
    return dfa.dfa(device_for(variant, classes, size, config.device.seed), True)

  with tempfile.TemporaryDirectory() as workdir:
    summary = train.train_and_evaluate(c, workdir, quiet=True, rule_fn=make_rule)
  return {"variant": variant, "steps": steps,
          "validation_loss": summary["final"]["validation/loss"],
          "minutes": summary["wall_time_s"] / 60}


def main():
  variants = ["digital", "opu_matrix", "opu_matrix_equalised", "speckle_gaussian",
              "opu_8bit", "opu_8bit_equalised", "opu_ternary", "opu_ternary_equalised",
              "opu_realistic", "opu_realistic_equalised"]
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--variants", default=",".join(variants))
  p.add_argument("--out", default=str(ROOT / "experiments/results/lm_feedback_matrix.json"))
  a = p.parse_args()
  rows = []
  for variant in a.variants.split(","):
    rows.append(run(variant, a.steps))
    print(f"{variant:26s} validation loss {rows[-1]['validation_loss']:.3f} "
          f"({rows[-1]['minutes']:.1f} min)", flush=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
  main()
