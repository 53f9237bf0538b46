"""Descriptors: maps from Cartesian geometries to kernel inputs, with matrix-free Jacobians.

Hand-derived: inverse distances (molecular and minimum-image). By automatic differentiation
(:mod:`~gdmlkit.descriptors.autodiff`): any :class:`AutodiffDescriptor`, e.g. Morse-scaled distances,
Coulomb-matrix entries, or a pair descriptor under the minimum image.
"""

from .inverse_distance import InverseDistanceDescriptor, pair_indices
from .periodic import PeriodicInverseDistanceDescriptor, check_cell
from .autodiff import (AutodiffDescriptor, AutodiffInverseDistanceDescriptor, PairDescriptor, as_autodiff,
                       descriptor_permutations, make_descriptor)
from .coulomb import CoulombMatrixDescriptor
from .minimum_image import MinimumImageDescriptor
from .morse import MorseDescriptor

__all__ = ["InverseDistanceDescriptor", "PeriodicInverseDistanceDescriptor", "check_cell", "pair_indices",
           "AutodiffDescriptor", "PairDescriptor", "AutodiffInverseDistanceDescriptor", "MorseDescriptor",
           "CoulombMatrixDescriptor", "MinimumImageDescriptor", "as_autodiff", "descriptor_permutations",
           "make_descriptor"]
