"""A user's own dataset by import path (`opujax.data.own`), checked array by array."""

from pathlib import Path

import numpy as np
import pytest

from opujax import data


@pytest.fixture(autouse=True)
def userpkg(monkeypatch):
  monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))


def test_a_function_returns_the_dataset():
  ds = data.load("userpkg.data:blobs")
  assert ds.train_x.shape == (2000, 12) and ds.test_y.shape == (400,) and not ds.vocab
  assert ds.val_x.shape == (0, 12)
  np.testing.assert_array_equal(ds.train_x, data.load("userpkg.data:blobs").train_x)


def test_targets_of_any_numeric_shape_pass_for_a_task_of_ones_own():
  ds = data.load("userpkg.data:waves")
  assert ds.train_y.shape == (1600, 2) and ds.train_y.dtype == np.float32
  assert data.load("userpkg.data:float_labels").train_y.dtype == np.float32


@pytest.mark.parametrize("name, message", [
    ("userpkg.data:short_test_labels", r"test_y must be \(examples\) with 400 examples, got "
     r"shape \(399,\)"),
    ("userpkg.data:narrow_test_targets", r"test_y must have the training arrays' shape "
     r"\(2,\) per example, got \(1,\)"),
    ("userpkg.data:text_targets", r"train_y must be numeric, got dtype <U1"),
    ("userpkg.data:not_a_dataset", "returned a dict; return an opujax.data.Dataset"),
    ("userpkg.data:missing", "cannot be loaded: AttributeError"),
    ("userpkg.nowhere:blobs", "cannot be loaded: ModuleNotFoundError"),
])
def test_a_bad_dataset_names_the_array_and_what_is_expected(name, message):
  with pytest.raises(data.DataError, match=message):
    data.load(name)


def test_text_ids_must_lie_in_the_vocabulary():
  ids = np.array([0, 1, 2, 3], np.int32)
  empty = np.zeros((0,), np.int32)
  good = data.Dataset(ids, empty, ids, empty, ids[:0], empty, vocab="abcd")
  data.own.check(good, "text")
  with pytest.raises(data.DataError, match=r"train_x holds ids outside \[0, 3\)"):
    data.own.check(good._replace(vocab="abc"), "text")
  with pytest.raises(data.DataError, match="data.validation holds out"):
    data.load("userpkg.data:blobs", validation=10)
