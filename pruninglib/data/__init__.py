"""Data loading: root resolution, fetching and verification, and whole data sets as tensors."""
from pruninglib.data.mnist import load_mnist
from pruninglib.data.root import (ChecksumError, DataNotFoundError, cache_dir, resolve_data_root, verify_file)
from pruninglib.data.tensors import Dataset, Split, pick_device

__all__ = ["load_mnist", "ChecksumError", "DataNotFoundError", "cache_dir", "resolve_data_root", "verify_file",
           "Dataset", "Split", "pick_device"]
