"""python experiments/scale_ladder.py [--models mlp,transformer] [--sizes 1M,10M,100M,1B]
    [--rules bp,dfa] [--steps 3] [--dtype auto] [--batch 4] [--context 128]
    [--out experiments/results/scale_ladder]

The scale ladder: an MLP (MNIST) and a Transformer LM (tiny_shakespeare) at about 1M,
10M, 100M and 1B parameters, trained a few steps on real data with BP and with DFA
(digital device; each hidden layer, or each block with shared feedback, one unit), and
with ``--rules dfa_opu`` optical DFA (the simulated OPU with the realistic camera, the
error sent as the shipped code, `devices.DFA_CODE`). Every rule starts from the same
initialisation and sees the same batches, so their losses compare step by step.

Each rung runs in its own process, so its peak RSS is its own: parameters and optimizer
state created sharded over every device (`opujax.parallel`), one jitted step compiled
(its compiled peak memory and HLO FLOPs recorded), then ``--steps`` timed steps on
consecutive batches. Optimizer: Adafactor (factored second moments, no momentum: the
state is O(rows + columns) per matrix, so 1B parameters need ~4 GB of float32
parameters, their gradient, and little else); parameters float32, Transformer compute
in ``--dtype`` (auto: bfloat16 where the backend is fast at it, GPU/TPU; else float32).

Writes ``<out>.csv``, ``<out>.json``, ``<out>.png`` (step time, throughput, peak RSS
and compiled peak, bytes per parameter, against parameter count) and ``<out>_loss.png``
(each rung's loss curves, one panel a rung), and prints the table with the DFA/BP and
optical/digital step-time ratios and the optical/digital ratio of the last step's loss
(and of the mean of the last five) at each size.
"""

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from opujax import files

RUNGS = {  # model -> size -> architecture
    "mlp": {"1M": {"widths": (400,) * 4}, "10M": {"widths": (1700,) * 4},
            "100M": {"widths": (5650,) * 4}, "1B": {"widths": (18100,) * 4},
            "tiny": {"widths": (64,) * 2}},
    "transformer": {"1M": {"d_model": 128, "depth": 5, "heads": 4},
                    "10M": {"d_model": 256, "depth": 12, "heads": 8},
                    "100M": {"d_model": 768, "depth": 14, "heads": 12},
                    "1B": {"d_model": 2048, "depth": 20, "heads": 16},
                    "tiny": {"d_model": 32, "depth": 2, "heads": 2}},
}
# Dense peak FLOP/s per chip in bf16 (vendor data sheets), for model FLOPs utilisation.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12,
              "TPU v5 lite": 197e12, "TPU v4": 275e12}
MNIST_BATCH = 128


def run_rung(model_name: str, size: str, rule_name: str, steps: int, dtype: str,
             batch: int, context: int) -> dict:
  """Builds and times one rung in this process; returns its row."""
  import jax
  import jax.numpy as jnp
  import optax

  from opujax import build, data, devices, dfa, models, parallel, tasks
  from opujax.dfa import hlo

  arch = RUNGS[model_name][size]
  mesh = parallel.make_mesh()
  if model_name == "mlp":
    ds = data.load("mnist")
    model, units, classes = models.MLP(arch["widths"], 10), dfa.DEFAULT_UNITS, 10
    batch = MNIST_BATCH

    def batch_at(s):
      i = np.arange(s * batch, (s + 1) * batch) % len(ds.train_x)
      return tasks.standardise(ds.train_x[i], data.PIXEL_STATS["mnist"]), ds.train_y[i]
  else:
    ds = data.load("tiny_shakespeare")
    classes = len(ds.vocab)
    model = models.TransformerLM(classes, arch["d_model"], arch["depth"], arch["heads"],
                                 context, dtype=build.compute_dtype(dtype))
    units = (models.Block, "head")

    def batch_at(s):
      starts = (s * batch + np.arange(batch)) * context
      return tasks.Text(context).batch(ds.train_x, None, starts)

  x0, _ = batch_at(0)
  optimizer = optax.adafactor(1e-2)

  def init(key):
    params = model.init(key, jnp.asarray(x0[:1]))["params"]
    return params, optimizer.init(params)

  t = time.perf_counter()
  params, opt_state = parallel.sharded_init(init, mesh, jax.random.key(0))
  jax.block_until_ready(params)
  init_s = time.perf_counter() - t
  n_params = models.param_count(params)
  rule = dfa.bp()
  if rule_name in ("dfa", "dfa_opu"):
    shared = model_name == "transformer"
    size_out = dfa.feedback_size(model, params, jnp.asarray(x0[:1]), units=units,
                                 shared=shared)
    device = (devices.make("digital", classes, size_out, seed=1) if rule_name == "dfa" else
              devices.make("opu", classes, size_out, seed=1, **devices.DFA_CODE))
    rule = dfa.dfa(device, shared)
    rule = parallel.put(rule, parallel.state_shardings(rule, mesh, size_out))
  xent = lambda logits, y: optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
  step = dfa.train_step_fn(model, xent, optimizer, units)
  shardings = jax.tree.map(lambda a: a.sharding, (params, opt_state))
  jitted = jax.jit(lambda p, o, r, x, y, k: step(p, o, r, x, y, k)[:3],
                   out_shardings=(*shardings, parallel.replicated(mesh)),
                   donate_argnums=(0, 1))
  def put_batch(s):
    return tuple(parallel.to_global(a, parallel.batch_sharding(mesh, a.ndim))
                 for a in batch_at(s))

  t = time.perf_counter()
  compiled = jitted.lower(params, opt_state, rule, *put_batch(0), jax.random.key(0)).compile()
  compile_s = time.perf_counter() - t
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  losses, times = [], []
  s = 0  # step 0 warms up; then `steps` timed steps, more while under 2 s (small rungs)
  while s <= steps or (sum(times[1:]) < 2.0 and s < 50):
    x, y = put_batch(s)
    t = time.perf_counter()
    params, opt_state, loss = compiled(params, opt_state, rule, x, y, jax.random.key(s))
    losses.append(float(loss))
    times.append(time.perf_counter() - t)
    s += 1
  step_s = statistics.median(times[1:])
  items = batch * (context if model_name == "transformer" else 1)
  hlo_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  model_flops = 6.0 * n_params * items  # the usual 6ND convention (BP: fwd + 2 bwd)
  kind = jax.devices()[0].device_kind
  peak = next((v for k, v in PEAK_FLOPS.items() if k.lower() in kind.lower()), None)
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  stats = jax.devices()[0].memory_stats() or {}
  return {
      "model": model_name, "size": size, "rule": rule_name, "parameters": n_params,
      "dtype": dtype, "backend": jax.default_backend(), "device_kind": kind,
      "devices": jax.device_count(), "batch": batch,
      "context": context if model_name == "transformer" else 0,
      "items_per_step": items, "steps": len(times), "init_s": init_s, "compile_s": compile_s,
      "step_s": step_s, "items_per_s": items / step_s, "losses": losses,
      "loss_finite_and_falling": bool(np.all(np.isfinite(losses)) and losses[-1] < losses[0]),
      "compiled_peak_bytes": hlo.peak_bytes(compiled), "peak_rss_bytes": rss,
      "device_peak_bytes": stats.get("peak_bytes_in_use"),
      "rss_bytes_per_param": rss / n_params,
      "compiled_bytes_per_param": hlo.peak_bytes(compiled) / n_params,
      "hlo_flops": hlo_flops, "model_flops_6nd": model_flops,
      "mfu": model_flops / step_s / (peak * jax.device_count()) if peak else None,
      "hlo_flops_utilisation": hlo_flops / step_s / (peak * jax.device_count()) if peak else None,
  }


def plot(rows: list[dict], path: Path) -> None:
  try:
    import matplotlib  # noqa: F401
  except ImportError:
    print("no matplotlib here: CSV and JSON only, no PNG", file=sys.stderr)
    return
  panels = [("step_s", "step time (s)"), ("items_per_s", "examples or tokens / s"),
            ("peak_rss_bytes", "peak RSS (bytes)"), ("compiled_peak_bytes", "compiled peak (bytes)"),
            ("rss_bytes_per_param", "peak RSS / parameter (bytes)")]
  with files.figure(path, 1, len(panels), figsize=(4.2 * len(panels), 3.6)) as (_, axes):
    for ax, (key, label) in zip(axes, panels):
      for (m, r) in sorted({(row["model"], row["rule"]) for row in rows}):
        pts = sorted((row["parameters"], row[key]) for row in rows
                     if row["model"] == m and row["rule"] == r and row.get(key))
        if pts:
          ax.plot(*zip(*pts), marker="o", ls={"bp": "--", "dfa": "-"}.get(r, ":"),
                  label=f"{m} {r}")
      ax.set(xscale="log", yscale="log", xlabel="parameters", title=label)
      ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)


def write(rows: list[dict], out: Path) -> None:
  out.parent.mkdir(parents=True, exist_ok=True)
  def same_rung(row, rule):
    return next((r for r in rows if r["model"] == row["model"] and r["size"] == row["size"]
                 and r["rule"] == rule and "step_s" in r), None)

  for row in rows:
    bp, digital = same_rung(row, "bp"), same_rung(row, "dfa")
    if row["rule"] == "dfa" and bp and "step_s" in row:
      row["dfa_over_bp_step_time"] = row["step_s"] / bp["step_s"]
    if row["rule"] == "dfa_opu" and digital and "step_s" in row:
      row["dfa_opu_over_dfa_step_time"] = row["step_s"] / digital["step_s"]
      n = min(len(row["losses"]), len(digital["losses"]))
      row["dfa_opu_over_dfa_last_loss"] = row["losses"][n - 1] / digital["losses"][n - 1]
      last5 = slice(max(n - 5, 0), n)
      row["dfa_opu_over_dfa_last5_loss"] = (statistics.mean(row["losses"][last5])
                                            / statistics.mean(digital["losses"][last5]))
  files.write_json(out.with_suffix(".json"), rows)
  keys = [k for k in rows[0] if k != "losses"] + [
      "dfa_over_bp_step_time", "dfa_opu_over_dfa_step_time", "dfa_opu_over_dfa_last_loss",
      "dfa_opu_over_dfa_last5_loss", "error"]
  keys = list(dict.fromkeys(k for k in keys if any(k in r for r in rows)))

  def csv_to(path: Path) -> None:
    with open(path, "w", newline="") as f:
      w = csv.DictWriter(f, keys, extrasaction="ignore")
      w.writeheader()
      w.writerows(rows)

  files.write_atomic(out.with_suffix(".csv"), csv_to)
  ok = [r for r in rows if "step_s" in r]
  if ok:
    plot(ok, out.with_suffix(".png"))
    plot_losses(ok, out.with_name(out.name + "_loss.png"))


def plot_losses(rows: list[dict], path: Path) -> None:
  """Each rung's training loss against the step, a line per rule, a panel per rung."""
  rungs = list(dict.fromkeys((r["model"], r["size"]) for r in rows))
  with files.figure(path, 1, len(rungs), figsize=(4.5 * len(rungs), 3.6),
                    squeeze=False) as (_, axes):
    for ax, (m, size) in zip(axes[0], rungs):
      for r in rows:
        if (r["model"], r["size"]) == (m, size):
          ax.plot(r["losses"], ls={"bp": "--", "dfa": "-"}.get(r["rule"], ":"), label=r["rule"])
      ax.set(xlabel="step", ylabel="train loss", title=f"{m} {size}")
      ax.grid(True, alpha=0.3)
      ax.legend(fontsize=8)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  p.add_argument("--models", default="mlp,transformer")
  p.add_argument("--sizes", default="1M,10M,100M,1B")
  p.add_argument("--rules", default="bp,dfa")
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"))
  p.add_argument("--batch", type=int, default=4, help="Transformer windows per step")
  p.add_argument("--context", type=int, default=128)
  p.add_argument("--out", default="experiments/results/scale_ladder")
  p.add_argument("--one", nargs=3, metavar=("MODEL", "SIZE", "RULE"), help=argparse.SUPPRESS)
  a = p.parse_args()
  if a.one:
    print(json.dumps(run_rung(*a.one, a.steps, a.dtype, a.batch, a.context)))
    return
  rows = []
  for m in a.models.split(","):
    for size in a.sizes.split(","):
      for rule in a.rules.split(","):
        cmd = [sys.executable, __file__, "--one", m, size, rule, "--steps", str(a.steps),
               "--dtype", a.dtype, "--batch", str(a.batch), "--context", str(a.context)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
          row = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
          row = {"model": m, "size": size, "rule": rule,
                 "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
        rows.append(row)
        print(f"{m:11s} {size:5s} {rule:7s} " + (
            f"{row['parameters'] / 1e6:8.1f}M step {row['step_s']:8.3f}s "
            f"{row['items_per_s']:10.1f}/s RSS {row['peak_rss_bytes'] / 2**30:6.2f}GiB "
            f"compiled {row['compiled_peak_bytes'] / 2**30:6.2f}GiB "
            f"losses {[round(l, 3) for l in row['losses']]}" if "step_s" in row
            else f"FAILED: {row['error']}") + f"  ({time.perf_counter() - t:.0f}s)", flush=True)
        write(rows, Path(a.out))
  for r in rows:
    if "dfa_over_bp_step_time" in r:
      print(f"DFA/BP step time {r['model']} {r['size']}: {r['dfa_over_bp_step_time']:.3f}")
    if "dfa_opu_over_dfa_step_time" in r:
      print(f"optical/digital DFA {r['model']} {r['size']}: step time "
            f"{r['dfa_opu_over_dfa_step_time']:.3f}, loss at the last step "
            f"{r['dfa_opu_over_dfa_last_loss']:.3f} (mean of the last five "
            f"{r['dfa_opu_over_dfa_last5_loss']:.3f})")


if __name__ == "__main__":
  main()
