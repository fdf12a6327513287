"""Datasets from TensorFlow Datasets, converted once to arrays and cached: the shipped
ones (`DATASETS`, prepared offline from their original files), or any other TFDS name
online (``cifar10``, ``imdb_reviews/plain_text:1.0.0``) whose features are an ``image``
and a ``label`` (classification; any H x W x C) or a ``text`` (read as bytes, the
records of a split joined by newlines).

Online, TFDS downloads. Offline, it prepares the dataset from the publishers' original
files in a manual dir (``data.manual_dir`` in the config, or ``$OPUJAX_MANUAL_DIR``,
which holds one folder per dataset, e.g. ``mnist/``), once, into array_record under the
data dir, and we read it back with ``tfds.data_source``. The arrays are then cached as
``<data_dir>/opujax/<name>.npz`` so later runs skip TFDS (and TensorFlow) entirely.
"""

import fcntl
import logging
import os
import socket
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from opujax import errors, files

MANUAL_FILES = {
    "mnist": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    "fashion_mnist": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    "tiny_shakespeare": ("input.txt",),
}
DATASETS = tuple(MANUAL_FILES)
TEXT_DATASETS = ("tiny_shakespeare",)  # a text feature, read as characters
CACHED = {"tiny_shakespeare": ("train_text", "test_text", "validation_text")}
# Pixel mean and standard deviation over the shipped datasets' training images (in [0, 1]);
# another image dataset's are computed once from its training split and cached with it.
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
SPLITS = ("train", "test", "validation")
SOURCES = "the publishers (yann.lecun.com, github.com/zalandoresearch/fashion-mnist, " \
          "github.com/karpathy/char-rnn)"


class DataError(errors.UserError):
  """A dataset that cannot be had, with what to do about it."""


class Dataset(NamedTuple):
  """Arrays of one dataset. Images: x (N, ...) (uint8 (N, 28, 28, 1) for the shipped
  ones), y integer labels (N,). Text: x the symbol ids of the whole split (N,), y empty;
  ``vocab`` the symbols. ``stats``: the (mean, std) of the training inputs (pixels in
  [0, 1]) where known, else None (computed when needed: `tasks.input_stats`). Field by
  field, as a user's function must return them: `own`."""

  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  val_x: np.ndarray
  val_y: np.ndarray
  vocab: str = ""
  stats: tuple[float, float] | None = None


def default_data_dir() -> Path:
  return Path(os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets"))


def _check_manual_dir(name: str, manual_dir: Path) -> None:
  missing = [f for f in MANUAL_FILES[name] if not (manual_dir / f).is_file()]
  if missing:
    raise DataError(
        f"Dataset {name!r}: {', '.join(missing)} not found in {manual_dir}; put the "
        f"original files there (from {SOURCES}, or ../shared/data/{name}), or point "
        "data.manual_dir / $OPUJAX_MANUAL_DIR at the folder holding them.")


def _check_reachable(name: str, builder, timeout: float = 5.0) -> None:
  """Fails in seconds, not after TFDS's minutes of retries, when a host TFDS downloads
  ``name`` from (its builder's ``url_infos``) cannot be reached."""
  from urllib.parse import urlsplit
  for url in builder.url_infos or {}:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    try:
      socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
      offline = (f"Offline, put the original files in <dir>/{name}/ (e.g. ../shared/data) "
                 "and set data.manual_dir or $OPUJAX_MANUAL_DIR to <dir>." if name in DATASETS
                 else "It needs the internet the first time.")
      raise DataError(f"Cannot reach {host} to download {name!r} ({e}). {offline}") from e


def _read_tfds(name: str, data_dir: Path, manual_dir: Path | None) -> dict[str, np.ndarray]:
  """Prepares (if needed) and reads every split through tfds.data_source: ``<split>_x``,
  ``<split>_y`` (and ``stats`` for a dataset not shipped) or ``<split>_text``."""
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise DataError(f"Reading {name!r} the first time needs tensorflow-datasets "
                    "(pip install -e .); later runs use the cached arrays.") from e
  kwargs = {"file_format": "array_record"}
  try:
    builder = tfds.builder(name, data_dir=str(data_dir), **kwargs)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f"Unknown dataset {name!r}: not one of {', '.join(DATASETS)}, a TFDS "
                    "name (tfds.list_builders()), nor an import path 'package.module:attr'."
                    ) from e
  features = builder.info.features
  text = "text" in features
  if not text and not {"image", "label"} <= set(features):
    raise DataError(f"TFDS dataset {name!r} has the features {', '.join(features)}; opujax "
                    "reads an 'image' and a 'label' (classification) or a 'text'.")
  if not builder.is_prepared():
    _prepare(builder, name, data_dir, manual_dir)
  arrays = {}
  for split in SPLITS:
    try:
      source = tfds.data_source(name, split=split, data_dir=str(data_dir),
                                builder_kwargs=kwargs)
    except ValueError as e:  # no such split
      if split == "validation":
        continue
      raise DataError(f"TFDS dataset {name!r} has no {split!r} split: {e}") from e
    records = [source[i] for i in range(len(source))]
    if text:
      arrays[f"{split}_text"] = np.frombuffer(b"\n".join(
          t if isinstance(t, bytes) else t.encode() for t in (r["text"] for r in records)),
          np.uint8)
    else:
      arrays[f"{split}_x"] = np.stack([r["image"] for r in records]).astype(np.uint8)
      arrays[f"{split}_y"] = np.array([r["label"] for r in records], np.int32)
  if not text and name not in PIXEL_STATS:
    x = arrays["train_x"]
    arrays["stats"] = np.array([x.mean(dtype=np.float64), x.std(dtype=np.float64)]) / 255.0
  return arrays


def _prepare(builder, name: str, data_dir: Path, manual_dir: Path | None) -> None:
  """Downloads and prepares ``name``: a shipped dataset from ``manual_dir`` when given."""
  import tensorflow_datasets as tfds
  config = None
  if manual_dir is not None:
    _check_manual_dir(name, manual_dir)
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
  else:
    _check_reachable(name, builder)
  try:  # a download dir per dataset: MNIST and Fashion-MNIST share file names
    builder.download_and_prepare(download_dir=str(data_dir / "downloads" / name),
                                 download_config=config)
  except Exception as e:  # TFDS raises many types; the user needs one message.
    if manual_dir is None:
      offline = (f" Offline, put the original files in <dir>/{name}/ (e.g. ../shared/data) "
                 "and set data.manual_dir or $OPUJAX_MANUAL_DIR to <dir>."
                 if name in DATASETS else " It needs the internet the first time.")
      raise DataError(f"TFDS could not download {name!r} ({type(e).__name__}: "
                      f"{' '.join(str(e).split())[:200]}).{offline}") from e
    raise DataError(f"TFDS could not prepare {name!r} from the files in {manual_dir}: {e}. "
                    "Check them against their published checksums (SHA256SUMS), or delete "
                    f"{data_dir / name} and try again.") from e


def _cached_arrays(name: str, data_dir: Path, manual_dir: Path | None) -> dict[str, np.ndarray]:
  """The dataset's arrays from the cache, which is (re)built from TFDS when it is
  missing or unreadable (truncated, bad CRC, empty, a split missing), and replaced
  whole (atomically): a corrupt cache never reaches a run, nor breaks later ones."""
  cache = data_dir / "opujax" / f"{name.replace('/', '__').replace(':', '@')}.npz"
  arrays = _read_cache(cache, name)
  if arrays is not None:
    return arrays
  cache.parent.mkdir(parents=True, exist_ok=True)
  with open(cache.with_suffix(".lock"), "w") as lock:  # one process prepares, the others
    fcntl.flock(lock, fcntl.LOCK_EX)                    # (sweeps, jax.distributed) wait
    arrays = _read_cache(cache, name)
    if arrays is None:
      arrays = _read_tfds(name, data_dir, manual_dir)
      files.write_atomic(cache, lambda tmp: np.savez(tmp, **arrays))
  return arrays


def _read_cache(cache: Path, name: str) -> dict[str, np.ndarray] | None:
  """The cached arrays, or None when there are none or they cannot be read whole."""
  if not cache.is_file():
    return None
  try:
    with np.load(cache) as f:
      arrays = dict(f)  # reads every member: zipfile checks each one's CRC
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    logging.warning("The array cache %s is unreadable (%s: %s); rebuilding it.", cache,
                    type(e).__name__, e)
    return None
  expected = CACHED.get(name, ("train_x", "train_y", "test_x", "test_y"))
  if name not in DATASETS:  # images with their statistics, or text
    expected = ("train_text", "test_text") if "train_text" in arrays else expected + ("stats",)
  missing = [k for k in expected if k not in arrays]
  if missing:
    logging.warning("The array cache %s lacks %s; rebuilding it.", cache, ", ".join(missing))
    return None
  return arrays


def load(name: str, data_dir: str | None = None, manual_dir: str | None = None,
         validation: int = 0) -> Dataset:
  """Loads dataset ``name``, holding out the last ``validation`` training examples (else
  the dataset's own validation split, if it has one).

  Args:
    name: "mnist", "fashion_mnist", "tiny_shakespeare", or another TFDS name (online).
    data_dir: TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).
    manual_dir: folder with one sub-folder of original files per shipped dataset (default
      $OPUJAX_MANUAL_DIR); without one, TFDS downloads.
    validation: examples (characters, for text) held out of train as validation.

  Raises:
    DataError: unknown name, missing or corrupt files, with what to do.
  """
  data_dir = Path(data_dir) if data_dir else default_data_dir()
  manual_dir = manual_dir or os.environ.get("OPUJAX_MANUAL_DIR")
  manual = Path(manual_dir) / name if manual_dir and name in DATASETS else None
  a = _cached_arrays(name, data_dir, manual)
  if "train_text" in a:
    splits = [a.get(f"{s}_text", np.zeros(0, np.uint8)) for s in SPLITS]
    if validation:
      if not 0 < validation < len(splits[0]):
        raise DataError(f"validation={validation} must be in [0, {len(splits[0])}) for "
                        f"{name!r}.")
      splits = [splits[0][:-validation], splits[1], splits[0][-validation:]]
    vocab = bytes(sorted(set(np.concatenate(splits).tolist()))).decode("latin-1")
    lut = np.zeros(256, np.uint8)
    lut[np.frombuffer(vocab.encode("latin-1"), np.uint8)] = np.arange(len(vocab))
    empty = np.zeros((0,), np.int32)
    return Dataset(lut[splits[0]], empty, lut[splits[1]], empty, lut[splits[2]], empty, vocab)
  x, y = a["train_x"], a["train_y"]
  if not 0 <= validation < len(x):
    raise DataError(f"validation={validation} must be in [0, {len(x)}) for {name!r}.")
  stats = PIXEL_STATS.get(name) or tuple(float(v) for v in a["stats"])
  if not validation and "validation_x" in a:
    return Dataset(x, y, a["test_x"], a["test_y"], a["validation_x"], a["validation_y"],
                   stats=stats)
  cut = len(x) - validation
  return Dataset(x[:cut], y[:cut], a["test_x"], a["test_y"], x[cut:], y[cut:], stats=stats)
