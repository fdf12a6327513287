"""The three commands' shared conventions (`opujax.cli`): --help, and one line and exit 2
for a bad flag, in this process."""

from pathlib import Path

import pytest

from opujax import report, run, sweep

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"opujax.run": run.main, "opujax.sweep": sweep.main, "opujax.report": report.main}


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage_flags_and_configs(name, flag, capsys):
  with pytest.raises(SystemExit) as e:
    COMMANDS[name]([name, flag])
  out = capsys.readouterr().out
  assert e.value.code == 0 and out.startswith(f"python -m {name} ")
  assert "  --workdir: " in out
  shipped = sorted(f"configs/{p.name}" for p in (ROOT / "configs").glob("*.py"))
  listed = [f for f in shipped if f"  {f}\n" in out]
  if name == "opujax.report":
    assert not listed and "opujax/config.py" not in out
  else:
    sweeps = name == "opujax.sweep"
    assert listed == [f for f in shipped if Path(f).name.startswith("sweep_") == sweeps]
    assert "configs/mnist_dfa.py" in listed or sweeps
    assert "opujax/config.py" in out and "docs/configs.md" in out


@pytest.mark.parametrize("name, args, message", [
    ("opujax.run", ["--config", "configs/mnist_dfa.py", "--no_such_flag"],
     "Unknown command line flag 'no_such_flag'"),
    ("opujax.run", ["--config", "configs/mnist_dfa.py", "stray"], "unexpected argument 'stray'"),
    ("opujax.sweep", [], "--config is required"),
    ("opujax.sweep", ["--config", "configs/sweep_noise.py", "--parallel=0"],
     "0 is not a positive integer"),
    ("opujax.report", ["--workdir", "x", "--gpu.power_w=lots"], "--gpu.power_w"),
])
def test_a_bad_flag_is_one_line_and_exit_2(name, args, message, capsys):
  assert COMMANDS[name]([name, *args]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(f"{name}: error: ") and message in err[0], err
  assert err[0].endswith(f"see python -m {name} --help")
