"""What a run's numbers came from, recorded in its ``summary.json``: the packages that
compute them, JAX's backend and devices, and the CPU with the instruction sets XLA:CPU
picks its kernels by. Float32 sums rounded another way (another kernel, another
version) change a long run's figures in their last digits and beyond, so two runs of one
config and seed agree to the digit only where these agree.
"""

import importlib.metadata
import os
import platform

import jax

PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "orbax-checkpoint",
            "tensorflow-datasets")
# CPU flags (/proc/cpuinfo) that change which matmul and vector kernels XLA:CPU runs.
ISA = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
       "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def cpu(cpuinfo: str | None = None) -> dict:
  """The CPU's model name, logical cores and `ISA` flags, from ``cpuinfo`` (the text of
  /proc/cpuinfo; read here when None, and absent off Linux: the model is then
  `platform.processor`'s and the flags unknown, None)."""
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      cpuinfo = ""
  fields = {}
  for line in cpuinfo.splitlines():
    key, sep, value = line.partition(":")
    if sep:
      fields.setdefault(key.strip(), value.strip())
  flags = fields.get("flags", fields.get("Features"))
  return {"model": fields.get("model name") or platform.processor() or None,
          "cores": os.cpu_count(),
          "isa": None if flags is None else [f for f in ISA if f in flags.split()]}


def describe() -> dict:
  """Python, `PACKAGES`' versions (None: not installed), JAX's backend, its devices'
  kinds and count, and the `cpu`."""
  return {"python": platform.python_version(),
          "packages": {p: version(p) for p in PACKAGES},
          "backend": jax.default_backend(),
          "devices": sorted({d.device_kind for d in jax.devices()}),
          "device_count": jax.device_count(),
          "cpu": cpu()}
