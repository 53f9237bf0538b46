"""gdmlkit: gradient-domain kernel machines (GDML, sGDML) for molecular force fields.

Data flows one way: :mod:`~gdmlkit.data` -> :mod:`~gdmlkit.descriptors` and
:mod:`~gdmlkit.symmetry` -> :mod:`~gdmlkit.kernels` -> :mod:`~gdmlkit.solvers` ->
:mod:`~gdmlkit.models` -> :mod:`~gdmlkit.calculators`.
"""

__version__ = "0.1.0"

from .calculators import GDMLCalculator  # noqa: E402
from .data import Dataset, load_dataset, load_example, save_dataset, train_test_split  # noqa: E402
from .metrics import prediction_errors  # noqa: E402
from .model_selection import select_sigma  # noqa: E402
from .models import BIGDMLRegressor, GDMLRegressor, load_model, save_model  # noqa: E402
from .nn import NNRegressor  # noqa: E402
from .symmetry import find_permutations, find_spacegroup_symmetry  # noqa: E402

__all__ = [
    "Dataset", "load_dataset", "save_dataset", "load_example", "train_test_split",
    "find_permutations", "find_spacegroup_symmetry", "GDMLRegressor", "BIGDMLRegressor", "NNRegressor",
    "load_model", "save_model", "select_sigma",
    "prediction_errors", "GDMLCalculator", "__version__",
]
