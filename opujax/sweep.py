"""python -m opujax.sweep --config configs/sweep_<name>.py [--workdir DIR] [--parallel N]

Runs a sweep: many full runs of one base config, each point in its own workdir under the
sweep's folder, as ``python -m opujax.run`` with ``--config.key=value`` overrides. A
sweep config's ``get_config()`` returns a dict (its keys are dotted config paths) of:

* ``base``: the run config file the points start from;
* ``grid``: {key: [values]}, every combination; or ``axes``: {key: [values]}, one axis
  at a time around the base (the base's own value elsewhere); or ``points``: a list of
  {key: value} overrides;
* ``fixed``: {key: value} set at every point (e.g. fewer epochs);
* ``rules``: learning rules to run at every point (a line each in the plots; () keeps the
  base's); ``seeds``: seeds per point; ``references``: run config files (with the
  ``fixed`` keys they have, and the seeds) drawn as horizontal lines (e.g. digital DFA
  and BP);
* ``metrics``: the table columns to plot: ``final_test_accuracy`` (default),
  ``best_test_accuracy``, ``train_accuracy``, ``train_test_gap``, ``validation_loss``,
  ``test_loss``, ``best_test_loss`` (a task scored by its loss, e.g. regression),
  ``examples_per_s``, ``step_ms``, ``minutes``, and for a run through an OPU its
  ``frames_per_projection`` and ``camera_pixels_per_projection`` (from its budget).

Points equal to the base (an axis at the base's own value) share one run. Finished
points are skipped, so a killed sweep continues (and each run resumes from its own
checkpoint). SIGINT (Ctrl-C) or SIGTERM is passed on to the runs in flight, which stop
with a checkpoint; the sweep then exits with status 130 or 143. Writes ``results.csv`` / ``results.json`` (one row per run, with the
alignment of each feedback unit at the run's last diagnostics, ``align/<unit>``) and one
PNG per swept key: the metric against the key, one line per rule, mean over seeds with
their spread.
"""

import csv
import itertools
import json
import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from absl import flags

from opujax import cli
from opujax import config as config_lib
from opujax import files
from opujax import workdir as workdir_lib
from opujax.errors import Interrupted, UserError
from opujax.interrupts import Interrupts


class SweepError(UserError, ValueError):
  """A sweep config that cannot run, with what to fix."""


class Run(NamedTuple):
  """One run of a sweep: its folder ``name``, ``config`` file and ``overrides``; the sweep
  ``point`` it stands for (None: a reference run), what makes it distinct
  (``identity``) and its plot ``label``."""

  name: str
  config: str
  overrides: dict[str, Any]
  point: dict[str, Any] | None
  identity: str
  label: str = ""


class Outcome(NamedTuple):
  """A finished run's summary, last logged training accuracy, mean examples/s (first
  log excluded: compilation) and last alignment diagnostics (`last_alignment`), or why
  it failed."""

  summary: dict | None = None
  train_accuracy: float | None = None
  examples_per_s: float | None = None
  error: str | None = None
  alignment: dict | None = None


METRICS = ("final_test_accuracy", "best_test_accuracy", "train_accuracy", "train_test_gap",
           "validation_loss", "test_loss", "best_test_loss", "examples_per_s", "step_ms",
           "minutes", "frames_per_projection", "camera_pixels_per_projection")
SPEC_KEYS = ("base", "grid", "axes", "points", "fixed", "rules", "seeds", "references",
             "metrics")


def load_config(path: str):
  """The ``get_config()`` of a config file (`config.load_file`)."""
  return config_lib.load_file(path)


def check(sweep) -> None:
  """Refuses a sweep spec that cannot run, naming what is wrong: not a dict, an unknown
  or missing entry, a grid or axis value that is not a list, an unknown metric.

  Raises:
    SweepError: the first problem found.
  """
  if not isinstance(sweep, dict):
    raise SweepError(f"a sweep config's get_config() returns a dict with 'base' and a "
                     f"'grid', 'axes' or 'points'; got a {type(sweep).__name__}")
  unknown = sorted(set(sweep) - set(SPEC_KEYS))
  if unknown:
    raise SweepError(f"unknown sweep entr{'ies' if len(unknown) > 1 else 'y'} "
                     f"{', '.join(map(repr, unknown))}; a sweep has {', '.join(SPEC_KEYS)}")
  if not isinstance(sweep.get("base"), str):
    raise SweepError("a sweep needs 'base': the run config file its points start from, "
                     "e.g. 'configs/mnist_dfa.py'")
  for kind in ("grid", "axes", "fixed"):
    if kind in sweep and not isinstance(sweep[kind], dict):
      raise SweepError(f"the sweep's {kind!r} is a dict {{config key: ...}}, got "
                       f"{type(sweep[kind]).__name__}")
  for kind in ("grid", "axes"):
    for key, values in (sweep.get(kind) or {}).items():
      if not isinstance(values, (list, tuple)):
        raise SweepError(f"the sweep's {kind}[{key!r}] is {values!r}: give a list of values, "
                         f"e.g. [{values!r}]")
  if "points" in sweep and not (isinstance(sweep["points"], (list, tuple))
                                and all(isinstance(p, dict) for p in sweep["points"])):
    raise SweepError("the sweep's 'points' is a list of {config key: value} dicts")
  for kind in ("rules", "seeds", "references", "metrics"):
    if kind in sweep and not isinstance(sweep[kind], (list, tuple)):
      raise SweepError(f"the sweep's {kind!r} is a list, got {sweep[kind]!r}")
  bad = [m for m in sweep.get("metrics") or () if m not in METRICS]
  if bad:
    raise SweepError(f"unknown sweep metric(s) {', '.join(map(repr, bad))}; choose from "
                     f"{', '.join(METRICS)}")


def _lookup(config, key: str):
  node = config
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node:
      raise SweepError(f"the base config has no key {key!r}; sweep keys are config keys "
                       "such as 'device.camera.photons' or 'model.widths'")
    node = node[part]
  return node


def points(sweep) -> list[dict[str, Any]]:
  """The overrides of every point: grid, axes (one at a time) or an explicit list."""
  kinds = [k for k in ("grid", "axes", "points") if sweep.get(k)]
  if len(kinds) != 1:
    raise SweepError("a sweep needs exactly one non-empty 'grid', 'axes' or 'points', "
                     f"got {kinds or 'none'}")
  if kinds == ["points"]:
    return [dict(p) for p in sweep["points"]]
  space = {k: list(v) for k, v in dict(sweep[kinds[0]]).items()}
  if not space or any(not v for v in space.values()):
    raise SweepError(f"the sweep's {kinds[0]} is empty: give each key a list of values")
  if kinds == ["grid"]:
    return [dict(zip(space, combo)) for combo in itertools.product(*space.values())]
  return [{k: v} for k, values in space.items() for v in values]


def flag(key: str, value) -> str:
  """The ``python -m opujax.run`` flag that sets config ``key`` to ``value``."""
  text = value if isinstance(value, str) else repr(tuple(value) if isinstance(value, list)
                                                   else value)
  return f"--config.{key}={text}"


def _text(value) -> str:
  return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _tick(value) -> str:
  """A plot label: repeated layer widths as ``depth×width``."""
  if (isinstance(value, (list, tuple)) and len(set(value)) == 1
      and all(isinstance(v, int) for v in value)):
    return f"{len(value)}×{value[0]}"
  return _text(value)


def _name(overrides: dict[str, Any]) -> str:
  text = ",".join(f"{k.split('.')[-1]}={_text(v)}" for k, v in overrides.items()) or "base"
  return "".join(c if c.isalnum() or c in "=.,-_" else "_" for c in text)


def plan(sweep) -> list[Run]:
  """Every run of the sweep: its name, config file and overrides (checked against the
  base config; raises SweepError on an unknown key or a bad spec, `check`)."""
  check(sweep)
  base = load_config(sweep["base"])
  fixed = dict(sweep.get("fixed") or {})
  seeds = list(sweep.get("seeds", ())) or [None]
  runs = []
  for overrides in points(sweep):
    for key in fixed:
      _lookup(base, key)
    changed = {k: v for k, v in overrides.items()
               if not _same(fixed[k] if k in fixed else _lookup(base, k), v)}
    for rule in (list(sweep.get("rules", ())) or [None]):
      for seed in seeds:
        o = {k: v for k, v in (("rule", rule), ("seed", seed)) if v is not None}
        runs.append(Run(_name(changed) + "".join(f",{k}={v}" for k, v in o.items()),
                        sweep["base"], {**fixed, **overrides, **o}, overrides,
                        repr(sorted({**changed, **o}.items())), _name(changed)))
  for ref in sweep.get("references", ()):
    ref_config = load_config(ref)
    missing = object()
    shared = {k: v for k, v in fixed.items() if _get(ref_config, k, missing) is not missing}
    for seed in seeds:
      o = {"seed": seed} if seed is not None else {}
      runs.append(Run("ref_" + Path(ref).stem + "".join(f",seed={v}" for v in o.values()),
                      ref, {**shared, **o}, None, ref + repr(o)))
  named: dict[str, str] = {}
  for r in runs:
    if named.setdefault(r.name, r.identity) != r.identity:
      raise SweepError(f"two different points are both named {r.name!r} (keys that end "
                       "alike, e.g. 'seed' and 'device.seed'); sweep one of them per sweep")
  return runs


def _get(config, key: str, default=None):
  """``_lookup``, or ``default`` where the config has no such key."""
  try:
    return _lookup(config, key)
  except SweepError:
    return default


def _same(base_value, value) -> bool:
  as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v
  return as_tuple(base_value) == as_tuple(value)


class Children:
  """The sweep's runs in flight, each in its own session (a terminal's Ctrl-C reaches the
  sweep alone); `stop` passes a signal on to each of them once, and none starts after."""

  def __init__(self):
    self.procs: set[subprocess.Popen] = set()
    self.lock, self.stopped = threading.RLock(), None

  def run(self, cmd: list[str]) -> subprocess.CompletedProcess | None:
    """``cmd`` to its end (None: the sweep was stopped before it started)."""
    with self.lock:
      if self.stopped is not None:
        return None
      proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent, start_new_session=True)
      self.procs.add(proc)
    out, err = proc.communicate()
    with self.lock:
      self.procs.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

  def stop(self, signum: int) -> None:
    with self.lock:
      self.stopped = signum
      for proc in self.procs:
        proc.send_signal(signum)


def _execute(run: Run, workdir: Path, quiet: bool, children: Children) -> Outcome:
  out = workdir / run.name
  if not (out / "summary.json").is_file():
    cmd = [sys.executable, "-m", "opujax.run", "--config", run.config, "--workdir",
           str(out), "--quiet"] + [flag(k, v) for k, v in run.overrides.items()]
    proc = children.run(cmd)
    if proc is None:
      return Outcome(error="not started: the sweep was interrupted")
    if not quiet:
      print(f"{run.name}: " + (proc.stdout.strip() or proc.stderr.strip()), flush=True)
    if proc.returncode != 0:
      return Outcome(error=(proc.stderr.strip().splitlines() or ["?"])[-1])
  try:
    summary = json.loads((out / "summary.json").read_text())
  except ValueError as e:
    return Outcome(error=f"{out / 'summary.json'} is damaged ({e}); delete it and rerun the "
                   "sweep (that run resumes at its end)")
  ran = {k: _get(summary["config"], k) for k in run.overrides}
  stale = {k: v for k, v in ran.items() if not _same(v, run.overrides[k])}
  if stale:
    return Outcome(error=f"{out} holds a finished run of another config ("
                   + ", ".join(f"{k}={v!r}" for k, v in stale.items())
                   + "); delete it or sweep into another --workdir")
  lines = workdir_lib.records(out)
  train = [l for l in lines if "examples_per_s" in l]  # training logs, not evaluations
  return Outcome(summary, train[-1].get("train/accuracy") if train else None,
                 (sum(l["examples_per_s"] for l in train[1:]) / (len(train) - 1)
                  if len(train) > 1 else None), alignment=last_alignment(lines))


def last_alignment(records: list[dict]) -> dict:
  """The angles (degrees) between each feedback unit's update and BP's gradient at a
  run's last diagnostics, as {"align_step": step, "align/<unit>": angle, ...}; {} when
  it logged none (BP, or ``diagnostics_every=0``)."""
  logged = [r for r in records if any(k.startswith("align/") for k in r)]
  if not logged:
    return {}
  return {"align_step": logged[-1]["step"],
          **{k: v for k, v in logged[-1].items() if k.startswith("align/")}}


def die_with_parent() -> None:
  """In a child process (``preexec_fn``): be killed when the thread that started it ends
  (Linux ``PR_SET_PDEATHSIG``), so that a killed sweep leaves no run going."""
  if sys.platform == "linux":
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def run_sweep(sweep, workdir: Path, parallel: int = 1, quiet: bool = False) -> list[dict]:
  """Runs (or resumes) every point, ``parallel`` processes at a time; writes the tables
  and plots; returns the rows.

  Raises:
    Interrupted: SIGINT or SIGTERM, passed on to the runs in flight, which each stopped
      with a checkpoint.
  """
  runs = plan(sweep)
  workdir.mkdir(parents=True, exist_ok=True)
  unique = list({r.name: r for r in runs}.values())
  children = Children()
  with Interrupts(notify=children.stop) as interrupts, interrupts.deferred():
    with ThreadPoolExecutor(max(1, parallel)) as pool:
      done = dict(zip((r.name for r in unique),
                      pool.map(lambda r: _execute(r, workdir, quiet, children), unique)))
  if interrupts.received is not None:
    raise Interrupted(interrupts.received)
  rows = [row(r, done[r.name]) for r in runs]
  write_table(rows, workdir)
  plot(rows, sweep, workdir)
  return rows


def row(run: Run, outcome: Outcome) -> dict:
  """One table row: the point's overrides, rule, seed, accuracies, train-test gap (final
  accuracy on training examples, evaluated like the test set, minus test accuracy; the
  last logged training accuracy where a run has no train split), examples/s and the
  step time it implies, minutes, validation and test loss, camera frames and pixels per
  projection (runs with a budget), and the alignment per unit at the last diagnostics
  (`last_alignment`)."""
  r = {"name": run.name, **{f"set:{k}": v for k, v in run.overrides.items()}}
  if outcome.error is not None:
    return {**r, "error": outcome.error}
  s = outcome.summary
  train = s.get("final", {}).get("train_eval/accuracy", outcome.train_accuracy)
  r.update(rule=s["config"]["rule"], seed=s["config"]["seed"],
           **{k: v for k, v in s.items() if k.startswith(("final_test_", "best_test_"))},
           train_accuracy=train, examples_per_s=outcome.examples_per_s,
           minutes=s["wall_time_s"] / 60)
  if outcome.examples_per_s:
    r["step_ms"] = 1000 * s["config"]["batch_size"] / outcome.examples_per_s
  if train is not None and "final_test_accuracy" in s:
    r["train_test_gap"] = train - s["final_test_accuracy"]
  for split in ("validation", "test"):
    r[f"{split}_loss"] = s.get("final", {}).get(f"{split}/loss")
  budget = s.get("budget") or {}
  if budget.get("budget/projections"):
    for key in ("frames", "camera_pixels"):
      r[f"{key}_per_projection"] = budget[f"budget/{key}"] / budget["budget/projections"]
  r.update(outcome.alignment or {})
  r["reference"] = Path(run.config).stem if run.point is None else ""
  r["point"] = run.label
  return r


def write_table(rows: list[dict], workdir: Path) -> None:
  keys = list(dict.fromkeys(k for r in rows for k in r))
  files.write_json(workdir / "results.json", rows)
  files.write_atomic(workdir / "results.csv", lambda p: _csv(p, keys, rows))


def _csv(path: Path, keys, rows) -> None:
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, keys)
    w.writeheader()
    w.writerows(rows)


def _stats(values: list[float]) -> tuple[float, float]:
  m = sum(values) / len(values)
  return m, math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1))


def plot(rows: list[dict], sweep, workdir: Path) -> None:
  """One PNG per swept key and metric (a list of points: one PNG per metric, a tick per
  point): the mean (± std over seeds) per rule; references dashed."""
  axes = [(f"set:{k}", k) for k in dict(sweep.get("grid") or sweep.get("axes") or {})]
  for metric in sweep.get("metrics") or ["final_test_accuracy"]:
    ok = [dict(r, metric=r[metric]) for r in rows if r.get(metric) is not None]
    for field, key in axes or [("point", "point")]:
      _plot_one(ok, field, key, metric, workdir / f"{key.replace('.', '_')}__{metric}.png")


def log_axis(ax, xs: list[float]) -> None:
  """A log x axis for values spanning 100x or more (symlog when 0 is among them)."""
  positive = [x for x in xs if x > 0]
  if not positive or min(xs) < 0 or max(xs) / min(positive) < 100:
    return
  if min(xs) == 0:
    ax.set_xscale("symlog", linthresh=min(positive))
    ax.set_xlim(left=-0.5 * min(positive))  # no empty negative decades
  else:
    ax.set_xscale("log")


def _plot_one(ok: list[dict], field: str, key: str, metric: str, path: Path) -> None:
  with files.figure(path, figsize=(5, 3.6)) as (fig, ax):
    _draw(fig, ax, ok, field, key, metric)


def _draw(fig, ax, ok: list[dict], field: str, key: str, metric: str) -> None:
  refs = [r for r in ok if r["reference"]]
  for rule in sorted({r["rule"] for r in ok if not r["reference"]}):
    by_x: dict = {}
    for r in ok:
      if not r["reference"] and r["rule"] == rule and field in r:
        by_x.setdefault(r[field], []).append(r["metric"])
    if not by_x:
      continue
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in by_x)
    xs = sorted(by_x) if numeric else list(by_x)  # else the sweep's order
    means, stds = zip(*(_stats(by_x[x]) for x in xs))
    labels = [_tick(x) for x in xs]
    pos = xs if numeric else list(range(len(xs)))
    ax.errorbar(pos, means, yerr=stds, marker="o", capsize=3, label=rule,
                ls="-" if numeric else "")  # categories are not a curve
    if numeric:
      log_axis(ax, xs)
    else:
      ax.set_xticks(pos, [label.replace(",", "\n") for label in labels], fontsize=7)
      fig.set_size_inches(max(5.0, 1.4 * len(pos)), 4.2)
  for i, name in enumerate(sorted({r["reference"] for r in refs})):
    mean, std = _stats([r["metric"] for r in refs if r["reference"] == name])
    ax.axhline(mean, ls="--", color=f"C{i + 3}", label=f"{name} ({mean:.4g} ± {std:.2g})")
  ax.set(xlabel=key, ylabel=metric)
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8)


FLAGS = flags.FlagValues()
_CONFIG = flags.DEFINE_string("config", None, "Sweep config file (configs/sweep_<name>.py).",
                              flag_values=FLAGS, required=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep folder (default runs/<config name>); "
                               "rerun with the same one to continue.", flag_values=FLAGS)
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at once.", lower_bound=1,
                                 flag_values=FLAGS)
_QUIET = flags.DEFINE_bool("quiet", False, "No line per finished run.", flag_values=FLAGS)
COMMAND = cli.Command("opujax.sweep", __doc__, FLAGS, configs="sweeps")


def sweep_and_plot() -> tuple[int, str]:
  """Runs the parsed sweep; its failed runs, a line each on stderr; the closing line."""
  workdir = Path(_WORKDIR.value or Path("runs") / Path(_CONFIG.value).stem)
  rows = run_sweep(load_config(_CONFIG.value), workdir, _PARALLEL.value, _QUIET.value)
  failed = [r for r in rows if "error" in r]
  for r in failed:
    print(f"opujax.sweep: {r['name']} failed: {r['error']}", file=sys.stderr)
  return (1 if failed else 0,
          f"{len(rows) - len(failed)} of {len(rows)} runs done; table and plots in {workdir}")


def main(argv: list[str]) -> int:
  """``python -m opujax.sweep`` with ``argv`` (the program first); its exit status."""
  return cli.main(COMMAND, sweep_and_plot, argv, lambda e: (
      f"interrupted ({e.args[0]}); the runs in flight stopped with a checkpoint; rerun the "
      "same command to continue"))


if __name__ == "__main__":
  sys.exit(main(sys.argv))
