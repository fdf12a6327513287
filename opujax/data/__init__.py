"""TFDS-backed datasets held in memory as NumPy arrays: images and characters."""

from opujax.data.tfds_arrays import DATASETS, TEXT_DATASETS, DataError, Dataset, load

__all__ = ["DATASETS", "DataError", "Dataset", "TEXT_DATASETS", "load"]
