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
  with pytest.raises(data.DataError, match="Unknown dataset 'no_such_set': not one of mnist"):
    data.load("no_such_set")
  with pytest.raises(data.DataError, match="validation"):
    data.load("mnist", validation=60000)


def _truncate(p):
  p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_bytes(p):
  b = bytearray(p.read_bytes())
  b[len(b) // 2:len(b) // 2 + 64] = bytes(x ^ 0xFF for x in b[len(b) // 2:len(b) // 2 + 64])
  p.write_bytes(bytes(b))


@pytest.mark.parametrize("corrupt", [
    _truncate, _flip_bytes, lambda p: p.write_bytes(b""),
    lambda p: np.savez(p, train_x=np.zeros(3))], ids=["truncated", "bad_crc", "empty",
                                                      "split_missing"])
def test_a_corrupt_cache_is_rebuilt_whole(tmp_path, monkeypatch, corrupt):
  from opujax.data import tfds_arrays
  rng = np.random.default_rng(0)
  arrays = {"train_x": rng.integers(0, 255, (400, 28, 28, 1), np.uint8),
            "train_y": np.arange(400, dtype=np.int32) % 10,
            "test_x": rng.integers(0, 255, (50, 28, 28, 1), np.uint8),
            "test_y": np.arange(50, dtype=np.int32) % 10}
  cache = tmp_path / "opujax" / "mnist.npz"
  cache.parent.mkdir()
  np.savez(cache, **arrays)
  corrupt(cache)
  built = []
  monkeypatch.setattr(tfds_arrays, "_read_tfds", lambda *a: built.append(a) or arrays)
  got = tfds_arrays._cached_arrays("mnist", tmp_path, None)
  assert len(built) == 1
  with np.load(cache) as f:  # the cache on disk is whole again
    for k, v in arrays.items():
      np.testing.assert_array_equal(got[k], v)
      np.testing.assert_array_equal(f[k], v)
  assert tfds_arrays._cached_arrays("mnist", tmp_path, None) and len(built) == 1


def test_offline_without_a_manual_dir_fails_in_seconds(tmp_path, monkeypatch):
  import socket

  def unreachable(address, timeout=None):
    raise OSError("[Errno 101] Network is unreachable")

  monkeypatch.delenv("OPUJAX_MANUAL_DIR", raising=False)
  monkeypatch.setattr(socket, "create_connection", unreachable)
  # Refused before TFDS tries to download (its retries took 212 s).
  with pytest.raises(data.DataError, match=r"Cannot reach storage.googleapis.com.*manual_dir"):
    data.load("mnist", data_dir=str(tmp_path / "tfds"))


@pytest.fixture
def mocked_tfds(monkeypatch):
  """TFDS answering any dataset with ``examples`` random records a split, from the
  features its code declares, as if online (nothing downloaded)."""
  import tensorflow_datasets as tfds

  from opujax.data import tfds_arrays
  monkeypatch.setattr(tfds_arrays, "_check_reachable", lambda *a: None)
  return lambda examples: tfds.testing.mock_data(num_examples=examples,
                                                 policy=tfds.testing.MockPolicy.USE_CODE)


def test_any_tfds_image_dataset_by_name_with_its_statistics_cached(tmp_path, monkeypatch,
                                                                     mocked_tfds):
  from opujax.data import tfds_arrays
  with mocked_tfds(40):
    ds = data.load("cifar10", data_dir=str(tmp_path))
  assert ds.train_x.shape == (40, 32, 32, 3) and ds.train_x.dtype == np.uint8
  assert ds.train_y.dtype == np.int32 and ds.test_x.shape == (40, 32, 32, 3)
  assert ds.val_x.shape == (40, 32, 32, 3)  # the mock answers every split, "validation" too
  pixels = ds.train_x / 255.0
  np.testing.assert_allclose(ds.stats, (pixels.mean(), pixels.std()), rtol=1e-12)
  with np.load(tmp_path / "opujax" / "cifar10.npz") as f:
    np.testing.assert_allclose(f["stats"], ds.stats)
  # The next run reads the cache alone: TFDS is never asked again.
  monkeypatch.setattr(tfds_arrays, "_read_tfds", lambda *a: pytest.fail("TFDS asked again"))
  again = data.load("cifar10", data_dir=str(tmp_path), validation=10)
  np.testing.assert_array_equal(again.train_x, ds.train_x[:30])
  np.testing.assert_array_equal(again.val_x, ds.train_x[30:])
  assert again.stats == ds.stats


def test_any_tfds_text_dataset_by_name_is_read_as_bytes(tmp_path, mocked_tfds):
  with mocked_tfds(5):
    ds = data.load("imdb_reviews/plain_text", data_dir=str(tmp_path))
  assert ds.vocab and ds.train_x.ndim == 1 and ds.train_y.size == 0
  assert (tmp_path / "opujax" / "imdb_reviews__plain_text.npz").is_file()
  text = "".join(ds.vocab[i] for i in ds.train_x)
  assert text.count("\n") == 4  # five records joined
  assert sorted(set(text) | set("".join(ds.vocab[i] for i in ds.test_x))) == sorted(ds.vocab)


def test_a_tfds_dataset_without_images_or_text_is_refused(tmp_path, mocked_tfds):
  with mocked_tfds(5), pytest.raises(data.DataError, match="'wine_quality' has the features "
                                     "quality, features; opujax reads an 'image' and a 'label'"):
    data.load("wine_quality", data_dir=str(tmp_path))


def test_another_tfds_name_offline_fails_in_seconds(tmp_path, monkeypatch):
  import socket

  def unreachable(address, timeout=None):
    raise OSError("[Errno -2] Name or service not known")

  monkeypatch.setattr(socket, "create_connection", unreachable)
  with pytest.raises(data.DataError, match=r"Cannot reach www.cs.toronto.edu to download "
                     r"'cifar10' .*It needs the internet the first time."):
    data.load("cifar10", data_dir=str(tmp_path))
