"""Meshes, shardings and processes: JAX's own engine, no hand-written collectives.

One mesh with axes ``data``, ``fsdp`` and ``tensor`` (Auto axis types: we annotate
where arrays live, XLA's partitioner inserts the collectives):

* the batch is split over ``data`` x ``fsdp`` (data parallelism, as ``pmap`` did);
* each parameter and its optimizer state is split along its largest dimension that
  ``fsdp`` divides (FSDP: gathered for use, gradients reduce-scattered), and along another
  dimension that ``tensor`` divides (the last one of a kernel: its output features);
* the DFA feedback device (its matrix, field and camera frame) is split along its output
  features over every mesh axis: each device computes its own slice of the camera frame
  for the whole (gathered, small) error.

State is created already sharded: ``jax.eval_shape`` gives the shapes, a jitted init with
``out_shardings`` writes each shard where it lives, never the whole state on one device.
"""

import math
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

AXES = ("data", "fsdp", "tensor")
BATCH = ("data", "fsdp")


def initialize(coordinator: str = "", processes: int = 0, process_id: int = -1) -> None:
  """Starts ``jax.distributed`` when there is more than one process; call it first.

  Arguments left at their defaults come from $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES
  and $JAX_PROCESS_ID; with $OPUJAX_DISTRIBUTED=1 and none of them, JAX detects the
  cluster itself (SLURM, TPU pods, ...).
  """
  env = os.environ
  coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS", "")
  processes = processes or int(env.get("JAX_NUM_PROCESSES", 1))
  process_id = process_id if process_id >= 0 else int(env.get("JAX_PROCESS_ID", 0))
  if coordinator and processes > 1:
    jax.distributed.initialize(coordinator, processes, process_id)
  elif env.get("OPUJAX_DISTRIBUTED") == "1":
    jax.distributed.initialize()


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1) -> jax.sharding.Mesh:
  """A (data, fsdp, tensor) mesh over every device of every process; -1 takes the rest.

  Raises:
    ValueError: sizes that do not multiply to the number of devices.
  """
  n = jax.device_count()
  sizes = [data, fsdp, tensor]
  if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise ValueError(f"mesh sizes must be positive (one may be -1), got {sizes}.")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if n % known:
      raise ValueError(f"fsdp*tensor={known} does not divide the {n} devices.")
    sizes[sizes.index(-1)] = n // known
  if math.prod(sizes) != n:
    raise ValueError(f"mesh data x fsdp x tensor = {sizes} needs {math.prod(sizes)} devices, "
                     f"there are {n}.")
  return jax.make_mesh(tuple(sizes), AXES, axis_types=(AxisType.Auto,) * 3)


def _size(mesh, axes) -> int:
  return math.prod(mesh.shape[a] for a in axes)


def param_spec(shape: tuple[int, ...], mesh) -> P:
  """FSDP along the largest dimension ``fsdp`` divides; ``tensor`` along the last other
  dimension it divides. Scalars and indivisible leaves are replicated."""
  spec = [None] * len(shape)
  f, t = mesh.shape["fsdp"], mesh.shape["tensor"]
  if f > 1:
    fits = [i for i in np.argsort(shape)[::-1] if shape[i] % f == 0 and shape[i] >= f]
    if fits:
      spec[fits[0]] = "fsdp"
  if t > 1:
    fits = [i for i in reversed(range(len(shape))) if spec[i] is None and shape[i] % t == 0]
    if len(shape) > 1 and fits:
      spec[fits[0]] = "tensor"
  return P(*spec)


def state_shardings(tree, mesh, out_features: int | None = None):
  """NamedShardings for a pytree of arrays (or ShapeDtypeStructs): ``param_spec`` for
  each leaf, except leaves whose last dimension is the feedback device's
  ``out_features``, which are split along it over the whole mesh (when it divides)."""

  def spec(x):
    shape = tuple(getattr(x, "shape", ()))
    if out_features and shape and shape[-1] == out_features and out_features % mesh.size == 0:
      return NamedSharding(mesh, P(*([None] * (len(shape) - 1)), AXES))
    return NamedSharding(mesh, param_spec(shape, mesh))

  return jax.tree.map(spec, tree)


def batch_sharding(mesh, ndim: int = 1) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH, *([None] * (ndim - 1))))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch(batch_size: int, mesh) -> None:
  n = _size(mesh, BATCH)
  if batch_size % n:
    raise ValueError(f"batch_size={batch_size} is not divisible by data x fsdp = {n} "
                     "devices; choose a multiple of it.")


def sharded_init(init: Callable[..., Any], mesh, *args, out_features: int | None = None):
  """Runs ``init(*args)`` with every output leaf created in its shard (no full copy)."""
  abstract = jax.eval_shape(init, *args)
  return jax.jit(init, out_shardings=state_shardings(abstract, mesh, out_features))(*args)


def to_global(x, sharding: NamedSharding) -> jax.Array:
  """A value every process holds in full (NumPy or a local jax.Array; typed PRNG keys
  too), as one global array on ``sharding``."""
  if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
    return jax.random.wrap_key_data(to_global(jax.random.key_data(x), sharding),
                                    impl=jax.random.key_impl(x))
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def put(tree, shardings):
  """``to_global`` leaf by leaf."""
  return jax.tree.map(to_global, tree, shardings)
