"""Neural-network force fields behind the estimator interface of the kernel models.

Architectures (torch modules, energy -> forces by autograd): :class:`SchNet`,
:class:`SpookyNet`, :class:`SO3krates`, and :class:`CGNet` for coarse-grained bead chains; the estimator :class:`NNRegressor` trains them on
energies and forces. Shared pieces: :mod:`~gdmlkit.nn.neighbors`, :mod:`~gdmlkit.nn.layers`.
"""

from .cgnet import CGNet
from .estimator import MODELS, NNRegressor
from .neighbors import neighbor_list
from .schnet import SchNet
from .so3krates import SO3krates
from .spookynet import SpookyNet

__all__ = ["NNRegressor", "MODELS", "SchNet", "SpookyNet", "SO3krates", "CGNet", "neighbor_list"]
