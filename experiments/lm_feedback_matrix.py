"""Why does the character LM train worse through the OPU? Feedback devices compared.

    python experiments/lm_feedback_matrix.py [--steps 300] [--variants a,b,...]

Trains configs/shakespeare_dfa.py (shared block feedback) for ``--steps`` steps with the
feedback device swapped, and prints the validation loss of each variant:

* digital: the exact Gaussian projection (the shipped DFA);
* opu_matrix: an exact digital projection holding the noiseless OPU's effective matrix
  M = Re(conj(v_q) R[p, q]), whose columns carry the anchor's speckle amplitudes |v_q|;
* opu_8bit / opu_4bit / opu_ternary: the simulated OPU with an ideal camera and the
  error in 8 or 4 bit planes, or ternarised (threshold 0.1 of max|e|); opu_realistic: the
  realistic camera with that ternary code (the realistic device when this study was run);
  opu_realistic_8bit / _4bit: the realistic camera with bit planes.

Writes experiments/results/lm_feedback_matrix.json.
"""

import argparse
import json
import tempfile
from pathlib import Path


from opujax import config as config_lib
from opujax import devices, dfa, train

ROOT = Path(__file__).resolve().parents[1]
TERNARY = dict(encoding="ternary", threshold=0.1)
OPU = {"8bit": dict(camera="ideal", encoding="bitplanes", bits=8),
       "4bit": dict(camera="ideal", encoding="bitplanes", bits=4),
       "ternary": dict(camera="ideal", **TERNARY),
       "realistic": TERNARY,
       "realistic_4bit": dict(encoding="bitplanes", bits=4),
       "realistic_8bit": dict(encoding="bitplanes", bits=8)}


def device_for(variant: str, n: int, m: int, seed: int):
  """The feedback device of ``variant`` for an (n -> m) projection."""
  if variant == "digital":
    return devices.digital(n, m, seed=seed)
  if variant == "opu_matrix":
    return devices.from_matrix(devices.opu(n, m, seed=seed, camera="ideal").effective_matrix())
  return devices.opu(n, m, seed=seed, **OPU[variant.removeprefix("opu_")])


def run(variant: str, steps: int) -> dict:
  c = config_lib.pre_ln(config_lib.lm("dfa"))
  c.steps, c.eval_examples, c.diagnostics_every, c.log_every = steps, 400, 0, 50

  def make_rule(config, model, params, x, units, state=None):
    shape = dfa.layout(model, params, x, units, True, None, state)
    return dfa.dfa(device_for(variant, shape.in_features, shape.out_features,
                              config.device.seed), True)

  with tempfile.TemporaryDirectory() as workdir:
    summary = train.train_and_evaluate(c, workdir, quiet=True, rule_fn=make_rule)
  return {"variant": variant, "steps": steps,
          "validation_loss": summary["final"]["validation/loss"],
          "minutes": summary["wall_time_s"] / 60}


def main():
  variants = ["digital", "opu_matrix", "opu_8bit", "opu_ternary", "opu_realistic",
              "opu_realistic_4bit", "opu_realistic_8bit", "opu_4bit"]
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
