"""python experiments/bench_dfa.py [--quick] [--large] [--holography] [--models SUBSTRING]
    [--out experiments/results/bench_dfa.json]

DFA vs BP train-step time (batch 128) and compiled memory, measured in one run.

For each model: a jitted train step (rule gradients + Adam, parameters and optimizer
state donated) under BP and under DFA with the digital device (and the simulated OPU
with realistic noise); steps are timed interleaved (BP, DFA, OPU, BP, ...) so that
machine noise hits all alike, and the median is kept. Reports the DFA/BP step-time
ratio, the dots in the compiled HLO (DFA forms no input gradient of a cut unit) and
the compiled peak memory (temp + arguments + outputs - aliased).

On CPU, XLA's default concurrency-optimised scheduler runs DFA's independent unit
updates side by side, which costs memory and, on 2 cores, time; compare with
XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false (recorded in the JSON).

``--large`` adds the scale ladder's 100M-parameter MLP (784-4x5650-10) with the ladder's
optimizer (Adafactor), timed the same way (8 interleaved rounds): the optical / digital step ratio at
that size, without the ladder's one process per rule.

``--holography`` adds DFA through the simulated OPU with off-axis holography
(``protocol="holography"``, same code and camera), through the disk of grain 4
(``dfa_holo``) and through the packed rectangle (``pupil="rectangle"``,
``dfa_holo_packed``); the figures are their step times over the anchor protocol's,
``dfa_holo_over_dfa_opu_time`` and ``dfa_holo_packed_over_dfa_opu_time``, and it times
the devices' projections alone, interleaved (``holo_over_opu_project_time``,
``holo_packed_over_opu_project_time``). ``--models`` keeps the
cases whose name contains the given string (e.g. ``mlp_784-2x800``).
"""

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from opujax import devices, dfa, files
from opujax.dfa import hlo
from opujax.models import CNN, MLP, Block, TransformerLM, param_count


def xent(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def cases(batch: int, quick: bool):
  img = jnp.ones((batch, 28, 28, 1))
  labels = jnp.arange(batch) % 10
  tokens = jnp.ones((batch, 16 if quick else 64), jnp.int32)
  lm = TransformerLM(vocab=65, d_model=64 if quick else 128, depth=2, heads=4, context=64)
  return [
      ("mlp_784-7x240-10_tanh", MLP((240,) * 7), dfa.DEFAULT_UNITS, img, labels),
      ("mlp_784-2x800-10_tanh", MLP((800,) * 2), dfa.DEFAULT_UNITS, img, labels),
      ("cnn_lenet5", CNN(), dfa.DEFAULT_UNITS, img, labels),
      ("transformer_blocks", lm, (Block, "head"), tokens, jnp.ones_like(tokens)),
  ]


def large_cases(batch: int):
  """The scale ladder's 100M-parameter MLP rung (`experiments/scale_ladder.py`; its
  optimizer, Adafactor, is `main`'s for this case)."""
  img, labels = jnp.ones((batch, 28, 28, 1)), jnp.arange(batch) % 10
  return [("mlp_784-4x5650-10_tanh", MLP((5650,) * 4), dfa.DEFAULT_UNITS, img, labels)]


def bench_case(name, model, units, x, labels, repeats: int,
               opt: optax.GradientTransformation, holography: bool = False) -> dict:
  params = model.init(jax.random.key(0), x)["params"]
  size = dfa.feedback_size(model, params, x, units=units)
  classes = model.apply({"params": params}, x).shape[-1]
  opus = {"dfa_opu": devices.make("opu", classes, size, seed=1, **devices.DFA_CODE)}
  if holography:
    for rname, pupil in (("dfa_holo", "disk"), ("dfa_holo_packed", "rectangle")):
      opus[rname] = devices.make("opu", classes, size, seed=1, protocol="holography",
                                 pupil=pupil, **devices.DFA_CODE)
  rules = {"bp": dfa.bp(), "dfa": dfa.dfa(devices.make("digital", classes, size, seed=1)),
           **{rname: dfa.dfa(opu) for rname, opu in opus.items()}}
  runs, row = {}, {"model": name, "params": param_count(params), "feedback_size": size}
  step = jax.jit(dfa.train_step_fn(model, xent, opt, units), donate_argnums=(0, 1))
  for rname, rule in rules.items():
    p = jax.tree.map(jnp.copy, params)
    s = opt.init(p)
    lowered = step.lower(p, s, rule, x, labels, jax.random.key(0))
    exe = lowered.compile()
    dots = hlo.dots(exe.as_text())
    row[f"{rname}_dots"] = len(dots)
    row[f"{rname}_dot_gflop"] = sum(d.flops for d in dots) / 1e9
    row[f"{rname}_peak_bytes"] = hlo.peak_bytes(exe)
    p, s, loss = step(p, s, rule, x, labels, jax.random.key(0))[:3]  # warm-up
    jax.block_until_ready(loss)
    runs[rname] = [p, s, rule, []]
  for i in range(repeats):
    for run in runs.values():
      p, s, rule, times = run
      t = time.perf_counter()
      p, s, loss = step(p, s, rule, x, labels, jax.random.key(i))[:3]
      jax.block_until_ready(loss)
      times.append(time.perf_counter() - t)
      run[0], run[1] = p, s
  for rname, (_, _, _, times) in runs.items():
    row[f"{rname}_step_s"] = statistics.median(times)
  if holography:
    row["holo_camera_shape"] = list(opus["dfa_holo"].geometry.camera_shape)
    row["holo_packed_camera_shape"] = list(opus["dfa_holo_packed"].geometry.camera_shape)
    row.update(bench_projections(opus, x.shape[0], classes, repeats))
  return row


def bench_projections(opus: dict, batch: int, classes: int, repeats: int) -> dict:
  """Median time of each device's ``project`` of a (batch, classes) error alone, jitted,
  timed interleaved."""
  project = jax.jit(lambda device, e, key: device.project(e, key))
  e = jax.random.normal(jax.random.key(0), (batch, classes))
  times = {rname: [] for rname in opus}
  for rname, opu in opus.items():
    jax.block_until_ready(project(opu, e, jax.random.key(0)))  # warm-up
  for i in range(repeats):
    for rname, opu in opus.items():
      t = time.perf_counter()
      jax.block_until_ready(project(opu, e, jax.random.key(i)))
      times[rname].append(time.perf_counter() - t)
  return {f"{rname}_project_s": statistics.median(ts) for rname, ts in times.items()}


def finish(row: dict) -> None:
  """Ratios to BP, and optical DFA's step time over digital DFA's."""
  for rname in ("dfa", "dfa_opu"):
    row[f"{rname}_over_bp_time"] = row[f"{rname}_step_s"] / row["bp_step_s"]
    row[f"{rname}_over_bp_peak"] = row[f"{rname}_peak_bytes"] / row["bp_peak_bytes"]
  row["dfa_opu_over_dfa_time"] = row["dfa_opu_step_s"] / row["dfa_step_s"]
  for holo in ("holo", "holo_packed"):
    if f"dfa_{holo}_step_s" in row:
      row[f"dfa_{holo}_over_bp_time"] = row[f"dfa_{holo}_step_s"] / row["bp_step_s"]
      row[f"dfa_{holo}_over_dfa_opu_time"] = row[f"dfa_{holo}_step_s"] / row["dfa_opu_step_s"]
      row[f"{holo}_over_opu_project_time"] = (row[f"dfa_{holo}_project_s"]
                                              / row["dfa_opu_project_s"])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
  parser.add_argument("--quick", action="store_true", help="few repeats, smaller LM")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--large", action="store_true", help="add the 100M-parameter MLP")
  parser.add_argument("--holography", action="store_true",
                      help="add DFA through the simulated OPU with off-axis holography")
  parser.add_argument("--models", default="", help="keep the cases whose name contains this")
  parser.add_argument("--out", default="experiments/results/bench_dfa.json")
  args = parser.parse_args()
  repeats = 5 if args.quick else 30
  rows = []
  print(f"{'model':24s} {'params':>9s} {'BP ms':>8s} {'DFA ms':>8s} {'DFA/BP':>7s} "
        f"{'OPU/BP':>7s} {'OPU/DFA':>8s} {'GFLOP BP/DFA':>14s} {'peak DFA/BP':>12s}")
  plan = [(case, repeats, "adam 1e-3", optax.adam(1e-3))
          for case in cases(args.batch, args.quick)]
  plan += [(case, min(repeats, 8), "adafactor 1e-2", optax.adafactor(1e-2))
           for case in (large_cases(args.batch) if args.large else [])]
  plan = [p for p in plan if args.models in p[0][0]]
  for case, n, opt_name, opt in plan:
    r = bench_case(*case, repeats=n, opt=opt, holography=args.holography)
    r["repeats"], r["optimizer"] = n, opt_name
    finish(r)
    rows.append(r)
    print(f"{r['model']:24s} {r['params']:9d} {r['bp_step_s'] * 1e3:8.2f} "
          f"{r['dfa_step_s'] * 1e3:8.2f} {r['dfa_over_bp_time']:7.3f} "
          f"{r['dfa_opu_over_bp_time']:7.3f} {r['dfa_opu_over_dfa_time']:8.3f} "
          f"{r['bp_dot_gflop']:6.3f}/{r['dfa_dot_gflop']:<7.3f} "
          f"{r['dfa_over_bp_peak']:12.3f}", flush=True)
    for holo, pupil in (("holo", "disk"), ("holo_packed", "rectangle")):
      if args.holography:
        print(f"{'':24s} holography, {pupil} {r[holo + '_camera_shape']}: step "
              f"{r[f'dfa_{holo}_step_s'] * 1e3:.2f} ms, "
              f"{r[f'dfa_{holo}_over_dfa_opu_time']:.2f}x the anchor protocol's; projection "
              f"{r[f'{holo}_over_opu_project_time']:.2f}x", flush=True)
  result = {"batch": args.batch, "backend": jax.default_backend(), "repeats": repeats,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "cpus": os.cpu_count(),
            "rows": rows}
  os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
  files.write_json(args.out, result)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
