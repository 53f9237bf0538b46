"""Descriptors: maps from Cartesian geometries to kernel inputs, with matrix-free Jacobians."""

from .inverse_distance import InverseDistanceDescriptor, pair_indices
from .periodic import PeriodicInverseDistanceDescriptor, check_cell

__all__ = ["InverseDistanceDescriptor", "PeriodicInverseDistanceDescriptor", "check_cell", "pair_indices"]
