import importlib.metadata

import jax

from opujax import environment

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma avx512f amx_tile amx_bf16
processor\t: 1
model name\t: another core's line, not read
flags\t\t: fpu
"""


def test_the_cpu_is_read_from_cpuinfo_its_first_core_and_the_isa_flags_only():
  cpu = environment.cpu(CPUINFO)
  assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8480+"
  assert cpu["isa"] == ["avx2", "fma", "avx512f", "amx_tile", "amx_bf16"]


def test_an_arm_cpu_lists_its_features_and_no_cpuinfo_leaves_the_flags_unknown():
  assert environment.cpu("Features\t: fp asimd sve\n")["isa"] == ["asimd", "sve"]
  assert environment.cpu("")["isa"] is None


def test_describe_names_the_installed_versions_and_jaxs_devices():
  env = environment.describe()
  assert env["packages"]["jax"] == jax.__version__
  assert env["packages"]["optax"] == importlib.metadata.version("optax")
  assert env["device_count"] == jax.device_count() and env["backend"] == jax.default_backend()
  assert environment.version("no-such-package-opujax") is None
