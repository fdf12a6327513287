"""Every shipped config loads, validates, and its docstring starts with its command."""

import importlib.util
from pathlib import Path

import pytest

from opujax import train

DATASETS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist",
            "shakespeare": "tiny_shakespeare", "scale_1b": "tiny_shakespeare"}
CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.__doc__.splitlines()[0] == f"python -m opujax.run --config configs/{path.name}"
  config = module.get_config()
  train.validate(config)
  name, rule = path.stem.rsplit("_", 1) if not path.stem.endswith("dfa_opu") else (
      path.stem[:-len("_dfa_opu")], "dfa")
  assert (config.dataset, config.rule) == (DATASETS[name], rule)
  assert (config.device.name == "opu") == path.stem.endswith("_opu")
