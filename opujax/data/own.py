"""A user's own dataset: ``config.dataset = "package.module:attr"``, a function of no
arguments returning an in-memory `Dataset`, checked array by array before training.

Examples: ``vocab`` empty; ``train_x`` (N, ...) numeric inputs (the shipped tasks divide
uint8 pixels by 255, then standardise every input with the training split's mean and
standard deviation); ``train_y`` (N, ...) numeric targets: (N,) integer class labels in
[0, classes) for classification (the default task), anything numeric for a task of one's
own (e.g. (N, k) floats to regress); ``test_x``, ``test_y`` (M, ...) with the training
arrays' trailing shapes; ``val_x``, ``val_y`` the same, or empty (0 examples) for no
validation split.
Text: ``vocab`` the symbols (a string); ``train_x``, ``test_x``, ``val_x`` 1-D integer
ids in [0, len(vocab)), the whole split each; the ``*_y`` arrays empty.
"""

import importlib

import numpy as np

from opujax.data.tfds_arrays import DataError, Dataset


def is_path(name: str) -> bool:
  """Whether a dataset name is an import path ``"package.module:attr"`` (not a TFDS name
  with a version, ``"cifar10:3.0.2"``)."""
  module, sep, attr = name.partition(":")
  return bool(sep and module and attr.isidentifier())


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
  ds = Dataset(*(np.asarray(a) for a in ds[:6]), vocab=ds.vocab, stats=ds.stats)
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
  for split, x, y in splits:
    for field, a, train in ((f"{split}_x", x, ds.train_x), (f"{split}_y", y, ds.train_y)):
      if a.ndim < 1 + (a is x) or len(a) != len(x):
        raise fail(field, f"must be (examples{', ...' if a is x else ''}) with "
                   f"{len(x)} examples, got shape {a.shape}")
      if len(a) and a.shape[1:] != train.shape[1:]:
        raise fail(field, f"must have the training arrays' shape {train.shape[1:]} per "
                   f"example, got {a.shape[1:]}")
    if not (np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_):
      raise fail(f"{split}_y", f"must be numeric, got dtype {y.dtype}")
