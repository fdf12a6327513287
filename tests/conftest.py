"""Eight emulated CPU devices for the sharding tests; set before JAX is first used."""

import jax

jax.config.update("jax_num_cpu_devices", 8)

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_env(tmp_path_factory):
  """TFDS data dir for the session, and the original files in ../shared/data."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"{SHARED_DATA} (the original dataset files) is not here")
  env = {"TFDS_DATA_DIR": str(tmp_path_factory.mktemp("tfds")),
         "OPUJAX_MANUAL_DIR": str(SHARED_DATA)}
  old = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  yield env
  for k, v in old.items():
    if v is None:
      os.environ.pop(k, None)
    else:
      os.environ[k] = v


@pytest.fixture
def drawn(monkeypatch):
  """The figures the code under test drew (saved, but left open to inspect)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  close = plt.close
  close("all")
  monkeypatch.setattr(plt, "close", lambda *args: None)
  yield lambda: [plt.figure(n) for n in plt.get_fignums()]
  close("all")
