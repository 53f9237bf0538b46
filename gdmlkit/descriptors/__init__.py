"""Descriptors: maps from Cartesian geometries to kernel inputs, with matrix-free Jacobians."""

from .inverse_distance import InverseDistanceDescriptor, pair_indices

__all__ = ["InverseDistanceDescriptor", "pair_indices"]
