"""Pictures of a run from its ``metrics.jsonl``: alignment with BP over training.

``python -m opujax.plots WORKDIR`` (also written at the end of every run with diagnostics).
"""

import sys
from pathlib import Path

from opujax import files
from opujax import workdir as workdir_lib


def series(workdir: Path, prefix: str = "align/") -> dict[str, tuple[list, list]]:
  """{unit: (steps, values)} of every scalar named ``prefix<unit>`` in its metrics.jsonl."""
  out: dict[str, tuple[list, list]] = {}
  for record in workdir_lib.records(workdir):
    for key, value in record.items():
      if key.startswith(prefix) and value is not None:
        steps, values = out.setdefault(key[len(prefix):], ([], []))
        steps.append(record["step"])
        values.append(value)
  return out


def alignment(workdir: str | Path) -> Path | None:
  """Writes ``alignment.png``: each unit's angle between its update and BP's gradient
  against steps (90° = orthogonal, 0° = BP). Returns its path, or None without data."""
  workdir = Path(workdir)
  data = series(workdir)
  try:
    import matplotlib  # noqa: F401
  except ImportError:  # e.g. a bare accelerator image: the numbers stay in metrics.jsonl
    return None
  if not data:
    return None
  path = workdir / "alignment.png"
  with files.figure(path, figsize=(5.5, 3.6)) as (_, ax):
    for unit, (steps, angles) in data.items():
      ax.plot(steps, angles, marker=".", label=unit)
    ax.axhline(90, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="step", ylabel="angle to the BP gradient (degrees)", ylim=(0, 120),
           title=f"alignment: {workdir.name}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
  return path


if __name__ == "__main__":
  for arg in sys.argv[1:] or ["."]:
    print(alignment(arg) or f"{arg}: no alignment in metrics.jsonl (rule bp, or "
          "diagnostics_every=0)")
