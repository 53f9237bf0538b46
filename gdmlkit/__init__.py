"""gdmlkit: gradient-domain kernel machines (GDML, sGDML) for molecular force fields.

Data flows one way: :mod:`~gdmlkit.data` -> :mod:`~gdmlkit.descriptors` and
:mod:`~gdmlkit.symmetry` -> :mod:`~gdmlkit.kernels` -> :mod:`~gdmlkit.solvers` ->
:mod:`~gdmlkit.models` -> :mod:`~gdmlkit.calculators`.
"""

from .version import __version__
from .calculators import GDMLCalculator
from .coarse_graining import CGGDMLRegressor
from .data import Dataset, load_dataset, load_example, save_dataset, train_test_split
from .metrics import prediction_errors
from .model_selection import select_sigma
from .models import BIGDMLRegressor, GDMLRegressor, load_model, save_model
from .nn import NNRegressor
from .symmetry import find_permutations, find_spacegroup_symmetry

__all__ = [
    "Dataset", "load_dataset", "save_dataset", "load_example", "train_test_split",
    "find_permutations", "find_spacegroup_symmetry", "GDMLRegressor", "BIGDMLRegressor", "NNRegressor", "CGGDMLRegressor",
    "load_model", "save_model", "select_sigma",
    "prediction_errors", "GDMLCalculator", "__version__",
]
