"""python experiments/holography_profile.py [--repeats 25] [--out PATH]

Where the simulated holographic projection's time goes, at MNIST DFA's shape: the
10-class error of a batch of 128 sent as `devices.DFA_CODE` (2 binary frames a row: 256
holograms of the default grid, 125 x 135 pixels for 1600 outputs) through
``opu(protocol="holography")`` (and the packed rectangle's whole projection and decoder,
``pupil="rectangle"``, 71 x 68 pixels), against the anchor protocol's whole projection (2 x 1600
pixels a binary frame). Each part is a jitted function of the same binary frames,
timed interleaved with the others (medians); a part's camera runs
`camera.capture` on the hologram, so "ideal camera" is the field, |S + A e^{i k.r}|^2
and the exposure, and the rows after it add the noise chain. Times are given relative
to the anchor protocol's projection in the same run (the machine is shared).

Writes JSON to ``--out`` (default experiments/results/holography_profile.json).
"""

import argparse
import os
import statistics
import time

import jax

from opujax import devices, files
from opujax.devices import camera as camera_lib
from opujax.devices import encoding as encoding_lib
from opujax.devices import speckle


def parts(holo, packed, anchor, e, key) -> dict:
  """name -> (function, arguments) of the parts timed."""
  frames = encoding_lib.encode(e, holo.encoding, key).frames
  spk, ref = holo.speckle, holo.reference
  frames_xHxW = jax.random.uniform(key, (*frames.shape[:-1], *spk.shape))

  def optics(fields):
    return lambda d, x: (speckle.hologram(fields(d, x), spk.shape, ref),)

  def captured(cam, opt):
    return lambda d, f, k: camera_lib.capture(cam, lambda x: opt(d, x), f, k)[0][0]

  summed = optics(lambda d, x: d.field(x))
  per_frame_fft = optics(lambda d, x: d.pixels(d.modes(x)))
  return {
      "anchor protocol: project": (lambda d, x, k: d.project(x, k), (anchor, e, key)),
      "holography: project": (lambda d, x, k: d.project(x, k), (holo, e, key)),
      "hologram, field summed over the mirrors (ideal camera)":
          (captured(camera_lib.Camera.ideal(), summed), (holo, frames, key)),
      "hologram, field by a per-frame inverse FFT (ideal camera)":
          (captured(camera_lib.Camera.ideal(), per_frame_fft), (holo, frames, key)),
      "hologram + the full camera chain (shot, read, dark, ADC, saturation)":
          (captured(holo.camera, summed), (holo, frames, key)),
      "decode (sideband)": (lambda i: speckle.decode(i, spk.bins(), spk.shape, ref),
                            (frames_xHxW,)),
      "packed rectangle: project": (lambda d, x, k: d.project(x, k), (packed, e, key)),
      "packed rectangle: decode (sideband)": (
          lambda i: speckle.decode(i, packed.speckle.bins(), packed.speckle.shape,
                                   packed.reference),
          (jax.random.uniform(key, (*frames.shape[:-1], *packed.speckle.shape)),)),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
  parser.add_argument("--repeats", type=int, default=25)
  parser.add_argument("--out", default="experiments/results/holography_profile.json")
  args = parser.parse_args()
  holo = devices.make("opu", 10, 1600, seed=1, protocol="holography", **devices.DFA_CODE)
  packed = devices.make("opu", 10, 1600, seed=1, protocol="holography", pupil="rectangle",
                        **devices.DFA_CODE)
  anchor = devices.make("opu", 10, 1600, seed=1, **devices.DFA_CODE)
  e, key = jax.random.normal(jax.random.key(0), (128, 10)), jax.random.key(1)
  compiled = {name: (jax.jit(fn).lower(*a).compile(), a)
              for name, (fn, a) in parts(holo, packed, anchor, e, key).items()}
  times = {name: [] for name in compiled}
  for _ in range(args.repeats):
    for name, (fn, a) in compiled.items():
      t = time.perf_counter()
      jax.block_until_ready(fn(*a))
      times[name].append(time.perf_counter() - t)
  medians = {name: statistics.median(ts) for name, ts in times.items()}
  base = medians["anchor protocol: project"]
  ratios = {name: m / base for name, m in medians.items()}
  for name, r in ratios.items():
    print(f"{name:72s} {r:6.2f} x the anchor protocol's projection")
  files.write_json(args.out, {
      "grid": list(holo.speckle.shape), "holograms": 2 * 128, "repeats": args.repeats,
      "backend": jax.default_backend(), "cpus": os.cpu_count(),
      "over_anchor_projection": ratios, "median_s": medians})
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
