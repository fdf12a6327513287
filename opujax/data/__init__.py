"""Datasets held in memory as NumPy arrays: the shipped ones and any other TFDS name
through TFDS (images and characters), or a user's own from a function named by import path (`own`)."""

from opujax.data import own, tfds_arrays
from opujax.data.tfds_arrays import DATASETS, PIXEL_STATS, TEXT_DATASETS, DataError, Dataset


def load(name: str, data_dir: str | None = None, manual_dir: str | None = None,
         validation: int = 0) -> Dataset:
  """Dataset ``name``: a shipped one (`DATASETS`) or another TFDS name (through TFDS:
  `tfds_arrays.load`, which holds out the last ``validation`` training examples) or ``"package.module:attr"``, a
  function returning a `Dataset` (`own`: its validation split is its own).

  Raises:
    DataError: what cannot be had or is not a dataset, with what to do.
  """
  if own.is_path(name):
    if validation:
      raise DataError(f"data.validation holds out examples of a shipped dataset; {name} "
                      "returns its own validation split (val_x, val_y): leave it 0.")
    return own.load(name)
  return tfds_arrays.load(name, data_dir, manual_dir, validation)


__all__ = ["DATASETS", "DataError", "Dataset", "PIXEL_STATS", "TEXT_DATASETS", "load", "own"]
