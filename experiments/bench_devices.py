"""python experiments/bench_devices.py [--quick] [--big] [--runs N] [--out PATH]

Benchmark (not a test) of the projection devices against plain matmuls timed in the
same run. For each shape (batch, in -> out) it measures:

* baselines: jitted ``x @ a, x @ b`` (``two_matmuls_s``, the real work of one complex
  product), one ``x @ a``, and ``x @ [a | b]`` (one matmul of twice the width);
* each device config: ``jit(lambda d, x, k: d.project(x, k))`` with the device passed
  as an argument (a pytree, so its matrix is not baked in as a constant), compile
  excluded, median of ``--runs`` runs (3 when a call takes over 5 s), rows/s,
  effective GFLOP/s and ``ratio_to_two_matmuls = two_matmuls_s / device_s``, the two
  matmuls being timed round-robin with the device (and with its field x R alone);
* memory: XLA's compiled memory analysis of each call (temp, arguments, output),
  process peak RSS, and the construction time and peak RSS of each device (built
  again in a child process so that its peak is its own).

Then it checks that streamed storage keeps the generated matrix O(block_bytes) (the
compiled temp memory of the streamed linear OPU for growing out_features and batch),
and with ``--big`` projects one frame 100,000 -> 100,000 streamed with the realistic
camera in a child process (minutes; 80 GB if materialised as complex64).

Prints tables and writes JSON atomically to ``--out`` (default
experiments/results/bench_devices.json; bench_devices_quick.json with ``--quick``).
Timings are noisy on a shared machine (its speed changes by 2x for tens of seconds):
compare the ratios, the median over rounds of (two matmuls / device) timed back to
back; the shape's own baseline rows are timed before and after its devices and pooled.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from opujax import devices, files  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = [(256, 1024, 16384), (256, 10, 65536), (64, 4096, 65536)]
QUICK_SHAPES = [(16, 64, 512), (16, 10, 2048), (8, 256, 2048)]
BIG = 100_000
MIB = 2 ** 20

# (label, device name, options); every opu config is binary-encoded.
CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("digital materialised", "digital", dict(storage="materialised")),
    ("opu intensity ideal", "opu", dict(mode="intensity", camera="ideal")),
    ("opu intensity realistic", "opu", dict(mode="intensity", camera="realistic")),
    ("opu linear ideal", "opu", dict(mode="linear", camera="ideal")),
    ("opu linear realistic", "opu", dict(mode="linear", camera="realistic")),
    ("opu linear realistic streamed", "opu",
     dict(mode="linear", camera="realistic", storage="streamed")),
    # Not a target: the realistic camera drawing its noise with jax.random.normal.
    ("opu linear realistic threefry-noise", "opu",
     dict(mode="linear", camera="realistic-threefry")),
]


# ----------------------------------------------------------------------------- helpers


def peak_rss_mib() -> float:
  """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mib(field: str) -> float:
  """A memory field of /proc/self/status (VmRSS: current, VmHWM: peak), in MiB."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return float("nan")


def current_rss_mib() -> float:
  return proc_status_mib("VmRSS")


def hwm_mib() -> float:
  """Peak RSS of this process's own address space. Unlike ru_maxrss, which Linux
  carries over from the parent through fork and exec (a child's ru_maxrss is at least
  its parent's RSS when it was spawned), VmHWM starts afresh at exec: the right peak
  for a child process."""
  return proc_status_mib("VmHWM")


def build(name: str, n: int, m: int, options: dict[str, Any]) -> Any:
  """devices.make with JSON-able options: camera="realistic-threefry" is the default
  camera drawing its noise with jax.random.normal (where the Camera has noise_rng)."""
  options = dict(options)
  if options.get("camera") == "realistic-threefry":
    options["camera"] = devices.Camera(noise_rng="threefry")
  return devices.make(name, n, m, seed=0, **options)


def provenance() -> dict[str, Any]:
  """The commit and the state of the device code (opujax/devices) that this run measured."""
  root = Path(__file__).resolve().parents[1]

  def git(*args: str) -> str:
    try:
      return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                            timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
      return ""

  digest = hashlib.sha256()
  for f in sorted((root / "opujax" / "devices").rglob("*.py")):
    digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
  return dict(commit=git("rev-parse", "HEAD"),
              devices_dirty=git("status", "--porcelain", "--", "opujax/devices"),
              devices_sha256=digest.hexdigest())


def binary_input(key: jax.Array, batch: int, n: int) -> jax.Array:
  return (jax.random.uniform(key, (batch, n)) > 0.5).astype(jnp.float32)


def memory_of(compiled: Any) -> dict[str, int]:
  """XLA's buffer assignment of a compiled call, in bytes."""
  m = compiled.memory_analysis()
  if m is None:
    return {}
  return dict(temp_bytes=int(m.temp_size_in_bytes), argument_bytes=int(m.argument_size_in_bytes),
              output_bytes=int(m.output_size_in_bytes), alias_bytes=int(m.alias_size_in_bytes))


def tree_bytes(tree: Any) -> int:
  """Bytes held by the array leaves of a pytree (a device's state)."""
  return sum(int(getattr(leaf, "nbytes", 0)) for leaf in jax.tree.leaves(tree)
             if not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key))


def time_calls(fn: Callable[..., Any], args: tuple, runs: int) -> list[float]:
  """Warms up once, then times ``runs`` calls, each blocked on."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(runs):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return times


def time_interleaved(calls: dict[str, tuple[Callable[..., Any], tuple]], runs: int,
                     slow_runs: int = 3, slow_s: float = 5.0) -> dict[str, list[float]]:
  """Times several calls round-robin, so that they see the same machine load.

  Each call is warmed up once; if a warmup took over ``slow_s`` seconds, only
  ``slow_runs`` rounds are timed. Every call is blocked on.
  """
  slowest = 0.0
  for fn, args in calls.values():
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    slowest = max(slowest, time.perf_counter() - t0)
  if slowest > slow_s:
    runs = min(runs, slow_runs)
  times: dict[str, list[float]] = {name: [] for name in calls}
  for _ in range(runs):
    for name, (fn, args) in calls.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  return times


def _write_json(path: Path, data: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  files.write_json(path, data)


def project_fn(d: Any, x: jax.Array, k: jax.Array) -> jax.Array:
  return d.project(x, k)


def field_fn(d: Any, x: jax.Array) -> jax.Array:
  return d.field(x)


# ----------------------------------------------------------------------------- baselines


def two_matmuls(x: jax.Array, a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  return x @ a, x @ b


def one_matmul(x: jax.Array, a: jax.Array) -> jax.Array:
  return x @ a


def bench_baseline(batch: int, n: int, m: int, runs: int) -> dict[str, Any]:
  """Times two real matmuls, one, and one of twice the width, on fresh matrices."""
  ka, kb, kx = jax.random.split(jax.random.key(1234), 3)
  x = binary_input(kx, batch, n)
  a = jax.random.normal(ka, (n, m), jnp.float32)
  b = jax.random.normal(kb, (n, m), jnp.float32)
  out: dict[str, Any] = {}
  c2 = jax.jit(two_matmuls).lower(x, a, b).compile()
  out["two_matmuls_times_s"] = time_calls(c2, (x, a, b), runs)
  out["two_matmuls_memory"] = memory_of(c2)
  c1 = jax.jit(one_matmul).lower(x, a).compile()
  out["one_matmul_times_s"] = time_calls(c1, (x, a), runs)
  out["one_matmul_memory"] = memory_of(c1)
  ab = jnp.concatenate([a, b], axis=1)
  del a, b
  cw = jax.jit(one_matmul).lower(x, ab).compile()
  out["concat_matmul_times_s"] = time_calls(cw, (x, ab), runs)
  out["concat_matmul_memory"] = memory_of(cw)
  del ab
  return out


# ----------------------------------------------------------------------------- devices


def construct_in_child(name: str, n: int, m: int, options: dict[str, Any]) -> dict[str, Any]:
  """Builds the device in a fresh process: its construction time and peak RSS."""
  spec = json.dumps(dict(name=name, n=n, m=m, options=options))
  try:
    proc = subprocess.run([sys.executable, __file__, "--construct-only", spec],
                          capture_output=True, text=True, timeout=1800)
  except subprocess.TimeoutExpired:
    return dict(error="timeout")
  for line in proc.stdout.splitlines():
    if line.startswith("CONSTRUCT_RESULT "):
      return json.loads(line[len("CONSTRUCT_RESULT "):])
  return dict(error=f"rc={proc.returncode}: {proc.stderr.strip()[-500:]}")


def construct_only(spec_json: str) -> None:
  """Child of `construct_in_child`: prints one CONSTRUCT_RESULT line."""
  spec = json.loads(spec_json)
  jax.block_until_ready(jnp.zeros(8) + 1)  # start the backend before the reference RSS
  rss0, hwm0 = current_rss_mib(), hwm_mib()
  t0 = time.perf_counter()
  d = build(spec["name"], spec["n"], spec["m"], spec["options"])
  jax.block_until_ready(d)
  seconds = time.perf_counter() - t0
  hwm1 = hwm_mib()
  res = dict(construct_s=seconds, rss_before_mib=rss0, hwm_before_mib=hwm0,
             hwm_after_mib=hwm1, rss_after_mib=current_rss_mib(),
             ru_maxrss_after_mib=peak_rss_mib(),
             construct_peak_delta_mib=hwm1 - rss0, state_bytes=tree_bytes(d))
  print("CONSTRUCT_RESULT " + json.dumps(res), flush=True)


def baseline_matrices(n: int, m: int) -> tuple[jax.Array, jax.Array]:
  ka, kb = jax.random.split(jax.random.key(1234))
  return (jax.random.normal(ka, (n, m), jnp.float32), jax.random.normal(kb, (n, m), jnp.float32))


def bench_device(label: str, name: str, options: dict[str, Any], m: int, x: jax.Array,
                 key: jax.Array, runs: int, construct_memory: bool) -> dict[str, Any]:
  """Times and sizes one device config (in_features x.shape[1], out_features m) on x.

  The device's project (and, for the OPU, its field x R alone) is timed round-robin
  with two plain matmuls of the same shape, built after the device so that the
  baseline matrices do not add to the device's construction peak.
  """
  n = x.shape[1]
  res: dict[str, Any] = dict(config=label, device=name, options=options)
  t0 = time.perf_counter()
  d = build(name, n, m, options)
  jax.block_until_ready(d)
  res["construct_s_in_process"] = time.perf_counter() - t0
  res["state_bytes"] = tree_bytes(d)
  t0 = time.perf_counter()
  compiled = jax.jit(project_fn).lower(d, x, key).compile()
  res["compile_s"] = time.perf_counter() - t0
  res["memory"] = memory_of(compiled)
  a, b = baseline_matrices(n, m)
  calls = dict(two_matmuls=(jax.jit(two_matmuls).lower(x, a, b).compile(), (x, a, b)),
               device=(compiled, (d, x, key)))
  if name == "opu":  # the complex product x R alone: what the camera and anchor add on top
    cf = jax.jit(field_fn).lower(d, x).compile()
    res["field_memory"] = memory_of(cf)
    calls["field"] = (cf, (d, x))
  times = time_interleaved(calls, runs)
  res["times_s"] = times["device"]
  res["paired_two_matmuls_times_s"] = times["two_matmuls"]
  if "field" in times:
    res["field_times_s"] = times["field"]
  res["peak_rss_mib_after"] = peak_rss_mib()
  del calls, compiled, d, a, b
  if construct_memory:
    res["construct_child"] = construct_in_child(name, n, m, options)
  return res


def bench_shape(batch: int, n: int, m: int, runs: int, construct_memory: bool) -> dict[str, Any]:
  print(f"\n== shape batch={batch} in={n} out={m} ==", flush=True)
  flops_two = 2 * batch * n * m * 2
  res: dict[str, Any] = dict(batch=batch, in_features=n, out_features=m,
                             flops_complex=flops_two, flops_real=flops_two // 2)
  print("  baseline (before) ...", flush=True)
  before = bench_baseline(batch, n, m, runs)
  kx, kk = jax.random.split(jax.random.key(0))
  x = binary_input(kx, batch, n)
  rows = []
  for label, name, options in CONFIGS:
    print(f"  {label} ...", flush=True)
    try:
      rows.append(bench_device(label, name, options, m, x, kk, runs, construct_memory))
    except Exception as e:  # keep the other configs' results
      print(f"    FAILED: {type(e).__name__}: {e}", flush=True)
      rows.append(dict(config=label, device=name, options=options,
                       error=f"{type(e).__name__}: {e}"))
  print("  baseline (after) ...", flush=True)
  after = bench_baseline(batch, n, m, runs)
  base: dict[str, Any] = dict(before=before, after=after)
  for what in ("two_matmuls", "one_matmul", "concat_matmul"):
    base[f"{what}_s_before"] = statistics.median(before[f"{what}_times_s"])
    base[f"{what}_s_after"] = statistics.median(after[f"{what}_times_s"])
    base[f"{what}_s"] = statistics.median(before[f"{what}_times_s"] + after[f"{what}_times_s"])
  # two_matmuls_s of the shape: every two-matmul timing of this shape, pooled.
  pooled = (before["two_matmuls_times_s"] + after["two_matmuls_times_s"]
            + [t for r in rows for t in r.get("paired_two_matmuls_times_s", [])])
  base["two_matmuls_s"] = statistics.median(pooled)
  base["two_matmuls_runs"] = len(pooled)
  base["two_matmuls_gflops"] = flops_two / base["two_matmuls_s"] / 1e9
  base["one_matmul_gflops"] = flops_two / 2 / base["one_matmul_s"] / 1e9
  base["concat_matmul_gflops"] = flops_two / base["concat_matmul_s"] / 1e9
  res["baseline"] = base
  res["two_matmuls_s"] = base["two_matmuls_s"]
  for r in rows:
    if "times_s" not in r:
      continue
    r["device_s"] = statistics.median(r["times_s"])
    r["device_min_s"] = min(r["times_s"])
    r["runs"] = len(r["times_s"])
    r["two_matmuls_s"] = statistics.median(r["paired_two_matmuls_times_s"])
    flops = flops_two // 2 if r["device"] == "digital" else flops_two
    r["flops"] = flops
    r["rows_per_s"] = batch / r["device_s"]
    r["gflops"] = flops / r["device_s"] / 1e9
    # Against the two matmuls timed in the same round, just before the device: the
    # machine's speed changes over seconds when shared, so the median of the per-round
    # ratios is steadier than the ratio of the medians (both are kept).
    rounds = [t2 / td for t2, td in zip(r["paired_two_matmuls_times_s"], r["times_s"])]
    r["ratio_per_round"] = rounds
    r["ratio_to_two_matmuls"] = statistics.median(rounds)
    r["ratio_of_medians"] = r["two_matmuls_s"] / r["device_s"]
    r["ratio_to_two_matmuls_min"] = min(r["paired_two_matmuls_times_s"]) / r["device_min_s"]
    r["ratio_to_shape_two_matmuls"] = base["two_matmuls_s"] / r["device_s"]
    if "field_times_s" in r:
      r["field_s"] = statistics.median(r["field_times_s"])
      r["field_share"] = r["field_s"] / r["device_s"]
  res["devices"] = rows
  by_label = {r["config"]: r for r in rows if "device_s" in r}
  pair = ("opu linear realistic", "opu linear realistic streamed")
  if all(p in by_label for p in pair):
    res["streamed_over_materialised"] = by_label[pair[0]]["device_s"] / by_label[pair[1]]["device_s"]
    print(f"  streamed / materialised speed: {res['streamed_over_materialised']:.3f}")
  res["peak_rss_mib"] = peak_rss_mib()
  return res


def fmt_mib(b: float | None) -> str:
  return "-" if b is None else f"{b / MIB:.1f}"


def print_shape(res: dict[str, Any]) -> None:
  b, n, m = res["batch"], res["in_features"], res["out_features"]
  base = res["baseline"]
  print(f"\nshape (batch={b}, {n} -> {m}): complex product = {res['flops_complex'] / 1e9:.3f} "
        f"GFLOP (two real matmuls); two_matmuls_s = {base['two_matmuls_s'] * 1e3:.2f} ms "
        f"(before {base['two_matmuls_s_before'] * 1e3:.2f}, after "
        f"{base['two_matmuls_s_after'] * 1e3:.2f})")
  head = (f"{'config':36s} {'ms':>9s} {'runs':>4s} {'rows/s':>10s} {'GFLOP/s':>8s} "
          f"{'2mm_ms':>8s} {'ratio':>6s} {'r_min':>6s} {'field_ms':>8s} {'temp_MiB':>9s} "
          f"{'arg_MiB':>8s} {'out_MiB':>8s} {'build_s':>7s} {'build_pk':>8s} {'RSS_pk':>7s}")
  print(head)
  print("-" * len(head))
  for what, flops in (("two_matmuls", res["flops_complex"]), ("one_matmul", res["flops_real"]),
                      ("concat_matmul", res["flops_complex"])):
    s = base[f"{what}_s"]
    mem = base["before"][f"{what}_memory"]
    print(f"{'[baseline] ' + what:36s} {s * 1e3:9.2f} {'':>4s} {b / s:10.0f} "
          f"{flops / s / 1e9:8.1f} {'':>8s} {base['two_matmuls_s'] / s:6.2f} {'':>6s} {'':>8s} "
          f"{fmt_mib(mem.get('temp_bytes')):>9s} {fmt_mib(mem.get('argument_bytes')):>8s} "
          f"{fmt_mib(mem.get('output_bytes')):>8s}")
  for r in res["devices"]:
    if "device_s" not in r:
      print(f"{r['config']:36s} ERROR {r.get('error', '')}")
      continue
    mem = r["memory"]
    child = r.get("construct_child", {})
    build_s = child.get("construct_s", r["construct_s_in_process"])
    build_pk = child.get("construct_peak_delta_mib")
    field = f"{r['field_s'] * 1e3:8.2f}" if "field_s" in r else f"{'':>8s}"
    print(f"{r['config']:36s} {r['device_s'] * 1e3:9.2f} {r['runs']:4d} "
          f"{r['rows_per_s']:10.0f} {r['gflops']:8.1f} {r['two_matmuls_s'] * 1e3:8.2f} "
          f"{r['ratio_to_two_matmuls']:6.2f} {r['ratio_to_two_matmuls_min']:6.2f} {field} "
          f"{fmt_mib(mem.get('temp_bytes')):>9s} {fmt_mib(mem.get('argument_bytes')):>8s} "
          f"{fmt_mib(mem.get('output_bytes')):>8s} {build_s:7.2f} "
          f"{'-' if build_pk is None else f'{build_pk:.0f}':>8s} {r['peak_rss_mib_after']:7.0f}")
  print("ratio = two_matmuls_s / device_s, median over rounds of the two matmuls timed just "
        "before the device (2mm_ms: their median; higher is better; targets: intensity >= "
        "0.85, linear with full noise >= 0.75); r_min: fastest two-matmul run / fastest device "
        "run. Baseline rows: pooled before/after the devices (their ratio against the pooled "
        "two_matmuls_s). GFLOP/s counts the complex product (2 real matmuls) for the OPU, "
        "one matmul for digital. field_ms: x R alone. build_pk: construction peak RSS "
        "(VmHWM) over the pre-build RSS, in a child (MiB). RSS_pk: this process's ru_maxrss "
        "so far (MiB).")


# ----------------------------------------------------------------------------- streamed memory


def streamed_temp(batch: int, n: int, m: int, block_bytes: int) -> dict[str, int]:
  """Compiled memory of the streamed realistic linear OPU's project (no execution)."""
  d = jax.eval_shape(lambda: devices.make("opu", n, m, seed=0, mode="linear",
                                          camera="realistic", storage="streamed",
                                          block_bytes=block_bytes))
  x = jax.ShapeDtypeStruct((batch, n), jnp.float32)
  k = jax.eval_shape(lambda: jax.random.key(0))
  return memory_of(jax.jit(project_fn).lower(d, x, k).compile())


def bench_streamed_memory(quick: bool) -> dict[str, Any]:
  """Does the streamed matrix stay O(block_bytes)? Temp memory for out x16, with the
  part proportional to batch * out (output and (batch, out) intermediates) fitted from
  a second batch size and removed."""
  n, batch = (128, 8) if quick else (1024, 64)
  outs = [256, 1024, 4096] if quick else [4096, 16384, 65536]
  block = 1 << 20 if quick else 8 << 20
  print(f"\n== streamed memory: linear realistic streamed, in={n}, batch={batch} (and "
        f"{2 * batch} for the fit), block_bytes={block // MIB} MiB ==", flush=True)
  rows = []
  cases = [(n, m, block) for m in outs]
  cases += [(4 * n, outs[-1], block), (n, outs[-1], block // 4)]
  for nn, m, bb in cases:
    t1 = streamed_temp(batch, nn, m, bb)["temp_bytes"]
    t2 = streamed_temp(2 * batch, nn, m, bb)["temp_bytes"]
    out_bytes = batch * m * 4
    per_row_out = (t2 - t1) / (batch * m * 4)  # temp bytes per output byte, fitted
    residual = t1 - per_row_out * out_bytes
    rows.append(dict(in_features=nn, out_features=m, batch=batch, block_bytes=bb,
                     temp_bytes=t1, temp_bytes_2x_batch=t2, output_bytes=out_bytes,
                     output_factor=per_row_out, temp_excluding_output_bytes=residual,
                     materialised_complex_bytes=nn * m * 2 * 4,
                     residual_over_block=residual / bb))
  print(f"{'in':>6s} {'out':>6s} {'block_MiB':>9s} {'temp_MiB':>9s} {'temp2xB_MiB':>11s} "
        f"{'out_MiB':>8s} {'out_factor':>10s} {'temp-out_MiB':>12s} {'(temp-out)/block':>16s} "
        f"{'materialised_MiB':>16s}")
  for r in rows:
    print(f"{r['in_features']:6d} {r['out_features']:6d} {r['block_bytes'] / MIB:9.1f} "
          f"{r['temp_bytes'] / MIB:9.1f} {r['temp_bytes_2x_batch'] / MIB:11.1f} "
          f"{r['output_bytes'] / MIB:8.2f} {r['output_factor']:10.2f} "
          f"{r['temp_excluding_output_bytes'] / MIB:12.1f} {r['residual_over_block']:16.2f} "
          f"{r['materialised_complex_bytes'] / MIB:16.1f}")
  first, last = rows[0], rows[len(outs) - 1]
  summary = dict(
      out_growth=last["out_features"] / first["out_features"],
      temp_ratio=last["temp_bytes"] / first["temp_bytes"],
      temp_excluding_output_ratio=(last["temp_excluding_output_bytes"]
                                   / first["temp_excluding_output_bytes"]))
  print(f"out x{summary['out_growth']:.0f}: raw temp x{summary['temp_ratio']:.2f}, temp "
        f"excluding output-proportional buffers x{summary['temp_excluding_output_ratio']:.2f} "
        f"(in*out grows x{summary['out_growth']:.0f}). out_factor: fitted temp bytes per "
        "byte of the (batch, out) output.")
  return dict(rows=rows, summary=summary)


# ----------------------------------------------------------------------------- big frame


def heartbeat(stop: threading.Event, t_start: float, samples: list, period: float = 15.0) -> None:
  while not stop.wait(period):
    rss = current_rss_mib()
    samples.append((time.perf_counter() - t_start, rss))
    print(f"    [big] {time.perf_counter() - t_start:7.0f} s  RSS {rss:8.0f} MiB  peak "
          f"{hwm_mib():8.0f} MiB", flush=True)


def big_only(out_path: Path) -> None:
  """Child of `run_big`: one 100k x 100k streamed linear frame, realistic camera."""
  n = m = BIG
  t_start = time.perf_counter()
  samples: list = []
  stop = threading.Event()
  beat = threading.Thread(target=heartbeat, args=(stop, t_start, samples), daemon=True)
  beat.start()
  res: dict[str, Any] = dict(in_features=n, out_features=m, batch=1)
  jax.block_until_ready(jnp.zeros(8) + 1)
  res["rss_start_mib"] = current_rss_mib()
  print(f"    [big] building the device ({n} x {m}, streamed; anchor field by a streamed "
        "pass) ...", flush=True)
  t0 = time.perf_counter()
  d = devices.make("opu", n, m, seed=0, mode="linear", camera="realistic", storage="streamed")
  jax.block_until_ready(d)
  res["construct_s"] = time.perf_counter() - t0
  res["peak_rss_after_construct_mib"] = hwm_mib()
  g = d.geometry
  res["geometry"] = dict(dmd_shape=g.dmd_shape, camera_shape=g.camera_shape, roi=g.roi,
                         anchor_pixels=g.anchor_pixels)
  res["construct_generated_entries"] = g.anchor_pixels * 2 * m
  print(f"    [big] built in {res['construct_s']:.1f} s; peak RSS "
        f"{res['peak_rss_after_construct_mib']:.0f} MiB", flush=True)
  x = binary_input(jax.random.key(7), 1, n)
  key = jax.random.key(8)
  t0 = time.perf_counter()
  compiled = jax.jit(project_fn).lower(d, x, key).compile()
  res["compile_s"] = time.perf_counter() - t0
  res["memory"] = memory_of(compiled)
  print(f"    [big] compiled in {res['compile_s']:.1f} s; XLA temp "
        f"{res['memory'].get('temp_bytes', 0) / MIB:.0f} MiB; projecting ...", flush=True)
  t0 = time.perf_counter()
  y = jax.block_until_ready(compiled(d, x, key))
  res["project_s"] = time.perf_counter() - t0
  res["project_generated_entries"] = n * 2 * m
  res["normals_per_s_project"] = res["project_generated_entries"] / res["project_s"]
  res["normals_per_s_construct"] = res["construct_generated_entries"] / res["construct_s"]
  res["y_mean"], res["y_std"] = float(jnp.mean(y)), float(jnp.std(y))
  res["y_finite"] = bool(jnp.all(jnp.isfinite(y)))
  res["peak_rss_mib"] = hwm_mib()  # VmHWM: this process's own peak (see hwm_mib)
  res["ru_maxrss_mib"] = peak_rss_mib()  # includes the parent's RSS at spawn time
  res["rss_end_mib"] = current_rss_mib()
  res["materialised_complex64_bytes"] = n * m * 8
  res["rss_samples_s_mib"] = samples
  stop.set()
  print(f"    [big] projected in {res['project_s']:.1f} s; peak RSS {res['peak_rss_mib']:.0f} "
        "MiB", flush=True)
  _write_json(out_path, res)


def run_big() -> dict[str, Any]:
  print(f"\n== big: one frame {BIG} x {BIG}, linear, realistic camera, streamed (child "
        "process) ==", flush=True)
  fd, tmp = tempfile.mkstemp(prefix="bench_big_", suffix=".json")
  os.close(fd)
  try:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--big-only", "--out", tmp])
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
      return dict(error=f"child exited with {proc.returncode}", wall_s=wall)
    with open(tmp) as f:
      res = json.load(f)
  finally:
    os.unlink(tmp)
  res["child_wall_s"] = wall
  print(f"big: construct {res['construct_s']:.1f} s ({res['normals_per_s_construct'] / 1e6:.0f} M "
        f"normals/s), compile {res['compile_s']:.1f} s, project {res['project_s']:.1f} s "
        f"({res['normals_per_s_project'] / 1e6:.0f} M normals/s), peak RSS "
        f"{res['peak_rss_mib']:.0f} MiB ({res['peak_rss_mib'] / 1024:.2f} GiB; materialised "
        f"would be {res['materialised_complex64_bytes'] / 1e9:.0f} GB), XLA temp "
        f"{res['memory'].get('temp_bytes', 0) / MIB:.0f} MiB, y finite: {res['y_finite']} "
        f"(ru_maxrss {res['ru_maxrss_mib']:.0f} MiB includes the parent's RSS at spawn)")
  return res


# ----------------------------------------------------------------------------- main


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="small shapes (a smoke run)")
  parser.add_argument("--big", action="store_true",
                      help=f"also project one {BIG} x {BIG} streamed frame (minutes)")
  parser.add_argument("--runs", type=int, default=7, help="timed runs per call (>= 5)")
  parser.add_argument("--no-construct-memory", action="store_true",
                      help="skip building each device again in a child for its peak RSS")
  parser.add_argument("--out", type=Path, default=None, help="JSON output path")
  parser.add_argument("--construct-only", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--big-only", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.construct_only:
    construct_only(args.construct_only)
    return
  if args.big_only:
    big_only(args.out)
    return
  out = args.out or RESULTS / ("bench_devices_quick.json" if args.quick else "bench_devices.json")
  t_start = time.perf_counter()
  results: dict[str, Any] = dict(
      meta=dict(argv=sys.argv, started=datetime.datetime.now().isoformat(timespec="seconds"),
                jax=jax.__version__, backend=jax.default_backend(),
                devices=[str(dv) for dv in jax.devices()], cpu_count=os.cpu_count(),
                python=platform.python_version(), machine=platform.machine(),
                runs=args.runs, quick=args.quick, code_at_start=provenance()),
      shapes=[], streamed_memory=None, big=None)
  for batch, n, m in (QUICK_SHAPES if args.quick else SHAPES):
    res = bench_shape(batch, n, m, args.runs, not args.no_construct_memory)
    results["shapes"].append(res)
    _write_json(out, results)  # partial results survive an interrupted run
  results["streamed_memory"] = bench_streamed_memory(args.quick)
  _write_json(out, results)
  if args.big:
    results["big"] = run_big()
  results["meta"]["code_at_end"] = provenance()
  start, end = results["meta"]["code_at_start"], results["meta"]["code_at_end"]
  if {k: v for k, v in start.items() if k != "commit"} != {
      k: v for k, v in end.items() if k != "commit"}:
    print("WARNING: opujax/devices changed during the run; child processes (construction, "
          "big) may have measured other code than this process.")
  results["meta"]["wall_s"] = time.perf_counter() - t_start
  results["meta"]["peak_rss_mib"] = peak_rss_mib()
  print("\n" + "=" * 30 + " summary " + "=" * 30)
  for res in results["shapes"]:
    print_shape(res)
  _write_json(out, results)
  print(f"\nwrote {out} (wall {results['meta']['wall_s']:.0f} s, peak RSS "
        f"{results['meta']['peak_rss_mib']:.0f} MiB)")


if __name__ == "__main__":
  main()
