"""The camera: exposure, shot noise, read noise, dark signal and a b-bit ADC.

Per pixel of an intensity frame I (arbitrary units, |xR|^2):

    electrons  = exposure * I + dark_electrons
    measured   = electrons + shot + read          shot ~ Poisson or N(0, electrons),
                                                  read ~ N(0, read_noise^2)
    counts     = clip(round(measured * gain), 0, 2^b - 1),  gain = (2^b - 1) / full_well
    estimate   = (counts / gain - dark_electrons) / exposure

With auto exposure, ``exposure = photons / mean(I)`` per frame, so the frame's mean
pixel collects ``photons`` photoelectrons (the photon budget). The noise of one pixel,
in electrons, then has variance ``electrons + read_noise^2 + (1 / gain)^2 / 12`` (shot,
read, ADC quantisation), while unsaturated: its SNR is
``exposure * I / sqrt(that)``. Pixels at full scale are counted as saturated.

Noise draws use `normal.standard_normal_grid` (``noise_rng="hash"``: Box-Muller pairs of a
counter-based hash): on CPU, JAX's threefry costs more than the matmul of a frame, while
the camera should cost little on top of the optics; ``noise_rng="threefry"`` uses
``jax.random.normal``.

Defaults are those of a scientific CMOS camera read out at 8 bits, as on the published
OPU: 10,000 e- full well, 5 e- read noise, 10 e- dark signal, 1,000 e- per pixel.
"""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from opujax.devices import normal

Array = jax.Array
SHOT_NOISE = ("gaussian", "poisson", "off")
NOISE_RNG = ("hash", "threefry")
CHUNK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class Camera:
  photons: float = 1000.0
  exposure: float | None = None
  full_well: float = 10_000.0
  shot_noise: str = "gaussian"
  read_noise: float = 5.0
  dark_electrons: float = 10.0
  adc_bits: int | None = 8
  noise_rng: str = "hash"

  def __post_init__(self):
    if self.noise_rng not in NOISE_RNG:
      raise ValueError(
          f"Unknown noise_rng {self.noise_rng!r}; choose one of {', '.join(NOISE_RNG)}.")
    if self.shot_noise not in SHOT_NOISE:
      raise ValueError(
          f"Unknown shot_noise {self.shot_noise!r}; choose one of {', '.join(SHOT_NOISE)}.")
    for name in ("photons", "full_well"):
      if not getattr(self, name) > 0:
        raise ValueError(f"camera {name} must be > 0, got {getattr(self, name)}.")
    if self.exposure is not None and not self.exposure > 0:
      raise ValueError(f"exposure must be > 0 or None (auto), got {self.exposure}.")
    if self.read_noise < 0 or self.dark_electrons < 0:
      raise ValueError("read_noise and dark_electrons must be >= 0.")
    if self.adc_bits is not None and not 1 <= self.adc_bits <= 16:
      raise ValueError(f"adc_bits must be in 1..16 or None, got {self.adc_bits}.")

  @classmethod
  def ideal(cls) -> "Camera":
    """No noise, no dark signal, no ADC: the camera returns I exactly."""
    return cls(shot_noise="off", read_noise=0.0, dark_electrons=0.0, adc_bits=None)

  @property
  def gain(self) -> float:
    """ADC counts per electron."""
    return (2 ** self.adc_bits - 1) / self.full_well if self.adc_bits else 1.0

  @property
  def bytes_per_pixel(self) -> int:
    return -(-(self.adc_bits or 32) // 8)


def exposure_of(cam: Camera, i_KxM: Array) -> Array:
  """Photoelectrons per unit intensity for each frame (..., 1); frames are the last axis."""
  if cam.exposure is not None:
    return jnp.full((*i_KxM.shape[:-1], 1), cam.exposure, i_KxM.dtype)
  mean = jnp.mean(i_KxM, axis=-1, keepdims=True)
  lit = mean > jnp.finfo(i_KxM.dtype).tiny
  return cam.photons / jnp.where(lit, mean, 1.0)  # a dark frame keeps a finite exposure


def capture(cam: Camera, frames: Callable[[Array], tuple[Array, ...]], sources: Array,
            key: Array) -> tuple[tuple[Array, ...], Array]:
  """One exposure of each of the K kinds of frames that ``frames`` makes of each of the L
  ``sources`` (its first axis); a frame is an intensity array (..., M), pixels on the
  last axis. Returns the K intensity estimates, each (L, ..., M), and the saturated
  fraction of all pixels.

  The sources are exposed in chunks of as many as keep a chunk's fields and frames
  (float32) under `CHUNK_BYTES` (a `lax.map` over chunks, each a `vmap`; one chunk, kept
  out of its readers' fusions by `apart`, when they all fit, since XLA:CPU runs a loop's
  body on one core): a frame's intensities,
  exposure, noise and ADC are computed in one pass over it and only its ADC counts are
  stored, so nothing of the size of all the frames is kept but the counts (for the OPU,
  ``frames`` is the optics, and its field and intensities stay one chunk's), and no noise
  is drawn twice (XLA would otherwise recompute it for each use).
  The K kinds stay separate arrays (a stacked array of frames does not vectorise), but
  the ADC counts of kinds 2j and 2j + 1 are packed in one integer a pixel, so that one
  fused loop draws and digitises both; an odd K's last kind pairs its two halves (its
  first ceil(M / 2) pixels and the rest, `_halves`) instead. With the hash generator
  a pair takes the two draws of a Box-Muller pair (`normal.standard_normal_grid`):
  pixel m of row r of source l's kind k (a frame flattened to R rows of M pixels) gets
  array k % 2 of the grid's entry (row ``(l * ceil(K / 2) + k // 2) * R + r``, column
  m), but, with an ADC, an odd K's last kind array m // ceil(M / 2) of the entry (same
  row, column m % ceil(M / 2)). (Without an ADC, halves would be joined by a copy.)
  """
  shapes = jax.eval_shape(frames, jax.ShapeDtypeStruct(sources.shape[1:], sources.dtype))
  kinds, size, n = len(shapes), math.prod(shapes[0].shape), sources.shape[0]
  pixels = shapes[0].shape[-1]
  grid_rows = n * (kinds + 1) // 2 * size // pixels  # rows of pixel pairs
  if grid_rows >= 2 ** 32:
    raise ValueError(f"A camera exposes at most 2^32 rows of pixel pairs at once, asked "
                     f"{grid_rows}.")
  width = 8 if (cam.adc_bits or 0) <= 8 else 16
  dtype, pair_dtype = (jnp.uint8, jnp.uint16) if width == 8 else (jnp.uint16, jnp.uint32)
  noisy = cam.shot_noise != "off" or cam.read_noise > 0

  def digitise(e):
    return jnp.clip(jnp.round(e * cam.gain), 0, 2 ** cam.adc_bits - 1).astype(pair_dtype)

  def expose(args):
    l, source = args
    i_K = frames(source)
    exposure_K = tuple(exposure_of(cam, i) for i in i_K)
    e_K = tuple(x * i + cam.dark_electrons for i, x in zip(i_K, exposure_K))
    if cam.adc_bits is None:
      return _add_noise(cam, e_K, key, l) if noisy else e_K, exposure_K
    e_J = _halves(e_K)
    if noisy:
      e_J = _add_noise(cam, e_J, key, l)
    # Pairs packed in one integer: one fused loop draws and digitises both.
    c_J = tuple(digitise(e) for e in e_J)
    return tuple(c_J[j] | (c_J[j + 1] << width) for j in range(0, len(c_J), 2)), exposure_K

  chunk = max(1, CHUNK_BYTES // (4 * size * (kinds + 2)))  # a source's field and frames

  args = (jnp.arange(n, dtype=jnp.uint32), sources)
  if chunk < n:  # a loop: its outputs are stored, never fused into their readers
    raw_J, exposure_K = jax.lax.map(expose, args, batch_size=chunk)
  else:
    raw_J, exposure_K = apart(jax.vmap(expose), args, key) if noisy else jax.vmap(expose)(args)
  raw_K = raw_J if cam.adc_bits is None else _wholes(tuple(
      (raw_J[j // 2] >> (width * (j % 2))).astype(dtype) for j in range(2 * len(raw_J))),
      kinds, pixels)
  read_out = [read(cam, r, x) for r, x in zip(raw_K, exposure_K)]
  saturated = sum(s for _, s in read_out) / kinds
  return tuple(est for est, _ in read_out), saturated


def apart(fn: Callable, args, key: Array):
  """``fn(args)``, computed apart from its readers: inside a conditional whose branches
  are both ``fn``. XLA fuses an elementwise producer into its readers, which on CPU can
  turn a camera's noise into per-element work in a transposing, unvectorised reader (a
  DFA unit's reshape); it keeps a
  conditional's branches apart, while it drops `lax.optimization_barrier` before fusing.
  The predicate comes from ``key`` only so that it is not a constant XLA could fold
  (under a `vmap` over keys the conditional becomes a select: computed twice)."""
  return jax.lax.cond(jax.random.bits(key, (), jnp.uint32) != 0, fn, fn, args)


def _halves(e_K: tuple[Array, ...]) -> tuple[Array, ...]:
  """The K frames (..., M) as an even number of arrays, so that they pair up: an odd
  K's last frame split into its first ceil(M / 2) pixels and the rest (padded with a
  pixel of 0 for an odd M)."""
  if len(e_K) % 2 == 0:
    return e_K
  last, m = e_K[-1], e_K[-1].shape[-1]
  half = -(-m // 2)
  rest = jnp.pad(last[..., half:], [(0, 0)] * (last.ndim - 1) + [(0, 2 * half - m)])
  return e_K[:-1] + (last[..., :half], rest)


def _wholes(e_J: tuple[Array, ...], kinds: int, m: int) -> tuple[Array, ...]:
  """The K = ``kinds`` frames of M = ``m`` pixels of their `_halves`."""
  if len(e_J) == kinds:
    return e_J
  return e_J[:-2] + (jnp.concatenate(e_J[-2:], axis=-1)[..., :m],)


def _add_noise(cam: Camera, e_J: tuple[Array, ...], key: Array,
               frame: Array) -> tuple[Array, ...]:
  """Shot noise (Poisson, or its Gaussian limit N(0, e)) and read noise N(0, r^2) on the
  J arrays of frame number ``frame`` (its kinds, or their `_halves`); in the Gaussian
  limit both are drawn as one normal of variance e + r^2 (with the hash generator,
  arrays 2j and 2j + 1 in Box-Muller pairs on a grid of (pair, frame row) x pixel)."""
  arrays, dtype = len(e_J), e_J[0].dtype
  if cam.noise_rng == "hash" and cam.shot_noise != "poisson":
    pairs, rows = (arrays + 1) // 2, e_J[0].size // e_J[0].shape[-1]
    z_J = sum((normal.standard_normal_grid(
        key, (frame * pairs + j) * rows + jnp.arange(rows, dtype=jnp.uint32),
        jnp.arange(e_J[2 * j].shape[-1], dtype=jnp.uint32)) for j in range(pairs)), ())
    z_J = tuple(z.reshape(e.shape).astype(dtype) for z, e in zip(z_J, e_J))
  else:
    keys = [jax.random.split(jax.random.fold_in(key, frame * arrays + j))
            for j in range(arrays)]
    if cam.shot_noise == "poisson":
      e_J = tuple(jax.random.poisson(k, e).astype(dtype) for (k, _), e in zip(keys, e_J))
    draw = normal.standard_normal if cam.noise_rng == "hash" else jax.random.normal
    z_J = tuple(draw(k, e.shape, dtype) for (_, k), e in zip(keys, e_J))
  shot = cam.shot_noise == "gaussian"
  return tuple(e + jnp.sqrt((e if shot else 0.0) + cam.read_noise ** 2) * z
               for e, z in zip(e_J, z_J))


def read(cam: Camera, raw_KxM: Array, exposure_Kx1: Array) -> tuple[Array, Array]:
  """Intensity estimate from raw camera output, and the fraction of saturated pixels."""
  full = jnp.sum(raw_KxM >= 2 ** cam.adc_bits - 1, dtype=jnp.int32) if cam.adc_bits else 0
  saturated = jnp.asarray(full / raw_KxM.size, exposure_Kx1.dtype)
  electrons = raw_KxM.astype(exposure_Kx1.dtype) / cam.gain - cam.dark_electrons
  return electrons / exposure_Kx1, saturated


def detect(cam: Camera, i_KxM: Array, key: Array) -> tuple[Array, Array]:
  """One exposure of each frame: (intensity estimate, saturated fraction)."""
  shape = i_KxM.shape
  sources = i_KxM.reshape(-1, *shape[-2:]) if i_KxM.ndim > 2 else i_KxM[None]
  (est,), saturated = capture(cam, lambda i: (i,), sources, key)
  return est.reshape(shape), saturated
