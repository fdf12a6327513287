"""python experiments/holography_frame.py [--side 1000] [--in-features 1024]
    [--pupil disk|rectangle] [--out PATH]

The real-size figure: one off-axis hologram on a camera of side x side pixels
(10^6 by default) through the streamed simulated OPU (R regenerated block by block, the
modes' field and the frame's FFT per frame), through the disk of ``--grain`` or the
packed rectangle (``--pupil rectangle``, about 6 pixels a mode), with the realistic camera, and the peak
RSS of this process (JAX included). Also checks the first modes against R drawn on their
columns alone (ideal camera: the decoded projection equals the matrix product).

Writes JSON atomically to ``--out`` (default experiments/results/holography_frame.json,
``holography_frame_rectangle.json`` for the rectangle).
"""

import argparse
import json
import math
import os
import platform
import resource
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from opujax import devices
from opujax.devices import medium, speckle


def rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_frame(opu, x, key) -> tuple[np.ndarray, float, float]:
  """The projection of x, the wall time of its first call (compile included) and of
  its second."""
  project = jax.jit(lambda d, x, k: d.project(x, k))
  times = []
  for _ in range(2):
    start = time.perf_counter()
    y = np.asarray(project(opu, x, key))
    times.append(time.perf_counter() - start)
  return y, times[0], times[1]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--side", type=int, default=1000)
  parser.add_argument("--in-features", type=int, default=1024)
  parser.add_argument("--grain", type=float, default=4.0)
  parser.add_argument("--pupil", choices=speckle.PUPILS, default="disk")
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  shape, n, packed = (args.side, args.side), args.in_features, args.pupil == "rectangle"
  grain = None if packed else args.grain
  path = args.out or ("experiments/results/holography_frame"
                      + ("_rectangle" if packed else "") + ".json")
  modes = speckle.Speckle(shape, grain, args.pupil).modes
  out = {"camera_shape": shape, "camera_pixels": math.prod(shape), "in_features": n,
         "pupil": args.pupil, "grain": grain, "modes": modes, "out_features": 2 * modes,
         "rss_after_import_mib": rss_mib()}
  x = (jax.random.uniform(jax.random.key(0), (1, n)) < 0.5).astype(jnp.float32)
  for camera in ("ideal", "realistic"):
    start = time.perf_counter()
    opu = devices.make("opu", n, 2 * modes, seed=3, protocol="holography", grain=grain,
                       pupil=args.pupil, camera=camera, camera_shape=shape, storage="streamed")
    build_s = time.perf_counter() - start
    y, first_s, second_s = timed_frame(opu, x, jax.random.key(1))
    out[camera] = {"build_s": build_s, "first_call_s": first_s, "frame_s": second_s,
                   "peak_rss_mib": rss_mib(), "budget": vars(opu.cost(1)),
                   "outputs_per_pixel": opu.outputs_per_pixel}
    if camera == "ideal":  # R on the first 32 modes' columns, drawn on their own
      w = np.asarray(medium.materialise(jax.random.key(3), n, opu.speckle.bins()[:32], 2,
                                        opu.sigma))
      ref = np.asarray(x) @ np.stack([w[:, 0], w[:, 1]], axis=-1).reshape(n, 64)
      out[camera]["max_relative_error_first_64"] = float(
          np.abs(y[:, :64] - ref).max() / np.abs(ref).max())
    print(camera, json.dumps(out[camera]), flush=True)
  out.update(platform=platform.platform(), jax=jax.__version__, cpus=os.cpu_count(),
             peak_rss_mib=rss_mib())
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".")
  with os.fdopen(fd, "w") as f:
    json.dump(out, f, indent=1)
  os.replace(tmp, path)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
