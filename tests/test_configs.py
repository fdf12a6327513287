"""Every shipped config loads, validates, and its docstring starts with its command."""

import importlib.util
from pathlib import Path

import pytest

from opujax import config as config_lib

DATASETS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist",
            "fashion_mnist_resnet": "fashion_mnist", "fashion_mnist_nnx": "fashion_mnist",
            "fashion_mnist_vit": "fashion_mnist", "mnist_diffusion": "mnist",
            "mnist_holography": "mnist", "mnist_speckle": "mnist",
            "mnist_packed_holography": "mnist",
            "shakespeare_holography": "tiny_shakespeare",
            "shakespeare_packed_holography": "tiny_shakespeare",
            "shakespeare": "tiny_shakespeare", "scale_1b": "tiny_shakespeare"}
ALL = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.py"))
CONFIGS = [p for p in ALL if not p.stem.startswith("sweep_")]
SWEEPS = [p for p in ALL if p.stem.startswith("sweep_")]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.__doc__.splitlines()[0] == f"python -m opujax.run --config configs/{path.name}"
  config = module.get_config()
  config_lib.validate(config)
  stem, device = path.stem, "digital"
  for optical in ("opu", "hardware"):  # <name>_dfa_opu, <name>_dfa_hardware
    if stem.endswith(f"_dfa_{optical}"):
      stem, device = stem[:-len(optical) - 1], optical
  name, rule = stem.rsplit("_", 1)
  assert (config.dataset, config.rule, config.device.name) == (DATASETS[name], rule, device)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_sweep_config(path, monkeypatch):
  from opujax import sweep
  monkeypatch.chdir(path.parents[1])
  assert sweep.load_config(str(path)).__class__ is dict
  doc = importlib.util.module_from_spec(importlib.util.spec_from_file_location("s", path))
  doc.__spec__.loader.exec_module(doc)
  assert doc.__doc__.splitlines()[0].startswith(f"python -m opujax.sweep --config configs/{path.name}")
  runs = sweep.plan(sweep.load_config(str(path)))
  assert len({r.name for r in runs}) >= 4  # distinct runs (plan refuses name clashes)
