"""Denoising diffusion on images (Ho et al. 2020), sampled with DDIM (Song et al. 2021),
written against the main job's hooks as a user's experiment is: the denoiser
``model.name = "opujax.diffusion:MLP"`` (the whole image at once; the shipped configs') or
``"opujax.diffusion:DiT"`` (a Transformer on patches, Peebles & Xie 2023) and the task
``task = "opujax.diffusion:task"``, its options in ``config.diffusion``.

The model sees x_t and t as one array, (B, H, W, C + 1), the last channel t / T (with
``model.label_classes``, one more before it: the label, or the null label of classifier-free
guidance, Ho & Salimans 2022), and predicts the noise ε (or v) patch by patch,
(B, N, p·p·C): under DFA each patch's error is one error vector, as each token's is for
the language model; with the patch the image's side, (B, H·W·C), one error vector an
image. Trained on the mean squared error ||ε̂ - ε||² (or v's, optionally
min-SNR weighted: `noised`); evaluated on the test images at fixed noise draws and times
(the same for every rule and every evaluation); at the end, 1,000 DDIM samples are
scored by a reference classifier (`sample_metrics`) and 64 of them drawn in
``samples.png``.
"""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from opujax import data, files, tasks
from opujax.errors import ConfigError
from opujax.models.nets import NORMS, Block, check_choice

Array = jax.Array


SCHEDULES = ("linear", "cosine")


def alpha_bar(steps: int = 1000, schedule: str = "linear") -> np.ndarray:
  """ᾱ_t = Π_{s≤t} (1 - β_s), t = 0 .. steps - 1: β linear from 1e-4 to 0.02 (DDPM's), or
  ``"cosine"`` (Nichol & Dhariwal 2021): ᾱ_t = f(t + 1) / f(0), f(u) = cos²((u / T + s) /
  (1 + s) · π / 2), s = 0.008, each β clipped at 0.999; it destroys the image more slowly,
  so fewer of the steps are nearly pure noise on small images."""
  if schedule == "cosine":
    f = np.cos((np.arange(steps + 1) / steps + 0.008) / 1.008 * np.pi / 2) ** 2
    return np.cumprod(1.0 - np.minimum(1.0 - f[1:] / f[:-1], 0.999))
  return np.cumprod(1.0 - np.linspace(1e-4, 0.02, steps))


def patchify(x_BxHxWxC, p: int):
  """(B, H, W, C) -> (B, H/p · W/p, p·p·C), patches in row-major order."""
  b, h, w, c = x_BxHxWxC.shape
  x = x_BxHxWxC.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(y_BxNxK, p: int, shape: tuple[int, int, int]):
  """The inverse of `patchify` for images of ``shape`` (H, W, C)."""
  h, w, c = shape
  y = y_BxNxK.reshape(-1, h // p, w // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(-1, h, w, c)


def time_embedding(t_B, d: int):
  """sin and cos of t / 10000^(2i/d): the Transformer's position code at a real t."""
  freqs = 1.0 / 10000 ** (jnp.arange(0, d, 2) / d)
  angles = t_B[:, None] * freqs
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], -1)[:, :d]


class DiT(nn.Module):
  """(B, H, W, C + 1) noisy images with t / T in the last channel -> (B, N, outputs):
  patches embedded linearly, learned positions and the time's embedding (an MLP of its
  sinusoids; with ``label_classes``, plus a learned embedding of the label that a channel
  before t carries, ``label_classes`` itself the null label) added to every token,
  ``depth`` `Block`s without a causal mask (with
  ``long_skips``, U-ViT's (Bao et al. 2023): the input of each block of the first half is
  joined to that of its mirror in the second, mixed by a Dense layer), and a linear head
  per token on the last block's output and the token's own noisy pixels (a long
  skip, as U-ViT's: through LayerNorms alone a token's output forgets its input's scale,
  which the noise at large t is)."""

  outputs: int
  patch: int = 4
  d_model: int = 64
  depth: int = 4
  heads: int = 4
  mlp_ratio: int = 2
  norm: str = "post"
  steps: int = 1000  # T: the time's scale for its embedding
  long_skips: bool = False
  label_classes: int = 0  # > 0: class-conditional (the label: the channel before t)

  def __post_init__(self):
    check_choice("norm", self.norm, NORMS)
    super().__post_init__()

  @nn.compact
  def __call__(self, x_BxHxWxC1, train: bool = False):
    d, p = self.d_model, self.patch
    image, t_B = x_BxHxWxC1[..., :-1], x_BxHxWxC1[:, 0, 0, -1] * self.steps
    if self.label_classes:
      image, label_B = image[..., :-1], x_BxHxWxC1[:, 0, 0, -2].astype(jnp.int32)
    h = nn.Conv(d, (p, p), strides=(p, p), padding="VALID", name="embed")(image)
    h_BxNxD = h.reshape(h.shape[0], -1, d)
    pos = self.param("pos", nn.initializers.normal(0.02), h_BxNxD.shape[1:])
    time = nn.Dense(d, name="time_out")(nn.gelu(nn.Dense(d, name="time_in")(
        time_embedding(t_B, d))))
    if self.label_classes:  # one more row: the null label of classifier-free guidance
      time = time + nn.Embed(self.label_classes + 1, d, name="label")(label_B)
    h_BxNxD = h_BxNxD + pos + time[:, None]
    skips = []
    for i in range(self.depth):
      if self.long_skips and i < self.depth // 2:
        skips.append(h_BxNxD)
      elif self.long_skips and skips:
        h_BxNxD = nn.Dense(d, name=f"skip_{i}")(jnp.concatenate([h_BxNxD, skips.pop()], -1))
      h_BxNxD = Block(self.heads, self.mlp_ratio, norm=self.norm, causal=False)(h_BxNxD)
    if self.norm == "pre":
      h_BxNxD = nn.LayerNorm()(h_BxNxD)
    skip_BxNxK = patchify(image, p)
    return nn.Dense(self.outputs, name="head")(jnp.concatenate([h_BxNxD, skip_BxNxK], -1))


class Layer(nn.Module):
  """A post-LN residual MLP layer, h <- LayerNorm(h + W2 gelu(W1 h + U temb)); with
  ``plain``, the layers of the MLPs DFA trains in Launay et al.'s NeRF, h <- relu(W1 h +
  U temb)."""

  width: int
  plain: bool = False

  @nn.compact
  def __call__(self, h_BxD, temb_BxE):
    y = nn.Dense(self.width)(h_BxD) + nn.Dense(self.width, use_bias=False)(temb_BxE)
    if self.plain:
      return nn.relu(y)
    return nn.LayerNorm()(h_BxD + nn.Dense(h_BxD.shape[-1])(nn.gelu(y)))


class MLP(nn.Module):
  """(B, H, W, C + 1) noisy images with t / T in the last channel -> (B, H·W·C) with
  ``patch`` the image's side (one error vector an image), else (B, N, p·p·C) as the DiT's:
  a denoiser on the whole image.
  The flattened x_t and the time's embedding (an MLP of its sinusoids; with
  ``label_classes``, plus a learned embedding of the label that a channel before t
  carries, ``label_classes`` itself the null label) into ``width``, ``depth`` `Layer`s
  each reading the embedding, and a linear head on the last layer's output and x_t (a
  long skip, as the DiT's), plus, with ``skip_gain``, x_t scaled pixel by pixel by a gain
  learned of t (zero at the start): the target's share of x_t changes with t, which a
  head of fixed weights cannot follow."""

  outputs: int  # filled by the builder; the head's size is the image's
  width: int = 1024
  depth: int = 4
  steps: int = 1000  # T: the time's scale for its embedding
  patch: int = 28
  skip_gain: bool = False
  plain: bool = False  # `Layer`'s
  label_classes: int = 0  # > 0: class-conditional (the label: the channel before t)

  @nn.compact
  def __call__(self, x_BxHxWxC1, train: bool = False):
    image, t_B = x_BxHxWxC1[..., :-1], x_BxHxWxC1[:, 0, 0, -1] * self.steps
    if self.label_classes:
      image, label_B = image[..., :-1], x_BxHxWxC1[:, 0, 0, -2].astype(jnp.int32)
    flat_BxK = image.reshape(image.shape[0], -1)
    temb_BxE = nn.Dense(128)(nn.swish(nn.Dense(128)(time_embedding(t_B, 128))))
    if self.label_classes:
      temb_BxE = temb_BxE + nn.Embed(self.label_classes + 1, 128, name="label")(label_B)
    h_BxD = nn.Dense(self.width, name="embed")(jnp.concatenate([flat_BxK, temb_BxE], -1))
    for _ in range(self.depth):
      h_BxD = Layer(self.width, self.plain)(h_BxD, temb_BxE)
    k = flat_BxK.shape[-1]
    out_BxK = nn.Dense(k, name="head")(jnp.concatenate([h_BxD, flat_BxK], -1))
    if self.skip_gain:
      gain = nn.Dense(k, kernel_init=nn.initializers.zeros, name="gain")(temb_BxE)
      out_BxK = out_BxK + gain * flat_BxK
    if self.patch == image.shape[1]:
      return out_BxK
    return patchify(out_BxK.reshape(image.shape), self.patch)


def scaled(x_uint8):
  """Pixels in [0, 255] to [-1, 1]."""
  return x_uint8.astype(jnp.float32) / 127.5 - 1.0


PREDICTIONS = ("eps", "v")


def noised(x0, t, eps, abar, steps: int, patch: int, min_snr: float = 0.0,
           prediction: str = "eps", labels=None):
  """(x_t with t / T as a last channel, the target): x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε (with
  ``labels``, (B,) class numbers, a channel of them before t's); the
  target, in patches (B, N, p·p·C), is ε or, with ``prediction="v"``, Salimans & Ho's
  v = √ᾱ_t ε - √(1-ᾱ_t) x0 (whose error is the image's at large t, where ε's is nearly
  nothing), followed by two features: the loss's weight at t, 1 or with ``min_snr`` γ > 0
  Hang et al.'s min(SNR_t, γ) / SNR_t for ε (min(SNR_t, γ) / (SNR_t + 1) for v), SNR_t =
  ᾱ_t / (1-ᾱ_t) (the steps of little noise, easy and many, weigh less); and the factor s
  that makes s (out - target)² the noise's squared error: 1 for ε, ᾱ_t for v
  (ε = √(1-ᾱ_t) x_t + √ᾱ_t v)."""
  a = abar[t][:, None, None, None]
  x_t = jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * eps
  v = prediction == "v"
  target = patchify(jnp.sqrt(a) * eps - jnp.sqrt(1.0 - a) * x0 if v else eps, patch)
  if target.shape[1] == 1:  # one patch, the image: one error vector an image
    target = target[:, 0]
  snr = a / (1.0 - a)
  weight = (jnp.minimum(snr, min_snr) / (snr + 1.0 if v else snr) if min_snr
            else jnp.ones_like(snr))
  extras = [jnp.broadcast_to(f.reshape(-1, *[1] * (target.ndim - 1)), (*target.shape[:-1], 1))
            for f in (weight, a if v else jnp.ones_like(a))]
  y = jnp.concatenate([target, *extras], -1).astype(target.dtype)
  return pack(x_t, t / steps, labels), y


def pack(x_BxHxWxC, clock_B, labels_B=None):
  """The denoiser's input: the images, then (with labels) a channel of each one's label,
  then one of its t / T."""
  planes = [] if labels_B is None else [labels_B]
  planes = [jnp.broadcast_to(jnp.asarray(v, x_BxHxWxC.dtype).reshape(-1, 1, 1, 1),
                             (*x_BxHxWxC.shape[:3], 1)) for v in (*planes, clock_B)]
  return jnp.concatenate([x_BxHxWxC, *planes], -1)


def to_eps(out, x_t, a: float, prediction: str):
  """The noise ε̂ that a denoiser's output ``out`` (an image, as ``x_t``) implies at ᾱ = ``a``."""
  return np.sqrt(1.0 - a) * x_t + np.sqrt(a) * out if prediction == "v" else out


@dataclasses.dataclass(frozen=True)
class Diffusion:
  """The task (`opujax.tasks.Task`): examples are images (labels unused); a step draws
  each image's t and ε (`augment`); evaluation splits hold fixed draws from ``seed``."""

  shape: tuple[int, int, int]  # (H, W, C) of the images
  patch: int = 4
  steps: int = 1000
  samples: int = 1000
  sample_steps: int = 50
  classifier: str = ""  # a run folder of an image classifier ("": no sample scores)
  seed: int = 0
  min_snr: float = 0.0  # the training loss's min-SNR weighting γ (0: none; `noised`)
  schedule: str = "linear"  # the noise schedule (`alpha_bar`)
  eta: float = 0.0  # the sampler's η (`ddim_step`: 0 deterministic DDIM, 1 DDPM)
  prediction: str = "eps"  # what the denoiser predicts: "eps" or "v" (`noised`)
  classes: int = 0  # > 0: conditioned on the label (the model's ``label_classes``)
  label_dropout: float = 0.1  # the share of training labels replaced by the null label
  guidance: float = 0.0  # classifier-free guidance w (`ddim`)
  eval_batch: ClassVar[int] = 500
  score: ClassVar[tuple[str, str]] = ("loss", "min")

  @property
  def tokens(self) -> int:
    return (self.shape[0] // self.patch) * (self.shape[1] // self.patch)

  def outputs(self, ds: data.Dataset) -> int:
    return self.patch * self.patch * self.shape[2]

  def rows(self, batch_size: int) -> int:
    return batch_size * self.tokens

  def fixed(self, x_uint8: np.ndarray, split: int,
            labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An evaluation split's inputs and targets: each image at its own t and ε, drawn
    once from ``seed`` and the split's number (conditioned on its own label)."""
    rng = np.random.default_rng([self.seed, split])
    t = rng.integers(0, self.steps, len(x_uint8))
    eps = rng.standard_normal(x_uint8.shape).astype(np.float32)
    x, y = noised(scaled(x_uint8), jnp.asarray(t), jnp.asarray(eps),
                  jnp.asarray(alpha_bar(self.steps, self.schedule), jnp.float32), self.steps,
                  self.patch, self.min_snr, self.prediction,
                  labels if self.classes else None)
    return np.asarray(x), np.asarray(y)

  def splits(self, ds: data.Dataset, batch_size: int) -> tasks.Splits:
    n = len(ds.test_x)
    evals = {"test": self.fixed(ds.test_x, 1, ds.test_y),
             "validation": self.fixed(ds.val_x, 2, ds.val_y),
             "train_eval": self.fixed(ds.train_x[:n], 3, ds.train_y[:n])}
    return tasks.Splits(ds.train_x, ds.train_y, len(ds.train_x), len(ds.train_x) // batch_size,
                  evals)

  def batch(self, train_x, train_y, idx):
    return train_x[idx], train_y[idx]

  def augment(self, key, x, y):
    k_t, k_eps, k_drop = jax.random.split(key, 3)
    t = jax.random.randint(k_t, (x.shape[0],), 0, self.steps)
    x0 = scaled(x)
    eps = jax.random.normal(k_eps, x0.shape, x0.dtype)
    abar = jnp.asarray(alpha_bar(self.steps, self.schedule), jnp.float32)
    labels = None
    if self.classes:  # classifier-free guidance's training: some labels are the null one
      labels = jnp.where(jax.random.uniform(k_drop, y.shape) < self.label_dropout,
                         self.classes, y)
    return noised(x0, t, eps, abar, self.steps, self.patch, self.min_snr, self.prediction,
                  labels)

  def preprocess(self, x):
    return x

  def loss(self, out, y):
    """The target's squared error, weighted by ``y``'s weight feature (`noised`)."""
    return jnp.mean(y[..., -2:-1] * (out - y[..., :-2]) ** 2)

  def metrics(self, out, y):
    """``loss``: the noise's mean squared error, unweighted, per image, whatever the
    denoiser predicts."""
    return {"loss": jnp.mean(y[..., -1:] * (out - y[..., :-2]) ** 2,
                             axis=tuple(range(1, out.ndim)))}

  def final(self, predict: Callable, workdir: Path | None) -> dict[str, float]:
    """``samples.png`` in ``workdir`` (64 of ``samples`` DDIM samples) and, with a
    classifier, their `sample_metrics` against as many test images of its dataset."""
    labels = np.arange(self.samples) % self.classes if self.classes else None
    images = ddim(predict, self.samples, self.shape, self.patch, self.steps,
                  self.sample_steps, jax.random.key(self.seed), schedule=self.schedule,
                  eta=self.eta, prediction=self.prediction, labels=labels,
                  guidance=self.guidance, null=self.classes)
    if workdir is not None:
      draw(images[:64], Path(workdir) / "samples.png")
    if not self.classifier:
      return {}
    classify, real = load_classifier(self.classifier)
    _, reference = classify(real[:self.samples])
    return sample_metrics(*classify((images + 1.0) / 2.0), reference, labels)


def ddim(predict: Callable, n: int, shape, patch: int, steps: int, sample_steps: int,
         key: Array, batch: int = 500, schedule: str = "linear", eta: float = 0.0,
         prediction: str = "eps", labels: np.ndarray | None = None, guidance: float = 0.0,
         null: int = 0) -> np.ndarray:
  """``n`` images in [-1, 1] by DDIM (Song et al. 2021) over ``sample_steps`` evenly spaced
  times from T - 1 to 0, each a `ddim_step` with the ε̂ the denoiser's output implies
  (`to_eps`): deterministic with ``eta`` 0, DDPM's ancestral sampler with 1. With
  ``labels`` (n,), each image is drawn of its label, the output guided as Ho & Salimans'
  classifier-free guidance: (1 + w) out(label) - w out(``null``), w = ``guidance``."""
  abar = alpha_bar(steps, schedule)
  times = np.linspace(steps - 1, 0, sample_steps).round().astype(int)
  k_x, k_z = jax.random.split(key)
  x = np.asarray(jax.random.normal(k_x, (n, *shape)))

  def output(x, t, label):
    packed = np.asarray(pack(jnp.asarray(x, jnp.float32), np.full(n, t / steps), label))
    return np.concatenate([np.asarray(unpatchify(predict(packed[j:j + batch]), patch, shape))
                           for j in range(0, n, batch)])

  for i, t in enumerate(times):
    a, a_next = abar[t], abar[times[i + 1]] if i + 1 < len(times) else 1.0
    out = output(x, t, labels)
    if labels is not None and guidance:
      out = (1.0 + guidance) * out - guidance * output(x, t, np.full(n, null))
    eps = to_eps(out, x, a, prediction)
    z = np.asarray(jax.random.normal(jax.random.fold_in(k_z, i), x.shape)) if eta else 0.0
    x = ddim_step(x, eps, a, a_next, eta, z)
  return x


def ddim_step(x_t: np.ndarray, eps: np.ndarray, a: float, a_next: float, eta: float,
              z, clip: bool = True) -> np.ndarray:
  """One DDIM step from ᾱ = ``a`` to ``a_next``: x̂0 = (x_t - √(1-ᾱ) ε̂) / √ᾱ clipped to
  [-1, 1] (with ``clip``), the noise ε' = (x_t - √ᾱ x̂0) / √(1-ᾱ) that it implies (ε̂ itself unless
  clipped), σ = η √((1-ᾱ') / (1-ᾱ) · (1 - ᾱ / ᾱ')) and
  x' = √ᾱ' x̂0 + √(1-ᾱ' - σ²) ε' + σ z, z ~ N(0, I)."""
  x0 = (x_t - np.sqrt(1 - a) * eps) / np.sqrt(a)
  x0 = np.clip(x0, -1.0, 1.0) if clip else x0
  eps = (x_t - np.sqrt(a) * x0) / np.sqrt(1 - a)
  sigma = eta * np.sqrt((1 - a_next) / (1 - a) * (1 - a / a_next))
  return np.sqrt(a_next) * x0 + np.sqrt(max(1 - a_next - sigma ** 2, 0.0)) * eps + sigma * z


def draw(images: np.ndarray, path: Path) -> None:
  """A square grid of the images (values in [-1, 1])."""
  k = int(np.ceil(np.sqrt(len(images))))
  with files.figure(path, k, k, figsize=(k, k)) as (_, axes):
    for ax, i in zip(axes.ravel(), range(k * k)):
      ax.axis("off")
      if i < len(images):
        ax.imshow((images[i, ..., 0] + 1.0) / 2.0, cmap="gray", vmin=0.0, vmax=1.0)


def sample_metrics(logits: np.ndarray, features: np.ndarray, reference: np.ndarray,
                   labels: np.ndarray | None = None) -> dict[str, float]:
  """Scores of generated images by a classifier: ``samples/recognised``, the fraction
  whose top class has probability >= 0.9; ``samples/class_entropy``, the entropy (nats)
  of the histogram of top classes (ln 10 = 2.303: balanced over 10); ``samples/fd``, the
  Fréchet distance between Gaussians fitted to ``features`` and to ``reference`` (the
  classifier's penultimate features of real images): |μ1 - μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½);
  with the ``labels`` the images were drawn of, ``samples/label_agreement``, the fraction
  whose top class is their label."""
  z = logits - logits.max(-1, keepdims=True)
  prob = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  hist = np.bincount(prob.argmax(-1), minlength=logits.shape[-1]) / len(logits)
  entropy = -np.sum(hist[hist > 0] * np.log(hist[hist > 0]))
  scores = {"samples/recognised": float(np.mean(prob.max(-1) >= 0.9)),
            "samples/class_entropy": float(entropy),
            "samples/fd": frechet(features, reference)}
  if labels is not None:
    scores["samples/label_agreement"] = float(np.mean(prob.argmax(-1) == labels))
  return scores


def frechet(a: np.ndarray, b: np.ndarray) -> float:
  """Fréchet distance of Gaussians fitted to the rows of ``a`` and of ``b``; Tr((Σa Σb)^½)
  as the sum of the square roots of Σa Σb's eigenvalues (real, >= 0 for PSD Σ)."""
  a, b = a.astype(np.float64), b.astype(np.float64)
  sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  root = np.sum(np.sqrt(np.clip(np.linalg.eigvals(sa @ sb).real, 0.0, None)))
  return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2 * root)


def load_classifier(workdir: str) -> tuple[Callable, np.ndarray]:
  """The image classifier trained in the run folder ``workdir`` (e.g. by ``python -m
  opujax.run --config configs/mnist_bp.py --workdir runs/mnist_classifier``), as
  ``classify(images in [0, 1]) -> (logits, features)`` (features: the input of its
  ``head``), and its dataset's test images in [0, 1]."""
  from opujax import build, checkpoint
  config = ml_collections.ConfigDict(json.loads((Path(workdir) / "config.json").read_text()))
  step = max(int(p.name) for p in (Path(workdir) / "checkpoints").iterdir() if p.name.isdigit())
  saved = checkpoint.load(Path(workdir), step)
  params, state = saved["params"], saved.get("model_state") or {}
  model = build.model(config, params["head"]["kernel"].shape[-1])
  ds = data.load(config.dataset, config.data.data_dir or None, config.data.manual_dir or None)
  stats = tasks.input_stats(ds)

  def head_input(next_fun, args, kwargs, context):
    if context.module.name == "head" and context.method_name == "__call__":
      features.append(args[0])
    return next_fun(*args, **kwargs)

  @jax.jit
  def forward(x):
    with nn.intercept_methods(head_input):
      logits = model.apply({"params": params, **state}, tasks.standardise(x, stats))
    return logits, features.pop()

  features: list = []

  def classify(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = [forward(jnp.asarray(images[i:i + 500], jnp.float32)) for i in range(0, len(images), 500)]
    return (np.concatenate([np.asarray(l) for l, _ in out]),
            np.concatenate([np.asarray(f) for _, f in out]))

  return classify, ds.test_x.astype(np.float32) / 255.0


def task(config, ds: data.Dataset) -> Diffusion:
  """The config's `Diffusion` (``task = "opujax.diffusion:task"``): the patch and T of
  ``config.model`` (and its ``label_classes``), the rest from ``config.diffusion`` (samples,
  sample_steps, classifier, min_snr, schedule, eta, prediction, label_dropout, guidance).

  Raises:
    ConfigError: a dataset that is not images, a classifier folder that is not there, a
      negative min_snr, an unknown schedule or prediction, an eta outside [0, 1],
      label_classes that do not cover the labels, a label_dropout outside [0, 1) or a
      negative guidance.
  """
  if ds.vocab or ds.train_x.ndim != 4:
    raise ConfigError(f"the diffusion task generates images (N, H, W, C); {config.dataset} "
                      "holds none.")
  o = config.get("diffusion") or ml_collections.ConfigDict()
  classifier = o.get("classifier", "")
  if classifier and not (Path(classifier) / "config.json").is_file():
    raise ConfigError(f"diffusion.classifier={classifier!r} is not a run folder; make it with "
                      f"python -m opujax.run --config configs/mnist_bp.py --workdir "
                      f"{classifier} (or leave it '' for no sample scores).")
  min_snr = o.get("min_snr", 0.0)
  if not isinstance(min_snr, (int, float)) or not 0 <= min_snr < float("inf"):
    raise ConfigError(f"diffusion.min_snr must be >= 0 (0: an unweighted loss), got {min_snr!r}.")
  eta = o.get("eta", 0.0)
  if not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
    raise ConfigError(f"diffusion.eta must be in [0, 1] (0: deterministic DDIM, 1: DDPM), "
                      f"got {eta!r}.")
  schedule = o.get("schedule", "linear")
  if schedule not in SCHEDULES:
    raise ConfigError(f"diffusion.schedule must be one of {', '.join(SCHEDULES)}, got "
                      f"{schedule!r}.")
  prediction = o.get("prediction", "eps")
  if prediction not in PREDICTIONS:
    raise ConfigError(f"diffusion.prediction must be one of {', '.join(PREDICTIONS)}, got "
                      f"{prediction!r}.")
  classes = config.model.get("label_classes", 0)
  if classes and (ds.train_y is None or int(np.max(ds.train_y)) >= classes):
    raise ConfigError(f"model.label_classes={classes} does not cover {config.dataset}'s "
                      "labels; give their number (0: unconditional).")
  dropout, guidance = o.get("label_dropout", 0.1), o.get("guidance", 0.0)
  if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
    raise ConfigError(f"diffusion.label_dropout must be in [0, 1), got {dropout!r}.")
  if not isinstance(guidance, (int, float)) or not 0 <= guidance < float("inf"):
    raise ConfigError(f"diffusion.guidance must be >= 0 (0: none), got {guidance!r}.")
  return Diffusion(tuple(ds.train_x.shape[1:]), config.model.get("patch", 4),
                   config.model.get("steps", 1000), o.get("samples", 1000),
                   o.get("sample_steps", 50), classifier, config.seed, float(min_snr), schedule,
                   float(eta), prediction, classes, float(dropout), float(guidance))
