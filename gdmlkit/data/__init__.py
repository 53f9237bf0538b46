"""Datasets of molecular/periodic geometries with energy and force labels: container,
readers/writers (sGDML npz, revised-MD17 npz, ASE formats), shipped examples and splits."""

from gdmlkit.data.dataset import Dataset
from gdmlkit.data.io import EXAMPLES, example_path, load_dataset, load_example, save_dataset
from gdmlkit.data.splits import train_test_split

__all__ = [
    "Dataset",
    "load_dataset",
    "save_dataset",
    "load_example",
    "example_path",
    "EXAMPLES",
    "train_test_split",
]
