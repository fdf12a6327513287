"""TFDS-backed datasets held in memory as NumPy arrays: images and characters."""

from opujax.data.tfds_arrays import DATASETS, DataError, Dataset, load

__all__ = ["DATASETS", "DataError", "Dataset", "load"]
