"""Eight emulated CPU devices for the sharding tests, and one persistent compilation cache
for the session (this process, pytest-xdist's workers and the runs they start: tests that
train the same shapes compile them once); both set before JAX is first used."""

import os
import shutil
import tempfile
from pathlib import Path

import jax
import pytest

WORKER = "PYTEST_XDIST_WORKER" in os.environ  # the controller made the cache
COMPILATION_CACHE = (os.environ["JAX_COMPILATION_CACHE_DIR"] if WORKER
                     else tempfile.mkdtemp(prefix="opujax-tests-xla-"))
os.environ.update(JAX_COMPILATION_CACHE_DIR=COMPILATION_CACHE,
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_compilation_cache_dir", COMPILATION_CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_sessionfinish(session, exitstatus):
  if not WORKER:
    shutil.rmtree(COMPILATION_CACHE, ignore_errors=True)

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
