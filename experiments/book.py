"""The results book, docs/results.md, refreshed from the tables the experiment scripts
write: each region between ``<!-- table: <path> -->`` and ``<!-- end table -->`` is
replaced by the file at <path> (relative to the repository). `quality.py`,
`error_codes.py`, `opu_payoff.py` and `collect_sweep.py` call `refresh` after writing
theirs, so a rerun updates the book; ``python experiments/book.py`` does it by hand.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "docs" / "results.md"
REGION = re.compile(r"(<!-- table: (\S+) -->\n).*?(<!-- end table -->)", re.S)


def refresh(book: Path = BOOK) -> list[str]:
  """Replaces every region of ``book`` whose file exists; returns the files pasted."""
  pasted = []

  def paste(m: re.Match) -> str:
    table = ROOT / m[2]
    if not table.is_file():
      return m[0]
    pasted.append(m[2])
    return f"{m[1]}\n{table.read_text().strip()}\n\n{m[3]}"

  text = REGION.sub(paste, book.read_text())
  book.write_text(text)
  return pasted


if __name__ == "__main__":
  print(f"{BOOK.relative_to(ROOT)}: refreshed from {', '.join(refresh()) or 'nothing'}")
