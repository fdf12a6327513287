import gzip
import shutil

import numpy as np
import pytest

from opujax import data


def idx_labels(path):
  """The IDX label file read by hand (../shared/data/README.md)."""
  return np.frombuffer(gzip.open(path).read(), np.uint8, offset=8)


def idx_images(path):
  return np.frombuffer(gzip.open(path).read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_images_from_the_original_files(data_env, name):
  ds = data.load(name, validation=5000)
  assert ds.train_x.shape == (55000, 28, 28, 1) and ds.val_x.shape == (5000, 28, 28, 1)
  assert ds.test_x.shape == (10000, 28, 28, 1) and ds.train_x.dtype == np.uint8
  # TFDS reorders the examples; the label counts and pixel sums are the files' own.
  folder = f"{data_env['OPUJAX_MANUAL_DIR']}/{name}"
  labels = idx_labels(f"{folder}/train-labels-idx1-ubyte.gz")
  np.testing.assert_array_equal(np.bincount(np.concatenate([ds.train_y, ds.val_y])),
                                np.bincount(labels))
  np.testing.assert_array_equal(np.bincount(ds.test_y),
                                np.bincount(idx_labels(f"{folder}/t10k-labels-idx1-ubyte.gz")))
  images = idx_images(f"{folder}/t10k-images-idx3-ubyte.gz")
  assert np.sum(ds.test_x, dtype=np.int64) == np.sum(images, dtype=np.int64)


def test_cached_arrays_are_reused(data_env):
  first = data.load("mnist")
  cache = next((p for p in __import__("pathlib").Path(data_env["TFDS_DATA_DIR"]).rglob(
      "mnist.npz")))
  assert cache.is_file()
  np.testing.assert_array_equal(data.load("mnist").train_x, first.train_x)


def test_missing_files_name_what_and_where(tmp_path):
  (tmp_path / "manual" / "fashion_mnist").mkdir(parents=True)
  with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte.gz.*not found in"):
    data.load("fashion_mnist", data_dir=str(tmp_path / "tfds"),
              manual_dir=str(tmp_path / "manual"))
  assert not list((tmp_path / "tfds").rglob("*.npz"))


def test_corrupt_files_are_a_clear_error(data_env, tmp_path):
  src = f"{data_env['OPUJAX_MANUAL_DIR']}/fashion_mnist"
  dst = tmp_path / "manual" / "fashion_mnist"
  shutil.copytree(src, dst)
  (dst / "train-labels-idx1-ubyte.gz").write_bytes(b"not a gzip file")
  with pytest.raises(data.DataError, match="could not prepare 'fashion_mnist'"):
    data.load("fashion_mnist", data_dir=str(tmp_path / "tfds"),
              manual_dir=str(tmp_path / "manual"))


def test_unknown_dataset_and_bad_validation(data_env):
  with pytest.raises(data.DataError, match="Unknown dataset 'cifar10'"):
    data.load("cifar10")
  with pytest.raises(data.DataError, match="validation"):
    data.load("mnist", validation=60000)
