"""A user's own dataset: ``config.dataset = "package.module:attr"``, a function of no
arguments returning an in-memory `Dataset`, checked array by array before training.

Images (or feature vectors): ``vocab`` empty; ``train_x`` (N, ...) numeric (uint8 pixels
are divided by 255, then every input is standardised with the training split's mean and
standard deviation); ``train_y`` (N,) integer class labels in [0, classes); ``test_x``,
``test_y`` (M, ...) and (M,) with the training inputs' trailing shape; ``val_x``,
``val_y`` the same, or empty (N = 0) for no validation split.
Text: ``vocab`` the symbols (a string); ``train_x``, ``test_x``, ``val_x`` 1-D integer
ids in [0, len(vocab)), the whole split each; the ``*_y`` arrays empty.
"""

import importlib

import numpy as np

from opujax.data.tfds_arrays import DataError, Dataset


def is_path(name: str) -> bool:
  """Whether a dataset name is an import path ``"package.module:attr"``."""
  return ":" in name


def load(name: str) -> Dataset:
  """The dataset the function at ``name`` returns, checked (`check`).

  Raises:
    DataError: a path that does not import, a failing function, or arrays that are not
      what a `Dataset` holds, naming which and what is expected.
  """
  module, _, attr = name.partition(":")
  try:
    fn = getattr(importlib.import_module(module), attr)
  except Exception as e:  # the user's module: any failure to import it is a data error
    raise DataError(f"dataset={name!r} cannot be loaded: {type(e).__name__}: "
                    f"{' '.join(str(e).split())}") from e
  try:
    ds = fn()
  except Exception as e:  # the user's function
    raise DataError(f"dataset={name!r} failed: {type(e).__name__}: "
                    f"{' '.join(str(e).split())}") from e
  if not isinstance(ds, Dataset):
    raise DataError(f"dataset={name!r} returned a {type(ds).__name__}; return an "
                    "opujax.data.Dataset(train_x, train_y, test_x, test_y, val_x, val_y, vocab).")
  ds = Dataset(*(np.asarray(a) for a in ds[:6]), vocab=ds.vocab)
  check(ds, name)
  return ds


def check(ds: Dataset, name: str) -> None:
  """Raises DataError naming the first array of ``ds`` that is not what it must be."""
  fail = lambda field, what: DataError(f"dataset={name!r}: {field} {what}.")
  splits = [("train", ds.train_x, ds.train_y), ("test", ds.test_x, ds.test_y),
            ("val", ds.val_x, ds.val_y)]
  for split, x, y in splits:
    if not (np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_):
      raise fail(f"{split}_x", f"must be numeric, got dtype {x.dtype}")
    if split != "val" and not len(x):
      raise fail(f"{split}_x", "is empty")
  if ds.vocab:
    for split, x, y in splits:
      if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer):
        raise fail(f"{split}_x", f"must be 1-D integer symbol ids for text, got "
                   f"shape {x.shape} and dtype {x.dtype}")
      if len(x) and (x.min() < 0 or x.max() >= len(ds.vocab)):
        raise fail(f"{split}_x", f"holds ids outside [0, {len(ds.vocab)}) (the vocabulary)")
      if y.size:
        raise fail(f"{split}_y", "must be empty for text (the targets are the next symbols)")
    return
  classes = None
  for split, x, y in splits:
    if x.ndim < 2:
      raise fail(f"{split}_x", f"must be (examples, ...), got shape {x.shape}")
    if len(x) and x.shape[1:] != ds.train_x.shape[1:]:
      raise fail(f"{split}_x", f"must have the training inputs' shape {ds.train_x.shape[1:]} "
                 f"per example, got {x.shape[1:]}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
      raise fail(f"{split}_y", f"must be ({len(x)},) integer labels, got shape {y.shape} and "
                 f"dtype {y.dtype}")
    if split == "train":
      classes = int(y.max()) + 1 if len(y) else 0
    if len(y) and (y.min() < 0 or y.max() >= classes):
      raise fail(f"{split}_y", f"holds labels outside [0, {classes}) (the training labels')")
