import subprocess
import sys

SCRIPT = """
import asyncio
import sys
from opujax import checkpoint

checkpoint.manager(sys.argv[1], 1)
loop = asyncio.new_event_loop()
loop.close()


class LateWrite:  # as a tensorstore future's callback, after orbax closed its loop
  def __del__(self):
    loop.call_soon_threadsafe(print)


class Broken:
  def __del__(self):
    raise ValueError("a real fault")


late, broken = LateWrite(), Broken()
del late, broken
"""


def test_writes_finishing_after_orbax_closed_its_loop_stay_off_stderr(tmp_path):
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert "Event loop is closed" not in result.stderr, result.stderr
  assert "ValueError: a real fault" in result.stderr, result.stderr  # others still shown
