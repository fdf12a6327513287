"""opujax.plots: the alignment series read back from metrics.jsonl."""

import json

from opujax import plots


def test_series_collects_each_unit_in_step_order(tmp_path, drawn):
  lines = [{"step": 0, "align/Dense_0": 89.0, "align/head": 0.0, "update_norm/Dense_0": 1.0},
           {"step": 100, "train/loss": 2.0},
           {"step": 500, "align/Dense_0": 60.5, "align/head": 0.0}]
  (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(l) for l in lines))
  assert plots.series(tmp_path) == {
      "Dense_0": ([0, 500], [89.0, 60.5]), "head": ([0, 500], [0.0, 0.0])}
  assert plots.alignment(tmp_path).read_bytes()[:4] == b"\x89PNG"
  (fig,) = drawn()
  (ax,) = fig.axes
  curves = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.get_lines() if not line.get_label().startswith("_")}
  assert curves == {"Dense_0": ([0, 500], [89.0, 60.5]), "head": ([0, 500], [0.0, 0.0])}
  assert ax.get_ylabel() == "angle to the BP gradient (degrees)" and ax.get_xlabel() == "step"
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Dense_0", "head"]


def test_no_alignment_no_picture(tmp_path):
  (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": 1.0}))
  assert plots.alignment(tmp_path) is None and not (tmp_path / "alignment.png").exists()
